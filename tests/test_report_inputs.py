"""The report rules declare every file their commands read: the package code they import (derived
from the sources, nerbench.plan.files.report_code) and the run files besides the metrics."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from nerbench.cli import COMMANDS
from nerbench.plan import load_plan
from nerbench.plan.files import StudyFiles, report_code

REPO = Path(__file__).resolve().parents[1]
REPORT_COMMANDS = ("aggregate", "tables", "figures", "dbr-stats")


def _python(code: str, package_root: Path) -> str:
    """stdout of ``python -c code`` with ``package_root`` (a workflow/ folder) first on the path."""
    env = {**os.environ, "PYTHONPATH": str(package_root)}
    proc = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout


LOADED = """
import importlib, json, sys
from pathlib import Path
importlib.import_module({module!r})
root = Path({root!r})
files = {{m.__file__ for name, m in list(sys.modules.items())
          if name.split(".")[0] == "nerbench" and getattr(m, "__file__", None)}}
print(json.dumps(sorted(Path(f).resolve().relative_to(root).as_posix() for f in files)))
"""


@pytest.mark.parametrize("command", REPORT_COMMANDS)
def test_report_code_holds_every_module_the_command_imports(command):
    """What importing the command's module loads from nerbench is in its declared code."""
    module = COMMANDS[command].split(":")[0]
    loaded = json.loads(_python(LOADED.format(module=module, root=str(REPO)), REPO / "workflow"))
    stem = f"workflow/{module.replace('.', '/')}"
    assert f"{stem}.py" in loaded or f"{stem}/__init__.py" in loaded
    assert set(loaded) <= set(report_code(command)), set(loaded) - set(report_code(command))


def test_a_new_import_joins_the_report_code_without_editing_a_list(tmp_path):
    """A module imported inside a function, and one a registry names in a string, both count."""
    shutil.copytree(
        REPO / "workflow/nerbench",
        tmp_path / "workflow/nerbench",
        ignore=shutil.ignore_patterns("__pycache__"),
    )
    reporting = tmp_path / "workflow/nerbench/reporting"
    (reporting / "new_helper.py").write_text("def helper():\n    return 1\n")
    (reporting / "new_figure.py").write_text("def draw(df, plt):\n    return None\n")
    with open(reporting / "figures" / "style.py", "a", encoding="utf-8") as f:
        f.write(
            "\n\ndef _uses_new_helper():\n"
            "    from nerbench.reporting.new_helper import helper\n\n"
            "    return helper()\n\n\n"
            'NEW_FIGURE = "nerbench.reporting.new_figure:draw"\n'
        )
    code = "import json; from nerbench.plan.files import report_code as r\n"
    code += "print(json.dumps({c: r(c) for c in ('figures', 'tables')}))"
    derived = json.loads(_python(code, tmp_path / "workflow"))
    for name in ("new_helper", "new_figure"):
        assert f"workflow/nerbench/reporting/{name}.py" in derived["figures"]
        assert f"workflow/nerbench/reporting/{name}.py" not in derived["tables"]


def test_report_reads_name_the_run_files_each_command_reads():
    with open(REPO / "config/config.yaml", encoding="utf-8") as f:
        config = {**yaml.safe_load(f), "study": "demo"}
    files = StudyFiles(load_plan(config, REPO), config)
    runs = list(files.plan.runs)
    logs = files.report_reads("figure", "training_curves")
    assert logs == [f"results/runs/{r}/train_log.jsonl" for r in runs]
    assert files.report_reads("figure", "f1_by_length") == []
    assert files.report_reads("table", "vaner_table3") == files.metrics_files()
    assert files.report_reads("table", "metrics") == []
    reads = files.aggregate_reads()
    for run_id, dataset in files.evaluations():
        for name in ("run.json", "cost.json", f"pred/{dataset}.infer_cost.json"):
            assert f"results/runs/{run_id}/{name}" in reads
    assert len(reads) == len(set(reads))


# --------------------------------------------------------------------------- under Snakemake


def _planned(stdout: str) -> list[tuple[str, str]]:
    """(rule, first output) of each job a dry run (``-n``) lists."""
    jobs = re.findall(r"^(?:local)?rule (\w+):\n(.*?)(?:\n\n|\Z)", stdout, re.M | re.S)
    out = []
    for rule, body in jobs:
        output = re.search(r"^\s+output: ([^,\n]+)", body, re.M)
        out.append((rule, output.group(1).strip() if output else ""))
    return [job for job in out if job[0] != "all"]


@pytest.mark.skipif(shutil.which("snakemake") is None, reason="snakemake not installed")
def test_a_new_training_log_redraws_training_curves_only(tmp_path):
    """With every report output up to date, a newer train_log.jsonl of one run reruns the
    training_curves figure job, and no other table, figure or the aggregate."""
    from test_report import report_project, vaner_study

    outputs = {
        "tables": ["metrics", "vaner_table3"],
        "figures": ["f1_by_length", "training_curves"],
    }
    run = report_project(tmp_path, vaner_study, outputs)
    study = tmp_path / "results/studies/teststudy"
    made = [study / "aggregate/metrics.tsv"]
    made += [study / f"tables/{n}.{e}" for n in outputs["tables"] for e in ("tsv", "md", "tex")]
    made += [study / f"tables/{n}.html" for n in outputs["tables"]]
    made += [study / f"figures/{n}.{e}" for n in outputs["figures"] for e in ("png", "pdf")]
    now = time.time()
    for path in made:  # every output newer than every input
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch()
        os.utime(path, (now + 10, now + 10))
    dry = ("-n", "--rerun-triggers", "mtime")
    res = run(*dry)
    assert res.returncode == 0, res.stderr[-3000:]
    assert _planned(res.stdout) == [], res.stdout

    log = tmp_path / "results/runs/llama__NCBI-disease__dbr-dbr/train_log.jsonl"
    assert log.is_file()
    os.utime(log, (now + 20, now + 20))
    res = run(*dry)
    assert res.returncode == 0, res.stderr[-3000:]
    figure = "results/studies/teststudy/figures/training_curves.png"
    assert _planned(res.stdout) == [("figure", figure)], res.stdout
