"""The training loop: features, batching, outputs, early stopping, checkpoints and resume."""

from __future__ import annotations

import builtins
import errno
import json
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from nerbench.cli import main as cli_main
from nerbench.hparams import TrainingArgs
from nerbench.io import DiskFullError, InputError, read_json, read_jsonl
from nerbench.methods.base import Example, bio_labels, get_method
from nerbench.methods.models import build_tiny_model, resolve_model_source
from nerbench.training import lock as run_lock
from nerbench.training import runtime as train_runtime
from nerbench.training.checkpoint import Checkpointer, RunPaths
from nerbench.training.data import epoch_batches, read_examples
from nerbench.training.lock import RunLock, RunLocked
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
    run_path.write_text(json.dumps(make_run(epochs=2, save_every=5, keep_checkpoints=True)))
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
    assert {f for f in opened if Path(f).parent == data_dir} == {  # read and hashed, no test
        str(data["train"]),
        str(data["devel"]),
    }
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
    umask = os.umask(0)
    os.umask(umask)
    for path in (out / "model", *(out / "model").iterdir(), out / "cost.json"):  # shareable
        expected = (0o777 if path.is_dir() else 0o666) & ~umask
        assert path.stat().st_mode & 0o777 == expected, path
    assert not (out / "train.lock").exists()  # released
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


def test_cpu_dropout_masks_come_from_the_vector_sampler(tiny_bert, data, tmp_path):
    def losses(name: str, **hp) -> tuple[dict, list[float]]:
        cost = run_training(job_for(make_run(max_steps=3, **hp), data, tiny_bert, tmp_path / name))
        log = read_jsonl(tmp_path / name / "train_log.jsonl")
        return cost, [r["loss"] for r in log if r["event"] == "train"]

    cost_v, vector = losses("vector")
    cost_t, plain = losses("torch", dropout_sampler="torch")
    assert cost_v["dropout_sampler"] == "vector" and cost_t["dropout_sampler"] == "torch"
    assert vector[0] != plain[0]  # same seed and data: only the dropout masks differ
    assert losses("vector-again")[1] == vector  # seeded by torch's generator


def test_early_stopping_on_dev_f1(tiny_bert, data, tmp_path):
    run = make_run(learning_rate=1e-9, epochs=5, eval_every=2, patience=2)
    cost = run_training(job_for(run, data, tiny_bert, tmp_path / "es"))
    assert cost["stopped_early"] and cost["steps"] == 6 and cost["best_step"] == 2


def test_a_finished_run_removes_its_checkpoints(tiny_bert, data, tmp_path):
    out = tmp_path / "o"
    cost = run_training(job_for(make_run(max_steps=3, save_every=1), data, tiny_bert, out))
    assert cost["steps"] == 3 and (out / "model" / "model.safetensors").is_file()
    assert (out / "cost.json").is_file() and (out / "train_log.jsonl").is_file()
    assert not (out / "checkpoints").exists()  # optimizer states are not kept (~8x the model)
    assert not [p for p in out.iterdir() if p.name.endswith(".tmp")]


def test_execution_only_options_do_not_discard_checkpoints(tiny_bert, data, tmp_path):
    out = tmp_path / "o"
    with pytest.raises(TrainingInterrupted):
        run_training(job_for(make_run(max_steps=3, save_every=1), data, tiny_bert, out), 2)
    kept = make_run(max_steps=3, save_every=1, keep_checkpoints=True)
    cost = run_training(job_for(kept, data, tiny_bert, out))
    assert cost["attempts"] == 2 and cost["steps"] == 3  # resumed
    assert (out / "checkpoints" / "step-0000003").is_dir()
    from nerbench.plan import make_run_id

    spec = {"model": {"id": "m"}, "method": "x", "train_datasets": ["d"], "seed": 1}
    plain = make_run_id({**spec, "hparams": {"learning_rate": 1e-4, "batch_size": 8}})
    hp = {"learning_rate": 1e-4, "batch_size": 8, "keep_checkpoints": True}
    assert make_run_id({**spec, "hparams": hp}) == plain  # the same run
    layout = {"packing": "on", "pack_length": 256, "compile": "on"}
    assert make_run_id({**spec, "hparams": {**hp, **layout}}) == plain
    assert make_run_id({**spec, "hparams": {**hp, "batch_size": 16}}) != plain


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
    bundle.autocast = torch.bfloat16
    test = read_examples(data["test"], "NCBI-disease", ("Disease",))
    preds = method.predict(bundle, test, batch_size=4, stride=4)
    assert [len(p.tags) for p in preds] == [len(ex.tokens) for ex in test]


