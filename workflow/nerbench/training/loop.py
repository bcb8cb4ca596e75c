"""The training loop: one run (model, datasets, hyperparameters, seed) -> a run directory.

Any method of :mod:`nerbench.methods.base` plugs in; the loop owns batching, optimisation, dev
evaluation, checkpoints and cost accounting. Outputs in ``--out-dir``:

``model/``
    the best-on-dev model (method's :meth:`~nerbench.methods.base.Method.save`), written atomically.
``train_log.jsonl``
    one record per logging step (``event: "train"``: step, epoch, loss, lr, elapsed_s) and per
    dev evaluation (``event: "eval"``: step, epoch, dev_f1/precision/recall (seqeval strict
    IOB2), best, elapsed_s).
``cost.json``
    wall time, peak CPU RSS, peak GPU memory (null without CUDA), device, dtype, tokens seen,
    real (non-pad) tokens/s, steps, best step and best dev F1; ``packing`` (``on``, ``off`` or
    ``off (<why>)`` when hparam ``packing`` asked for it and the model cannot pack or ``auto``
    decided against it), ``pack_length`` and ``padding_fraction_epoch1`` (share of computed
    positions that are padding in the first epoch's layout).

Speed-ups (hparams ``packing``, ``lora_forward``, ``compile``, ``dropout_sampler``) are decided
and applied by :mod:`nerbench.training.speed`, whose rules say when each runs. Packing
(:mod:`nerbench.training.packing`): each step's ``batch_size`` windows are packed into rows of
``pack_length`` with block-diagonal attention, so a step sees the same examples and the same loss
as unpacked; dev evaluation packs too. ``compile`` compiles the packed step; cost.json then gives
``compile`` (``on`` / ``off`` / ``off (<why>)``) and ``compile_time_s`` (first step of the
attempt minus the median later step; ``train_step_time_s`` includes it). ``dropout_sampler``
(:mod:`nerbench.training.dropout`): on CPU dropout masks are drawn by a vectorised sampler;
cost.json's ``dropout_sampler`` says which one ran. ``lora_forward``
(:mod:`nerbench.training.fused_lora`): plain LoRA layers add their update inside one product;
cost.json's ``lora_forward`` says how many.
``checkpoints/``
    (removed when the run has finished, unless ``keep_checkpoints``)
    ``step-NNNNNNN/`` every ``save_every`` optimizer steps (trainable weights, optimizer,
    scheduler, RNG state, position in the epoch, best so far, log so far) -- the last two are
    kept -- and ``best-NNNNNNN/`` (trainable weights of the best dev evaluation); each with a
    manifest of sizes and sha256 written last (see :mod:`nerbench.training.checkpoint`). A re-run
    with the same out-dir resumes from the newest checkpoint that verifies and loads (an unusable
    one is set aside with a warning and the next one is tried) *if* the fingerprint matches: the
    sha256 of every input file, the run slice, the resolved training arguments, the label set
    and the model (see :mod:`nerbench.training.fingerprint`); otherwise the checkpoints are
    discarded and the log says what changed. Data order is a pure function of (seed, epoch), so a
    resumed run ends exactly where an uninterrupted one would. SIGTERM saves a checkpoint and
    exits with status 143 (SLURM requeue then resumes).
``train.lock``
    held while training (:mod:`nerbench.training.lock`): a second trainer on the same out-dir
    stops with a one-line error naming the holder (host, pid); a lock of a dead process is
    taken over. Leftover temporary folders of killed runs are swept at start.

A save that fails on a full disk stops with a one-line error naming the path and the free space
(:class:`nerbench.io.DiskFullError`, exit status 1).

Only ``--train-files``, ``--dbr-files`` (appended to training data) and ``--devel-files`` are
read; test data never reaches this module.
"""

from __future__ import annotations

