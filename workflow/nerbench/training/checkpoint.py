"""Training state and checkpoints: save, prune, restore, best model."""

from __future__ import annotations

import re
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch

from nerbench.io import (
    atomic_dir,
    read_json,
    write_json,
)
from nerbench.methods.base import Bundle, Method

_STEP_DIR = re.compile(r"^step-(\d+)$")
_BEST_DIR = re.compile(r"^best-(\d+)$")


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

    def __post_init__(self) -> None:
        self.model = self.out_dir / "model"
        self.log = self.out_dir / "train_log.jsonl"
        self.cost = self.out_dir / "cost.json"
        self.ckpt = self.out_dir / "checkpoints"
        self.live_log = self.ckpt / "live_log.jsonl"


def _step_dirs(root: Path, pattern: re.Pattern) -> dict[int, Path]:
    if not root.is_dir():
        return {}
    found = {}
    for p in root.iterdir():
        m = pattern.match(p.name)
        if m and (p / "state.json").is_file():
            found[int(m.group(1))] = p
    return found


class Checkpointer:
    """Writes, prunes and restores checkpoints under ``<out-dir>/checkpoints``."""

    def __init__(self, paths: RunPaths, method: Method, keep: int = 2):
        self.paths, self.method, self.keep = paths, method, keep

    def save(self, bundle: Bundle, optimizer, scheduler, state: TrainState) -> Path:
        target = self.paths.ckpt / f"step-{state.step:07d}"
        with atomic_dir(target) as tmp:
            torch.save(self.method.trainable_state(bundle), tmp / "trainable.pt")
            torch.save(optimizer.state_dict(), tmp / "optimizer.pt")
            torch.save(scheduler.state_dict(), tmp / "scheduler.pt")
            torch.save(_rng_state(), tmp / "rng.pt")
            if self.paths.live_log.is_file():
                shutil.copyfile(self.paths.live_log, tmp / "log.jsonl")
            write_json(tmp / "state.json", asdict(state))
        self.prune(state.best_step)
        return target

    def save_best(self, bundle: Bundle, state: TrainState) -> None:
        target = self.paths.ckpt / f"best-{state.step:07d}"
        with atomic_dir(target) as tmp:
            torch.save(self.method.trainable_state(bundle), tmp / "trainable.pt")
            write_json(tmp / "state.json", {"step": state.step, "dev_f1": state.best_f1})
        self.prune(state.step)

    def prune(self, current_best: int | None) -> None:
        """Keep the newest ``keep`` step checkpoints and the best checkpoints they refer to."""
        steps = _step_dirs(self.paths.ckpt, _STEP_DIR)
        for s in sorted(steps)[: -self.keep]:
            shutil.rmtree(steps.pop(s), ignore_errors=True)
        wanted = {current_best} | {read_json(p / "state.json")["best_step"] for p in steps.values()}
        for s, p in _step_dirs(self.paths.ckpt, _BEST_DIR).items():
            if s not in wanted:
                shutil.rmtree(p, ignore_errors=True)

    def latest(self) -> Path | None:
        steps = _step_dirs(self.paths.ckpt, _STEP_DIR)
        return steps[max(steps)] if steps else None

    def restore(self, path: Path, bundle: Bundle, optimizer, scheduler) -> TrainState:
        state = TrainState(**read_json(path / "state.json"))
        self.method.load_trainable_state(bundle, torch.load(path / "trainable.pt"))
        optimizer.load_state_dict(torch.load(path / "optimizer.pt"))
        scheduler.load_state_dict(torch.load(path / "scheduler.pt"))
        _set_rng_state(torch.load(path / "rng.pt"))
        for s, p in _step_dirs(self.paths.ckpt, _BEST_DIR).items():
            if s > state.step:  # written after this checkpoint: will be recomputed
                shutil.rmtree(p, ignore_errors=True)
        if (path / "log.jsonl").is_file():
            shutil.copyfile(path / "log.jsonl", self.paths.live_log)
        else:
            self.paths.live_log.unlink(missing_ok=True)
        return state

    def load_best(self, bundle: Bundle, best_step: int | None) -> bool:
        if best_step is None:
            return False
        path = self.paths.ckpt / f"best-{best_step:07d}" / "trainable.pt"
        if not path.is_file():
            raise RuntimeError(f"best checkpoint of step {best_step} is missing: {path}")
        self.method.load_trainable_state(bundle, torch.load(path))
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
