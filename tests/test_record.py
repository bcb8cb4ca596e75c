"""`nerbench record`: a study's results record from the files the workflow wrote."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from nerbench import paths
from nerbench.io import InputError
from nerbench.reporting.record import build_record
from nerbench.reporting.record_inputs import read_benchmarks
from nerbench.reporting.snakemake_log import parse_snakemake_log

BENCH_HEADER = "s\th:m:s\tmax_rss\tmax_vms\tmax_uss\tmax_pss\tio_in\tio_out\tmean_load\tcpu_time\n"

SNAKEMAKE_LOG = """\
Building DAG of jobs...
[Wed Dec  2 06:10:28 2026]
localrule kb:
    input: x
    output: results/kb/open.tsv
    jobid: 7
    wildcards: kb=open
    resources: tmpdir=/tmp

[Wed Dec  2 06:10:38 2026]
Finished jobid: 7 (Rule: kb)
[Wed Dec  2 06:10:38 2026]
rule embed_kb:
    jobid: 8
    wildcards: kb=open, embedder=minilm

[Wed Dec  2 06:22:38 2026]
Finished jobid: 8 (Rule: embed_kb)
[Wed Dec  2 06:22:40 2026]
rule train:
    jobid: 9
    wildcards: run_id=r1

[Wed Dec  2 06:30:00 2026]
rule autophrase:
    jobid: 10
    wildcards: dataset=NCBI-disease
