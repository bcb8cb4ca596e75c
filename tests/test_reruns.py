"""Minimal partial reruns and preemption, on a copy of the workflow with a reduced demo study.

(a) one model's learning rate changed -> only that run's chain and the aggregation/report rules;
(b) plot code edited -> only the figure rules; (c) a dataset added -> only its chain and the
aggregation; (d) nothing changed -> nothing to do. Then a training job killed with SIGTERM and
with SIGKILL resumes from its checkpoint and ends with the metrics of an uninterrupted run.
"""

from __future__ import annotations

import copy
import json
import signal
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent / "slurm"))
from project_copy import (  # noqa: E402
    copy_project,
    dry_run,
    mini_study,
    snakemake,
    snakemake_popen,
    write_study,
)

pytestmark = pytest.mark.slow

psutil = pytest.importorskip("psutil")

REPORT_RULES = {"aggregate", "table", "figure"}
RUN_CHAIN = {"write_run_spec", "train", "predict", "evaluate"}
GROUPS = {"minilm": {"models": ["minilm-l6"]}, "tinybert": {"models": ["tiny-bert"]}}


def _fail(res) -> str:
    return f"snakemake failed ({res.returncode}):\n{res.stdout[-4000:]}\n{res.stderr[-4000:]}"


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> tuple[Path, dict]:
    """The reduced study (two models × one dataset) built once, end to end."""
    study = mini_study(groups=copy.deepcopy(GROUPS))
    project = copy_project(tmp_path_factory.mktemp("reruns") / "project", study)
    res = snakemake(project, "--cores", "2")
    assert res.returncode == 0, _fail(res)
    return project, study


@pytest.fixture
def project(built):
    """The built project; the test's config changes are undone afterwards."""
    project, study = built
    path = project / "config" / "studies" / "testmini.yaml"
    original = path.read_text()
    yield project, copy.deepcopy(study)
    path.write_text(original)


def _runs_of(jobs: dict, rule: str) -> set[str]:
    return {w.get("run_id", "") for w in jobs.get(rule, [])}


def test_nothing_changed_nothing_to_do(project):
    proj, _ = project
    assert dry_run(proj) == {}


def test_learning_rate_change_reruns_only_that_run(project):
    proj, study = project
    before = {p.name for p in (proj / "results" / "runs").iterdir()}
    study["runs"][1]["hparams"] = {"learning_rate": 3.0e-5}  # tinybert only
    write_study(proj, study)
    jobs = dry_run(proj)
    assert set(jobs) == RUN_CHAIN | REPORT_RULES, jobs.keys()
    for rule in RUN_CHAIN:
        assert len(jobs[rule]) == 1, (rule, jobs[rule])
    new_run = jobs["train"][0]["run_id"]
    assert new_run.startswith("tiny-bert__") and "lr3e-05" in new_run and new_run not in before
    assert {_runs_of(jobs, r).pop() for r in RUN_CHAIN} == {new_run}
    assert len(jobs["aggregate"]) == 1
    assert {w["name"] for w in jobs["table"]} == {"metrics"}
    assert {w["name"] for w in jobs["figure"]} == {"f1_by_length"}


def test_plot_code_edit_reruns_only_figures(project):
    proj, _ = project
    plots = proj / "workflow" / "nerbench" / "reporting" / "figures" / "length.py"
    original = plots.read_text()
    try:
        plots.write_text(original + "\n# a comment: the code changed\n")
        jobs = dry_run(proj)
        assert set(jobs) == {"figure"}, jobs.keys()
        assert [w["name"] for w in jobs["figure"]] == ["f1_by_length"]
    finally:
        plots.write_text(original)
    assert dry_run(proj) == {}


def test_dataset_added_reruns_only_its_chain(project):
    proj, study = project
    study["datasets"].append("BC5CDR-chem-demo")
    study["runs"][1]["datasets"] = ["NCBI-disease-demo", "BC5CDR-chem-demo"]
    write_study(proj, study)
    jobs = dry_run(proj)
    assert set(jobs) == {"to_bio", "corpus_stats"} | RUN_CHAIN | REPORT_RULES, jobs.keys()
    assert {w["dataset"] for w in jobs["to_bio"]} == {"BC5CDR-chem-demo"}
    assert len(jobs["to_bio"]) == 3  # train, devel, test
    (run,) = _runs_of(jobs, "train")
    assert run.startswith("tiny-bert__BC5CDR-chem-demo__")
    assert _runs_of(jobs, "evaluate") == {run} and _runs_of(jobs, "write_run_spec") == {run}
    assert [w["dataset"] for w in jobs["predict"]] == ["BC5CDR-chem-demo"]


