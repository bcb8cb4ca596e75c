"""Progress of a study's training runs: ``python -m nerbench status [--study S] [--watch]``.

One table row per run of the study -- done / running / waiting / failed, epoch and step of
the total, tokens per second of wall time, elapsed time and time left, best dev F1 so far, test
sets scored -- and a study-level estimate of the time left. Everything is read from the runs' own
files, relative to the current directory (the project root):

* ``results/runs/<id>/cost.json``: the run has finished training (done);
* ``results/runs/<id>/train.lock``: a trainer holds the run (running, if the holder is alive:
  :func:`nerbench.training.lock.stale_reason`);
* ``results/runs/<id>/checkpoints/live_log.jsonl`` (while training; ``train_log.jsonl`` after):
  step, epoch, tokens seen, elapsed time and dev F1 of each logging step and evaluation;
* ``logs/runs/<id>/train.log``: the progress bar's ``step/total`` and the error of a failed run.

It never imports torch and reads only small files (and the tail of each job log), so it can run
every minute on a login node. A waiting run's duration is estimated from its planned training
examples (sentences x epochs, :meth:`nerbench.plan.files.StudyFiles.planned_train_examples`) at the
seconds per example measured on the study's other runs of the same model (else of any model);
the study's time left schedules the waiting runs, longest first, on as many slots as runs are
training now (``--slots`` to say otherwise). Prediction, evaluation and the report are not counted.
"""

from __future__ import annotations

import argparse
import heapq
import json
import math
import re
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from nerbench import paths

STATES = ("done", "running", "waiting", "failed")
_TAIL_BYTES = 64 * 1024
_BAR_RE = re.compile(r"train:\s*\d+%\|[^|\r\n]*\|\s*(\d+)/(\d+)\b")
_CLEAR = "\033[H\033[J"


@dataclass
class RunStatus:
    """What the status table shows for one run (None: not known yet)."""

    run_id: str
    state: str
    step: int | None = None
    total_steps: int | None = None
    epoch: float | None = None
    epochs: int | None = None
    tokens_per_s: float | None = None
    elapsed_s: float | None = None
    left_s: float | None = None  # training time left (waiting runs: their estimated duration)
    best_dev_f1: float | None = None
    scored: int = 0
    to_score: int = 0
    planned_examples: int = 0
    model: str = ""
    note: str = ""  # why a run failed, or where a waiting run resumes

    def seconds_per_example(self) -> float | None:
        """Training seconds per planned example, measured on a done or running run."""
        if not self.planned_examples or self.elapsed_s is None:
            return None
        if self.state == "done":
            return self.elapsed_s / self.planned_examples
        if self.state == "running" and self.left_s is not None:
            return (self.elapsed_s + self.left_s) / self.planned_examples
        return None


# --------------------------------------------------------------------------- reading files


def read_tail(path: Path, size: int = _TAIL_BYTES) -> str:
    """The last ``size`` bytes of a text file ('' if it does not exist)."""
    try:
        with open(path, "rb") as f:
            f.seek(0, 2)
            f.seek(max(0, f.tell() - size))
            return f.read().decode("utf-8", errors="replace")
    except OSError:
        return ""


def read_records(path: Path) -> list[dict[str, Any]]:
    """JSONL records of a training log; a line being written (or torn) is skipped."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return []
    out = []
    for line in text.splitlines():
        try:
            rec = json.loads(line)
        except ValueError:
            continue
        if isinstance(rec, dict):
            out.append(rec)
    return out


def read_json_file(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def bar_progress(log_text: str) -> tuple[int, int] | None:
    """(step, total) of the last training progress bar in a job log, if any."""
    found = _BAR_RE.findall(log_text)
    return (int(found[-1][0]), int(found[-1][1])) if found else None


def failure_line(log_text: str) -> str | None:
    """The error a failed training job ended with (None if its log shows none)."""
    lines = [ln.strip() for ln in re.split(r"[\r\n]+", log_text) if ln.strip()]
    if lines and (
        "Traceback (most recent call last)" in log_text or lines[-1].startswith("error:")
    ):
        return lines[-1][:200]
    return None  # no error (a SIGTERM'd run saved a checkpoint and resumes when rerun)


def lock_holder(run_dir: Path) -> tuple[dict[str, Any], str | None] | None:
    """(holder, why it is stale or None if live) of a run folder's lock; None if unlocked."""
    from nerbench.training.lock import stale_reason

    path = paths.run_file(run_dir, "lock")
    try:
        mtime = path.stat().st_mtime
    except OSError:
        return None
    holder = read_json_file(path) or {"host": "?", "pid": None}
    return holder, stale_reason(holder, mtime)