# --------------------------------------------------------------------------- recovery and safety


def copy_data(data: dict[str, Path], root: Path) -> dict[str, Path]:
    """Private copies of the train/devel splits (tests that change them)."""
    out = {}
    for split in ("train", "devel"):
        out[split] = root / "bio" / "NCBI-disease" / f"{split}.jsonl"
        out[split].parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(data[split], out[split])
    return out


def train_argv(run: dict, data: dict[str, Path], tiny_bert: Path, out: Path) -> list[str]:
    run_path = out.parent / f"{out.name}.run.json"
    run_path.parent.mkdir(parents=True, exist_ok=True)
    run_path.write_text(json.dumps(run), encoding="utf-8")
    argv = ["--run", str(run_path), "--train-files", str(data["train"])]
    argv += ["--devel-files", str(data["devel"]), "--model-dir", str(tiny_bert)]
    return [*argv, "--out-dir", str(out), "--no-progress"]


def test_same_size_changed_training_data_is_not_resumed(tiny_bert, data, tmp_path, caplog):
    local = copy_data(data, tmp_path)
    run = make_run(max_steps=3, save_every=1)
    out = tmp_path / "o"
    with pytest.raises(TrainingInterrupted):
        run_training(job_for(run, local, tiny_bert, out), stop_after=2)
    before = local["train"].read_bytes()
    changed = [
        {
            **r,
            "tokens": [t.upper() if t.isascii() else t for t in r["tokens"]],
            "tags": ["I-" + t[2:] if t.startswith("B-") else t for t in r["tags"]],
        }
        for r in read_jsonl(local["train"])
    ]
    local["train"].write_text("".join(json.dumps(r) + "\n" for r in changed), encoding="utf-8")
    after = local["train"].read_bytes()
    assert len(after) == len(before) and after != before  # same name, same size, other data
    with caplog.at_level(logging.WARNING, logger="nerbench.training.loop"):
        cost = run_training(job_for(run, local, tiny_bert, out))
    assert cost["attempts"] == 1 and cost["steps"] == 3  # trained afresh, not resumed
    assert "discarding the checkpoints" in caplog.text
    assert "train file 1 NCBI-disease/train.jsonl changed (sha256" in caplog.text


def test_fingerprint_covers_content_settings_and_model(tiny_bert, data, tmp_path):
    local = copy_data(data, tmp_path)
    run = make_run()
    base = job_for(run, local, tiny_bert, tmp_path / "o").fingerprint
    assert job_for(run, local, tiny_bert, tmp_path / "elsewhere").fingerprint == base
    text = local["devel"].read_text(encoding="utf-8")
    local["devel"].write_text(text.replace("O", "o", 1), encoding="utf-8")  # same size
    assert job_for(run, local, tiny_bert, tmp_path / "o").fingerprint != base
    local["devel"].write_text(text, encoding="utf-8")
    assert job_for(run, local, tiny_bert, tmp_path / "o").fingerprint == base
    model = tmp_path / "model"
    shutil.copytree(tiny_bert, model)
    assert job_for(run, local, model, tmp_path / "o").fingerprint == base  # a copy: same model
    config = json.loads((model / "config.json").read_text())
    (model / "config.json").write_text(json.dumps({**config, "initializer_range": 0.5}))
    assert job_for(run, local, model, tmp_path / "o").fingerprint != base


