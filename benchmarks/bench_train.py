"""Benchmark the project's training loop and prediction (run by hand; not a test).

Compares, on the same model (all-MiniLM-L6-v2), data (NCBI-disease), batch size, seed and precision,
one epoch each:

* ``project``  -- :class:`nerbench.training.loop.Trainer`: dynamic padding + length-grouped batches;
* ``pad128``   -- the same loop with every batch padded to 128 and random batches (no grouping);
* ``hf``       -- ``transformers.Trainer`` + ``DataCollatorForTokenClassification`` +
  ``train_sampling_strategy="group_by_length"`` (the v5 name of ``group_by_length``), fed the
  very same features;
* ``packed``   -- the project loop with ``packing: on`` (rows of ``--pack-length`` sub-tokens,
  block-diagonal attention, same ``batch_size`` windows per step; see
  :mod:`nerbench.training.packing`); ``packed-compile`` adds ``compile: on``;
* ``torchdrop`` -- the project loop with ``dropout_sampler: torch`` (torch's own CPU dropout
  masks instead of the loop's vector sampler, :mod:`nerbench.training.dropout`);
  ``labeler-torchdrop`` likewise for the labeler;
* ``labeler-peftlora`` -- the labeler loop with ``lora_forward: peft`` (PEFT's own LoRA forward
  instead of the loop's fused one, :mod:`nerbench.training.fused_lora`).

Labeler loops (``--loops labeler-project,labeler-packed,labeler-hf``): the VANER labeler
(:mod:`nerbench.methods.labeler`, LoRA r 16 on all linear layers + head, bidirectional) on a
random Llama built from a config (``--labeler-hidden``, ``--labeler-layers``; byte-level BPE
tokenizer trained on the demo sentences), the same LoRA model trained by the project loop,
packed (``labeler-packed-compile`` adds ``compile: on``), and by ``transformers.Trainer`` on the
very same features. Dev F1 of a random tiny decoder is near zero; these loops compare throughput
at equal work.

Reported per loop: real (non-pad) tokens per second of training and dev strict F1 (all three
evaluated by the project's windowed prediction), the share of computed positions that are
padding in an epoch (``padding_fraction_epoch1``; for ``hf`` counted on an epoch of the Trainer's
own batches), and for compiled loops ``tokens_per_s_steady`` (without the compile time). Each
ratio of two loops comes with the ratio that removing padding alone would give at the same cost
per computed position (``... from padding alone``): what is above it is the loop's cost per
position. Then prediction throughput of the project's
batched, length-sorted prediction against one sentence at a time, and of packed prediction
(rows of ``--pack-length``) against length-sorted batches of the same size.

Precision: the project loop runs at ``--precision`` (default ``auto``, as in the studies: bf16 on
GPUs that support it and on CPUs with native bf16 -- AMX or AVX512-BF16 --, else fp32); the two
baselines run at ``--baseline-precision`` (default ``fp32``: paper 002's loop and the HF Trainer's
own default, ``bf16=False``). ``--baseline-precision same`` compares at equal precision.

The loops run ``--repeats`` rounds, interleaved (project, hf, pad128, project, ...), so that drift
of a shared machine's speed hits every loop alike; tokens/s are medians over the rounds and the
ratios are ratios of medians (per-round ratios are printed too).

    python benchmarks/bench_train.py --train-limit 1500 --dev-limit 400 --repeats 3
    python benchmarks/bench_train.py --loops project,packed,hf --train-limit 1500 --dev-limit 400
    python benchmarks/bench_train.py --loops labeler-project,labeler-packed,labeler-hf \
        --train-limit 400 --dev-limit 100 --repeats 3

Targets (issue): project >= 4.5x pad128 and >= 1.3x hf tokens/s at equal F1 (+-1.5),
prediction >= 3x one-at-a-time.

Model FLOP utilisation (MFU) of the encoder loops: model FLOPs per real token (6 x the
non-embedding parameters for a training step, plus 12 x layers x hidden x the mean attended
length for attention: Kaplan et al. 2020, sec. 2.1; Chowdhery et al. 2022, PaLM, app. B) times
real tokens/s, over the device's dense bf16 peak (:data:`PEAK_BF16_DENSE`, keyed by GPU name)
and over the bf16 matrix-product rate measured on the device at the start (``mfu_measured``).
On a CPU both are null (no peak table). With ``--out`` the JSON is rewritten after every round,
so a run stopped by a time limit still leaves the rounds it finished (``"partial": true``).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

from nerbench.hparams import TrainingArgs
from nerbench.methods.base import Bundle, Example, ForwardTimer, ModelSource, get_method
from nerbench.methods.encoder import TokenClassificationMethod
from nerbench.methods.models import minilm_dir
from nerbench.training.loop import Trainer, TrainJob
from nerbench.training.runtime import autocast_dtype, cpu_has_native_bf16, dev_scores

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data" / "NCBI-disease"
DEMO = REPO / "resources" / "corpora" / "demo" / "NCBI-disease"
#: Dense (no 2:4 sparsity) bf16 tensor-core peak, FLOP/s, by a substring of
#: ``torch.cuda.get_device_name`` (first match wins). NVIDIA's datasheets quote the sparse rate;
#: dense is half of it. H200 SXM: 1,979 TFLOPS sparse (NVIDIA H200 datasheet; the same GH100
#: rates as the H100 SXM, /work/.library/device/H200.md); H100 SXM 1,979 and H100 PCIe 1,513
#: sparse (NVIDIA H100 datasheet); A100: 312 dense (NVIDIA A100 datasheet).
PEAK_BF16_DENSE: tuple[tuple[str, float], ...] = (
    ("H200", 989.5e12),
    ("H100 PCIe", 756.5e12),
    ("H100", 989.5e12),
    ("A100", 312e12),
)


def read_tsv(path: Path, limit: int | None) -> list[Example]:
    """``token<TAB>tag`` sentences separated by blank lines."""
    out: list[Example] = []
    tokens: list[str] = []
    tags: list[str] = []
    for line in path.read_text(encoding="utf-8").splitlines() + [""]:
        if line.strip():
            tok, tag = line.split("\t")
            tokens.append(tok)
            tags.append(tag)
        elif tokens:
            out.append(Example(f"s/{len(out)}", tokens, tags, "NCBI-disease", ("Disease",)))
            tokens, tags = [], []
            if limit and len(out) >= limit:
                break
    return out


ENCODER_LOOPS = ("project", "pad128", "hf", "packed", "packed-compile", "torchdrop")


class Pad128Method(TokenClassificationMethod):
    """Baseline collate: every batch padded to max_length (128)."""

    def collate(self, bundle: Bundle, features):
        batch = super().collate(bundle, features)
        extra = bundle.max_length - batch["input_ids"].shape[1]
        if extra > 0:
            pad = bundle.tokenizer.pad_token_id
            batch["input_ids"] = torch.nn.functional.pad(batch["input_ids"], (0, extra), value=pad)
            batch["attention_mask"] = torch.nn.functional.pad(batch["attention_mask"], (0, extra))
            if "labels" in batch:
                batch["labels"] = torch.nn.functional.pad(batch["labels"], (0, extra), value=-100)
        return batch


def source() -> ModelSource:
    return ModelSource(model_id="minilm-l6", name_or_path=str(minilm_dir()), max_length=128)


def tiny_llama(out: Path, hidden: int, layers: int, seed: int) -> ModelSource:
    """A random Llama (``hidden`` units, ``layers`` layers) + tokenizer saved to ``out``."""
    from transformers import AutoModelForCausalLM, LlamaConfig

    from nerbench.methods.models import build_decoder_tokenizer

    tokenizer = build_decoder_tokenizer("llama")
    heads = max(1, hidden // 64)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=hidden,
        intermediate_size=int(hidden * 8 / 3) // 16 * 16,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        num_key_value_heads=max(1, heads // 2),
        max_position_embeddings=512,
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        tie_word_embeddings=False,
    )
    torch.manual_seed(seed)
    AutoModelForCausalLM.from_config(config).save_pretrained(out)
    tokenizer.save_pretrained(out)
    return ModelSource(
        model_id="tiny-llama-bench",
        name_or_path=str(out),
        family="decoder",
        max_length=128,
        dtype="fp32",
        quantization="none",
    )


def peak_bf16(device: str) -> tuple[str | None, float | None]:
    """(GPU name, dense bf16 peak FLOP/s from :data:`PEAK_BF16_DENSE`); (None, None) on CPU
    and (name, None) for a GPU not in the table."""
    if not device.startswith("cuda"):
        return None, None
    name = torch.cuda.get_device_name(torch.device(device))
    return name, next((peak for key, peak in PEAK_BF16_DENSE if key in name), None)


def measured_bf16_matmul(device: str, n: int = 8192, repeats: int = 10) -> float | None:
    """FLOP/s of an ``n``-cube bf16 matrix product on ``device`` (mean of ``repeats`` after
    3 warm-ups, CUDA events); None on CPU."""
    if not device.startswith("cuda"):
        return None
    dev = torch.device(device)
    x = torch.randn(n, n, device=dev, dtype=torch.bfloat16)
    y = torch.randn(n, n, device=dev, dtype=torch.bfloat16)
    for _ in range(3):
        x @ y
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    start.record()
    for _ in range(repeats):
        x @ y
    end.record()
    torch.cuda.synchronize(dev)
    return 2 * n**3 * repeats / (start.elapsed_time(end) / 1000)


def encoder_flops(model: torch.nn.Module, lengths: list[int]) -> dict:
    """Training FLOPs per real token of a BERT-family token classifier on windows of
    ``lengths`` sub-tokens: 6 x non-embedding parameters (the embedding tables are looked up,
    not multiplied) + 12 x layers x hidden x mean attended length (sum n^2 / sum n)."""
    config = model.config
    tables = sum(m.weight.numel() for m in model.modules() if isinstance(m, torch.nn.Embedding))
    params = sum(p.numel() for p in model.parameters()) - tables
    context = sum(n * n for n in lengths) / sum(lengths)
    attention = 12 * config.num_hidden_layers * config.hidden_size * context
    return {
        "params_non_embedding": params,
        "params_embedding_tables": tables,
        "attended_length_mean": round(context, 2),
        "flops_per_token": 6 * params + attention,
        "attention_share": round(attention / (6 * params + attention), 4),
    }


def add_mfu(row: dict, flops: dict | None, peak: float | None, measured: float | None) -> None:
    """``model_tflops_per_s``, ``mfu`` (over the datasheet peak) and ``mfu_measured`` (over
    the measured product rate) of one round, in place."""
    if flops is None:
        return
    achieved = flops["flops_per_token"] * row["tokens_per_s"]
    row["model_tflops_per_s"] = round(achieved / 1e12, 3)
    row["mfu"] = round(achieved / peak, 5) if peak else None
    row["mfu_measured"] = round(achieved / measured, 5) if measured else None


def baseline_precision(a: argparse.Namespace) -> str:
    return a.precision if a.baseline_precision == "same" else a.baseline_precision


def hparams(a: argparse.Namespace, **over) -> TrainingArgs:
    base = dict(
        learning_rate=a.lr,
        batch_size=a.batch_size,
        epochs=1,
        warmup_ratio=0.1,
        weight_decay=0.01,
        eval_every=0,
        save_every=0,
        patience=0,
        precision=a.precision,
        logging_steps=50,
    )
    return TrainingArgs(**{**base, **over})


def run_project(a, train, dev, method, args, label: str, src: ModelSource | None = None) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        job = TrainJob(
            method=method,
            source=src or source(),
            labels=method.label_list(["Disease"]),
            train=train,
            dev=dev,
            args=args,
            seed=a.seed,
            out_dir=Path(tmp),
            device=torch.device(a.device),
            progress=False,
        )
        cost = Trainer(job).run()
    print(
        f"[{label}] {cost['tokens_seen']} tokens in {cost['train_step_time_s']:.1f} s",
        file=sys.stderr,
    )
    return {
        "tokens_per_s": cost["tokens_seen"] / cost["train_step_time_s"],
        "dev_f1": cost["best_dev_f1"],
        "train_s": cost["train_step_time_s"],
        "tokens": cost["tokens_seen"],
        "packing": cost["packing"],
        "padding_fraction_epoch1": cost["padding_fraction_epoch1"],
        "compile": cost["compile"],
        "compile_time_s": cost["compile_time_s"],
        # throughput without the compile (first step minus the median step), for compiled loops
        "tokens_per_s_steady": cost["tokens_seen"]
        / (cost["train_step_time_s"] - (cost["compile_time_s"] or 0.0)),
        "dropout_sampler": cost["dropout_sampler"],
        "lora_forward": cost["lora_forward"],
    }


def hf_trainer(a, bundle, feats: list[dict], out_dir: str):
    """``transformers.Trainer`` on the project's features at the baseline precision:
    length-grouped batches of ``DataCollatorForTokenClassification``, HF's defaults elsewhere."""
    from transformers import DataCollatorForTokenClassification, Trainer, TrainingArguments

    rows = [
        {"input_ids": f["input_ids"], "attention_mask": [1] * f["length"], "labels": f["labels"]}
        for f in feats
    ]
    args = hparams(a, precision=baseline_precision(a))
    targs = TrainingArguments(
        output_dir=out_dir,
        per_device_train_batch_size=a.batch_size,
        learning_rate=a.lr,
        num_train_epochs=1,
        warmup_steps=math.ceil(0.1 * math.ceil(len(rows) / a.batch_size)),
        weight_decay=0.01,
        lr_scheduler_type="linear",
        train_sampling_strategy="group_by_length",
        bf16=autocast_dtype(args.precision, torch.device(a.device)) is not None,
        use_cpu=a.device == "cpu",
        seed=a.seed,
        save_strategy="no",
        eval_strategy="no",
        logging_steps=50,
        report_to=[],
        disable_tqdm=True,
        dataloader_num_workers=0,
    )
    return Trainer(
        model=bundle.model,
        args=targs,
        train_dataset=rows,
        data_collator=DataCollatorForTokenClassification(bundle.tokenizer),
    )


