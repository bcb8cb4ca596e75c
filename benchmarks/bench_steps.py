"""Training steps of several loops interleaved step by step (run by hand; not a test).

``bench_train.py`` times whole epochs one loop after another; on a shared VM whose speed drifts
by tens of percent within minutes, its per-round ratios then scatter (2026-12-02: 1.53, 1.01,
1.14 for the same two loops). Here every loop takes one optimizer step in turn (the order
rotates every step), so drift hits all loops alike; each loop's real tokens per second of step
time are summed per epoch, and the ratios are per epoch and their median.

Loops (``--loops``), each on the same sentences, model, seed and precision:

* ``project`` -- the project's training loop itself (:class:`nerbench.training.loop.Trainer`
  set up as for a run; its ``_optimizer_step``: collate, forward, backward, clipping, fused
  AdamW, schedule) on its length-grouped batches, with its defaults (vector dropout sampler on
  CPU, fused LoRA);
* ``torchdrop`` / ``peftlora`` -- the same with ``dropout_sampler: torch`` / ``lora_forward:
  peft``; ``packed`` -- with ``packing: on``; ``compiled`` -- the length-grouped step under
  ``torch.compile(dynamic=True)`` (torch's masks, which inductor draws and fuses; the loop
  itself compiles packed steps only); its compile falls in the untimed warm-up step, so it
  reports steady-state speed;
* ``hf`` -- ``transformers.Trainer`` (``bench_train.hf_trainer``): its own dataloader (group by
  length, ``DataCollatorForTokenClassification``), its ``training_step``, then gradient
  clipping, its optimizer and scheduler, as its training loop does per step. Its batches are
  collated ahead, outside the timed steps (the project's collate is inside them: in HF's
  favour).

``--model labeler`` is the benchmark's random Llama with the VANER labeler (LoRA r 16),
``--model encoder`` MiniLM-L6 token classification.

    python benchmarks/bench_steps.py --model labeler --train-limit 300 --epochs 3
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_train as bt  # noqa: E402

from nerbench.methods.base import get_method  # noqa: E402
from nerbench.training.checkpoint import TrainState  # noqa: E402
from nerbench.training.data import epoch_batches  # noqa: E402
from nerbench.training.loop import Trainer, TrainJob  # noqa: E402

#: project-loop variants: hparams over the benchmark's defaults
VARIANTS = {
    "project": {},
    "torchdrop": {"dropout_sampler": "torch"},
    "peftlora": {"lora_forward": "peft"},
    "packed": {"packing": "on", "pack_length": 128},
    "compiled": {"dropout_sampler": "torch"},  # + torch.compile(dynamic=True), see below
}

Step = Callable[[], int]  # one optimizer step; returns its real tokens
#: share of computed positions that are padding in each loop's first epoch
PADDING: dict[str, float] = {}


def loop_trainer(a, train, method, src, over: dict, tmp: Path) -> Trainer:
    """The project's training loop set up as for a run (model, swaps, optimizer, schedule) with
    the benchmark's hparams plus ``over``; no dev set, nothing trained yet."""
    job = TrainJob(
        method=method,
        source=src,
        labels=method.label_list(["Disease"]),
        train=train,
        dev=[],
        args=bt.hparams(a, **over),
        seed=a.seed,
        out_dir=tmp,
        device=torch.device(a.device),
        progress=False,
    )
    trainer = Trainer(job)
    trainer._setup()
    return trainer


def project_steps(a, train, method, src, over: dict, tmp: Path, label: str) -> list[list[Step]]:
    """The loop's own optimizer steps over ``a.epochs`` epochs of its batches."""
    trainer = loop_trainer(a, train, method, src, over, tmp)
    args = trainer.args
    if label == "compiled":  # the loop compiles packed steps only; here the grouped step
        trainer.bundle.model = torch.compile(trainer.bundle.model, dynamic=True)
    trainer.bundle.model.train()
    PADDING[label] = round(trainer.padding, 4)  # the loop's own figure (packed or grouped)
    state = TrainState()

    def step(group: list[list[int]]) -> int:
        before = state.tokens_seen
        trainer._optimizer_step(group, state)
        return state.tokens_seen - before

    return [
        [
            lambda g=[b]: step(g)
            for b in epoch_batches(
                trainer.lengths, args.batch_size, a.seed, e, args.mega_batch_mult
            )
        ]
        for e in range(a.epochs)
    ]