# ----------------------------------------------------------------- healing checkpoints

HEAL_RUN = {
    "max_steps": 5,
    "save_every": 1,
    "eval_every": 2,
    "batch_size": 6,
    "keep_checkpoints": True,  # the test looks at the set-aside checkpoint afterwards
}


@pytest.fixture(scope="module")
def heal_reference(tiny_bert, data, tmp_path_factory) -> tuple[dict, Path]:
    out = tmp_path_factory.mktemp("heal") / "full"
    return run_training(job_for(make_run(**HEAL_RUN), data, tiny_bert, out)), out


def _truncate(path: Path, size: int) -> None:
    path.write_bytes(path.read_bytes()[:size])


def _flip_byte(path: Path) -> None:
    blob = bytearray(path.read_bytes())
    blob[len(blob) // 2] ^= 0xFF
    path.write_bytes(bytes(blob))


CORRUPTIONS = {
    "truncated trainable.pt": lambda d: _truncate(d / "trainable.pt", 3000),
    "100-byte state.json": lambda d: _truncate(d / "state.json", 100),
    "empty optimizer.pt": lambda d: _truncate(d / "optimizer.pt", 0),
    "flipped byte in optimizer.pt": lambda d: _flip_byte(d / "optimizer.pt"),
    "garbled manifest.json": lambda d: _truncate(d / "manifest.json", 10),
}


@pytest.mark.parametrize("corruption", [*CORRUPTIONS, "both checkpoints"])
def test_corrupt_newest_checkpoint_resumes_from_the_older_one(
    tiny_bert, data, tmp_path, heal_reference, caplog, corruption
):
    full, full_dir = heal_reference
    out = tmp_path / "o"
    with pytest.raises(TrainingInterrupted):
        run_training(job_for(make_run(**HEAL_RUN), data, tiny_bert, out), stop_after=3)
    ckpt = out / "checkpoints"
    assert sorted(p.name for p in ckpt.glob("step-*")) == ["step-0000002", "step-0000003"]
    if corruption == "both checkpoints":
        for step in ("step-0000002", "step-0000003"):
            CORRUPTIONS["truncated trainable.pt"](ckpt / step)
    else:
        CORRUPTIONS[corruption](ckpt / "step-0000003")
    with caplog.at_level(logging.WARNING, logger="nerbench.training"):
        resumed = run_training(job_for(make_run(**HEAL_RUN), data, tiny_bert, out))

    assert "checkpoint" in caplog.text and "step-0000003 is unusable" in caplog.text
    assert (ckpt / "corrupt-step-0000003").is_dir() or corruption == "both checkpoints"
    assert resumed["attempts"] == (1 if corruption == "both checkpoints" else 2)
    for key in ("steps", "best_step", "best_dev_f1", "tokens_seen", "epochs_completed"):
        assert resumed[key] == full[key], key
    assert without_time(read_jsonl(out / "train_log.jsonl")) == without_time(
        read_jsonl(full_dir / "train_log.jsonl")
    )
    w_full = load_file(full_dir / "model" / "model.safetensors")
    w_res = load_file(out / "model" / "model.safetensors")
    assert all(torch.equal(w_full[k], w_res[k]) for k in w_full)


def test_checkpoints_carry_a_manifest_written_last(tiny_bert, data, tmp_path):
    out = tmp_path / "o"
    with pytest.raises(TrainingInterrupted):
        run_training(job_for(make_run(**HEAL_RUN), data, tiny_bert, out), stop_after=2)
    for folder in (out / "checkpoints" / "step-0000002", out / "checkpoints" / "best-0000002"):
        files = read_json(folder / "manifest.json")["files"]
        assert set(files) == {p.name for p in folder.iterdir()} - {"manifest.json"}
        for name, entry in files.items():
            assert (folder / name).stat().st_size == entry["size"]
            assert len(entry["sha256"]) == 64


# ----------------------------------------------------------------- one writer per run folder


def test_second_trainer_is_refused_and_a_dead_holders_lock_is_taken_over(
    tiny_bert, data, tmp_path, capsys, caplog
):
    out = tmp_path / "run"
    holder_code = (
        "import sys, time\n"
        "from nerbench.training.lock import RunLock\n"
        "RunLock(sys.argv[1]).acquire()\n"
        "print('locked', flush=True)\n"
        "time.sleep(600)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO / "workflow")}
    holder = subprocess.Popen(
        [sys.executable, "-c", holder_code, str(out)], env=env, stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        argv = train_argv(make_run(max_steps=2), data, tiny_bert, out)
        assert cli_main(["train", *argv]) == 1
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and err.startswith("error: run folder ")
        assert f"pid {holder.pid} on host {socket.gethostname()}" in err
        assert not (out / "train_log.jsonl").exists() and not (out / "checkpoints").exists()
        assert read_json(out / "train.lock")["pid"] == holder.pid  # untouched
    finally:
        holder.kill()
        holder.wait()
    with caplog.at_level(logging.WARNING, logger="nerbench.training.lock"):
        assert main_train(argv) == 0  # the holder is gone: its lock is stale
    assert "taking over the stale lock" in caplog.text and "no longer running" in caplog.text
    assert read_json(out / "cost.json")["steps"] == 2
    assert not (out / "train.lock").exists()


def _forge_lock(run_dir: Path, age_s: float = 0.0, **fields) -> Path:
    run_dir.mkdir(parents=True, exist_ok=True)
    info = {**run_lock.holder_info(), **fields}
    path = run_dir / run_lock.LOCK_NAME
    path.write_text(json.dumps(info))
    t = time.time() - age_s
    os.utime(path, (t, t))
    return path


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


@pytest.mark.parametrize(
    "holder, age_s, live",
    [
        ({}, 0, True),  # this very process
        ({"host": "other-node"}, 60, True),  # another host, refreshed a minute ago
        ({"host": "other-node"}, run_lock.STALE_AFTER_S + 60, False),  # not refreshed
        ({"pid": "dead"}, 0, False),  # same host, the process is gone
        ({"start_ticks": -1}, 0, False),  # same host, the pid now is another process
        ({"boot_id": "another-boot"}, 0, False),  # same host, before a reboot
    ],
)
def test_lock_staleness_rules(tmp_path, holder, age_s, live):
    if holder.get("pid") == "dead":
        holder = {"pid": _dead_pid()}
    if "start_ticks" in holder and run_lock.holder_info()["start_ticks"] is None:
        pytest.skip("no /proc start times here")
    if "boot_id" in holder and run_lock.holder_info()["boot_id"] is None:
        pytest.skip("no boot id here")
    path = _forge_lock(tmp_path, age_s, **holder)
    forged = read_json(path)
    lock = RunLock(tmp_path, wait_s=0)
    if live:
        with pytest.raises(RunLocked, match=f"pid {forged['pid']} on host {forged['host']}"):
            lock.acquire()
        assert read_json(path) == forged
    else:
        with lock:
            assert read_json(path)["token"] == lock.token
            lock.check()
        assert not path.exists()


def test_a_live_looking_lock_of_another_host_is_waited_for_until_stale(
    tmp_path, monkeypatch, caplog
):
    monkeypatch.setattr(run_lock, "STALE_AFTER_S", 1.0)
    monkeypatch.setattr(run_lock, "_POLL_S", 0.2)
    path = _forge_lock(tmp_path, host="other-node")  # a node that died just now
    with caplog.at_level(logging.WARNING, logger="nerbench.training.lock"):
        with pytest.raises(RunLocked, match="on host other-node"):
            RunLock(tmp_path, wait_s=0.3).acquire()  # gave up before it went stale
        os.utime(path)
        t0 = time.monotonic()
        with RunLock(tmp_path, wait_s=30) as lock:
            assert time.monotonic() - t0 >= 0.9
            assert read_json(path)["token"] == lock.token
    assert "waiting up to" in caplog.text and "taking over the stale lock" in caplog.text


def test_sigterm_ends_the_wait_for_another_trainers_lock(
    tiny_bert, data, tmp_path, monkeypatch, caplog
):
    """#27: SIGTERM while waiting for a live-looking lock of another host stops the trainer at
    once (exit 143, nothing written), instead of after the wait (SLURM's SIGKILL follows)."""
    import threading

    monkeypatch.setattr(run_lock, "STALE_AFTER_S", 30.0)  # the wait: 30 s + 2 heartbeats
    out = tmp_path / "run"
    lock = _forge_lock(out, host="other-node")
    argv = train_argv(make_run(max_steps=2), data, tiny_bert, out)
    timer = threading.Timer(1.0, os.kill, (os.getpid(), signal.SIGTERM))
    t0 = time.monotonic()
    timer.start()
    try:
        with caplog.at_level(logging.WARNING):
            assert main_train(argv) == 143
    finally:
        timer.cancel()
    assert time.monotonic() - t0 < 1.0 + 5 * run_lock.STOP_CHECK_S + 2.0
    assert "waiting up to" in caplog.text and "waiting for the run folder's lock" in caplog.text
    assert read_json(lock)["host"] == "other-node"  # the other trainer's lock is untouched
    assert sorted(p.name for p in out.iterdir()) == ["train.lock"]  # nothing trained or written


def test_a_trainer_that_lost_its_lock_stops_writing(tmp_path):
    with RunLock(tmp_path) as lock:
        lock.check()
        _forge_lock(tmp_path, host="other-node")  # someone replaced it
        with pytest.raises(RunLocked, match="lost the lock"):
            lock.check()
    assert read_json(tmp_path / "train.lock")["host"] == "other-node"  # not removed by us


# ----------------------------------------------------------------- leftovers


def _leftovers(out: Path) -> list[Path]:
    ckpt = out / "checkpoints"
    made = [
        ckpt / ".step-0000009.k2j3h4.tmp",  # atomic_dir of a killed save
        ckpt / ".best-0000004.a1b2c3d4.del.tmp",  # an interrupted deletion
        ckpt / "step-0000007",  # deletion by an older version interrupted: state.json gone
        ckpt / "best-0000003",  # likewise
        out / ".model.x8y9z0.tmp",  # a killed model save
    ]
    for d in made:
        d.mkdir(parents=True)
        (d / "trainable.pt").write_bytes(b"\0" * 100)
    for f in (out / ".cost.json.q1.tmp", out / ".train_log.jsonl.q2.tmp"):
        f.write_text("{}")
        made.append(f)
    return made


def test_leftovers_of_killed_runs_are_swept_at_start(tiny_bert, data, tmp_path):
    out = tmp_path / "o"
    made = _leftovers(out)
    run = make_run(max_steps=2, save_every=1, keep_checkpoints=True)
    cost = run_training(job_for(run, data, tiny_bert, out))
    assert cost["steps"] == 2
    assert [p for p in made if p.exists()] == []
    names = sorted(p.name for p in (out / "checkpoints").iterdir())
    assert names == ["best-0000002", "fingerprint.json", "live_log.jsonl"] + [
        "step-0000001",
        "step-0000002",
    ]


def _killed_in_child(action, patches: dict) -> None:
    """Run ``action`` in a forked child with ``patches`` ({(module, name): replacement}); a
    replacement may call ``die()`` = kill -9 of the child at that point."""
    pid = os.fork()
    if pid == 0:  # the child: never returns to pytest
        try:
            for (module, name), value in patches.items():
                setattr(module, name, value)
            action()
        finally:
            os._exit(0)
    _, status = os.waitpid(pid, 0)
    assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL


def _die(*_args, **_kwargs):
    os.kill(os.getpid(), signal.SIGKILL)


def test_every_temporary_name_a_kill_leaves_in_the_run_folder_is_swept(tmp_path):
    """#27: kill -9 inside each writer of the run folder, then one sweep leaves no temporary."""
    import nerbench.io as nio

    out = tmp_path / "o"
    paths = RunPaths(out)
    (paths.ckpt / "step-0000001").mkdir(parents=True)
    (paths.ckpt / "step-0000001" / "trainable.pt").write_bytes(b"\0" * 100)
    real_rename = os.rename

    def rename_then_die(src, dst):
        real_rename(src, dst)
        _die()

    def write_dir(path):
        with nio.atomic_dir(path) as tmp:
            (tmp / "f").write_text("x")

    kills = [
        # the end-of-run checkpoint removal: renamed to .checkpoints.*.del.tmp, then killed
        (lambda: Checkpointer(paths, method=None).remove(), {(shutil, "rmtree"): _die}),
        # the model, the training log and cost.json, killed before their rename into place
        (lambda: write_dir(paths.model), {(os, "replace"): _die}),
        (lambda: nio.write_jsonl(paths.log, [{"a": 1}]), {(os, "replace"): _die}),
        (lambda: nio.write_json(paths.cost, {"a": 1}), {(os, "replace"): _die}),
        # the lock: its private copy before the link, and a stale lock moved aside
        (lambda: RunLock(out).acquire(), {(os, "link"): _die}),
        (lambda: RunLock(out).acquire(), {(os, "rename"): rename_then_die}),
    ]
    for i, (action, patches) in enumerate(kills):
        if i == len(kills) - 1:
            _forge_lock(out, pid=_dead_pid())
        _killed_in_child(action, patches)
        if i == 1:  # a model folder exists: killed after it was moved aside as .model.*.old.tmp
            paths.model.mkdir()
            _killed_in_child(lambda: write_dir(paths.model), {(shutil, "rmtree"): _die})
    left = sorted(p.name for p in out.iterdir() if p.name.startswith("."))
    for prefix in (".checkpoints.", ".model.", ".train_log.jsonl.", ".cost.json.", ".train.lock."):
        assert any(n.startswith(prefix) for n in left), (prefix, left)
    assert any(n.endswith(".del.tmp") for n in left) and any(n.endswith(".old.tmp") for n in left)
    assert any(n.endswith(".stale.tmp") for n in left)
    swept = Checkpointer(paths, method=None).sweep()
    assert sorted(swept) == left
    assert [p.name for p in out.iterdir() if p.name.startswith(".")] == []


def test_prune_sweeps_leftovers_and_keeps_the_newest(tmp_path):
    out = tmp_path / "o"
    ckpt = Checkpointer(RunPaths(out), method=None, keep=2)
    for step in (1, 2, 3):
        folder = out / "checkpoints" / f"step-{step:07d}"
        folder.mkdir(parents=True)
        (folder / "state.json").write_text(json.dumps({"best_step": 1}))
        (folder / "manifest.json").write_text('{"version": 1, "files": {}}')
    (out / "checkpoints" / "best-0000001").mkdir()
    (out / "checkpoints" / "best-0000001" / "manifest.json").write_text("{}")
    made = _leftovers(out)
    ckpt.prune(current_best=None)
    assert [p for p in made if p.exists()] == []
    names = sorted(p.name for p in (out / "checkpoints").iterdir())
    assert names == ["best-0000001", "step-0000002", "step-0000003"]


# ----------------------------------------------------------------- full disk


def test_full_disk_during_a_checkpoint_names_the_path_and_free_space(
    tiny_bert, data, tmp_path, capsys
):
    disk = tmp_path / "disk"
    disk.mkdir()
    try:
        mounted = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(disk)], capture_output=True
        )
    except FileNotFoundError:
        pytest.skip("no mount command")
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.decode().strip()}")
    try:
        out = disk / "run"
        argv = train_argv(make_run(max_steps=2, save_every=1), data, tiny_bert, tmp_path / "r")
        argv[argv.index("--out-dir") + 1] = str(out)
        assert cli_main(["train", *argv]) == 1
        errors = [ln for ln in capsys.readouterr().err.splitlines() if ln.startswith("error:")]
        assert len(errors) == 1, errors
        err = errors[0]
        step = out / "checkpoints" / "step-0000001"
        assert err.startswith(f"error: saving checkpoint {step}: No space left on device ("), err
        assert "free of 64.0 KiB on its file system" in err
        assert not step.exists() and list((out / "checkpoints").glob(".*.tmp")) == []
        assert not (out / "train.lock").exists()
    finally:
        subprocess.run(["umount", str(disk)], check=False)


