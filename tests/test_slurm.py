"""`snakemake --profile slurm` on a real single-node SLURM cluster (munged, slurmctld, slurmd).

Skipped with a reason where SLURM is not installed (``.ci/install_system_deps.sh`` installs it)
or the
test is not root. The reduced demo study runs from a copy of the repository through the real
profile in ``profiles/slurm`` (reached as ``--profile slurm`` via the ``slurm`` symlink); the
training job asks for a GPU (``--gpus=1``, the node has one count-only GPU) and is requeued by
SLURM while it trains, as a preemption would, and must resume from its checkpoint.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent / "slurm"))
from project_copy import copy_project, dry_run, mini_study, snakemake_popen  # noqa: E402
from slurm_harness import LocalSlurm, missing_requirements  # noqa: E402

pytestmark = pytest.mark.slow

SLURM_RULES = {
    "to_bio",
    "corpus_stats",
    "build_tiny_model",
    "write_run_spec",
    "train",
    "predict",
    "evaluate",
}
LOCAL_RULES = {"aggregate", "table", "figure"}


def _controller_running() -> bool:
    res = subprocess.run(["pgrep", "-x", "slurmctld"], capture_output=True)
    return res.returncode == 0


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    reason = missing_requirements()
    if reason:
        pytest.skip(reason)
    if _controller_running():
        pytest.skip("a SLURM controller is already running on this machine; not touching it")
    root = tmp_path_factory.mktemp("slurm")
    root.chmod(0o700)  # munged refuses a socket directory others can write to
    slurm = LocalSlurm(root).start()
    yield slurm
    slurm.stop()


def _jobs() -> list[dict[str, str]]:
    """Every job slurmctld still knows (MinJobAge keeps finished ones), as key=value dicts."""
    out = subprocess.run(
        ["scontrol", "-o", "show", "job"], capture_output=True, text=True, check=True
    ).stdout
    return [dict(re.findall(r"(\w+)=(\S*)", line)) for line in out.splitlines() if line.strip()]


def _rule(job: dict[str, str]) -> str:
    """The plugin puts ``rule_<name>_wildcards_...`` into the job comment."""
    m = re.match(r"rule_(\w+?)(?:_wildcards_|$)", job.get("Comment", ""))
    return m.group(1) if m else ""


def _requeue_training_once(proc, project: Path, deadline_s: float = 900) -> str:
    """Requeue the running training job once it has written a checkpoint; return its job id."""
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline and proc.poll() is None:
        running = [j for j in _jobs() if _rule(j) == "train" and j.get("JobState") == "RUNNING"]
        if running and list((project / "results" / "runs").glob("*/checkpoints/step-*")):
            job_id = running[0]["JobId"]
            subprocess.run(["scontrol", "requeue", job_id], check=True)
            _release_requeued(job_id)
            return job_id
        time.sleep(0.5)
    out = proc.stdout.read() if proc.poll() is not None else ""
    pytest.fail(f"training job never ran with a checkpoint to requeue:\n{out[-3000:]}")


def _release_requeued(job_id: str, timeout_s: float = 60) -> None:
    """SLURM delays a requeued job's start (BeginTime); make it eligible now."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        job = next(j for j in _jobs() if j["JobId"] == job_id)
        if job["JobState"] == "PENDING":
            subprocess.run(["scontrol", "update", f"JobId={job_id}", "StartTime=now"], check=True)
            return
        time.sleep(0.5)
    pytest.fail(f"requeued job {job_id} never became PENDING")


def test_workflow_runs_through_slurm_and_survives_a_requeue(cluster, tmp_path):
    assert cluster.start_seconds < 30
    project = copy_project(tmp_path / "project", mini_study(epochs=4, save_every=8))
    started = time.monotonic()
    proc = snakemake_popen(
        project,
        "--profile",
        "slurm",
        "--jobs",
        "4",
        "--set-resources",
        "train:gpu=1",
        "--slurm-init-seconds-before-status-checks",
        "2",
    )
    try:
        requeued = _requeue_training_once(proc, project)
        out, _ = proc.communicate(timeout=1200)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    elapsed = time.monotonic() - started
    assert proc.returncode == 0, out[-5000:]

    jobs = _jobs()
    by_rule = {}
    for job in jobs:
        by_rule.setdefault(_rule(job), []).append(job)
    assert SLURM_RULES <= set(by_rule), sorted(by_rule)
    assert not (LOCAL_RULES & set(by_rule)), "aggregate/table/figure should run locally"
    assert all(j["JobState"] == "COMPLETED" for j in jobs), [
        (j["JobId"], j["JobState"]) for j in jobs
    ]
    (train,) = by_rule["train"]
    assert train["JobId"] == requeued and train["Restarts"] == "1"
    assert "gpu:1" in train.get("TresPerJob", ""), train  # --gpus=1 reached SLURM
    assert "gpu" not in by_rule["predict"][0].get("TresPerJob", "")
    # jobcomp records each end of a job: one per job, plus the requeued attempt
    finished = cluster.finished_jobs()
    assert len(finished) == len(jobs) + 1
    assert {j["Name"] for j in finished} == {jobs[0]["JobName"]}  # one workflow run
    assert list((project / "logs" / "slurm" / "rule_train").rglob("*.log"))

    (run_dir,) = (project / "results" / "runs").iterdir()
    cost = json.loads((run_dir / "cost.json").read_text())
    assert cost["attempts"] == 2  # resumed from the checkpoint written before the requeue
    assert list((run_dir / "metrics").glob("*.json"))
    assert dry_run(project) == {}, "everything the study asks for was built"
    print(f"SLURM: daemons up in {cluster.start_seconds:.1f} s; workflow {elapsed:.0f} s")