# --------------------------------------------------------------------------- one run


def _epochs(spec: dict[str, Any]) -> tuple[int, int | None]:
    from nerbench.hparams import TrainingArgs

    args = TrainingArgs.from_hparams(spec.get("hparams") or {})
    return args.epochs, args.max_steps


def run_status(
    run_id: str, spec: dict[str, Any], eval_sets: list[str], planned: int, now: float
) -> RunStatus:
    """Read one run's files (relative to the current directory) into a :class:`RunStatus`."""
    run_dir = Path(paths.fill(paths.RUN_DIR, run_id=run_id))
    epochs, max_steps = _epochs(spec)
    st = RunStatus(run_id, "waiting", epochs=epochs, planned_examples=planned)
    st.model = str((spec.get("model") or {}).get("id", ""))
    st.to_score = len(eval_sets)
    st.scored = sum(paths.run_file(run_dir, "metrics", dataset=d).is_file() for d in eval_sets)
    cost = read_json_file(paths.run_file(run_dir, "cost"))
    if cost is not None:
        st.state = "done"
        st.step = st.total_steps = cost.get("steps")
        st.epoch = cost.get("epochs_completed")
        st.elapsed_s = cost.get("wall_time_s")
        st.best_dev_f1 = cost.get("best_dev_f1")
        st.left_s = 0.0
        if st.elapsed_s and cost.get("tokens_seen"):
            st.tokens_per_s = cost["tokens_seen"] / st.elapsed_s
        return st

    live = paths.run_file(run_dir, "live_log")
    records = read_records(live)
    train = [r for r in records if r.get("event") == "train"]
    evals = [r for r in records if r.get("event") == "eval" and r.get("dev_f1") is not None]
    if evals:
        st.best_dev_f1 = max(float(r["dev_f1"]) for r in evals)
    last = max(records, key=lambda r: r.get("step", 0), default=None)
    if last is not None:
        st.step, st.epoch = int(last.get("step", 0)), last.get("epoch")
        if train and train[-1].get("elapsed_s"):
            st.tokens_per_s = train[-1].get("tokens_seen", 0) / train[-1]["elapsed_s"]

    job_log = read_tail(Path(paths.fill(paths.TRAIN_JOB_LOG, run_id=run_id)))
    bar = bar_progress(job_log)
    if bar is not None:
        st.step, st.total_steps = max(st.step or 0, bar[0]), bar[1]
    elif max_steps:
        st.total_steps = max_steps
    elif st.step and st.epoch:  # steps per epoch from the position within the epochs
        st.total_steps = round(st.step / float(st.epoch) * epochs)

    lock = lock_holder(run_dir)
    if lock is not None and lock[1] is None:
        st.state = "running"
        holder = lock[0]
        if last is not None and last.get("elapsed_s") is not None:
            since = max(0.0, now - live.stat().st_mtime) if live.is_file() else 0.0
            st.elapsed_s = float(last["elapsed_s"]) + since
        else:  # loading the model, nothing logged yet: since the lock was taken
            st.elapsed_s = _seconds_since(holder.get("started"), now)
        if st.step and st.total_steps and st.elapsed_s:
            st.left_s = max(0, st.total_steps - st.step) * st.elapsed_s / st.step
        st.note = f"pid {holder.get('pid')} on {holder.get('host')}"
        return st
    error = failure_line(job_log)
    if error is not None or lock is not None:
        st.state = "failed"
        st.note = error or f"trainer gone ({lock[1]})"
    elif st.step:
        st.note = f"resumes from its last checkpoint (logged up to step {st.step})"
    return st


