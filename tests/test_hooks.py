"""What the workflow says when it starts (a missing tool stops it before any job), succeeds
(where the results are) or fails (which job, its log)."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from conftest import run_snakemake
from nerbench import hooks, paths
from nerbench.dbr import autophrase_build


def path_without(program: str, bin_dir: Path) -> str:
    """A PATH with every program of the current PATH except ``program`` (links in bin_dir)."""
    bin_dir.mkdir(parents=True, exist_ok=True)
    for folder in os.environ["PATH"].split(os.pathsep):
        if not os.path.isdir(folder):
            continue
        for name in os.listdir(folder):
            link, target = bin_dir / name, Path(folder) / name
            if name != program and not link.exists() and os.access(target, os.X_OK):
                link.symlink_to(target)
    (bin_dir / "python").unlink(missing_ok=True)
    (bin_dir / "python").symlink_to(sys.executable)
    return str(bin_dir)


def test_without_java_the_demo_stops_before_any_job_with_one_line(project, tmp_path):
    """With dbr.autophrase.tokenizer: java (auto would fall back to the Python tokenizer)."""
    study = project / "config/studies/demo.yaml"
    text = study.read_text(encoding="utf-8")
    assert "  autophrase: {min_sup: 3}" in text
    study.write_text(
        text.replace("  autophrase: {min_sup: 3}", "  autophrase: {min_sup: 3, tokenizer: java}"),
        encoding="utf-8",
    )
    env_path = path_without("java", tmp_path / "bin")
    saved = os.environ["PATH"]
    os.environ["PATH"] = env_path  # run_snakemake's child inherits it
    try:
        proc = run_snakemake(project, "--cores", "2", check=False, timeout=600)
    finally:
        os.environ["PATH"] = saved
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0, out[-3000:]
    errors = [line for line in out.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, out[-3000:]
    assert "needs 'java' on PATH: install a Java runtime" in errors[0]
    assert not (project / "results").exists() and "Finished job" not in out


def test_missing_requirement_names_java_then_gxx(monkeypatch, tmp_path):
    have = {"java": "/usr/bin/java", "g++": "/usr/bin/g++"}
    monkeypatch.setattr(autophrase_build.shutil, "which", lambda name: have.get(name))
    monkeypatch.setattr(autophrase_build, "prebuilt_binaries_run", lambda: False)
    assert autophrase_build.missing_requirement(tmp_path / "tool") is None  # g++ builds them
    del have["g++"]
    assert "'g++' is not on PATH" in autophrase_build.missing_requirement(tmp_path / "tool")
    monkeypatch.setattr(autophrase_build, "prebuilt_binaries_run", lambda: True)
    assert autophrase_build.missing_requirement(tmp_path / "tool") is None
    assert "'g++'" in autophrase_build.missing_requirement(tmp_path / "tool", "always")
    del have["java"]
    assert autophrase_build.missing_requirement(tmp_path / "tool") is None  # python tokenizer
    assert "needs 'java' on PATH" in autophrase_build.missing_requirement(
        tmp_path / "tool", "auto", "java"
    )


def test_success_names_the_outputs_and_the_report_command(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    table = Path(paths.study_path(paths.TABLE, "demo", name="metrics", ext="md"))
    table.parent.mkdir(parents=True)
    table.write_text("x")
    rows = {
        line.split()[0]: line.split()[1:] for line in hooks.success_message("demo").splitlines()
    }
    assert rows["tables"] == ["results/studies/demo/tables/", "metrics"]
    assert rows["figures"] == ["results/studies/demo/figures/", "none", "yet"]
    assert rows["metrics"][0] == "results/studies/demo/aggregate/metrics.tsv"
    assert rows["report"][0] == "results/studies/demo/report.html"
    command = "--report results/studies/demo/report.html --config study=demo"
    assert rows["snakemake"] == command.split()


SNAKEMAKE_LOG = """\
[Fri Dec  4 18:51:18 2026]
Error in rule to_bio:
    message: None
    jobid: 7
    output: results/bio/s800-demo/test.jsonl
    log: logs/to_bio/s800-demo/test.log (check log file(s) for error details)
    wildcards: dataset=s800-demo, split=test
Shutting down, this might take some time.
"""


def test_error_names_the_failed_job_its_log_and_last_line(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    log = Path("logs/to_bio/s800-demo/test.log")
    log.parent.mkdir(parents=True)
    log.write_text("reading\nerror: bad tag 'Q-LIVB' at line 3\n")
    (tmp_path / "snakemake.log").write_text(SNAKEMAKE_LOG)
    from_log = hooks.failed_jobs(SimpleNamespace(), str(tmp_path / "snakemake.log"))
    job = SimpleNamespace(
        rule=SimpleNamespace(name="to_bio"),
        wildcards_dict={"dataset": "s800-demo", "split": "test"},
        log=[str(log)],
    )
    from_scheduler = hooks.failed_jobs(
        SimpleNamespace(scheduler=SimpleNamespace(failed=[job])), None
    )
    assert (
        from_log
        == from_scheduler
        == [hooks.FailedJob("to_bio", {"dataset": "s800-demo", "split": "test"}, (str(log),))]
    )
    text = hooks.error_message(from_log, "demo", "train")
    assert text.splitlines() == [
        "Failed: rule to_bio (dataset=s800-demo, split=test)",
        f"  log: {log}",
        "  last line: error: bad tag 'Q-LIVB' at line 3",
    ]
    train = hooks.error_message([hooks.FailedJob("train", {"run_id": "r"}, ())], "demo", "train")
    assert "python -m nerbench status --study demo" in train


@pytest.mark.slow
def test_a_failing_job_is_named_with_its_log(project):
    """A real run: a corpus with a broken tag fails its conversion; onerror names it."""
    corpus = project / "resources/corpora/demo/s800/test.tsv"
    corpus.write_text(corpus.read_text().replace("\tB-LIVB", "\tQ-LIVB", 1))
    target = paths.fill(paths.BIO, dataset="s800-demo", split="test")
    proc = run_snakemake(project, "--cores", "1", target, check=False, timeout=600)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert "Failed: rule to_bio (dataset=s800-demo, split=test)" in out, out[-3000:]
    assert "  log: logs/to_bio/s800-demo/test.log" in out
    assert "  last line: error: " in out
