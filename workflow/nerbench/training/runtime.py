"""Runtime setup shared by training and prediction: seeds, device, precision, optimizer."""

from __future__ import annotations

import math
import os
import platform
import re
import resource
from pathlib import Path
from typing import Any

import numpy as np
import torch

from nerbench.hparams import TrainingArgs
from nerbench.io import (
    InputError,
)

# --------------------------------------------------------------------------- setup helpers


def seed_everything(seed: int) -> None:
    import random

    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(seed)


def pick_device(name: str = "auto") -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise InputError(f"device '{name}' requested but CUDA is not available")
    return device


def cpu_has_native_bf16() -> bool:
    """True on CPUs with bf16 matrix instructions (AMX-BF16 or AVX512-BF16), where bf16 autocast
    runs faster than fp32; elsewhere (e.g. AVX2-only CPUs) bf16 is emulated and much slower."""
    probes = ("_is_amx_tile_supported", "_is_avx512_bf16_supported")
    try:
        return any(getattr(torch.cpu, name)() for name in probes if hasattr(torch.cpu, name))
    except RuntimeError:  # pragma: no cover - probes of an unusual build
        return False


def autocast_dtype(precision: str, device: torch.device) -> torch.dtype | None:
    """bf16 when ``precision`` is bf16, or auto on hardware with fast bf16 (a CUDA device that
    supports it, or a CPU with native bf16, :func:`cpu_has_native_bf16`); else None (fp32)."""
    if precision == "fp32":
        return None
    if device.type == "cuda":
        supported = torch.cuda.is_bf16_supported()
        if precision == "bf16" and not supported:
            raise InputError("hparams.precision is bf16 but this GPU does not support bf16")
        return torch.bfloat16 if supported else None
    if precision == "bf16" or cpu_has_native_bf16():
        return torch.bfloat16
    return None


def make_optimizer(model: torch.nn.Module, args: TrainingArgs) -> torch.optim.Optimizer:
    """AdamW (fused where supported); no weight decay on biases and norm weights (1-D params)."""
    decay, no_decay = [], []
    for _, p in model.named_parameters():
        if p.requires_grad:
            (decay if p.ndim >= 2 else no_decay).append(p)
    groups = [
        {"params": decay, "weight_decay": args.weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]
    try:  # fused kernel: one pass over all parameters (4x faster than per-tensor on CPU)
        return torch.optim.AdamW(groups, lr=args.learning_rate, fused=True)
    except (RuntimeError, TypeError):  # e.g. parameters of a dtype/device fused does not support
        return torch.optim.AdamW(groups, lr=args.learning_rate, foreach=True)


def make_scheduler(optimizer: torch.optim.Optimizer, args: TrainingArgs, total_steps: int):
    from transformers import get_scheduler

    name = "constant_with_warmup" if args.scheduler == "constant" else args.scheduler
    warmup = math.ceil(args.warmup_ratio * total_steps)
    return get_scheduler(name, optimizer, num_warmup_steps=warmup, num_training_steps=total_steps)


def dev_scores(golds: list[list[str]], preds: list[list[str]]) -> dict[str, float]:
    """Micro precision, recall and F1 on dev by the test sets' headline score: exact match
    (span and type) after the IOB2 decoding rule
    (:func:`nerbench.evaluate.decoding.decode_iob2`), so that the model is chosen by the number it
    is reported with."""
    from nerbench.evaluate.decoding import decode_iob2, entities
    from nerbench.evaluate.scores import exact_scores

    micro = exact_scores(
        entities([decode_iob2(g) for g in golds]), entities([decode_iob2(p) for p in preds])
    )["micro"]
    return {
        "dev_precision": float(micro["precision"]),
        "dev_recall": float(micro["recall"]),
        "dev_f1": float(micro["f1"]),
    }


def peak_rss_mb() -> float:
    """Peak resident set size of this process in MiB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def loaded_revision(model: Any) -> str | None:
    """Hub commit the weights were loaded from (None for local models): pins an unpinned row."""
    config = getattr(model, "config", None)
    if config is None and hasattr(model, "get_base_model"):
        config = getattr(model.get_base_model(), "config", None)
    return getattr(config, "_commit_hash", None)


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return f"cuda:{torch.cuda.get_device_name(device)}"
    return f"cpu ({os.cpu_count()} cores, {torch.get_num_threads()} threads)"


#: CPU flags that decide which kernels torch and bitsandbytes use
KERNEL_FLAGS = ("avx2", "fma", "avx512f", "avx512_bf16", "amx_tile", "amx_bf16", "amx_int8")


#: faiss's distribution names (CPU and GPU wheels), in the order asked
FAISS_DISTRIBUTIONS = ("faiss-cpu", "faiss-gpu", "faiss")


def _installed_version(dists: str | tuple[str, ...]) -> str | None:
    """Version of the first installed distribution of ``dists`` (None if none is)."""
    from importlib.metadata import PackageNotFoundError, version

    for dist in (dists,) if isinstance(dists, str) else dists:
        try:
            return version(dist)
        except PackageNotFoundError:
            continue
    return None


def machine_facts() -> dict[str, Any]:
    """CPU model, cores, memory, kernel-relevant CPU flags, threads and library versions of the
    machine this process runs on (a training job records them in cost.json, so a results record
    names the machine that ran the runs, not the one that wrote the record)."""
    model, flags, mem_gb = platform.processor() or "unknown", set(), None
    try:
        text = Path("/proc/cpuinfo").read_text()
        if m := re.search(r"^model name\s*:\s*(.+)$", text, re.M):
            model = m.group(1).strip()
        if m := re.search(r"^flags\s*:\s*(.+)$", text, re.M):
            flags = set(m.group(1).split())
        if m := re.search(r"^MemTotal:\s*(\d+) kB", Path("/proc/meminfo").read_text(), re.M):
            mem_gb = round(int(m.group(1)) / 2**20, 1)
    except OSError:
        pass
    versions = {}  # from the installed distributions: nothing is imported for this
    for name, dist in (
        ("torch", "torch"),
        ("transformers", "transformers"),
        ("snakemake", "snakemake"),
        ("faiss", FAISS_DISTRIBUTIONS),
    ):
        versions[name] = _installed_version(dist)
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    return {
        "cpu": model,
        "cores": os.cpu_count(),
        "threads": torch.get_num_threads(),
        "memory_gb": mem_gb,
        "flags": {f: f in flags for f in KERNEL_FLAGS},
        "native_bf16": bool(cpu_has_native_bf16()),
        "gpu": gpu,
        "python": platform.python_version(),
        **versions,
    }