def _seconds_since(iso_time: Any, now: float) -> float | None:
    from datetime import datetime

    try:
        return max(0.0, now - datetime.fromisoformat(str(iso_time)).timestamp())
    except ValueError:
        return None


# --------------------------------------------------------------------------- the study


@dataclass
class StudyStatus:
    study: str
    runs: list[RunStatus]
    left_s: float | None  # the study's training time left (None: not enough measured yet)
    slots: int
    unestimated: int = 0  # running or waiting runs whose time left is unknown (not in left_s)

    def count(self, state: str) -> int:
        return sum(r.state == state for r in self.runs)


def estimate_waiting(runs: list[RunStatus]) -> None:
    """Fill each waiting run's ``left_s`` with its estimated duration (same model first), and
    that of a running run that has not logged a step yet less its elapsed time."""
    rates: dict[str, list[float]] = {}
    for r in runs:
        rate = r.seconds_per_example()
        if rate is not None:
            rates.setdefault(r.model, []).append(rate)
    every = [x for xs in rates.values() for x in xs]
    for r in runs:
        if r.state not in ("waiting", "running") or r.left_s is not None or not r.planned_examples:
            continue
        measured = rates.get(r.model) or every
        if measured:
            duration = r.planned_examples * statistics.median(measured)
            r.left_s = max(0.0, duration - (r.elapsed_s or 0.0) * (r.state == "running"))


def study_time_left(runs: list[RunStatus], slots: int) -> float | None:
    """Time until the last waiting or running run has trained: running runs finish on their
    slots, waiting runs (longest first) start on the slot that frees up first. Runs of unknown
    duration are left out; None if every run left is of unknown duration."""
    left = [r for r in runs if r.state in ("running", "waiting")]
    if left and all(r.left_s is None for r in left):
        return None
    running = [r.left_s for r in left if r.state == "running" and r.left_s is not None]
    waiting = [r.left_s for r in left if r.state == "waiting" and r.left_s is not None]
    waiting.sort(reverse=True)
    free = sorted(running) + [0.0] * max(0, slots - len(running))
    heapq.heapify(free)
    end = max(free, default=0.0)
    for duration in waiting:
        start = heapq.heappop(free)
        heapq.heappush(free, start + duration)
        end = max(end, start + duration)
    return end


def study_status(study: str, slots: int | None = None, now: float | None = None) -> StudyStatus:
    """Read every run of ``study`` (config/config.yaml with ``study`` set)."""
    from nerbench.plan.files import StudyFiles
    from nerbench.reporting.record_inputs import study_plan

    now = time.time() if now is None else now
    plan = study_plan(Path("."), study)
    files = StudyFiles(plan, {})
    runs = [
        run_status(rid, spec, plan.eval_sets[rid], files.planned_train_examples(rid), now)
        for rid, spec in plan.runs.items()
    ]
    estimate_waiting(runs)
    n = slots or max(1, sum(r.state == "running" for r in runs))
    unknown = sum(r.state in ("running", "waiting") and r.left_s is None for r in runs)
    return StudyStatus(study, runs, study_time_left(runs, n), n, unknown)


# --------------------------------------------------------------------------- rendering


def fmt_duration(seconds: float | None) -> str:
    """``1h02m``, ``4m05s``, ``12s``; ``?`` when unknown."""
    if seconds is None or not math.isfinite(seconds):
        return "?"
    s = int(round(seconds))
    if s >= 3600:
        return f"{s // 3600}h{s % 3600 // 60:02d}m"
    if s >= 60:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s}s"


def _cell(value: Any, fmt: str = "{}") -> str:
    return "-" if value is None else fmt.format(value)


