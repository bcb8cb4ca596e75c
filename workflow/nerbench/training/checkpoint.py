"""Training state and checkpoints: save, verify, prune, sweep, restore, best model.

Layout of ``<out-dir>/checkpoints``:

``step-NNNNNNN/``
    ``trainable.pt``, ``optimizer.pt``, ``scheduler.pt``, ``rng.pt``, ``log.jsonl`` (the log so
    far), ``state.json`` (:class:`TrainState`) and, written last, ``manifest.json``: the size and
    sha256 of every other file. A checkpoint is complete when its manifest is there; it is
    verified against the manifest (and then loaded) before it is used.
``best-NNNNNNN/``
    ``trainable.pt`` and ``state.json`` of the best dev evaluation, with a manifest too.
``fingerprint.json``
    the fingerprint of the run the checkpoints belong to (see ``loop.build_job``) and its parts,
    so that a mismatch can say what changed.
``corrupt-step-NNNNNNN/``
    a checkpoint that failed verification or loading, set aside (with a warning) for inspection.

Every folder is written with :func:`nerbench.io.atomic_dir` (files and folder fsynced, then
renamed into place) and deleted by first renaming it to ``.<name>.<random>.del.tmp``. Leftovers of
kills -- ``.*.tmp`` folders and files, step/best folders without a manifest (for instance a
checkpoint whose deletion by an older version was interrupted), and in the run folder the
temporary names (:func:`nerbench.io.temp_path`) of every entry the trainer writes, deletes or
locks (:meth:`RunPaths.owned`; ``.checkpoints.*.del.tmp`` of an interrupted end-of-run
removal, ``.model.*.tmp``, ``.train.lock.*.tmp``, ...) -- are swept by :meth:`sweep`, at start
and after each prune.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import shutil
import uuid
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import torch

from nerbench import paths
from nerbench.io import (
    TEMP_SUFFIX,
    ResourceError,
    atomic_dir,
    atomic_path,
    explain_disk_full,
    fsync_dir,
    is_temp_of,
    read_json,
    temp_path,
    write_json,
)
from nerbench.methods.base import Bundle, Method

log = logging.getLogger("nerbench.training.checkpoint")

_STEP_DIR = re.compile(r"^step-(\d+)$")
_BEST_DIR = re.compile(r"^best-(\d+)$")
MANIFEST = "manifest.json"
FINGERPRINT = "fingerprint.json"
CORRUPT_PREFIX = "corrupt-"
_CHUNK = 1 << 20


# --------------------------------------------------------------------------- state


@dataclass
class TrainState:
    """Everything besides tensors that a checkpoint must restore."""

    step: int = 0  # optimizer steps done
    epoch: int = 0  # current epoch
    batch_pos: int = 0  # micro-batches of ``epoch`` already consumed
    best_f1: float = -1.0
    best_step: int | None = None
    bad_evals: int = 0
    last_eval_step: int | None = None
    stopped_early: bool = False
    tokens_seen: int = 0
    elapsed_s: float = 0.0
    step_time_s: float = 0.0
    eval_time_s: float = 0.0
    loss_sum: float = 0.0  # loss since the last log record
    loss_count: int = 0
    attempts: int = 1
    fingerprint: str = ""


@dataclass
class RunPaths:
    out_dir: Path
    model: Path = field(init=False)
    log: Path = field(init=False)
    cost: Path = field(init=False)
    ckpt: Path = field(init=False)
    live_log: Path = field(init=False)
    fingerprint: Path = field(init=False)
    lock: Path = field(init=False)

    def __post_init__(self) -> None:
        self.model = paths.run_file(self.out_dir, "model")
        self.log = paths.run_file(self.out_dir, "train_log")
        self.cost = paths.run_file(self.out_dir, "cost")
        self.ckpt = paths.run_file(self.out_dir, "checkpoints")
        self.live_log = self.ckpt / "live_log.jsonl"
        self.fingerprint = self.ckpt / FINGERPRINT
        self.lock = paths.run_file(self.out_dir, "lock")

    def owned(self) -> tuple[Path, ...]:
        """The run-folder entries the trainer writes, deletes or locks, whose temporary names
        (``.<name>.*.tmp``) are its own to sweep."""
        return (self.model, self.log, self.cost, self.ckpt, self.lock)


class CheckpointError(Exception):
    """A checkpoint that cannot be used (incomplete, corrupt, unloadable); names the reason."""


# --------------------------------------------------------------------------- files and hashes


def sha256_file(path: str | os.PathLike) -> str:
    """sha256 of a file, read in 1 MiB chunks (corpora and checkpoints can be large)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