import argparse
import logging
import math
import os
import signal
import statistics
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from nerbench.hparams import TrainingArgs
from nerbench.hparams import help_text as hparams_help
from nerbench.io import (
    InputError,
    append_jsonl,
    atomic_dir,
    explain_disk_full,
    read_json,
    read_jsonl,
    write_json,
    write_jsonl,
)
from nerbench.methods.base import Example, Method, get_method
from nerbench.methods.models import resolve_model_source
from nerbench.plan.study import short_hash
from nerbench.training.checkpoint import (
    Checkpointer,
    CheckpointError,
    RunPaths,
    TrainState,
)
from nerbench.training.data import dataset_name, epoch_batches, read_examples, tag_types
from nerbench.training.fingerprint import describe_changes, fingerprint_parts
from nerbench.training.lock import RunLock
from nerbench.training.runtime import (
    autocast_dtype,
    dev_scores,
    device_name,
    loaded_revision,
    machine_facts,
    make_optimizer,
    make_scheduler,
    peak_rss_mb,
    pick_device,
    seed_everything,
)
from nerbench.training.speed import resolve_speed

log = logging.getLogger("nerbench.training.loop")
SIGTERM_EXIT = 143


class TrainingInterrupted(Exception):
    """Raised after a checkpoint was saved because a stop was requested (SIGTERM or test hook)."""


# --------------------------------------------------------------------------- the loop


@dataclass
class TrainJob:
    """Inputs of one training run (everything :func:`run_training` needs)."""

    method: Method
    source: Any  # nerbench.methods.base.ModelSource
    labels: list[str]
    train: list[Example]
    dev: list[Example]
    args: TrainingArgs
    seed: int
    out_dir: Path
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    metadata: dict[str, Any] = field(default_factory=dict)
    fingerprint: str = ""
    fingerprint_parts: dict[str, Any] = field(default_factory=dict)
    progress: bool = True


