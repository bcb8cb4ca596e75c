"""Shared fixtures: project paths and a disposable copy of the workflow for Snakemake runs."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data"


def copy_project(dest: Path) -> Path:
    """Copy what a workflow run needs (no results) into ``dest``; return it."""
    dest.mkdir(parents=True, exist_ok=True)
    for name in ("Snakefile", "workflow", "config", "resources", "envs", "profiles", "slurm"):
        src = ROOT / name
        if src.is_dir():
            shutil.copytree(
                src,
                dest / name,
                ignore=shutil.ignore_patterns("__pycache__", "tools", "raw", "*.egg-info"),
            )
        elif src.is_symlink():
            (dest / name).symlink_to(src.readlink())
        elif src.exists():
            shutil.copy2(src, dest / name)
    return dest


def run_snakemake(
    workdir: Path, *args: str, check: bool = True, timeout: int = 1800
) -> subprocess.CompletedProcess:
    """Run Snakemake in ``workdir`` with this interpreter; return the completed process."""
    proc = subprocess.run(
        [sys.executable, "-m", "snakemake", *args],
        cwd=workdir,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if check and proc.returncode != 0:
        raise AssertionError(
            f"snakemake {' '.join(args)} failed ({proc.returncode}):\n"
            f"{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}"
        )
    return proc


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests marked ``gpu`` need CUDA: skipped where torch sees none (``pytest -m gpu`` selects
    them on a GPU machine; benchmarks/gpu_check.sh runs them there)."""
    gpu_items = [item for item in items if item.get_closest_marker("gpu")]
    if not gpu_items:
        return
    import torch

    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs CUDA (marker gpu); torch sees no GPU here")
    for item in gpu_items:
        item.add_marker(skip)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A private copy of the workflow (config, rules, package sources, shipped resources)."""
    return copy_project(tmp_path / "project")