def run_hf(a, train, dev, method_name: str = "token-classification", src=None) -> dict:
    """transformers.Trainer on the project's features (the same model: for the labeler the same
    LoRA-wrapped bidirectional decoder); evaluated with the project's predict."""
    from transformers import set_seed

    method = get_method(method_name)
    args = hparams(a, precision=baseline_precision(a))
    set_seed(a.seed)
    bundle = method.load_for_training(
        src or source(), method.label_list(["Disease"]), args, torch.device(a.device)
    )
    feats = method.encode(bundle, train, train=True)
    real_tokens = sum(f["length"] for f in feats)
    with tempfile.TemporaryDirectory() as tmp:
        trainer = hf_trainer(a, bundle, feats, tmp)
        out = trainer.train()
        computed = real = 0  # an epoch of the Trainer's own batches (its sampler and collator)
        for batch in trainer.get_train_dataloader():
            computed += batch["attention_mask"].numel()
            real += int(batch["attention_mask"].sum())
    secs = out.metrics["train_runtime"]
    bundle.autocast = autocast_dtype(args.precision, torch.device(a.device))
    preds = method.predict(bundle, dev, batch_size=2 * a.batch_size, stride=32)
    f1 = dev_scores([ex.tags for ex in dev], [p.tags for p in preds])["dev_f1"]
    print(f"[hf {method_name}] {real_tokens} tokens in {secs:.1f} s", file=sys.stderr)
    return {
        "tokens_per_s": real_tokens / secs,
        "dev_f1": f1,
        "train_s": secs,
        "tokens": real_tokens,
        "padding_fraction_epoch1": round(1 - real / computed, 4),
    }