def render(status: StudyStatus, now: float | None = None) -> str:
    """The status table and the study's summary as text."""
    now = time.time() if now is None else now
    header = ("run", "state", "epoch", "step", "tok/s", "elapsed", "left", "best dev F1", "scored")
    rows = []
    for r in status.runs:
        epoch = f"{_cell(r.epoch, '{:.2f}')}/{r.epochs}" if r.epoch is not None else "-"
        step = f"{_cell(r.step)}/{_cell(r.total_steps)}" if r.step is not None else "-"
        left = fmt_duration(r.left_s) if r.state in ("running", "waiting") else "-"
        if r.state == "waiting" and r.left_s is not None:
            left = "~" + left  # an estimate from other runs
        rows.append(
            (
                r.run_id,
                r.state,
                epoch,
                step,
                _cell(r.tokens_per_s, "{:.0f}"),
                fmt_duration(r.elapsed_s) if r.elapsed_s is not None else "-",
                left,
                _cell(r.best_dev_f1, "{:.4f}"),
                f"{r.scored}/{r.to_score}",
            )
        )
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows, strict=True)]
    lines = [
        "  ".join(str(x).ljust(w) for x, w in zip(row, widths, strict=True)).rstrip()
        for row in (header, *rows)
    ]
    counts = ", ".join(f"{status.count(s)} {s}" for s in STATES)
    summary = f"study {status.study}: {len(status.runs)} runs: {counts}."
    if status.count("running") + status.count("waiting") == 0:
        summary += " Nothing left to train."
    elif status.left_s is None:
        summary += " Training time left: not known yet (no run has logged a step)."
    else:
        at = time.strftime("%H:%M %Z", time.localtime(now + status.left_s))
        summary += (
            f" Training time left: ~{fmt_duration(status.left_s)} (until about {at}; "
            f"{status.slots} run(s) at a time"
        )
        if status.unestimated:
            summary += f"; {status.unestimated} run(s) of unknown length not counted"
        summary += ")."
    notes = [f"  {r.run_id}: {r.note}" for r in status.runs if r.state == "failed"]
    if notes:
        summary += "\nfailed (see logs/runs/<run>/train.log):\n" + "\n".join(notes)
    return "\n".join(lines) + "\n" + summary


def watch(
    show: Callable[[], tuple[str, bool]],
    interval: float,
    count: int | None,
    out: TextIO,
) -> None:
    """Print ``show()``'s text every ``interval`` seconds, in place on a terminal, until it
    says the study is finished, ``count`` refreshes were made, or Ctrl-C."""
    n = 0
    while True:
        text, finished = show()
        if out.isatty():
            out.write(_CLEAR)
        out.write(text + "\n")
        out.flush()
        n += 1
        if finished or (count is not None and n >= count):
            return
        try:
            time.sleep(interval)
        except KeyboardInterrupt:
            return


def watch_hint(study: str) -> str:
    """The command that follows a study's progress (printed when the workflow starts)."""
    return f"python -m nerbench status --study {study} --watch"


def main_status(argv: list[str]) -> int:
    """CLI: print the study's run table (``--watch``: refresh it until the study is trained)."""
    ap = argparse.ArgumentParser(
        prog="nerbench status",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ap.add_argument("--study", default=None, help="default: the study of config/config.yaml")
    ap.add_argument("--watch", action="store_true", help="refresh in place until trained")
    ap.add_argument("--interval", type=float, default=60.0, help="seconds between refreshes")
    ap.add_argument("--count", type=int, default=None, help="stop after this many refreshes")
    ap.add_argument("--slots", type=int, default=None, help="runs trained at a time (ETA)")
    args = ap.parse_args(argv)
    study = args.study or _configured_study()

    def show() -> tuple[str, bool]:
        now = time.time()
        status = study_status(study, args.slots, now)
        finished = status.count("running") + status.count("waiting") == 0
        return render(status, now), finished

    watch(show, args.interval, args.count if args.watch else 1, sys.stdout)
    return 0


def _configured_study() -> str:
    import yaml

    from nerbench.io import InputError

    path = Path("config/config.yaml")
    if not path.is_file():
        raise InputError("config/config.yaml not found: run from the project root", path)
    return str((yaml.safe_load(path.read_text(encoding="utf-8")) or {}).get("study", "demo"))