def test_two_studies_share_a_run_and_keep_their_own_outputs(project):
    """A second study listing a run of the first trains nothing; both studies' tables coexist."""
    proj, study = project
    other = copy.deepcopy(study)
    other["runs"] = [r for r in other["runs"] if r["name"] == "tinybert"]  # the same slice
    other["outputs"] = {"tables": ["metrics"], "figures": []}
    write_study(proj, other, "testother")
    jobs = dry_run(proj, study="testother")
    assert set(jobs) == {"corpus_stats", "aggregate", "table"}, jobs.keys()  # no run chain
    costs = {p: p.stat().st_mtime_ns for p in (proj / "results" / "runs").glob("*/cost.json")}
    res = snakemake(proj, "--cores", "2", study="testother")
    assert res.returncode == 0, _fail(res)
    for name in ("testmini", "testother"):
        tables = proj / "results" / "studies" / name / "tables"
        assert (tables / "metrics.md").stat().st_size > 0, name
        assert (tables / "corpus_stats.md").stat().st_size > 0, name
    assert {p: p.stat().st_mtime_ns for p in costs} == costs  # the shared run trained once
    # Neither study has anything left to do: neither overwrote the other's outputs.
    assert dry_run(proj, study="testother") == {}
    assert dry_run(proj) == {}


# --------------------------------------------------------------------------- preemption


def _train_processes(root: psutil.Process) -> list[psutil.Process]:
    out = []
    for proc in root.children(recursive=True):
        try:
            cmd = proc.cmdline()
        except psutil.Error:
            continue
        if "nerbench" in cmd and "train" in cmd:
            out.append(proc)
    return out


def _checkpoint_steps(run_dir: Path) -> list[int]:
    ckpt = run_dir / "checkpoints"
    if not ckpt.is_dir():
        return []
    return sorted(int(p.name.split("-")[1]) for p in ckpt.glob("step-*") if p.is_dir())


def _interrupt(project: Path, run_dir: Path, sig: signal.Signals, after_step: int) -> int:
    """Start the workflow, kill its training process with ``sig`` once a checkpoint newer than
    ``after_step`` exists; return the newest checkpoint step left behind."""
    proc = snakemake_popen(project, "--cores", "1", "--rerun-incomplete")
    try:
        parent = psutil.Process(proc.pid)
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline:
            assert proc.poll() is None, (
                "workflow ended before it could be interrupted:\n" + (proc.stdout.read()[-3000:])
            )
            steps = [s for s in _checkpoint_steps(run_dir) if s > after_step]
            trainers = _train_processes(parent)
            if steps and trainers:
                for t in trainers:
                    t.send_signal(sig)
                break
            time.sleep(0.1)
        else:
            pytest.fail("no training checkpoint appeared within 600 s")
        out, _ = proc.communicate(timeout=600)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode != 0, "the workflow should fail when its training job is killed"
    assert not (run_dir / "cost.json").exists(), out[-2000:]
    return max(_checkpoint_steps(run_dir))  # SIGTERM saves one more checkpoint on its way out


def test_killed_training_resumes_with_identical_metrics(tmp_path):
    study = mini_study(epochs=5, save_every=8)
    reference = copy_project(tmp_path / "reference", study)
    res = snakemake(reference, "--cores", "1")
    assert res.returncode == 0, _fail(res)
    (ref_run,) = (reference / "results" / "runs").iterdir()

    project = copy_project(tmp_path / "interrupted", study)
    run_dir = project / "results" / "runs" / ref_run.name  # same config slice, same run_id
    step1 = _interrupt(project, run_dir, signal.SIGTERM, after_step=0)
    step2 = _interrupt(project, run_dir, signal.SIGKILL, after_step=step1)
    assert step2 > step1
    res = snakemake(project, "--cores", "1", "--rerun-incomplete")
    assert res.returncode == 0, _fail(res)

    cost = json.loads((run_dir / "cost.json").read_text())
    ref_cost = json.loads((ref_run / "cost.json").read_text())
    assert cost["attempts"] == 3 and ref_cost["attempts"] == 1
    assert cost["steps"] == ref_cost["steps"] and cost["best_step"] == ref_cost["best_step"]
    (metrics,) = (run_dir / "metrics").glob("*.json")
    ref_metrics = ref_run / "metrics" / metrics.name
    assert json.loads(metrics.read_text()) == json.loads(ref_metrics.read_text())
    ref_conll = (ref_run / "pred" / "NCBI-disease-demo.conll").read_text()
    assert (run_dir / "pred" / "NCBI-disease-demo.conll").read_text() == ref_conll