@pytest.mark.parametrize(
    "error",
    [
        OSError(errno.ENOSPC, "No space left on device"),
        RuntimeError("[enforce fail at inline_container.cc:664] . unexpected pos 4800 vs 4694"),
    ],
)
def test_full_disk_errors_of_torch_save_become_clear(tiny_bert, data, tmp_path, monkeypatch, error):
    def full(obj, f, *args, **kwargs):
        f.write(b"PK")
        raise error

    monkeypatch.setattr(torch, "save", full)
    out = tmp_path / "o"
    with pytest.raises(DiskFullError) as info:
        run_training(job_for(make_run(max_steps=2, save_every=1), data, tiny_bert, out))
    step = out / "checkpoints" / "step-0000001"
    assert str(info.value).startswith(f"saving checkpoint {step}: ")
    assert " free of " in str(info.value) and info.value.path == str(step)
    assert list((out / "checkpoints").iterdir()) == [] or not step.exists()


# ----------------------------------------------------------------- minor


def test_epochs_completed_after_resuming_at_the_last_step(tiny_bert, data, tmp_path):
    run = make_run(epochs=1, batch_size=8)
    full = run_training(job_for(run, data, tiny_bert, tmp_path / "full"))
    assert full["epochs_completed"] == 1
    out = tmp_path / "resumed"
    with pytest.raises(TrainingInterrupted):
        run_training(job_for(run, data, tiny_bert, out), stop_after=full["steps"])
    resumed = run_training(job_for(run, data, tiny_bert, out))
    assert resumed["attempts"] == 2 and resumed["steps"] == full["steps"]
    assert resumed["epochs_completed"] == 1