class _HashingWriter:
    """File-like object for ``torch.save`` that hashes what it writes and keeps the OSError of
    a failed write (torch reports it only as ``unexpected pos N vs M``)."""

    def __init__(self, f):
        self.f, self.sha, self.size = f, hashlib.sha256(), 0
        self.error: OSError | None = None

    def write(self, data) -> int:
        try:
            n = self.f.write(data)
        except OSError as e:
            self.error = self.error or e
            raise
        self.sha.update(data)
        self.size += len(data)
        return n

    def flush(self) -> None:
        try:
            self.f.flush()
        except OSError as e:
            self.error = self.error or e
            raise


def _save_torch(obj: Any, path: Path) -> dict[str, Any]:
    w = None
    try:
        with open(path, "wb") as f:
            w = _HashingWriter(f)
            torch.save(obj, w)
    except RuntimeError as e:
        if w is not None and w.error is not None:
            raise w.error from e
        raise
    return {"size": w.size, "sha256": w.sha.hexdigest()}


def _file_entry(path: Path) -> dict[str, Any]:
    return {"size": path.stat().st_size, "sha256": sha256_file(path)}


def _write_manifest(folder: Path, files: dict[str, dict[str, Any]]) -> None:
    write_json(folder / MANIFEST, {"version": 1, "files": files})


def verify(folder: Path) -> None:
    """Check ``folder`` against its manifest (every file present, same size and sha256)."""
    manifest = folder / MANIFEST
    if not manifest.is_file():
        raise CheckpointError("no manifest.json (incomplete checkpoint)")
    try:
        entries = read_json(manifest)["files"]
        items = [(str(n), int(e["size"]), str(e["sha256"])) for n, e in entries.items()]
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as e:
        raise CheckpointError(f"unreadable manifest.json ({type(e).__name__}: {e})") from None
    for name, size, sha in items:
        path = folder / name
        if not path.is_file():
            raise CheckpointError(f"{name} is missing")
        actual = path.stat().st_size
        if actual != size:
            raise CheckpointError(f"{name} has {actual} bytes, the manifest says {size}")
        if sha256_file(path) != sha:
            raise CheckpointError(f"{name} does not match its sha256 in the manifest")


def _load_torch(folder: Path, name: str) -> Any:
    try:
        return torch.load(folder / name)
    except Exception as e:  # truncated zip, pickle errors, ...
        raise CheckpointError(f"cannot load {name} ({type(e).__name__}: {e})") from None


def _read_state(folder: Path) -> TrainState:
    try:
        data = read_json(folder / "state.json")
        known = {f.name for f in fields(TrainState)}
        return TrainState(**{k: v for k, v in data.items() if k in known})
    except (OSError, ValueError, TypeError, AttributeError) as e:
        raise CheckpointError(f"unreadable state.json ({type(e).__name__}: {e})") from None


def _remove(path: Path) -> None:
    """Delete a folder so that an interrupted deletion leaves only a ``.*.tmp`` leftover."""
    if not path.exists():
        return
    doomed = temp_path(path, f"{uuid.uuid4().hex[:8]}.del")
    try:
        os.replace(path, doomed)
    except OSError:
        doomed = path
    if doomed.is_dir():
        shutil.rmtree(doomed, ignore_errors=True)
    else:
        doomed.unlink(missing_ok=True)


def _step_dirs(root: Path, pattern: re.Pattern, complete: bool = True) -> dict[int, Path]:
    """Step (or best) folders under ``root``; ``complete``: only those with a manifest."""
    if not root.is_dir():
        return {}
    found = {}
    for p in root.iterdir():
        m = pattern.match(p.name)
        if m and p.is_dir() and (not complete or (p / MANIFEST).is_file()):
            found[int(m.group(1))] = p
    return found


# --------------------------------------------------------------------------- checkpointer