class Trainer:
    """Runs a :class:`TrainJob`; see the module docstring for outputs and resume semantics."""

    def __init__(self, job: TrainJob, stop_after: int | None = None):
        self.job = job
        self.args = job.args
        self.paths = RunPaths(Path(job.out_dir))
        self.method = job.method
        self.ckpt = Checkpointer(self.paths, job.method)
        self.stop_after = stop_after  # test hook: behave as if SIGTERM arrived after this step
        self.stop_requested = False
        self.lock: RunLock | None = None
        self._t0 = 0.0
        self._elapsed0 = 0.0

    def request_stop(self, *_: Any) -> None:
        """Signal handler: finish the current optimizer step, checkpoint, then exit."""
        self.stop_requested = True

    # ------------------------------------------------------------- setup

    def _setup(self) -> None:
        job, args = self.job, self.args
        seed_everything(job.seed)
        self.bundle = self.method.load_for_training(job.source, job.labels, args, job.device)
        self.bundle.autocast = autocast_dtype(args.precision, job.device)
        self.features = self.method.encode(self.bundle, job.train, train=True)
        if not self.features:
            raise InputError("no training sentences (check --train-files and train_limit)")
        self.lengths = [f["length"] for f in self.features]
        self.n_batches = math.ceil(len(self.features) / args.batch_size)
        self.steps_per_epoch = math.ceil(self.n_batches / args.grad_accum)
        self.total_steps = args.max_steps or args.epochs * self.steps_per_epoch
        self.n_epochs = math.ceil(self.total_steps / self.steps_per_epoch)
        self.optimizer = make_optimizer(self.bundle.model, args)
        self.scheduler = make_scheduler(self.optimizer, args, self.total_steps)
        self.trainable = [p for p in self.bundle.model.parameters() if p.requires_grad]
        self.dev_groups = _group_by_dataset(job.dev)
        self.speed = resolve_speed(  # sets bundle.packer: dev prediction packs too
            self.method,
            self.bundle,
            args,
            lengths=self.lengths,
            seed=job.seed,
            total_steps=self.total_steps,
        )
        self.step_times: list[float] = []

    def _resume_or_start(self) -> TrainState:
        """Resume from the newest usable checkpoint of this fingerprint, or start afresh."""
        self.paths.ckpt.mkdir(parents=True, exist_ok=True)
        self.ckpt.sweep()
        steps = self.ckpt.steps()
        if steps:
            reason = self._fingerprint_mismatch()
            if reason is not None:
                log.warning(
                    "discarding the checkpoints in %s: %s; starting over", self.paths.ckpt, reason
                )
                steps = {}
        applied = False
        for step in sorted(steps, reverse=True):
            path = steps[step]
            try:
                loaded = self.ckpt.load(path)
                if loaded["state"].fingerprint != self.job.fingerprint:
                    raise CheckpointError("its state.json belongs to another fingerprint")
                applied = True
                state = self.ckpt.apply(path, loaded, self.bundle, self.optimizer, self.scheduler)
            except CheckpointError as e:
                self.ckpt.set_aside(path, str(e))
                continue
            state.attempts += 1
            log.info("resuming from %s (step %d)", path, state.step)
            return state
        if steps:
            log.warning("no usable checkpoint in %s; starting over", self.paths.ckpt)
        if applied:  # a failed restore may have changed the model or optimizer: rebuild them
            self._setup()
        self.ckpt.clear()
        write_json(
            self.paths.fingerprint,
            {"fingerprint": self.job.fingerprint, "parts": self.job.fingerprint_parts},
        )
        return TrainState(fingerprint=self.job.fingerprint)

    def _fingerprint_mismatch(self) -> str | None:
        """Why the checkpoints belong to another run (None if they are this run's)."""
        try:
            recorded = read_json(self.paths.fingerprint)
            fingerprint, parts = recorded["fingerprint"], recorded["parts"]
        except FileNotFoundError:
            return "they carry no fingerprint record (written by an older version)"
        except (OSError, ValueError, KeyError, TypeError) as e:
            return f"unreadable {self.paths.fingerprint.name} ({type(e).__name__})"
        if fingerprint == self.job.fingerprint:
            return None
        return "they belong to other data/config: " + describe_changes(
            parts if isinstance(parts, dict) else {}, self.job.fingerprint_parts
        )

    # ------------------------------------------------------------- main

    def run(self) -> dict[str, Any]:
        """Train (or resume), write model/, train_log.jsonl and cost.json; return cost.

        Holds the run folder's lock throughout (:class:`~nerbench.training.lock.RunLocked` if
        another live trainer has it)."""
        with RunLock(self.paths.out_dir, check_stop=self._stop_while_waiting) as self.lock:
            if self.job.device.type == "cuda":
                torch.cuda.reset_peak_memory_stats(self.job.device)
            self._setup()
            state = self._resume_or_start()
            self._t0, self._elapsed0 = time.perf_counter(), state.elapsed_s
            bar = _progress(self.total_steps, state.step, self.job.progress)
            try:
                self._loop(state, bar)
            finally:
                bar.close()
            return self._finish(state)

    def _stop_while_waiting(self) -> None:
        """A stop request (SIGTERM) while waiting for another trainer's lock ends the wait."""
        if self.stop_requested:
            raise TrainingInterrupted("stopped while waiting for the run folder's lock")

    def _check_lock(self) -> None:
        if self.lock is not None:
            self.lock.check()

    def _loop(self, state: TrainState, bar) -> None:
        args = self.args
        while state.epoch < self.n_epochs and not self._done(state):
            batches = epoch_batches(
                self.lengths, args.batch_size, self.job.seed, state.epoch, args.mega_batch_mult
            )
            self.bundle.model.train()
            while state.batch_pos < len(batches) and not self._done(state):
                group = batches[state.batch_pos : state.batch_pos + args.grad_accum]
                self._optimizer_step(group, state)
                state.batch_pos += len(group)
                bar.update(1)
                frac = state.epoch + state.batch_pos / len(batches)
                self._after_step(state, frac, epoch_end=state.batch_pos >= len(batches))
            if state.batch_pos >= len(batches):
                state.epoch, state.batch_pos = state.epoch + 1, 0
        if state.batch_pos >= self.n_batches:  # resumed from a checkpoint at an epoch's end
            state.epoch, state.batch_pos = state.epoch + 1, 0
        if state.last_eval_step != state.step and self.dev_groups:
            self._evaluate(state, float(state.epoch))

    def _done(self, state: TrainState) -> bool:
        return state.step >= self.total_steps or state.stopped_early

    def _optimizer_step(self, group: list[list[int]], state: TrainState) -> None:
        t = time.perf_counter()
        for idx in group:
            feats = [self.features[i] for i in idx]
            packer = self.speed.packer
            if packer is not None:
                cpu = packer.collate(feats).tensors
            else:
                cpu = self.method.collate(self.bundle, feats)
            batch = {k: v.to(self.job.device) for k, v in cpu.items()}
            with torch.autocast(
                self.job.device.type,
                dtype=self.bundle.autocast or torch.float32,
                enabled=self.bundle.autocast is not None,
            ):
                if packer is not None:
                    loss = packer.loss(self.speed.step_model, batch)
                else:
                    loss = self.method.loss(self.bundle, batch)
            (loss / len(group)).backward()
            state.loss_sum += float(loss.detach())
            state.loss_count += 1
            state.tokens_seen += sum(f["length"] for f in feats)
        if self.args.max_grad_norm > 0:
            torch.nn.utils.clip_grad_norm_(self.trainable, self.args.max_grad_norm)
        self.optimizer.step()
        self.scheduler.step()
        self.optimizer.zero_grad(set_to_none=True)
        state.step += 1
        if self.job.device.type == "cuda":
            torch.cuda.synchronize(self.job.device)
        self.step_times.append(time.perf_counter() - t)
        state.step_time_s += self.step_times[-1]

    def _after_step(self, state: TrainState, epoch_frac: float, epoch_end: bool) -> None:
        args = self.args
        last = state.step >= self.total_steps
        if state.step % max(1, args.logging_steps) == 0 or last or epoch_end:
            self._log_train(state, epoch_frac)
        due = (args.eval_every and state.step % args.eval_every == 0) or (
            not args.eval_every and epoch_end
        )
        if (due or last) and self.dev_groups:
            self._evaluate(state, epoch_frac)
        stop = self.stop_requested or (
            self.stop_after is not None and state.step >= self.stop_after
        )
        if (args.save_every and state.step % args.save_every == 0) or stop:
            state.elapsed_s = self._elapsed(state)
            self._check_lock()
            self.ckpt.save(self.bundle, self.optimizer, self.scheduler, state)
        if stop:
            raise TrainingInterrupted(f"stopped after step {state.step}; checkpoint saved")

    def _elapsed(self, state: TrainState) -> float:
        return self._elapsed0 + time.perf_counter() - self._t0

    def _log_train(self, state: TrainState, epoch_frac: float) -> None:
        if not state.loss_count:
            return
        record = {
            "event": "train",
            "step": state.step,
            "epoch": round(epoch_frac, 4),
            "loss": state.loss_sum / state.loss_count,
            "lr": self.scheduler.get_last_lr()[0],
            "tokens_seen": state.tokens_seen,
            "elapsed_s": round(self._elapsed(state), 3),
        }
        append_jsonl(self.paths.live_log, record)
        state.loss_sum, state.loss_count = 0.0, 0

    def _evaluate(self, state: TrainState, epoch_frac: float) -> None:
        t = time.perf_counter()
        golds, preds = [], []
        for group in self.dev_groups:
            allowed = set(group[0].types or tag_types(group)) & set(self.bundle.types)
            out = self.method.predict(
                self.bundle,
                group,
                batch_size=self.args.eval_batch_size or 2 * self.args.batch_size,
                stride=self.args.stride,
                allowed_types=allowed,
            )
            golds += [ex.tags for ex in group]
            preds += [p.tags for p in out]
        self.bundle.model.train()
        scores = dev_scores(golds, preds)
        state.eval_time_s += time.perf_counter() - t
        state.last_eval_step = state.step
        improved = scores["dev_f1"] > state.best_f1
        if improved:
            state.best_f1, state.best_step, state.bad_evals = scores["dev_f1"], state.step, 0
            self._check_lock()
            self.ckpt.save_best(self.bundle, state)
        else:
            state.bad_evals += 1
            if self.args.patience and state.bad_evals >= self.args.patience:
                state.stopped_early = True
        record = {"event": "eval", "step": state.step, "epoch": round(epoch_frac, 4), **scores}
        record |= {"best": improved, "elapsed_s": round(self._elapsed(state), 3)}
        append_jsonl(self.paths.live_log, record)
        log.info(
            "step %d dev F1 %.4f%s", state.step, scores["dev_f1"], " (best)" if improved else ""
        )

    def _finish(self, state: TrainState) -> dict[str, Any]:
        loaded_best = self.ckpt.load_best(self.bundle, state.best_step)
        meta = {
            **self.job.metadata,
            "best_step": state.best_step if loaded_best else state.step,
            "best_dev_f1": state.best_f1 if loaded_best else None,
            "stride": self.args.stride,
        }
        self._check_lock()
        model = self.paths.model
        with explain_disk_full(model, "saving the model"), atomic_dir(model) as tmp:
            with explain_disk_full(model, "saving the model"):
                self.method.save(self.bundle, tmp, meta)
        records = read_jsonl(self.paths.live_log) if self.paths.live_log.is_file() else []
        with explain_disk_full(self.paths.log, "writing"):
            write_jsonl(self.paths.log, records)
        cost = self._cost(state, loaded_best)
        with explain_disk_full(self.paths.cost, "writing"):
            write_json(self.paths.cost, cost)
        if not self.args.keep_checkpoints:  # model/ and cost.json are written: nothing is lost
            self.ckpt.remove()
        return cost

    def _cost(self, state: TrainState, loaded_best: bool) -> dict[str, Any]:
        device = self.job.device
        gpu_mb = None
        if device.type == "cuda":
            gpu_mb = round(torch.cuda.max_memory_allocated(device) / 2**20, 1)
        wall = self._elapsed(state)
        ac = self.bundle.autocast
        return {
            "wall_time_s": round(wall, 3),
            "train_step_time_s": round(state.step_time_s, 3),
            "eval_time_s": round(state.eval_time_s, 3),
            "peak_cpu_rss_mb": round(peak_rss_mb(), 1),
            "peak_gpu_memory_mb": gpu_mb,
            "device": device_name(device),
            "dtype": "bf16" if ac == torch.bfloat16 else "fp32",
            "tokens_seen": state.tokens_seen,
            "tokens_per_s": round(state.tokens_seen / max(state.step_time_s, 1e-9), 1),
            "steps": state.step,
            "epochs_completed": state.epoch,
            "stopped_early": state.stopped_early,
            "best_step": state.best_step if loaded_best else state.step,
            "best_dev_f1": state.best_f1 if loaded_best else None,
            "train_features": len(self.features),
            **self.speed.cost_fields(self._compile_time()),
            "attempts": state.attempts,
            # a staged hub model is a local directory: its revision is the pinned one
            "model_revision": loaded_revision(self.bundle.model) or self.job.source.revision,
            "machine": machine_facts(),
        }

    def _compile_time(self) -> float | None:
        """First step of this attempt minus the median later step (compile happens there)."""
        if not self.speed.compile.on or len(self.step_times) < 2:
            return None
        return round(self.step_times[0] - statistics.median(self.step_times[1:]), 3)


