"""The training loop: features, batching, outputs, early stopping, checkpoints and resume."""

from __future__ import annotations

import builtins
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from nerbench.hparams import TrainingArgs
from nerbench.io import InputError, read_json, read_jsonl
from nerbench.methods.base import Example, bio_labels, get_method
from nerbench.methods.models import build_tiny_model, resolve_model_source
from nerbench.training import runtime as train_runtime
from nerbench.training.data import epoch_batches, read_examples
from nerbench.training.loop import TrainingInterrupted, build_job, main_train, run_training
from nerbench.training.runtime import autocast_dtype, cpu_has_native_bf16

DEMO = Path(__file__).resolve().parents[1] / "resources" / "corpora" / "demo"
REPO = Path(__file__).resolve().parents[1]


def demo_records(dataset: str, split: str, limit: int) -> list[dict]:
    """Minimal reader of the demo ``token<TAB>tag`` files into canonical records."""
    records: list[dict] = []
    tokens: list[str] = []
    tags: list[str] = []
    for line in (DEMO / dataset / f"{split}.tsv").read_text(encoding="utf-8").splitlines() + [""]:
        if line:
            tok, tag = line.split("\t")
            tokens.append(tok)
            tags.append(tag)
        elif tokens:
            n = len(records)
            records.append(
                {"doc_id": f"d{n // 5}", "sent_id": str(n % 5), "tokens": tokens, "tags": tags}
            )
            tokens, tags = [], []
            if len(records) == limit:
                break
    return records


def write_split(root: Path, dataset: str, split: str, records: list[dict]) -> Path:
    path = root / dataset / f"{split}.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def tiny_bert(tmp_path_factory) -> Path:
    return build_tiny_model("bert", tmp_path_factory.mktemp("model") / "tiny-bert", seed=0)


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("bio")
    return {
        "train": write_split(
            root, "NCBI-disease", "train", demo_records("NCBI-disease", "train", 40)
        ),
        "devel": write_split(
            root, "NCBI-disease", "devel", demo_records("NCBI-disease", "devel", 16)
        ),
        "test": write_split(root, "NCBI-disease", "test", demo_records("NCBI-disease", "test", 8)),
    }


def make_run(**hparams) -> dict:
    base = {
        "learning_rate": 1e-3,
        "batch_size": 4,
        "epochs": 1,
        "warmup_ratio": 0.1,
        "weight_decay": 0.01,
        "eval_every": 0,
        "save_every": 0,
        "patience": 0,
        "precision": "fp32",
        "stride": 4,
        "logging_steps": 1,
    }
    return {
        "model": {
            "id": "tiny-bert",
            "source": "tiny:bert",
            "revision": "",
            "family": "encoder",
            "method": "token-classification",
            "max_length": 32,
            "dtype": "fp32",
            "quantization": "none",
            "gated": False,
        },
        "method": "token-classification",
        "train_datasets": ["NCBI-disease"],
        "dataset_types": {"NCBI-disease": ["Disease"]},
        "hparams": {**base, **hparams},
        "seed": 7,
        "dbr": "none",
    }


def job_for(run, data, tiny_bert, out_dir, dbr=()):
    job = build_job(run, [str(data["train"])], [str(data["devel"])], dbr, str(tiny_bert), out_dir)
    job.progress = False
    return job


def without_time(records: list[dict]) -> list[dict]:
    return [{k: v for k, v in r.items() if k != "elapsed_s"} for r in records]


# --------------------------------------------------------------------------- batching and features


def test_epoch_batches_are_a_seeded_length_grouped_permutation():
    lengths = [(i * 37) % 101 + 1 for i in range(200)]
    b1 = epoch_batches(lengths, 8, seed=1, epoch=0, mega_mult=5)
    assert sorted(i for b in b1 for i in b) == list(range(200))
    assert b1 == epoch_batches(lengths, 8, seed=1, epoch=0, mega_mult=5)
    assert b1 != epoch_batches(lengths, 8, seed=1, epoch=1, mega_mult=5)
    assert b1 != epoch_batches(lengths, 8, seed=2, epoch=0, mega_mult=5)
    assert max(lengths[i] for i in b1[0]) == max(lengths)

    def padding(batches):
        return sum(
            len(b) * max(lengths[i] for i in b) - sum(lengths[i] for i in b) for b in batches
        )

    unsorted = [list(range(i, min(i + 8, 200))) for i in range(0, 200, 8)]
    assert padding(b1) < padding(unsorted) / 3


