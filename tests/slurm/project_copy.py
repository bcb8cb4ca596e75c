"""A throw-away copy of the workflow with a reduced study, and helpers to run Snakemake on it.

Used by tests/test_slurm.py and tests/test_reruns.py: the copy holds the repository's real
Snakefile, rules, package, config, shipped resources and profiles; only a small study file is
added, so the tests exercise the workflow exactly as a user runs it.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
COPIED = ("Snakefile", "workflow", "config", "resources", "envs", "profiles")
IGNORED = shutil.ignore_patterns("__pycache__", "*.pyc", ".pytest_cache", "raw")


def mini_study(
    groups: dict[str, dict] | None = None,
    datasets: list[str] | None = None,
    epochs: int = 1,
    save_every: int = 10,
    outputs: dict | None = None,
) -> dict:
    """A study with tiny CPU runs on the shipped demo slices (no GPU, no download)."""
    datasets = datasets or ["NCBI-disease-demo"]
    groups = groups or {"tinybert": {"models": ["tiny-bert"]}}
    runs = []
    for name, spec in groups.items():
        runs.append({"name": name, "datasets": list(datasets), "train_on": "each", **spec})
    resources = {
        "train": {"gpu": 0, "mem_mb": 2000, "runtime": 30, "threads": 1},
        "predict": {"gpu": 0, "mem_mb": 2000, "runtime": 10, "threads": 1},
    }
    return {
        "description": "reduced demo study written by a test",
        "datasets": list(datasets),
        "defaults": {
            "hparams": {
                "learning_rate": 5.0e-5,
                "batch_size": 16,
                "epochs": epochs,
                "save_every": save_every,
                "eval_every": 0,
            },
            "seeds": [42],
        },
        "runs": runs,
        "evaluation": {"bootstrap": 20},
        "outputs": outputs or {"tables": ["corpus_stats", "metrics"], "figures": ["f1_by_length"]},
        "resources": {"encoder": resources, "decoder": resources},
    }


def copy_project(dest: Path, study: dict, name: str = "testmini") -> Path:
    """Copy the workflow into ``dest`` and add ``config/studies/<name>.yaml``."""
    dest.mkdir(parents=True, exist_ok=True)
    for item in COPIED:
        src = REPO / item
        if src.is_dir():
            shutil.copytree(src, dest / item, ignore=IGNORED, symlinks=True)
        elif src.exists():
            shutil.copy2(src, dest / item)
    (dest / "slurm").symlink_to("profiles/slurm")
    write_study(dest, study, name)
    return dest


def write_study(project: Path, study: dict, name: str = "testmini") -> None:
    (project / "config" / "studies" / f"{name}.yaml").write_text(yaml.safe_dump(study))


def env() -> dict[str, str]:
    """Environment for Snakemake and its jobs: the copy's package first on the path."""
    out = dict(os.environ)
    out.pop("SLURM_CONF", None)
    out["OMP_NUM_THREADS"] = "1"
    return out


def snakemake(
    project: Path, *args: str, study: str = "testmini", timeout: int = 900, **kw
) -> subprocess.CompletedProcess:
    """Run ``python -m snakemake <args> --config study=<study>`` in ``project``."""
    cmd = [sys.executable, "-m", "snakemake", *args, "--config", f"study={study}"]
    return subprocess.run(
        cmd, cwd=project, env=env(), capture_output=True, text=True, timeout=timeout, **kw
    )


def snakemake_popen(
    project: Path, *args: str, study: str = "testmini", extra_env: dict | None = None
) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "snakemake", *args, "--config", f"study={study}"]
    return subprocess.Popen(
        cmd,
        cwd=project,
        env={**env(), **(extra_env or {})},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


_JOB = re.compile(r"^(?:local)?rule (\w+):\s*$")
_WILDCARDS = re.compile(r"^\s+wildcards: (.*)$")


def planned_jobs(output: str) -> dict[str, list[dict[str, str]]]:
    """Jobs of a ``snakemake -n`` log: rule name -> one wildcards dict per job."""
    jobs: dict[str, list[dict[str, str]]] = {}
    current: dict[str, str] | None = None
    for line in output.splitlines():
        m = _JOB.match(line)
        if m:
            current = {}
            jobs.setdefault(m.group(1), []).append(current)
            continue
        m = _WILDCARDS.match(line)
        if m and current is not None:
            current.update(kv.split("=", 1) for kv in m.group(1).split(", ") if "=" in kv)
    return jobs


def dry_run(project: Path, *args: str, study: str = "testmini") -> dict[str, list[dict]]:
    """Jobs Snakemake would run now (``--dry-run``), without the ``all`` target rule."""
    res = snakemake(project, "--dry-run", "--cores", "1", *args, study=study)
    if res.returncode != 0:
        raise AssertionError(f"dry run failed:\n{res.stdout[-3000:]}\n{res.stderr[-3000:]}")
    text = res.stdout + res.stderr
    if "Nothing to be done" in text:
        return {}
    jobs = planned_jobs(text)
    jobs.pop("all", None)
    return jobs
