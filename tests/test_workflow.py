"""The Snakemake DAG: every study builds, training never reads test data, lint/format clean."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys

import pytest

from conftest import ROOT, run_snakemake

# Every study file in config/studies plans (the open sittings, open-full, the papers' studies).
STUDIES = tuple(sorted(p.stem for p in (ROOT / "config" / "studies").glob("*.yaml")))


def _dry_run(study: str, *extra: str) -> str:
    proc = run_snakemake(ROOT, "-n", "-p", "--config", f"study={study}", *extra)
    return proc.stdout + proc.stderr


@pytest.mark.parametrize("study", STUDIES)
def test_study_dag_builds(study):
    out = _dry_run(study, "--forceall")
    assert re.search(r"^train\s+\d+", out, re.M), out[-2000:]
    assert re.search(r"^evaluate\s+\d+", out, re.M)


def test_training_jobs_never_read_a_test_split():
    for study in STUDIES:
        out = _dry_run(study, "--forceall")
        train_cmds = [ln for ln in out.splitlines() if "nerbench train" in ln]
        assert train_cmds, study
        for cmd in train_cmds:
            assert "/test." not in cmd, cmd
            assert "/devel.jsonl" in cmd


def test_llm_training_jobs_request_a_gpu():
    proc = run_snakemake(ROOT, "-n", "--config", "study=vaner", "--forceall")
    out = proc.stdout
    blocks = out.split("\n\n")
    llm_train = [b for b in blocks if "rule train:" in b and "llama-2-7b" in b]
    assert llm_train
    for block in llm_train:
        assert re.search(r"resources:.*gpu=1", block), block


def test_unknown_study_is_a_clear_error():
    proc = run_snakemake(ROOT, "-n", "--config", "study=nope", check=False)
    assert proc.returncode != 0
    assert "unknown study 'nope'" in proc.stdout + proc.stderr


def test_snakemake_lint_is_clean():
    proc = run_snakemake(ROOT, "--lint", check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.skipif(shutil.which("snakefmt") is None, reason="snakefmt not installed")
def test_snakefmt_check_is_clean():
    files = ["Snakefile", *sorted(str(p) for p in (ROOT / "workflow/rules").glob("*.smk"))]
    proc = subprocess.run(["snakefmt", "--check", *files], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_ruff_is_clean():
    proc = subprocess.run(
        [sys.executable, "-m", "ruff", "check", "."], cwd=ROOT, capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stdout[-3000:]