def test_first_subtoken_labels_and_training_windows_keep_every_token(tiny_bert):
    method = get_method("token-classification")
    source = resolve_model_source(make_run()["model"], tiny_bert)
    bundle = method.load_for_training(
        source, bio_labels(["Disease"]), TrainingArgs(max_length=16), torch.device("cpu")
    )
    tokens = ["Hereditary", "nonpolyposis", "colorectal", "cancer"] * 6
    tags = ["B-Disease", "I-Disease", "I-Disease", "I-Disease"] * 6
    feats = method.encode(bundle, [Example("d/1", tokens, tags)], train=True)
    assert len(feats) > 1 and all(f["length"] <= 16 for f in feats)
    labelled = [lab for f in feats for lab in f["labels"] if lab != -100]
    assert [
        bundle.labels[i] for i in labelled
    ] == tags  # one label per word, in order, none dropped
    first = feats[0]
    assert first["input_ids"][0] == bundle.tokenizer.cls_token_id
    assert first["labels"][0] == -100 and first["labels"][-1] == -100
    pieces = bundle.tokenizer.tokenize("nonpolyposis")
    assert len(pieces) > 1  # a multi-piece word: only its first piece is labelled
    assert first["labels"][first["word_index"][1] + 1] == -100

    batch = method.collate(bundle, feats[:2])
    width = max(f["length"] for f in feats[:2])
    assert batch["input_ids"].shape == (2, width)
    assert batch["attention_mask"].sum().item() == sum(f["length"] for f in feats[:2])

    with pytest.raises(InputError, match="outside the label set"):
        method.encode(bundle, [Example("d/2", ["aspirin"], ["B-Chemical"])], train=True)


def test_read_examples_rejects_bad_records(tmp_path):
    bad = tmp_path / "NCBI-disease" / "train.jsonl"
    bad.parent.mkdir()
    bad.write_text('{"tokens": ["a"], "tags": ["O"]}\n{"tokens": ["a", "b"], "tags": ["O"]}\n')
    with pytest.raises(InputError, match=r"train.jsonl:2: .*one per token"):
        read_examples(bad)
    with pytest.raises(InputError, match="not found"):
        read_examples(tmp_path / "missing.jsonl")


# --------------------------------------------------------------------------- end to end


