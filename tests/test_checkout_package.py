"""A workflow checkout runs its own package: the Snakefile and every job import the nerbench of
the checkout they belong to, not whichever copy is installed (editable installs point at one
checkout; a second clone, e.g. a study run beside development, must not run the first's code)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import copy_project

TRACE = """
import os as _os
if _os.environ.get("NERBENCH_IMPORT_TRACE"):
    with open(_os.environ["NERBENCH_IMPORT_TRACE"], "a") as _f:
        _f.write(__file__ + "\\n")
"""


@pytest.mark.slow
def test_snakefile_and_jobs_import_the_checkouts_package(tmp_path: Path):
    project = copy_project(tmp_path / "clone")
    init = project / "workflow" / "nerbench" / "__init__.py"
    init.write_text(init.read_text() + TRACE)
    trace = tmp_path / "imports.txt"
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["NERBENCH_IMPORT_TRACE"] = str(trace)
    target = "results/bio/s800-demo/test.jsonl"
    proc = subprocess.run(
        [sys.executable, "-m", "snakemake", "--cores", "1", target],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert (project / target).is_file()
    imports = trace.read_text().split() if trace.is_file() else []
    # one import by the Snakefile, one per job (download is a local copy here, to_bio a job)
    assert len(imports) >= 2, imports
    assert {Path(p).resolve() for p in imports} == {init.resolve()}
