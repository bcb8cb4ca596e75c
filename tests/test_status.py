"""`nerbench status`: the study's runs read from their own files, and a study-level ETA."""

from __future__ import annotations

import io
import json
import math
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ROOT
from nerbench import paths
from nerbench.reporting.record_inputs import study_plan
from nerbench.status import (
    bar_progress,
    fmt_duration,
    main_status,
    render,
    study_status,
    watch,
)

STUDY = "status-test"
DATASETS = ["NCBI-disease-demo", "BC5CDR-chem-demo", "s800-demo"]
HOLD_LOCK = (
    "import sys, time\n"
    "from nerbench.training.lock import RunLock\n"
    "RunLock(sys.argv[1]).acquire()\n"
    "print('locked', flush=True)\n"
    "time.sleep(120)\n"
)


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def _jsonl(path: Path, records: list[dict]) -> None:
    _write(path, "".join(json.dumps(r) + "\n" for r in records))


@pytest.fixture
def study(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """A project with a 3-run study (MiniLM on three corpora, 2 epochs, 100 training sentences
    each); returns its run ids in plan order. The current directory is the project."""
    shutil.copytree(ROOT / "config", tmp_path / "config")
    _write(
        tmp_path / f"config/studies/{STUDY}.yaml",
        "datasets: " + json.dumps(DATASETS) + "\n"
        "defaults: {hparams: {epochs: 2, batch_size: 8}}\n"
        "runs:\n  - {name: enc, models: [minilm-l6], train_on: each}\n",
    )
    monkeypatch.chdir(tmp_path)
    for d in DATASETS:
        _jsonl(Path(paths.fill(paths.BIO, dataset=d, split="train")), [{"tokens": ["a"]}] * 100)
    return list(study_plan(tmp_path, STUDY).runs)


def _run_dir(run_id: str) -> Path:
    return Path(paths.fill(paths.RUN_DIR, run_id=run_id))


def _finished(run_id: str, dataset: str) -> None:
    cost = {"steps": 26, "epochs_completed": 2, "wall_time_s": 100.0, "tokens_seen": 50000}
    _write(paths.run_file(_run_dir(run_id), "cost"), json.dumps(cost | {"best_dev_f1": 0.61}))
    _write(paths.run_file(_run_dir(run_id), "metrics", dataset=dataset), "{}")


def _training(run_id: str) -> None:
    """Logs of a run 10 of 26 steps in: live log, progress bar in the job log."""
    _jsonl(
        paths.run_file(_run_dir(run_id), "live_log"),
        [
            {
                "event": "train",
                "step": 10,
                "epoch": 0.77,
                "loss": 0.5,
                "tokens_seen": 5000,
                "elapsed_s": 20.0,
            },
            {"event": "eval", "step": 13, "epoch": 1.0, "dev_f1": 0.3, "elapsed_s": 26.0},
        ],
    )
    bar = "train:  50%|#####     | 13/26 [00:26<00:26,  0.50step/s]"
    _write(Path(paths.fill(paths.TRAIN_JOB_LOG, run_id=run_id)), "loading\n" + bar)


@pytest.fixture
def lock_holder():
    """Start a live process that holds a run folder's lock; yields a function taking the
    folder. Each process is ended by its own pid at teardown."""
    procs: list[subprocess.Popen] = []

    def hold(run_dir: Path) -> subprocess.Popen:
        env = {**os.environ, "PYTHONPATH": str(ROOT / "workflow")}
        proc = subprocess.Popen(
            [sys.executable, "-c", HOLD_LOCK, str(run_dir)],
            stdout=subprocess.PIPE,
            text=True,
            env=env,
        )
        procs.append(proc)
        assert proc.stdout.readline().strip() == "locked"
        return proc

    yield hold
    for proc in procs:
        proc.terminate()
        proc.wait(timeout=30)


def test_finished_running_waiting_and_a_finite_eta(study, lock_holder, capsys):
    done, running, waiting = study
    _finished(done, DATASETS[0])
    _training(running)
    lock_holder(_run_dir(running))

    status = study_status(STUDY)
    by_id = {r.run_id: r for r in status.runs}
    assert [by_id[r].state for r in study] == ["done", "running", "waiting"]
    assert (by_id[running].step, by_id[running].total_steps) == (13, 26)  # the bar is newer
    assert by_id[running].best_dev_f1 == 0.3
    assert by_id[done].best_dev_f1 == 0.61 and by_id[done].scored == 1
    # running: 13 steps left at ~2 s a step; waiting: 200 planned examples at the measured rates
    assert 20 < by_id[running].left_s < 40
    assert by_id[waiting].left_s is not None and by_id[waiting].left_s > 0
    assert math.isfinite(status.left_s)
    assert status.left_s >= by_id[running].left_s + by_id[waiting].left_s - 1  # one slot

    assert main_status(["--study", STUDY]) == 0
    out = capsys.readouterr().out
    lines = {line.split()[0]: line for line in out.splitlines() if line.startswith("minilm")}
    assert lines[done].split()[1] == "done"
    assert lines[running].split()[1] == "running" and "13/26" in lines[running]
    assert lines[waiting].split()[1] == "waiting"
    assert "1 done, 1 running, 1 waiting, 0 failed" in out
    assert re.search(r"Training time left: ~\d+m\d\ds \(until about", out)


def test_a_run_that_has_not_logged_yet_is_estimated(study, lock_holder):
    """Running but still loading its model: elapsed since the lock, time left from the rates of
    the study's other runs."""
    done, loading, _ = study
    _finished(done, DATASETS[0])
    lock_holder(_run_dir(loading))
    status = study_status(STUDY)
    run = next(r for r in status.runs if r.run_id == loading)
    assert run.state == "running" and run.step is None
    assert run.elapsed_s is not None and run.elapsed_s < 60
    assert 0 < run.left_s <= 100.0  # 200 planned examples at 100 s per 200 examples
    assert math.isfinite(status.left_s)


def test_a_run_of_unknown_length_is_left_out_of_the_eta(study):
    """A waiting run whose corpus is not converted yet (and has no published count) has no
    planned examples: the ETA counts the others and says so."""
    done, _, unknown = study
    _finished(done, DATASETS[0])
    Path(paths.fill(paths.BIO, dataset=DATASETS[2], split="train")).unlink()
    status = study_status(STUDY)
    assert math.isfinite(status.left_s) and status.left_s > 0 and status.unestimated == 1
    assert next(r for r in status.runs if r.run_id == unknown).left_s is None
    assert "1 run(s) of unknown length not counted" in render(status)


def test_no_measurement_no_eta(study):
    """Nothing trained or training: the waiting runs' durations are unknown, and so is the ETA."""
    status = study_status(STUDY)
    assert {r.state for r in status.runs} == {"waiting"}
    assert status.left_s is None
    assert "not known yet" in render(status)


def test_failed_runs(study):
    """A job log ending in an error, or a lock whose holder is gone, is a failed run."""
    error, gone, _ = study
    _write(
        Path(paths.fill(paths.TRAIN_JOB_LOG, run_id=error)),
        "Traceback (most recent call last):\n  ...\nRuntimeError: CUDA out of memory\n",
    )
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    holder = {"host": os.uname().nodename, "pid": int(dead.stdout), "start_ticks": None}
    _write(paths.run_file(_run_dir(gone), "lock"), json.dumps(holder))
    _training(gone)
    by_id = {r.run_id: r for r in study_status(STUDY).runs}
    assert by_id[error].state == "failed" and "CUDA out of memory" in by_id[error].note
    assert by_id[gone].state == "failed" and "no longer running" in by_id[gone].note
    text = render(study_status(STUDY))
    assert "0 running, 1 waiting, 2 failed" in text and "CUDA out of memory" in text


def test_watch_refreshes_until_finished():
    out = io.StringIO()
    states = iter([("first", False), ("second", False), ("third", True), ("never", True)])
    watch(lambda: next(states), interval=0, count=None, out=out)
    assert out.getvalue().split() == ["first", "second", "third"]
    out = io.StringIO()
    watch(lambda: ("again", False), interval=0, count=2, out=out)
    assert out.getvalue().split() == ["again", "again"]


def test_progress_bar_and_durations():
    text = (
        "train:   3%|▎         | 60/2250 [00:30<18:35,  1.96step/s]\rtrain:   5%|▍   | 109/2250 ["
    )
    assert bar_progress(text) == (109, 2250)
    assert bar_progress("no bar here") is None
    assert [fmt_duration(s) for s in (5, 65, 3725, None)] == ["5s", "1m05s", "1h02m", "?"]


def test_status_reads_the_trainers_live_log(tmp_path):
    """The live log status reads is the one the training loop appends to."""
    from nerbench.training.checkpoint import RunPaths

    assert RunPaths(tmp_path).live_log == paths.run_file(tmp_path, "live_log")
