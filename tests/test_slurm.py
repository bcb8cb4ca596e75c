"""`snakemake --profile slurm` on a real single-node SLURM cluster (munged, slurmctld, slurmd).

Skipped with a reason where SLURM is not installed (``.ci/install_system_deps.sh`` installs it)
or the
test is not root. The reduced demo study runs from a copy of the repository through the real
profile in ``profiles/slurm`` (reached as ``--profile slurm`` via the ``slurm`` symlink); the
training job asks for a GPU (``--gpus=1``, the node has one count-only GPU) and is requeued by
SLURM while it trains, as a preemption would, and must resume from its checkpoint.

The run's model is a gated hub model served by a fake hub on 127.0.0.1 (``tests/fake_hub.py``,
reached through ``HF_ENDPOINT`` with ``HF_TOKEN``): it must be staged once, by the local rule
``fetch_model`` on the submit host, and every sbatch job must run with the hub off
(``HF_HUB_OFFLINE=1``), as each ``nerbench`` command records in ``$NERBENCH_ENV_LOG``.
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

sys.path.insert(0, str(Path(__file__).parent))
from fake_hub import FakeHub  # noqa: E402

pytestmark = pytest.mark.slow

SLURM_RULES = {"to_bio", "corpus_stats", "train", "predict", "evaluate"}
# write_run_spec writes one small JSON file: a local rule, not an sbatch job each (#26)
LOCAL_RULES = {"aggregate", "table", "figure", "fetch_model", "download", "write_run_spec"}
HUB_REPO = "acme/tiny-bert"


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


@pytest.fixture
def hub(tmp_path):
    """A gated tiny BERT on a fake hub (127.0.0.1), as models.tsv row 'hub-bert'."""
    from nerbench.methods.models import build_tiny_model

    server = FakeHub()
    server.add_repo(HUB_REPO, build_tiny_model("bert", tmp_path / "tiny-bert"), gated=True)
    server.start()
    yield server
    server.stop()


def test_workflow_runs_through_slurm_and_survives_a_requeue(cluster, hub, tmp_path):
    assert cluster.start_seconds < 30
    study = mini_study(groups={"hub": {"models": ["hub-bert"]}}, epochs=4, save_every=8)
    project = copy_project(tmp_path / "project", study)
    sha = hub.repos[HUB_REPO].sha
    with open(project / "config" / "models.tsv", "a", encoding="utf-8") as f:
        f.write(
            f"hub-bert\t{HUB_REPO}\t{sha}\tencoder\ttoken-classification\t64\tfp32\tnone\ttrue\t\n"
        )
    env_log = project / "env_log.jsonl"
    hub_env = {
        "HF_ENDPOINT": hub.endpoint,
        "HF_TOKEN": hub.token,
        "HF_HOME": str(tmp_path / "hf-home"),
        "NERBENCH_ENV_LOG": str(env_log),
    }
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
        extra_env=hub_env,
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
    assert not (LOCAL_RULES & set(by_rule)), "local rules ran as sbatch jobs"
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
    assert cost["model_revision"] == sha

    # the model was staged once, on the submit host, and every sbatch job ran with the hub off
    staged = project / "resources" / "models" / "acme--tiny-bert" / sha
    assert (staged / "config.json").is_file()
    assert len(hub.downloads(HUB_REPO)) == len(hub.repos[HUB_REPO].files), hub.requests
    records = [json.loads(line) for line in env_log.read_text().splitlines()]
    (fetch,) = [r for r in records if r["command"] == "fetch-model"]
    assert fetch["SLURM_JOB_ID"] is None, "fetch-model ran inside an sbatch job"
    assert all(r["SLURM_JOB_ID"] is None for r in records if r["command"] == "download")
    in_jobs = [r for r in records if r["SLURM_JOB_ID"]]
    assert {r["command"] for r in in_jobs} >= {"to-bio", "train", "predict", "evaluate"}
    assert all(r["HF_HUB_OFFLINE"] == "1" for r in in_jobs), in_jobs
    assert len({r["SLURM_JOB_ID"] for r in in_jobs}) == len(jobs)  # every sbatch job recorded
    for f in [*project.rglob("*"), *tmp_path.glob("hf-home/**/*")]:  # the token stays secret
        if f.is_file() and f.stat().st_size < 50_000_000:
            assert hub.token.encode() not in f.read_bytes(), f
    assert hub.token not in out
    assert list((run_dir / "metrics").glob("*.json"))
    assert dry_run(project) == {}, "everything the study asks for was built"
    print(f"SLURM: daemons up in {cluster.start_seconds:.1f} s; workflow {elapsed:.0f} s")