def _group_by_dataset(examples: Sequence[Example]) -> list[list[Example]]:
    groups: dict[str | None, list[Example]] = {}
    for ex in examples:
        groups.setdefault(ex.dataset, []).append(ex)
    return list(groups.values())


def _progress(total: int, initial: int, enabled: bool):
    from tqdm.auto import tqdm

    return tqdm(
        total=total,
        initial=initial,
        desc="train",
        unit="step",
        file=sys.stderr,
        disable=not enabled,
        mininterval=1.0 if sys.stderr.isatty() else 30.0,
        dynamic_ncols=True,
    )


def run_training(job: TrainJob, stop_after: int | None = None) -> dict[str, Any]:
    """Train ``job`` (resuming from its checkpoints) and return cost.json's content.

    ``stop_after``: raise :class:`TrainingInterrupted` after saving a checkpoint at that step,
    exactly as SIGTERM would (for tests).
    """
    return Trainer(job, stop_after=stop_after).run()


# --------------------------------------------------------------------------- CLI


def build_job(
    run: dict[str, Any],
    train_files: Sequence[str],
    devel_files: Sequence[str],
    dbr_files: Sequence[str] = (),
    model_dir: str | None = None,
    out_dir: str | os.PathLike = ".",
    device: torch.device | None = None,
    where: str = "run.json",
) -> TrainJob:
    """Turn a run slice and data file lists into a :class:`TrainJob` (reads only these files)."""
    for key in ("model", "method", "hparams", "seed"):
        if key not in run:
            raise InputError(f"run slice lacks key '{key}'", where)
    args = TrainingArgs.from_hparams(run["hparams"], f"{where} (hparams)")
    method = get_method(run["method"])
    source = resolve_model_source(run["model"], model_dir)
    dtypes: dict[str, list[str]] = run.get("dataset_types") or {}

    def load(files: Sequence[str], limit: int | None) -> list[Example]:
        out: list[Example] = []
        for f in files:
            ds = dataset_name(f)
            out += read_examples(f, ds, tuple(dtypes.get(ds, ())), limit)
        return out

    train = load(train_files, args.train_limit) + load(dbr_files, None)
    dev = load(devel_files, args.eval_limit)
    declared = {t for d in run.get("train_datasets", []) for t in dtypes.get(d, [])}
    types = declared or tag_types(train)
    labels = method.label_list(types)
    metadata = {
        "model_id": run["model"].get("id"),
        "source": run["model"].get("source"),
        "train_datasets": run.get("train_datasets", [dataset_name(f) for f in train_files]),
        "dataset_types": dtypes,
        "seed": run["seed"],
    }
    parts = fingerprint_parts(
        run, args, method.name, labels, source, train_files, dbr_files, devel_files
    )
    return TrainJob(
        method=method,
        source=source,
        labels=labels,
        train=train,
        dev=dev,
        args=args,
        seed=int(run["seed"]),
        out_dir=Path(out_dir),
        device=device or pick_device(),
        metadata=metadata,
        fingerprint=short_hash(parts, 16),
        fingerprint_parts=parts,
    )


