"""Decoder methods (VANER labeler, generative) run the same CLI stages and files as encoders.

build-tiny-model -> train (interrupted, then resumed) -> predict -> evaluate, on CPU with a tiny
random Llama. The resumed run must continue the step counter and end with the same adapter and
training log as an uninterrupted run with the same seed.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from nerbench.evaluate.cli import main_evaluate
from nerbench.evaluate.conll import read_conll_predictions
from nerbench.io import read_json, read_jsonl
from nerbench.methods.adapters import ADAPTER_WEIGHTS, FULL_WEIGHTS
from nerbench.methods.models import main_build_tiny_model
from nerbench.predict import main_predict
from nerbench.training.loop import TrainingInterrupted, build_job, main_train, run_training

DEMO = Path(__file__).resolve().parents[1] / "resources" / "corpora" / "demo" / "NCBI-disease"
DATASET = "NCBI-disease-demo"
SIZES = {"train": 12, "devel": 4, "test": 6}
MAX_STEPS = 4


def demo_records(split: str, limit: int) -> list[dict]:
    """The first ``limit`` sentences of a demo ``token<TAB>tag`` file as canonical records."""
    records: list[dict] = []
    tokens: list[str] = []
    tags: list[str] = []
    lines = (DEMO / f"{split}.tsv").read_text(encoding="utf-8").splitlines() + [""]
    for line in lines:
        if line.strip():
            tok, tag = line.split("\t")
            tokens.append(tok)
            tags.append(tag)
        elif tokens:
            n = len(records)
            records.append({"doc_id": f"d{n // 4}", "sent_id": str(n % 4), "tokens": tokens,
                            "tags": tags})  # fmt: skip
            tokens, tags = [], []
            if len(records) == limit:
                break
    return records


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("results") / "bio" / DATASET
    root.mkdir(parents=True)
    paths = {}
    for split, n in SIZES.items():
        records = demo_records(split, n)
        assert len(records) == n
        paths[split] = root / f"{split}.jsonl"
        paths[split].write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return paths


@pytest.fixture(scope="module")
def tiny_llama(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("models") / "tiny-llama"
    assert main_build_tiny_model(["--family", "llama", "--output", str(out)]) == 0
    return out


def run_slice(method: str) -> dict:
    """A run slice as ``config.expand_runs`` writes it, for a tiny decoder and ``method``."""
    hparams = {
        "learning_rate": 1e-3,
        "batch_size": 4,
        "max_steps": MAX_STEPS,
        "save_every": 2,
        "eval_every": 2,
        "patience": 0,
        "precision": "fp32",
        "logging_steps": 1,
        "instruction": "dataset",
        "lora_r": 4,
        "lora_alpha": 8,
        "lora_dropout": 0.0,
    }
    if method == "generative":
        hparams["max_new_tokens"] = 16
    return {
        "model": {
            "id": "tiny-llama",
            "source": "tiny:llama",
            "revision": "",
            "family": "decoder",
            "method": method,
            "max_length": 512 if method == "generative" else 128,
            "dtype": "fp32",
            "quantization": "none",
            "gated": False,
        },
        "method": method,
        "train_datasets": [DATASET],
        "dataset_types": {DATASET: ["Disease"]},
        "hparams": hparams,
        "seed": 3,
        "dbr": "none",
    }


def train_argv(run_path: Path, data: dict[str, Path], model: Path, out: Path) -> list[str]:
    return [
        "--run", str(run_path), "--train-files", str(data["train"]),
        "--devel-files", str(data["devel"]), "--model-dir", str(model),
        "--out-dir", str(out), "--no-progress",
    ]  # fmt: skip


def without_time(records: list[dict]) -> list[dict]:
    return [{k: v for k, v in r.items() if k != "elapsed_s"} for r in records]


def adapter_weights(model_dir: Path) -> dict[str, torch.Tensor]:
    files = {p.name for p in model_dir.iterdir()}
    assert files & set(ADAPTER_WEIGHTS), f"no adapter in {sorted(files)}"
    assert not files & set(FULL_WEIGHTS), f"full weights saved: {sorted(files)}"
    return load_file(model_dir / "adapter_model.safetensors")


def check_training_outputs(out: Path, method: str) -> None:
    cost = read_json(out / "cost.json")
    assert cost["steps"] == MAX_STEPS and cost["device"].startswith("cpu")
    assert cost["lora_forward"].startswith("fused (") and cost["lora_forward"] != "fused (0 layers)"
    log = read_jsonl(out / "train_log.jsonl")
    assert [r["step"] for r in log if r["event"] == "train"] == list(range(1, MAX_STEPS + 1))
    assert [r["step"] for r in log if r["event"] == "eval"] == [2, 4]
    assert read_json(out / "model" / "method.json")["method"] == method


@pytest.mark.parametrize("method", ["labeler", pytest.param("generative", marks=pytest.mark.slow)])
def test_decoder_method_runs_the_encoder_pipeline(method, data, tiny_llama, tmp_path):
    run_path = tmp_path / "run.json"
    run_path.write_text(json.dumps(run_slice(method)), encoding="utf-8")

    full = tmp_path / "full"
    assert main_train(train_argv(run_path, data, tiny_llama, full)) == 0
    check_training_outputs(full, method)

    out = tmp_path / "run"
    job = build_job(
        run_slice(method), [str(data["train"])], [str(data["devel"])], (), str(tiny_llama), out
    )
    job.progress = False
    with pytest.raises(TrainingInterrupted):
        run_training(job, stop_after=3)
    assert not (out / "model").exists() and (out / "checkpoints" / "step-0000003").is_dir()
    assert main_train(train_argv(run_path, data, tiny_llama, out)) == 0  # the requeued job
    check_training_outputs(out, method)
    assert read_json(out / "cost.json")["attempts"] == 2
    log_full = without_time(read_jsonl(full / "train_log.jsonl"))
    assert without_time(read_jsonl(out / "train_log.jsonl")) == log_full
    w_full, w_res = adapter_weights(full / "model"), adapter_weights(out / "model")
    assert w_full.keys() == w_res.keys()
    assert all(torch.equal(w_full[k], w_res[k]) for k in w_full)

    conll = out / "pred" / f"{DATASET}.conll"
    infer_cost = out / "pred" / f"{DATASET}.infer_cost.json"
    argv = ["--run-dir", str(out), "--input", str(data["test"]), "--dataset", DATASET]
    assert main_predict([*argv, "--output", str(conll), "--cost", str(infer_cost)]) == 0
    gold = read_jsonl(data["test"])
    predicted = read_conll_predictions(conll)
    assert [r["tokens"] for r in predicted] == [g["tokens"] for g in gold]
    assert [r["gold"] for r in predicted] == [g["tags"] for g in gold]
    assert [len(r["pred"]) for r in predicted] == [len(g["tokens"]) for g in gold]
    assert {t for r in predicted for t in r["pred"]} <= {"O", "B-Disease", "I-Disease"}
    assert infer_cost.is_file()
    meta = Path(f"{conll}.meta.json")
    assert read_json(meta)["sentences"] == SIZES["test"]

    metrics_path = out / "metrics.json"
    argv = ["--pred", str(conll), "--gold", str(data["test"]), "--output", str(metrics_path)]
    argv += ["--run-id", "tiny-run"]
    assert main_evaluate([*argv, "--dataset", DATASET, "--bootstrap", "10", "--seed", "1"]) == 0
    metrics = read_json(metrics_path)
    assert {"exact", "relaxed", "by_length", "bootstrap", "decoding"} <= metrics.keys()
    assert metrics["run_id"] == "tiny-run" and metrics["dataset"] == DATASET
    if method == "generative":
        failures = metrics["alignment_failures"]
        assert failures == read_json(meta)["alignment_failures"]
        assert 0 <= failures <= SIZES["test"]
    else:
        assert "alignment_failures" not in metrics


@pytest.mark.parametrize("method", ["labeler", "generative"])
def test_decoder_methods_train_and_predict_under_bf16_autocast(method, data, tiny_llama, tmp_path):
    """``precision: auto`` is bf16 on AMX CPUs and bf16 GPUs: the decoder paths must run there."""
    run = run_slice(method)
    run["hparams"] |= {"precision": "bf16", "max_steps": 2, "eval_every": 2, "save_every": 0}
    run_path = tmp_path / "run.json"
    run_path.write_text(json.dumps(run), encoding="utf-8")
    assert main_train(train_argv(run_path, data, tiny_llama, tmp_path)) == 0
    cost = read_json(tmp_path / "cost.json")
    assert cost["dtype"] == "bf16" and cost["steps"] == 2
    losses = [r["loss"] for r in read_jsonl(tmp_path / "train_log.jsonl") if r["event"] == "train"]
    assert losses and all(loss == loss for loss in losses)  # no NaN
    conll = tmp_path / "pred" / f"{DATASET}.conll"
    argv = ["--run-dir", str(tmp_path), "--input", str(data["test"]), "--dataset", DATASET]
    argv += ["--output", str(conll), "--cost", str(tmp_path / "infer.json"), "--precision", "bf16"]
    assert main_predict(argv) == 0
    predicted = read_conll_predictions(conll)
    assert [len(r["pred"]) for r in predicted] == [
        len(g["tokens"]) for g in read_jsonl(data["test"])
    ]