def hf_steps(a, train, method, src, tmp: Path, epochs: int) -> list[list[Step]]:
    """``transformers.Trainer``'s per-step work over ``epochs`` epochs of its dataloader."""
    from transformers import set_seed

    set_seed(a.seed)
    args = bt.hparams(a, precision=bt.baseline_precision(a))
    bundle = method.load_for_training(
        src, method.label_list(["Disease"]), args, torch.device(a.device)
    )
    trainer = bt.hf_trainer(a, bundle, method.encode(bundle, train, train=True), str(tmp))
    loader = [list(trainer.get_train_dataloader()) for _ in range(epochs)]
    masks = [batch["attention_mask"] for batch in loader[0]]
    PADDING["hf"] = round(1 - sum(int(m.sum()) for m in masks) / sum(m.numel() for m in masks), 4)
    trainer.create_optimizer_and_scheduler(num_training_steps=sum(len(x) for x in loader))
    model = trainer.model
    trainer.current_gradient_accumulation_steps = 1  # set by Trainer.train's loop per step

    def step(batch: dict) -> int:
        trainer.training_step(model, batch)
        torch.nn.utils.clip_grad_norm_(model.parameters(), trainer.args.max_grad_norm)
        trainer.optimizer.step()
        trainer.lr_scheduler.step()
        model.zero_grad()
        return int(batch["attention_mask"].sum())

    return [[lambda b=batch: step(b) for batch in epoch] for epoch in loader]


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--model", choices=["labeler", "encoder"], default="labeler")
    p.add_argument("--loops", default="project,hf", help=f"of {', '.join(VARIANTS)}, hf")
    p.add_argument("--train-limit", type=int, default=300)
    p.add_argument("--epochs", type=int, default=3, help="epochs (= rounds of ratios)")
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--lr", type=float, default=2e-4)
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--precision", default="fp32", choices=["auto", "fp32", "bf16"])
    p.add_argument("--baseline-precision", default="same", choices=["same", "auto", "fp32", "bf16"])
    p.add_argument("--labeler-hidden", type=int, default=384)
    p.add_argument("--labeler-layers", type=int, default=6)
    p.add_argument("--device", default="cpu")
    p.add_argument("--out", type=Path, default=None, help="write results as JSON")
    a = p.parse_args()
    loops = a.loops.split(",")
    unknown = sorted(set(loops) - set(VARIANTS) - {"hf"})
    if unknown:
        p.error(f"unknown loops {unknown}")
    tmp = tempfile.TemporaryDirectory()
    root = Path(tmp.name)
    data_dir = bt.SHARED if bt.SHARED.is_dir() else bt.DEMO
    train = bt.read_tsv(data_dir / "train.tsv", a.train_limit)
    if a.model == "labeler":
        src = bt.tiny_llama(root / "llama", a.labeler_hidden, a.labeler_layers, a.seed)
        method = get_method("labeler")
    else:
        src, method = bt.source(), get_method("token-classification")
    steps: dict[str, list[list[Step]]] = {}
    for name in loops:
        if name == "hf":
            steps[name] = hf_steps(a, train, method, src, root / name, a.epochs)
        else:
            steps[name] = project_steps(a, train, method, src, VARIANTS[name], root / name, name)
    short = [name for name in loops if len(steps[name][0]) < 2]
    if short:  # the first step of epoch 0 is the warm-up: nothing would be timed
        p.error(f"{short}: fewer than two batches per epoch (raise --train-limit)")
    # warm-up: one step of each loop outside the timed epochs
    for name in loops:
        steps[name][0][0]()
    seconds = {name: [0.0] * a.epochs for name in loops}
    tokens = {name: [0] * a.epochs for name in loops}
    turn = 0
    for epoch in range(a.epochs):
        for i in range(max(len(steps[name][epoch]) for name in loops)):
            order = loops[turn % len(loops) :] + loops[: turn % len(loops)]
            turn += 1
            for name in order:
                if i < len(steps[name][epoch]) and not (epoch == 0 and i == 0):
                    t0 = time.perf_counter()
                    tokens[name][epoch] += steps[name][epoch][i]()
                    seconds[name][epoch] += time.perf_counter() - t0
        print(
            f"epoch {epoch}: "
            + ", ".join(f"{n} {tokens[n][epoch] / seconds[n][epoch]:.0f} tok/s" for n in loops),
            file=sys.stderr,
        )
    rates = {n: [t / s for t, s in zip(tokens[n], seconds[n], strict=True)] for n in loops}
    result: dict = {
        "info": {
            "model": a.model,
            "train_sentences": len(train),
            "epochs": a.epochs,
            "batch_size": a.batch_size,
            "precision": a.precision,
            "baseline_precision": bt.baseline_precision(a),
            "torch_threads": torch.get_num_threads(),
            "cpu_count": os.cpu_count(),
            "cpu_native_bf16": bt.cpu_has_native_bf16(),
            "note": "the first step of epoch 0 of every loop is a warm-up, not timed",
        },
        "tokens_per_s": {n: [round(r, 1) for r in rates[n]] for n in loops},
        "padding_fraction_epoch1": PADDING,
        "ratios": {},
    }
    for mine in loops:
        for other in loops:
            if mine != other and (mine == "project" or other == "hf"):
                per = [m / o for m, o in zip(rates[mine], rates[other], strict=True)]
                result["ratios"][f"{mine}/{other}"] = {
                    "median": round(statistics.median(per), 3),
                    "per_epoch": [round(r, 3) for r in per],
                    # what removing padding alone would give at the same cost per position
                    "from_padding_alone": round((1 - PADDING[mine]) / (1 - PADDING[other]), 3),
                }
    bt.emit(result, a.out)
    tmp.cleanup()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