def _parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="nerbench train",
        description="Train one run (see module doc).",
        epilog=hparams_help(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--run", required=True, help="run slice JSON (results/runs/<id>/run.json)")
    p.add_argument("--train-files", nargs="+", required=True)
    p.add_argument("--devel-files", nargs="+", required=True)
    p.add_argument("--dbr-files", nargs="*", default=[])
    p.add_argument("--model-dir", default=None, help="local model directory (tiny: sources)")
    p.add_argument("--out-dir", required=True)
    p.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    return p.parse_args(argv)


def main_train(argv: list[str]) -> int:
    """CLI entry point; returns 143 when stopped by SIGTERM (a checkpoint was saved)."""
    a = _parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    run_path = Path(a.run)
    if not run_path.is_file():
        raise InputError("run slice not found", run_path)
    run = read_json(run_path)
    job = build_job(
        run,
        a.train_files,
        a.devel_files,
        a.dbr_files,
        a.model_dir,
        a.out_dir,
        pick_device(a.device),
        str(run_path),
    )
    job.progress = not a.no_progress
    trainer = Trainer(job)
    previous = signal.signal(signal.SIGTERM, trainer.request_stop)
    try:
        cost = trainer.run()
    except TrainingInterrupted as e:
        log.warning("%s", e)
        return SIGTERM_EXIT
    finally:
        signal.signal(signal.SIGTERM, previous)
    log.info(
        "done: %d steps, best dev F1 %s at step %s, %.1f s",
        cost["steps"],
        cost["best_dev_f1"],
        cost["best_step"],
        cost["wall_time_s"],
    )
    return 0
