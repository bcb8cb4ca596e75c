"""Dropout on CPU: mask drawing and masking, per call (run by hand; not a test).

Times, on tensors the size of a LoRA labeler step's dropout inputs (``--shape``), interleaved
over ``--repeats`` rounds (medians; microseconds per call):

* mask drawing -- torch's ``bernoulli_`` (what ``nn.Dropout`` draws on CPU), float32 uniforms
  from NumPy's SFC64 compared with ``keep`` (the vector sampler's first version), and
  :func:`nerbench.training.dropout.keep_mask` (raw 32-bit words against an integer threshold);
* masking -- ``where(mask, x, 0.0)`` with a Python zero against the 0-dim zero tensor that
  :mod:`nerbench.training.dropout` uses (each then scaled in place), and ``x * float mask``.

    python benchmarks/bench_dropout.py --out results/bench_dropout_2026-12-02.json
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_train as bt  # noqa: E402

from nerbench.training.dropout import _masked_scale, keep_mask  # noqa: E402


def per_call_us(fn: Callable[[], object], calls: int) -> float:
    fn()
    t0 = time.perf_counter()
    for _ in range(calls):
        fn()
    return (time.perf_counter() - t0) / calls * 1e6


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--shape", default="16,90,1024", help="tensor shape (comma-separated)")
    p.add_argument("--p", type=float, default=0.1, help="dropout probability")
    p.add_argument("--calls", type=int, default=30)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--out", type=Path, default=None, help="write results as JSON")
    a = p.parse_args()
    shape = torch.Size(int(n) for n in a.shape.split(","))
    keep, n = 1.0 - a.p, shape.numel()
    x = torch.randn(shape)
    mask = keep_mask(shape, keep, 1)
    fmask = mask.float() / keep

    def float_uniform_mask() -> torch.Tensor:
        uniform = np.random.Generator(np.random.SFC64(1)).random(n, np.float32)
        return torch.from_numpy(np.less(uniform, np.float32(keep))).view(shape)

    cases: dict[str, Callable[[], object]] = {
        "draw: torch bernoulli_": lambda: torch.empty(shape).bernoulli_(keep),
        "draw: SFC64 float32 uniforms": float_uniform_mask,
        "draw: keep_mask (raw 32-bit words)": lambda: keep_mask(shape, keep, 1),
        "mask: where(mask, x, 0.0) * s": lambda: torch.where(mask, x, 0.0).mul_(1 / keep),
        "mask: where(mask, x, zero tensor) * s": lambda: _masked_scale(x, mask, 1 / keep),
        "mask: x * float mask": lambda: x * fmask,
    }
    rounds: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(a.repeats):
        for name, fn in cases.items():
            rounds[name].append(per_call_us(fn, a.calls))
    us = {name: statistics.median(v) for name, v in rounds.items()}
    result = {
        "info": {
            "shape": list(shape),
            "p": a.p,
            "torch_threads": torch.get_num_threads(),
            "cpu_count": os.cpu_count(),
        },
        "us_per_call": {k: round(v, 1) for k, v in us.items()},
        "ratios": {
            "bernoulli / keep_mask": us["draw: torch bernoulli_"]
            / us["draw: keep_mask (raw 32-bit words)"],
            "float32 uniforms / keep_mask": us["draw: SFC64 float32 uniforms"]
            / us["draw: keep_mask (raw 32-bit words)"],
            "where 0.0 / where zero tensor": us["mask: where(mask, x, 0.0) * s"]
            / us["mask: where(mask, x, zero tensor) * s"],
        },
    }
    bt.emit(result, a.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