class Checkpointer:
    """Writes, verifies, prunes, sweeps and restores checkpoints under ``<out-dir>/checkpoints``."""

    def __init__(self, paths: RunPaths, method: Method, keep: int = 2):
        self.paths, self.method, self.keep = paths, method, keep

    # ------------------------------------------------------------- writing

    def save(self, bundle: Bundle, optimizer, scheduler, state: TrainState) -> Path:
        target = self.paths.ckpt / f"step-{state.step:07d}"
        with explain_disk_full(target, "saving checkpoint"), atomic_dir(target) as tmp:
            with explain_disk_full(target, "saving checkpoint"):
                trainable = self.method.trainable_state(bundle)
                files = {
                    "trainable.pt": _save_torch(trainable, tmp / "trainable.pt"),
                    "optimizer.pt": _save_torch(optimizer.state_dict(), tmp / "optimizer.pt"),
                    "scheduler.pt": _save_torch(scheduler.state_dict(), tmp / "scheduler.pt"),
                    "rng.pt": _save_torch(_rng_state(), tmp / "rng.pt"),
                }
                if self.paths.live_log.is_file():
                    shutil.copyfile(self.paths.live_log, tmp / "log.jsonl")
                    files["log.jsonl"] = _file_entry(tmp / "log.jsonl")
                write_json(tmp / "state.json", asdict(state))
                files["state.json"] = _file_entry(tmp / "state.json")
                _write_manifest(tmp, files)
        self.prune(state.best_step)
        return target

    def save_best(self, bundle: Bundle, state: TrainState) -> None:
        target = self.paths.ckpt / f"best-{state.step:07d}"
        with explain_disk_full(target, "saving best checkpoint"), atomic_dir(target) as tmp:
            with explain_disk_full(target, "saving best checkpoint"):
                trainable = self.method.trainable_state(bundle)
                files = {"trainable.pt": _save_torch(trainable, tmp / "trainable.pt")}
                write_json(tmp / "state.json", {"step": state.step, "dev_f1": state.best_f1})
                files["state.json"] = _file_entry(tmp / "state.json")
                _write_manifest(tmp, files)
        self.prune(state.step)

    def prune(self, current_best: int | None) -> None:
        """Keep the newest ``keep`` step checkpoints and the best checkpoints they refer to;
        then sweep leftovers."""
        steps = _step_dirs(self.paths.ckpt, _STEP_DIR)
        for s in sorted(steps)[: -self.keep]:
            _remove(steps.pop(s))
        wanted: set[int | None] = {current_best}
        for p in steps.values():
            try:
                wanted.add(read_json(p / "state.json")["best_step"])
            except (OSError, ValueError, KeyError, TypeError):
                wanted = set()  # cannot tell which best it needs: keep them all for now
                break
        if wanted:
            for s, p in _step_dirs(self.paths.ckpt, _BEST_DIR).items():
                if s not in wanted:
                    _remove(p)
        self.sweep()

    def sweep(self) -> list[str]:
        """Remove leftovers of kills: ``.*.tmp`` in the checkpoint folder, step/best folders
        without a manifest, and the temporary names of :meth:`RunPaths.owned` in the run folder.
        Call only while holding the run's lock."""
        removed = []
        candidates: list[Path] = []
        if self.paths.ckpt.is_dir():
            for p in self.paths.ckpt.iterdir():
                if p.name.startswith(".") and p.name.endswith(TEMP_SUFFIX):
                    candidates.append(p)
                elif (_STEP_DIR.match(p.name) or _BEST_DIR.match(p.name)) and not (
                    p.is_dir() and (p / MANIFEST).is_file()
                ):
                    candidates.append(p)
        if self.paths.out_dir.is_dir():
            owned = self.paths.owned()
            for p in self.paths.out_dir.iterdir():
                if any(is_temp_of(p, entry) for entry in owned):
                    candidates.append(p)
        for p in candidates:
            if p.is_dir() and not p.is_symlink():
                shutil.rmtree(p, ignore_errors=True)
            else:
                p.unlink(missing_ok=True)
            removed.append(p.name)
        if removed:
            log.info("swept %d leftover(s): %s", len(removed), ", ".join(sorted(removed)))
        return removed

    def set_aside(self, path: Path, reason: str) -> Path:
        """Move an unusable checkpoint to ``corrupt-<name>`` (kept for inspection) and warn."""
        target = path.with_name(CORRUPT_PREFIX + path.name)
        _remove(target)
        os.replace(path, target)
        fsync_dir(path.parent)
        log.warning("checkpoint %s is unusable (%s); set aside as %s", path, reason, target.name)
        return target

    def remove(self) -> None:
        """Remove the checkpoint folder (a finished run: its model/ is written)."""
        _remove(self.paths.ckpt)
        fsync_dir(self.paths.ckpt.parent)

    def clear(self) -> None:
        """Remove every checkpoint (a fresh start); the folder itself stays."""
        if self.paths.ckpt.is_dir():
            for p in self.paths.ckpt.iterdir():
                _remove(p)
        self.paths.ckpt.mkdir(parents=True, exist_ok=True)

    # ------------------------------------------------------------- reading

    def steps(self) -> dict[int, Path]:
        """Complete step checkpoints (with a manifest), by step."""
        return _step_dirs(self.paths.ckpt, _STEP_DIR)

    def latest(self) -> Path | None:
        steps = self.steps()
        return steps[max(steps)] if steps else None

    def load(self, path: Path) -> dict[str, Any]:
        """Verify ``path`` (and the best checkpoint it refers to) and load everything it holds,
        without applying any of it; raises :class:`CheckpointError`."""
        verify(path)
        state = _read_state(path)
        if state.best_step is not None:
            best = self.paths.ckpt / f"best-{state.best_step:07d}"
            try:
                verify(best)
            except CheckpointError as e:
                raise CheckpointError(f"its best checkpoint {best.name} is unusable: {e}") from None
        return {
            "state": state,
            "trainable": _load_torch(path, "trainable.pt"),
            "optimizer": _load_torch(path, "optimizer.pt"),
            "scheduler": _load_torch(path, "scheduler.pt"),
            "rng": _load_torch(path, "rng.pt"),
        }

    def restore(self, path: Path, bundle: Bundle, optimizer, scheduler) -> TrainState:
        """Load and apply checkpoint ``path``; raises :class:`CheckpointError` if it is unusable
        (the model and optimizer may then hold part of it: restore another one or rebuild)."""
        return self.apply(path, self.load(path), bundle, optimizer, scheduler)

    def apply(
        self, path: Path, loaded: dict[str, Any], bundle: Bundle, optimizer, scheduler
    ) -> TrainState:
        """Apply what :meth:`load` returned for ``path``; drop checkpoints newer than it and put
        its log back as the live log."""
        state = loaded["state"]
        try:
            self.method.load_trainable_state(bundle, loaded["trainable"])
            optimizer.load_state_dict(loaded["optimizer"])
            scheduler.load_state_dict(loaded["scheduler"])
            _set_rng_state(loaded["rng"])
        except (KeyError, ValueError, RuntimeError, TypeError) as e:
            raise CheckpointError(f"cannot apply it ({type(e).__name__}: {e})") from None
        for s, p in _step_dirs(self.paths.ckpt, _BEST_DIR).items():
            if s > state.step:  # written after this checkpoint: will be recomputed
                _remove(p)
        for s, p in self.steps().items():
            if s > state.step:  # newer ones were set aside; anything else newer is stale
                _remove(p)
        if (path / "log.jsonl").is_file():
            with atomic_path(self.paths.live_log) as tmp:
                shutil.copyfile(path / "log.jsonl", tmp)
        else:
            self.paths.live_log.unlink(missing_ok=True)
        return state

    def load_best(self, bundle: Bundle, best_step: int | None) -> bool:
        if best_step is None:
            return False
        folder = self.paths.ckpt / f"best-{best_step:07d}"
        try:
            verify(folder)
            state = _load_torch(folder, "trainable.pt")
        except CheckpointError as e:
            if folder.exists():
                self.set_aside(folder, str(e))
            raise ResourceError(
                f"best checkpoint of step {best_step} is unusable ({folder}: {e}); rerun to "
                "resume from the last usable checkpoint"
            ) from None
        self.method.load_trainable_state(bundle, state)
        return True


def _rng_state() -> dict[str, Any]:
    state: dict[str, Any] = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