def test_train_cli_writes_model_log_and_cost_and_never_opens_test(
    tiny_bert, data, tmp_path, monkeypatch
):
    run_path = tmp_path / "run.json"
    run_path.write_text(json.dumps(make_run(epochs=2, save_every=5)))
    opened: list[str] = []
    real_open = builtins.open

    def spy(file, *args, **kwargs):
        opened.append(str(file))
        return real_open(file, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", spy)
    out = tmp_path / "run"
    argv = ["--run", str(run_path), "--train-files", str(data["train"])]
    argv += ["--devel-files", str(data["devel"]), "--model-dir", str(tiny_bert)]
    assert main_train([*argv, "--out-dir", str(out), "--no-progress"]) == 0
    monkeypatch.setattr(builtins, "open", real_open)

    assert str(data["train"]) in opened and str(data["devel"]) in opened
    data_dir = data["test"].parent
    assert [f for f in opened if Path(f).parent == data_dir] == [
        str(data["train"]),
        str(data["devel"]),
    ]
    cost = read_json(out / "cost.json")
    spe = -(-cost["train_features"] // 4)  # optimizer steps per epoch (windows count as rows)
    assert cost["train_features"] > 40  # max_length 32: long sentences were split, not dropped
    log = read_jsonl(out / "train_log.jsonl")
    train_steps = [r["step"] for r in log if r["event"] == "train"]
    evals = [r for r in log if r["event"] == "eval"]
    assert train_steps == list(range(1, 2 * spe + 1))
    assert [e["step"] for e in evals] == [spe, 2 * spe]  # one evaluation per epoch
    assert all(
        {"loss", "lr", "epoch", "elapsed_s"} <= r.keys() for r in log if r["event"] == "train"
    )
    assert all(0.0 <= e["dev_f1"] <= 1.0 for e in evals)
    assert cost["steps"] == 2 * spe and cost["device"].startswith("cpu")
    assert cost["peak_gpu_memory_mb"] is None and cost["peak_cpu_rss_mb"] > 0
    assert cost["tokens_seen"] > 2 * sum(len(r["tokens"]) for r in read_jsonl(data["train"]))
    assert cost["tokens_per_s"] > 0 and cost["dtype"] == "fp32"
    assert cost["best_step"] in (spe, 2 * spe)
    labels = read_json(out / "model" / "labels.json")["labels"]
    assert labels == ["O", "B-Disease", "I-Disease"]
    info = read_json(out / "model" / "method.json")
    assert info["method"] == "token-classification" and info["max_length"] == 32
    ckpts = sorted(p.name for p in (out / "checkpoints").iterdir() if p.name.startswith("step-"))
    last = 2 * spe // 5 * 5
    assert ckpts == [f"step-{last - 5:07d}", f"step-{last:07d}"]  # the last two are kept
    assert [p.name for p in (out / "checkpoints").glob("best-*")] == [
        f"best-{cost['best_step']:07d}"
    ]


def test_train_cli_has_no_test_input():
    from nerbench.training.loop import _parse_args

    with pytest.raises(SystemExit):
        _parse_args(
            [
                "--run",
                "r",
                "--train-files",
                "a",
                "--devel-files",
                "b",
                "--out-dir",
                "o",
                "--test-files",
                "t",
            ]
        )


def test_dbr_files_extend_training_data_only(tiny_bert, data, tmp_path):
    dbr = write_split(tmp_path, "NCBI-disease", "dbr", demo_records("NCBI-disease", "test", 6))
    job = job_for(make_run(), data, tiny_bert, tmp_path / "o", dbr=[str(dbr)])
    assert len(job.train) == 46 and len(job.dev) == 16


def test_resume_after_interruption_equals_uninterrupted_run(tiny_bert, data, tmp_path):
    run = make_run(max_steps=10, save_every=2, eval_every=3, batch_size=6)  # 7 batches/epoch
    full = run_training(job_for(run, data, tiny_bert, tmp_path / "full"))

    interrupted = tmp_path / "resumed"
    with pytest.raises(TrainingInterrupted):
        run_training(job_for(run, data, tiny_bert, interrupted), stop_after=5)  # mid-epoch
    assert not (interrupted / "model").exists()
    assert (interrupted / "checkpoints" / "step-0000005").is_dir()
    resumed = run_training(job_for(run, data, tiny_bert, interrupted))

    assert resumed["attempts"] == 2 and resumed["steps"] == full["steps"] == 10
    assert resumed["best_dev_f1"] == full["best_dev_f1"]
    assert resumed["best_step"] == full["best_step"]
    assert resumed["tokens_seen"] == full["tokens_seen"]
    log_full = without_time(read_jsonl(tmp_path / "full" / "train_log.jsonl"))
    log_resumed = without_time(read_jsonl(interrupted / "train_log.jsonl"))
    assert [r["step"] for r in log_resumed if r["event"] == "train"] == list(range(1, 11))
    assert log_resumed == log_full
    w_full = load_file(tmp_path / "full" / "model" / "model.safetensors")
    w_res = load_file(interrupted / "model" / "model.safetensors")
    assert all(torch.equal(w_full[k], w_res[k]) for k in w_full)


def test_early_stopping_on_dev_f1(tiny_bert, data, tmp_path):
    run = make_run(learning_rate=1e-9, epochs=5, eval_every=2, patience=2)
    cost = run_training(job_for(run, data, tiny_bert, tmp_path / "es"))
    assert cost["stopped_early"] and cost["steps"] == 6 and cost["best_step"] == 2


def test_stale_checkpoints_of_other_data_are_discarded(tiny_bert, data, tmp_path):
    run = make_run(max_steps=3, save_every=1)
    out = tmp_path / "o"
    with pytest.raises(TrainingInterrupted):
        run_training(job_for(run, data, tiny_bert, out), stop_after=2)
    changed = make_run(max_steps=3, save_every=1, learning_rate=5e-4)
    cost = run_training(job_for(changed, data, tiny_bert, out))
    assert cost["attempts"] == 1 and cost["steps"] == 3


@pytest.mark.slow
def test_sigterm_saves_a_checkpoint_and_rerun_resumes(tiny_bert, data, tmp_path):
    run_path = tmp_path / "run.json"
    run_path.write_text(json.dumps(make_run(max_steps=60, eval_every=30, learning_rate=1e-4)))
    out = tmp_path / "run"
    cmd = [sys.executable, "-m", "nerbench", "train", "--run", str(run_path)]
    cmd += ["--train-files", str(data["train"]), "--devel-files", str(data["devel"])]
    cmd += ["--model-dir", str(tiny_bert), "--out-dir", str(out), "--no-progress"]
    env = {**os.environ, "PYTHONPATH": str(REPO / "workflow")}
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    live = out / "checkpoints" / "live_log.jsonl"
    deadline = time.time() + 120
    while not (live.is_file() and live.stat().st_size > 0) and time.time() < deadline:
        time.sleep(0.2)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 143, err.decode()[-2000:]
    ckpts = list((out / "checkpoints").glob("step-*"))
    assert len(ckpts) == 1 and not (out / "model").exists()
    stopped_at = read_json(ckpts[0] / "state.json")["step"]
    assert 0 < stopped_at < 60

    argv = cmd[cmd.index("--run") :]
    assert main_train(argv) == 0  # the requeued job
    cost = read_json(out / "cost.json")
    assert cost["attempts"] == 2 and cost["steps"] == 60
    steps = [r["step"] for r in read_jsonl(out / "train_log.jsonl") if r["event"] == "train"]
    assert steps == list(range(1, 61))


@pytest.mark.parametrize("native", [True, False])
def test_auto_precision_is_bf16_on_cpu_only_with_native_bf16(monkeypatch, native):
    monkeypatch.setattr(train_runtime, "cpu_has_native_bf16", lambda: native)
    cpu = torch.device("cpu")
    assert autocast_dtype("auto", cpu) == (torch.bfloat16 if native else None)
    assert autocast_dtype("fp32", cpu) is None
    assert autocast_dtype("bf16", cpu) == torch.bfloat16


def test_native_bf16_probe_is_false_without_the_cpu_flags():
    cpuinfo = Path("/proc/cpuinfo")
    if not cpuinfo.is_file():
        pytest.skip("no /proc/cpuinfo")
    flags = set(cpuinfo.read_text().split())
    if not flags & {"amx_tile", "amx_bf16", "avx512_bf16"}:
        assert cpu_has_native_bf16() is False
    else:
        assert isinstance(cpu_has_native_bf16(), bool)


def test_bf16_training_on_cpu_records_bf16_and_learns(data, tiny_bert, tmp_path, monkeypatch):
    """The bf16 autocast path that ``auto`` takes on AMX CPUs and bf16 GPUs trains and saves."""
    from nerbench.methods.base import load_trained
    from nerbench.methods.encoder import TokenClassificationMethod

    seen: list[tuple[bool, torch.dtype]] = []
    original_loss = TokenClassificationMethod.loss

    def spy_loss(self, bundle, batch):  # the autocast state the forward passes really run in
        seen.append((torch.is_autocast_enabled("cpu"), torch.get_autocast_dtype("cpu")))
        return original_loss(self, bundle, batch)

    monkeypatch.setattr(TokenClassificationMethod, "loss", spy_loss)
    run = make_run(precision="bf16", learning_rate=5e-3, epochs=2)
    cost = run_training(job_for(run, data, tiny_bert, tmp_path))
    assert cost["dtype"] == "bf16"
    assert seen and set(seen) == {(True, torch.bfloat16)}
    losses = [r["loss"] for r in read_jsonl(tmp_path / "train_log.jsonl") if r["event"] == "train"]
    assert all(loss == loss and loss < 10 for loss in losses)  # finite
    assert sum(losses[-3:]) / 3 < sum(losses[:3]) / 3  # it learns
    method, bundle = load_trained(tmp_path / "model", torch.device("cpu"))
    assert all(p.dtype == torch.float32 for p in bundle.model.parameters())  # fp32 master weights
    bundle.extra["autocast"] = torch.bfloat16
    test = read_examples(data["test"], "NCBI-disease", ("Disease",))
    preds = method.predict(bundle, test, batch_size=4, stride=4)
    assert [len(p.tags) for p in preds] == [len(ex.tokens) for ex in test]
