"""The embedded default: `snakemake --cores 2` runs the demo study offline to every output."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import yaml

from conftest import run_snakemake
from nerbench.hooks import report_command
from nerbench.status import watch_hint

# pytest's own limit (1800 s) would stop the demo before run_snakemake's 3000 s on a busy machine
pytestmark = [pytest.mark.slow, pytest.mark.timeout(3600)]


def test_demo_runs_end_to_end_then_nothing_to_do(project):
    first = run_snakemake(project, "--cores", "2", timeout=3000)
    said = first.stdout + first.stderr
    assert watch_hint("demo") in said  # onstart: how to follow the training runs
    # onsuccess: where the results are, and the command that builds the report
    assert "report   results/studies/demo/report.html" in said
    assert report_command("demo") in said
    study = yaml.safe_load((project / "config/studies/demo.yaml").read_text())
    for name in study["outputs"]["tables"]:
        for ext in ("tsv", "md"):
            assert (project / f"results/studies/demo/tables/{name}.{ext}").stat().st_size > 0, name
    for name in study["outputs"]["figures"]:
        for ext in ("png", "pdf"):
            # VANER Figs 3-4 carry a descriptive suffix (vaner_fig3_dbr_entities.png)
            files = list((project / "results/studies/demo/figures").glob(f"{name}*.{ext}"))
            assert files and all(f.stat().st_size > 0 for f in files), name
    metrics = sorted(project.glob("results/runs/*/metrics/*.json"))
    assert metrics
    minilm = [json.loads(p.read_text()) for p in metrics if "minilm-l6__NCBI" in str(p)]
    assert minilm and minilm[0]["exact"]["micro"]["f1"] > 0.2, "real MiniLM learns something"
    # The KB the DBR run used is in the metrics table (caption, notes, kb column) and the report.
    table = (project / "results/studies/demo/tables/metrics.md").read_text(encoding="utf-8")
    kb_stats = json.loads((project / "results/kb/demo.stats.json").read_text())
    assert f"DBR knowledge base: demo: {kb_stats['composition']}." in table
    assert "without UMLS" in table.splitlines()[0]
    assert "no UMLS" in kb_stats["composition"]
    run_snakemake(project, *report_command("demo").split()[1:])
    html = (project / "results/studies/demo/report.html").read_text(errors="replace")
    assert "corpus_stats" in html
    assert "demo.stats.json" in html and "DBR knowledge base" in html
    status = subprocess.run(
        [sys.executable, "-m", "nerbench", "status"], cwd=project, capture_output=True, text=True
    )
    assert status.returncode == 0 and "Nothing left to train." in status.stdout, status.stderr
    again = run_snakemake(project, "-n", "--cores", "2")
    assert "Nothing to be done" in again.stdout + again.stderr