[Wed Dec  2 07:10:40 2026]
Finished jobid: 9 (Rule: train)
"""


def _project(root: Path, study: str = "s") -> None:
    study_dir = root / paths.fill(paths.STUDY_DIR, study=study)
    (study_dir / "tables").mkdir(parents=True)
    (study_dir / "figures").mkdir()
    (study_dir / "aggregate").mkdir()
    (study_dir / "tables" / "metrics.md").write_text("| a | b |\n|---|---|\n| 1 | 2 |\n")
    (study_dir / "figures" / "cost_f1.png").write_bytes(b"\x89PNG fake")
    (study_dir / "aggregate" / "metrics.tsv").write_text("run_id\tdataset\nr1\tNCBI-disease\n")
    run = root / paths.fill(paths.RUN_DIR, run_id="r1")
    (run / "benchmarks").mkdir(parents=True)
    (run / "benchmarks" / "train.tsv").write_text(
        BENCH_HEADER + "2400.0\t0:40:00\t1885.4\t1\t1\t1\t1\t1\t1.0\t2300.0\n"
    )
    cost = {
        "epochs_completed": 3,
        "tokens_seen": 560000,
        "tokens_per_s": 812.3,
        "wall_time_s": 2400.0,
        "eval_time_s": 120.0,
        "peak_cpu_rss_mb": 1885.4,
        "best_dev_f1": 0.8123,
        "dtype": "fp32",
    }
    (run / "cost.json").write_text(json.dumps(cost))
    metrics = paths.run_file(run, "metrics", dataset="NCBI-disease")
    metrics.parent.mkdir()
    metrics.write_text(json.dumps({"strict": {"micro": {"f1": 0.795}}}))
    kb_bench = root / paths.fill(paths.benchmark_file("kb", "{kb}"), kb="open")
    kb_bench.parent.mkdir(parents=True)
    kb_bench.write_text(BENCH_HEADER + "9.5\t0:00:09\t512.0\t1\t1\t1\t1\t1\t1.0\t9.0\n")
    kb_stats = root / paths.fill(paths.KB_STATS, kb="open")
    kb_stats.parent.mkdir(parents=True)
    kb_stats.write_text(json.dumps({"by_category": {"Disease": 79547, "Chemical": 56277}}))
    (root / "run.log").write_text(SNAKEMAKE_LOG)
    (root / "command.txt").write_text("snakemake --cores 2 --config study=s\n")
    (root / "notes.md").write_text("MiniLM is 8 points below BioBERT because ...\n")


def test_log_parsing_times_jobs_and_marks_interrupted(tmp_path):
    _project(tmp_path)
    sitting = parse_snakemake_log(tmp_path / "run.log")
    by_rule = {j.rule: j for j in sitting.jobs}
    assert by_rule["kb"].seconds == 10
    assert by_rule["embed_kb"].seconds == 720
    assert by_rule["embed_kb"].wildcards == "kb=open, embedder=minilm"
    assert by_rule["train"].seconds == 48 * 60
    assert by_rule["autophrase"].end is None  # started, never finished in this sitting
    assert sitting.seconds == 60 * 60 + 12


def test_benchmarks_by_rule(tmp_path):
    _project(tmp_path)
    bench = read_benchmarks(tmp_path)
    assert bench["train"][0]["max_rss"] == 1885.4
    assert bench["kb"][0]["s"] == 9.5


def test_record_folder(tmp_path):
    _project(tmp_path)
    out = tmp_path / "docs" / "results" / "s"
    readme = build_record(
        tmp_path,
        "s",
        out,
        [tmp_path / "run.log"],
        command=tmp_path / "command.txt",
        notes=tmp_path / "notes.md",
    )
    text = readme.read_text()
    assert text.index("MiniLM is 8 points below BioBERT") < text.index("## How it ran")
    assert "snakemake --cores 2 --config study=s" in text
    assert "**Study wall time: 60.2 min**" in text
    # rule rows: benchmark files where present (kb, train), the log otherwise (embed_kb)
    assert "| train | 1 | 40.0 | 40.0 | 1,885 | 38.3 | benchmark files |" in text
    assert "| kb | 1 | 0.2 | 0.2 | 512 | 0.1 | benchmark files |" in text
    assert "| embed_kb | 1 | 12.0 | 12.0 | – | – | Snakemake log |" in text
    assert "1 unfinished job(s) (running or killed) not counted" in text  # the autophrase job
    assert (
        "| r1 | 3 | 560,000 | 812 | 40.0 | 2.0 | 1,885 | 81.23 | NCBI-disease 79.50 | fp32 |"
        in text
    )
    assert "`open`: 135,824 names (Chemical 56,277, Disease 79,547)" in text
    assert "avx512_bf16" in text and "native bf16" in text
    assert "| 1 | 2 |" in text  # the table itself
    assert (out / "tables" / "metrics.md").is_file()
    assert (out / "figures" / "cost_f1.png").read_bytes() == b"\x89PNG fake"
    assert "![cost_f1](figures/cost_f1.png)" in text


def test_missing_parts_are_errors_and_leave_nothing(tmp_path):
    _project(tmp_path)
    out = tmp_path / "record"
    run = tmp_path / paths.fill(paths.RUN_DIR, run_id="r1")
    (run / "cost.json").unlink()
    with pytest.raises(InputError, match="cost.json"):
        build_record(tmp_path, "s", out, [tmp_path / "run.log"])
    assert not out.exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".record")]
    with pytest.raises(InputError, match="Snakemake log not found"):
        build_record(tmp_path, "s", out, [tmp_path / "nope.log"])
    with pytest.raises(InputError, match="no Markdown tables"):
        build_record(tmp_path, "other", out, [tmp_path / "run.log"])


def test_partial_record_of_a_running_study(tmp_path):
    """A study still running: the runs trained so far among the planned ones, no study tables
    yet, and interim tables (the study's table code over the runs evaluated so far)."""
    from nerbench.reporting.record_inputs import planned_runs, study_plan
    from test_report import write_run

    root = tmp_path / "project"
    root.mkdir()
    (root / "config").symlink_to(paths.PROJECT_ROOT / "config")
    plan = study_plan(root, "demo")
    planned = planned_runs(root, plan)
    assert len(planned) == 8
    trained, evaluated = planned[3], planned[5]
    trained.mkdir(parents=True)
    (trained / "cost.json").write_text(json.dumps({"epochs_completed": 1, "tokens_seen": 10}))
    run = plan.runs[evaluated.name]
    write_run(root, evaluated.name, model=run["model"]["id"], train=("s800-demo",), p=0.8, r=0.7)
    (root / "run.log").write_text(SNAKEMAKE_LOG)
    out = tmp_path / "record"
    with pytest.raises(InputError, match="no Markdown tables"):
        build_record(root, "demo", out, [root / "run.log"])
    text = build_record(root, "demo", out, [root / "run.log"], partial=True).read_text()
    assert "**Partial: the study had not finished" in text
    assert "2 of its 8 runs were trained" in text
    assert f"| {trained.name} | 1 | 10 |" in text
    assert "None yet: the tables are made" in text
    assert "Wall time so far: 60.2 min" in text and "**Study wall time" not in text
    # the metrics table over the one evaluated run: its strict F1 (P 80, R 70) in percent
    assert "**Interim tables** over the 1 runs evaluated so far (of 8)" in text
    interim = text.split("### metrics (interim)")[1].split("## Figures")[0]
    assert "74.67" in interim and "s800-demo" in interim


MACHINE = {
    "cpu": "Test CPU 9000",
    "cores": 2,
    "threads": 1,
    "memory_gb": 23.4,
    "flags": {"avx2": True, "avx512f": True, "avx512_bf16": True, "amx_bf16": False},
    "native_bf16": True,
    "gpu": None,
    "python": "3.11.7",
    "torch": "2.13.0",
    "transformers": "5.23.0",
    "snakemake": "9.27.1",
    "faiss": None,
}


def _with_machine(root: Path, run_id: str = "r1", **changes) -> None:
    cost_path = root / paths.fill(paths.RUN_DIR, run_id=run_id) / "cost.json"
    cost = json.loads(cost_path.read_text())
    cost["machine"] = {**MACHINE, **changes}
    cost_path.write_text(json.dumps(cost))


def test_record_names_the_machine_of_the_runs_and_indexes_itself(tmp_path):
    from nerbench.reporting.record import write_index

    _project(tmp_path)
    _with_machine(tmp_path)
    out = tmp_path / "docs" / "results" / "s"
    text = build_record(tmp_path, "s", out, [tmp_path / "run.log"], commit="abc1234").read_text()
    assert "commit `abc1234`" in text  # a copied tree names its commit (GPU check)
    assert "Test CPU 9000, 2 cores" in text  # the runs' machine, not the host's
    assert "cost.json of the 1 of 1 runs" in text
    assert "avx512_bf16 yes" in text and "amx_bf16 no" in text
    summary = json.loads((out / "record.json").read_text())
    assert summary["headline"] == "figures/cost_f1.png" and summary["commit"] == "abc1234"
    assert summary["wall_min"] == 60.2 and summary["runs"] == 1
    index = write_index(out.parent).read_text()
    row = next(line for line in index.splitlines() if line.startswith("| [`s`]"))
    assert "Test CPU 9000 (avx2, avx512f, avx512_bf16), 2 cores, 1 thread(s) per job" in row
    assert "| 60.2 | 1 | [cost_f1](s/figures/cost_f1.png) |" in row
    assert "(partial)" not in row


def test_record_refuses_runs_from_two_machines(tmp_path):
    _project(tmp_path)
    _with_machine(tmp_path)
    run2 = tmp_path / paths.fill(paths.RUN_DIR, run_id="r2")
    (run2).mkdir(parents=True)
    cost = json.loads((tmp_path / paths.fill(paths.RUN_DIR, run_id="r1") / "cost.json").read_text())
    (run2 / "cost.json").write_text(json.dumps(cost))
    _with_machine(tmp_path, "r2", cpu="Other CPU")
    agg = tmp_path / paths.fill(paths.AGGREGATE, study="s")
    agg.write_text("run_id\tdataset\nr1\tNCBI-disease\nr2\tNCBI-disease\n")
    out = tmp_path / "docs" / "results" / "s"
    with pytest.raises(InputError, match="different machines"):
        build_record(tmp_path, "s", out, [tmp_path / "run.log"])
    assert not out.exists()