def emit(result: dict, out: Path | None) -> None:
    """Print a benchmark's result as JSON and write it to ``out`` (if given)."""
    text = json.dumps(result, indent=2)
    print(text)
    if out:
        out.write_text(text + "\n")


def bench_predict(a, dev) -> dict:
    """Prediction rates: length-sorted batches at several batch sizes (``bs<N>``) and packed rows
    of ``--pack-length`` with the same windows per forward (``packed_bs<N>``), interleaved over
    ``--repeats`` rounds (medians); the model is warmed up outside the timed region."""
    from nerbench.predict import set_packing

    method = get_method("token-classification")
    bundle = method.load_for_training(
        source(), method.label_list(["Disease"]), hparams(a), torch.device(a.device)
    )
    bundle.autocast = autocast_dtype(a.precision, torch.device(a.device))
    sizes = sorted({1, 8, 32, a.predict_batch_size})
    layouts = [(f"bs{bs}", bs, "off") for bs in sizes]
    layouts += [(f"packed_bs{bs}", bs, "on") for bs in sizes if bs > 1]
    for _, bs, mode in layouts:  # warm-up of every layout
        set_packing(method, bundle, mode, a.pack_length)
        method.predict(bundle, dev[:64], batch_size=bs, stride=32)
    runs: dict[str, list[dict]] = {name: [] for name, _, _ in layouts}
    for _ in range(max(1, a.repeats)):
        for name, bs, mode in layouts:
            set_packing(method, bundle, mode, a.pack_length)
            timer = ForwardTimer(bundle.device)
            t0 = time.perf_counter()
            method.predict(bundle, dev, batch_size=bs, stride=32, timer=timer)
            runs[name].append(
                {
                    "sentences_per_s_forward": len(dev) / timer.seconds,
                    "sentences_per_s_total": len(dev) / (time.perf_counter() - t0),
                }
            )
    return {
        name: {
            key: statistics.median(r[key] for r in rounds)
            for key in ("sentences_per_s_forward", "sentences_per_s_total")
        }
        | {"rounds": rounds}
        for name, rounds in runs.items()
    }


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--data-dir", type=Path, default=SHARED if SHARED.is_dir() else DEMO)
    p.add_argument("--train-limit", type=int, default=None)
    p.add_argument("--dev-limit", type=int, default=None)
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--predict-batch-size", type=int, default=64)
    p.add_argument("--lr", type=float, default=2e-4)
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--precision", default="auto", choices=["auto", "fp32", "bf16"])
    p.add_argument("--baseline-precision", default="fp32", choices=["same", "auto", "fp32", "bf16"])
    p.add_argument("--repeats", type=int, default=3, help="interleaved rounds of the loops")
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument(
        "--loops",
        default="project,pad128,hf,predict",
        help="of project, torchdrop, packed, packed-compile, pad128, hf, predict, "
        "labeler-project, labeler-torchdrop, labeler-peftlora, labeler-packed, "
        "labeler-packed-compile, labeler-hf",
    )
    p.add_argument("--pack-length", type=int, default=128, help="row length of packed loops")
    p.add_argument("--labeler-hidden", type=int, default=384, help="tiny Llama hidden units")
    p.add_argument("--labeler-layers", type=int, default=6, help="tiny Llama layers")
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (0 = all cores)")
    p.add_argument("--out", type=Path, default=None, help="write results as JSON")
    a = p.parse_args()
    if a.device == "cpu" and a.threads > 0:
        torch.set_num_threads(a.threads)
    train = read_tsv(a.data_dir / "train.tsv", a.train_limit)
    dev = read_tsv(a.data_dir / "devel.tsv", a.dev_limit)
    loops = a.loops.split(",")
    info = {
        "data": str(a.data_dir),
        "train_sentences": len(train),
        "dev_sentences": len(dev),
        "batch_size": a.batch_size,
        "precision": a.precision,
        "project_dtype": str(autocast_dtype(a.precision, torch.device(a.device)) or "fp32"),
        "baseline_precision": baseline_precision(a),
        "repeats": a.repeats,
        "cpu_native_bf16": cpu_has_native_bf16(),
        "device": a.device,
        "torch_threads": torch.get_num_threads(),
        "cpu_count": os.cpu_count(),
        "load_avg_start": os.getloadavg(),
    }
    res: dict = {"info": info}
    gpu, peak = peak_bf16(a.device)
    measured = measured_bf16_matmul(a.device)
    info |= {"gpu": gpu, "peak_bf16_dense_flops": peak, "measured_bf16_matmul_flops": measured}
    if a.out:  # a file from the start, even if no round finishes in a time limit
        a.out.write_text(json.dumps({**res, "partial": True}) + "\n")
    method = get_method("token-classification")
    labeler = get_method("labeler")
    tmp_model = tempfile.TemporaryDirectory()
    llama = None
    if any(x.startswith("labeler") for x in loops):
        llama = tiny_llama(Path(tmp_model.name), a.labeler_hidden, a.labeler_layers, a.seed)
        info["labeler_model"] = {"hidden": a.labeler_hidden, "layers": a.labeler_layers}
    if any(x != "predict" and not x.startswith("labeler") for x in loops):  # encoder loops
        run_project(a, train[:32], dev[:8], method, hparams(a), "warm-up (discarded)")
    if llama is not None:
        run_project(a, train[:16], dev[:4], labeler, hparams(a), "labeler warm-up", llama)
    packed = dict(packing="on", pack_length=a.pack_length)
    torchdrop = dict(dropout_sampler="torch")
    runners = {
        "project": lambda: run_project(a, train, dev, method, hparams(a), "project"),
        "hf": lambda: run_hf(a, train, dev),
        "pad128": lambda: run_project(
            a,
            train,
            dev,
            Pad128Method(),
            hparams(a, mega_batch_mult=1, precision=baseline_precision(a)),
            "pad128",
        ),
        "packed": lambda: run_project(a, train, dev, method, hparams(a, **packed), "packed"),
        "packed-compile": lambda: run_project(
            a, train, dev, method, hparams(a, **packed, compile="on"), "packed-compile"
        ),
        "labeler-project": lambda: run_project(
            a, train, dev, labeler, hparams(a), "labeler-project", llama
        ),
        "labeler-packed": lambda: run_project(
            a, train, dev, labeler, hparams(a, **packed), "labeler-packed", llama
        ),
        "labeler-packed-compile": lambda: run_project(
            a,
            train,
            dev,
            labeler,
            hparams(a, **packed, compile="on"),
            "labeler-packed-compile",
            llama,
        ),
        "labeler-hf": lambda: run_hf(a, train, dev, "labeler", llama),
        "torchdrop": lambda: run_project(
            a, train, dev, method, hparams(a, **torchdrop), "torchdrop"
        ),
        "labeler-torchdrop": lambda: run_project(
            a, train, dev, labeler, hparams(a, **torchdrop), "labeler-torchdrop", llama
        ),
        "labeler-peftlora": lambda: run_project(
            a, train, dev, labeler, hparams(a, lora_forward="peft"), "labeler-peftlora", llama
        ),
    }
    unknown = sorted(set(loops) - set(runners) - {"predict"})
    if unknown:
        p.error(f"unknown loops {unknown}")
    flops = None
    if gpu is not None and any(x in ENCODER_LOOPS for x in loops):
        bundle = method.load_for_training(
            source(), method.label_list(["Disease"]), hparams(a), torch.device("cpu")
        )
        lengths = [f["length"] for f in method.encode(bundle, train, train=True)]
        flops = res["encoder_flops"] = encoder_flops(bundle.model, lengths)
        del bundle
    rounds: dict[str, list[dict]] = {name: [] for name in runners if name in loops}
    for _ in range(max(1, a.repeats)):
        for name in rounds:
            rounds[name].append(runners[name]())
            if name in ENCODER_LOOPS:
                add_mfu(rounds[name][-1], flops, peak, measured)
            if a.out:  # what finished so far survives a time limit
                a.out.write_text(json.dumps({**res, "partial": True, "rounds": rounds}) + "\n")
    for name, runs in rounds.items():
        res[name] = {
            "tokens_per_s": statistics.median(r["tokens_per_s"] for r in runs),
            "dev_f1": statistics.median(r["dev_f1"] for r in runs),
            "rounds": runs,
        }
        for key in ("mfu", "mfu_measured", "model_tflops_per_s"):
            if runs[0].get(key) is not None:
                res[name][key] = statistics.median(r[key] for r in runs)
    if "predict" in loops:
        res["predict"] = bench_predict(a, dev)
    info["load_avg_end"] = os.getloadavg()
    ratios = {}
    pairs = [("project", o) for o in ("pad128", "hf")]
    pairs += [("packed", o) for o in ("project", "hf")] + [("packed-compile", "packed")]
    pairs += [("labeler-packed", o) for o in ("labeler-project", "labeler-hf")]
    pairs += [("labeler-project", "labeler-hf")]
    pairs += [("project", "torchdrop"), ("torchdrop", "hf")]
    pairs += [("labeler-project", "labeler-torchdrop"), ("labeler-torchdrop", "labeler-hf")]
    pairs += [("labeler-project", "labeler-peftlora"), ("labeler-peftlora", "labeler-hf")]
    for mine_name, other in pairs:
        if mine_name in rounds and other in rounds:
            ratios[f"{mine_name}/{other} tokens/s"] = (
                res[mine_name]["tokens_per_s"] / res[other]["tokens_per_s"]
            )
            ratios[f"{mine_name}/{other} tokens/s per round"] = [
                mine["tokens_per_s"] / theirs["tokens_per_s"]
                for mine, theirs in zip(rounds[mine_name], rounds[other], strict=True)
            ]
            # what removing padding alone would give at the same cost per computed position
            ratios[f"{mine_name}/{other} tokens/s from padding alone"] = statistics.median(
                (1 - mine["padding_fraction_epoch1"]) / (1 - theirs["padding_fraction_epoch1"])
                for mine, theirs in zip(rounds[mine_name], rounds[other], strict=True)
            )
            ratios[f"{mine_name}-{other} dev F1 (points)"] = 100 * (
                res[mine_name]["dev_f1"] - res[other]["dev_f1"]
            )
    if "predict" in res:
        pr = res["predict"]
        for name, row in pr.items():
            base = [f"bs{name.split('_bs')[1]}"] if name.startswith("packed") else []
            for other in (["bs1"] if name != "bs1" else []) + base:
                for kind in ("forward", "total"):
                    key = f"sentences_per_s_{kind}"
                    ratios[f"predict {name}/{other} ({kind})"] = row[key] / pr[other][key]
    res["ratios"] = ratios
    tmp_model.cleanup()
    emit(res, a.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