@pytest.mark.parametrize("method", ["token-classification", "labeler"])
def test_hub_load_failure_is_one_clear_line(data, tmp_path, method):
    run = make_run()
    run["method"] = run["model"]["method"] = method
    run["model"] |= {"id": "hub-model", "source": "nerbench-test/no-such-model"}
    run["model"] |= {
        "revision": "0" * 40,
        "family": "decoder" if method == "labeler" else "encoder",
    }
    run_path = tmp_path / "run.json"
    run_path.write_text(json.dumps(run))
    cmd = [sys.executable, "-m", "nerbench", "train", "--run", str(run_path)]
    cmd += ["--train-files", str(data["train"]), "--devel-files", str(data["devel"])]
    cmd += ["--out-dir", str(tmp_path / "out"), "--no-progress"]
    env = {**os.environ, "PYTHONPATH": str(REPO / "workflow"), "HF_HUB_OFFLINE": "1"}
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2, proc.stderr[-3000:]
    lines = [ln for ln in proc.stderr.splitlines() if ln.startswith("error: ")]
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr[-3000:]
    assert lines[0].startswith("error: model 'hub-model': cannot load ")
    assert "'nerbench-test/no-such-model'" in lines[0]


def test_dev_selection_scores_as_the_test_sets_are_scored():
    """Dev F1 (model selection) is the exact-match F1 after the IOB2 decoding rule, as on test:
    a stray I-T starting an entity is read as B-T (seqeval strict on raw tags would score 0)."""
    from nerbench.training.runtime import dev_scores

    gold = [["B-Disease", "I-Disease", "O"], ["O", "B-Disease"]]
    pred = [["I-Disease", "I-Disease", "O"], ["O", "O"]]
    scores = dev_scores(gold, pred)
    assert scores["dev_precision"] == 1.0 and scores["dev_recall"] == 0.5
    assert scores["dev_f1"] == pytest.approx(2 / 3)
