"""The CUDA path (issue #28): each check runs on the CPU (the twin, in the default suite) and on
a GPU (marker ``gpu``: skipped without CUDA; ``pytest -m gpu`` runs them, and
``benchmarks/gpu_check.sh`` does so on a GPU machine).

* packed rows give every feature the logits it gets alone, for an encoder (BERT) and the
  bidirectional labeler (Llama), under SDPA's kernels (default choice, math, memory-efficient on
  CUDA) in fp32 and bf16 autocast; a wrong (merged) mask must disagree; transformers'
  flash-attention varlen path where flash-attn is installed;
* the project's training loop at bf16 autocast: a few steps of the encoder and of the LoRA
  labeler, every trainable (LoRA) tensor changes, losses finite;
* 4-bit NF4 labeler steps (bitsandbytes) where bitsandbytes imports.
"""

from __future__ import annotations

import contextlib
import importlib.util
import math
from pathlib import Path

import pytest
import torch
from transformers import AutoModelForTokenClassification, BertConfig

from decoder_fixtures import build_tiny_token_classifier, save_tiny_decoder
from nerbench.hparams import TrainingArgs
from nerbench.methods.base import Example, ModelSource, get_method
from nerbench.methods.labeler import make_bidirectional
from nerbench.methods.models import build_tiny_model
from nerbench.training.loop import Trainer, TrainJob
from nerbench.training.packing import Packer

DEVICES = [
    pytest.param("cpu", id="cpu"),
    pytest.param("cuda", id="cuda", marks=pytest.mark.gpu),
]
ROW = 24
LENGTHS = [7, 12, 5, 9, 3, 11]  # 3 rows of 24 with padding tails
FP32_ATOL = 1e-4
SENTENCES = [
    ("Germline mutations in BRCA1 cause breast cancer .", "O O O O O B I O"),
    ("Cisplatin induced nephrotoxicity in rats .", "O O B O O O"),
    ("Familial adenomatous polyposis is a cancer syndrome .", "B I I O O B I O"),
    ("No disease was seen in the controls .", "O O O O O O O O"),
]


def examples(n: int = 8) -> list[Example]:
    out = []
    for i in range(n):
        words, tags = SENTENCES[i % len(SENTENCES)]
        bio = [{"B": "B-Disease", "I": "I-Disease"}.get(t, "O") for t in tags.split()]
        out.append(Example(f"d/{i}", words.split(), bio, "NCBI-disease", ("Disease",)))
    return out


# --------------------------------------------------------------------------- packed logits


def tiny_encoder() -> torch.nn.Module:
    config = BertConfig(
        vocab_size=64, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
        intermediate_size=64, max_position_embeddings=64, num_labels=5, pad_token_id=0,
    )  # fmt: skip
    torch.manual_seed(0)
    return AutoModelForTokenClassification.from_config(config, attn_implementation="sdpa").eval()


def tiny_labeler() -> torch.nn.Module:
    model = build_tiny_token_classifier("llama", attn="sdpa")
    assert model.config.is_causal is False
    return model


BUILDERS = {"encoder": tiny_encoder, "labeler": tiny_labeler}


def features(lengths=LENGTHS, vocab: int = 64) -> list[dict]:
    g = torch.Generator().manual_seed(1)
    return [{"input_ids": torch.randint(3, vocab, (n,), generator=g).tolist(), "length": n}
            for n in lengths]  # fmt: skip


class MergedMask(Packer):
    """Wrong on purpose: every feature of a row in one block (they see each other)."""

    def segments(self, lengths, rows):
        return (super().segments(lengths, rows) > 0).long() + 1


def backend_context(backend: str, device: str):
    """SDPA kernel choice: ``default`` (PyTorch's dispatch), ``math`` or ``efficient``."""
    from torch.nn.attention import SDPBackend, sdpa_kernel

    if backend == "default":
        return contextlib.nullcontext()
    if backend == "efficient" and device == "cpu":
        pytest.skip("no memory-efficient SDPA kernel on CPU")
    kernels = {"math": SDPBackend.MATH, "efficient": SDPBackend.EFFICIENT_ATTENTION}
    return sdpa_kernel(kernels[backend])


def packed_logits(model, packer: Packer, feats, device: str, bf16: bool) -> list[torch.Tensor]:
    """Each feature's logits from packed rows (block-diagonal mask, restarted positions)."""
    packed = packer.collate(feats)
    tensors = {k: v.to(device) for k, v in packed.tensors.items()}
    with torch.no_grad(), torch.autocast(device, dtype=torch.bfloat16, enabled=bf16):
        rows = packer.logits(model, tensors).float()
    return [rows[r, s : s + n] for (r, s), n in zip(packed.slots, packed.lengths, strict=True)]


def alone_logits(model, feats, device: str, bf16: bool) -> list[torch.Tensor]:
    """Each feature's logits from a forward of its own (no padding, PyTorch's kernel choice)."""
    out = []
    with torch.no_grad(), torch.autocast(device, dtype=torch.bfloat16, enabled=bf16):
        for f in feats:
            ids = torch.tensor([f["input_ids"]], device=device)
            out.append(model(input_ids=ids, attention_mask=torch.ones_like(ids)).logits[0].float())
    return out


def gap(xs, ys) -> float:
    return max(float((x - y).abs().max()) for x, y in zip(xs, ys, strict=True))


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("backend", ["default", "math", "efficient"])
@pytest.mark.parametrize("kind", ["encoder", "labeler"])
def test_packed_logits_equal_each_feature_alone(kind, backend, device):
    model = BUILDERS[kind]().to(device)
    feats = features()
    packer = Packer.for_model(model, ROW, pad_id=0)
    assert not packer.causal
    alone, alone16 = (alone_logits(model, feats, device, bf16) for bf16 in (False, True))
    with backend_context(backend, device):  # the packed forwards under the kernel asked for
        assert gap(packed_logits(model, packer, feats, device, False), alone) <= FP32_ATOL
        wrong = packed_logits(model, MergedMask(**vars(packer)), feats, device, False)
        assert gap(wrong, alone) > 10 * FP32_ATOL, "a merged mask must change the logits"
        packed16 = packed_logits(model, packer, feats, device, True)
    # bf16: packing adds no more error than bf16 itself does to a feature alone
    bf16_error = gap(alone16, alone)
    assert 0 < bf16_error < 0.1
    assert gap(packed16, alone) <= 2 * bf16_error + 1e-2


@pytest.mark.parametrize("device", DEVICES)
def test_flash_attention_varlen_packed_logits(device):
    """transformers' flash-attention path reads packed sequences from position ids (varlen,
    no mask): each feature's logits as alone, for the bidirectional labeler."""
    if device == "cpu":
        pytest.skip("flash attention is CUDA only (the SDPA tests above are its CPU twins)")
    from transformers.utils import is_flash_attn_2_available

    if not is_flash_attn_2_available():
        pytest.skip("flash-attn is not installed: transformers' varlen path is unavailable")
    model = build_tiny_token_classifier("llama", attn="flash_attention_2").to(device)
    model = model.to(torch.bfloat16)
    make_bidirectional(model)
    feats = features()
    ids = torch.tensor([sum((f["input_ids"] for f in feats), [])], device=device)
    pos = torch.cat([torch.arange(f["length"]) for f in feats])[None].to(device)
    with torch.no_grad():
        row = model(input_ids=ids, position_ids=pos).logits[0].float()
    alone = alone_logits(tiny_labeler().to(device), feats, device, False)  # same weights, SDPA
    starts = [0]
    for f in feats:
        starts.append(starts[-1] + f["length"])
    packed = [row[s : s + f["length"]] for s, f in zip(starts, feats, strict=False)]
    assert gap(packed, alone) < 0.1  # bf16 flash vs fp32 SDPA


# --------------------------------------------------------------------------- bf16 training


class StartRecordingTrainer(Trainer):
    """The project's trainer, keeping the trainable and LoRA tensors as they were before step 1
    (LoRA ones even if something froze them)."""

    def _resume_or_start(self):
        self.start = {
            n: p.detach().clone()
            for n, p in self.bundle.model.named_parameters()
            if p.requires_grad or "lora_" in n
        }
        return super()._resume_or_start()


def train_steps(method_name: str, source: ModelSource, device: str, tmp_path: Path, **hp):
    args = TrainingArgs.from_hparams(
        {
            "precision": "bf16",
            "max_steps": 3,
            "batch_size": 4,
            "learning_rate": 1e-2,
            "weight_decay": 0.0,
            "warmup_ratio": 0.0,
            "save_every": 0,
            "eval_every": 0,
            "patience": 0,
            "logging_steps": 1,
            **hp,
        }  # fmt: skip
    )
    method = get_method(method_name)
    job = TrainJob(
        method=method, source=source, labels=method.label_list(["Disease"]), train=examples(),
        dev=[], args=args, seed=3, out_dir=tmp_path, device=torch.device(device), progress=False,
    )  # fmt: skip
    trainer = StartRecordingTrainer(job)
    cost = trainer.run()
    after = dict(trainer.bundle.model.named_parameters())
    unchanged = [n for n, p in trainer.start.items() if torch.equal(after[n].detach(), p)]
    return cost, trainer, unchanged


def losses(out_dir: Path) -> list[float]:
    import json

    lines = (out_dir / "train_log.jsonl").read_text().splitlines()
    return [r["loss"] for r in map(json.loads, lines) if r["event"] == "train"]


@pytest.fixture(scope="module")
def tiny_dirs(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("tiny")
    return {
        "bert": build_tiny_model("bert", root / "bert", seed=0),
        "llama": save_tiny_decoder(root / "llama", "llama"),
    }


@pytest.mark.parametrize("device", DEVICES)
def test_encoder_bf16_training_changes_every_tensor(tiny_dirs, device, tmp_path):
    source = ModelSource("tiny-bert", str(tiny_dirs["bert"]), max_length=32, dtype="fp32")
    cost, trainer, unchanged = train_steps("token-classification", source, device, tmp_path)
    assert cost["dtype"] == "bf16" and cost["steps"] == 3
    assert cost["device"].startswith(device)
    assert trainer.bundle.autocast == torch.bfloat16
    assert all(math.isfinite(x) for x in losses(tmp_path))
    # token-type rows and position rows beyond the windows get no gradient; all else learns
    assert [n for n in unchanged if "embeddings" not in n] == []


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("lora_forward", ["fused", "peft"])
def test_labeler_bf16_lora_training_changes_every_lora_tensor(
    tiny_dirs, device, lora_forward, tmp_path
):
    source = ModelSource(
        "tiny-llama", str(tiny_dirs["llama"]), family="decoder", max_length=64, dtype="fp32"
    )
    cost, trainer, unchanged = train_steps(
        "labeler", source, device, tmp_path, lora_dropout=0.0, lora_forward=lora_forward
    )
    assert cost["dtype"] == "bf16" and cost["steps"] == 3
    assert cost["lora_forward"].startswith(lora_forward)
    lora = [n for n in trainer.start if "lora_" in n]
    assert any("lora_A" in n for n in lora) and any("lora_B" in n for n in lora)
    assert [n for n in unchanged if "lora_" in n] == []
    assert all(math.isfinite(x) for x in losses(tmp_path))


# --------------------------------------------------------------------------- 4-bit


@pytest.mark.parametrize("device", DEVICES)
def test_4bit_labeler_steps_change_every_lora_tensor(tiny_dirs, device, tmp_path):
    if importlib.util.find_spec("bitsandbytes") is None:
        pytest.skip(
            "bitsandbytes is not importable here (on the GPU check's machine: its 43 MB wheel "
            "does not fit the 64 MiB carry budget, benchmarks/gpu_wheels.py)"
        )
    source = ModelSource(
        "tiny-llama", str(tiny_dirs["llama"]), family="decoder", max_length=64, dtype="fp32",
        quantization="4bit",
    )  # fmt: skip
    cost, trainer, unchanged = train_steps(
        "labeler", source, device, tmp_path, lora_dropout=0.0, quantization="4bit"
    )
    import bitsandbytes as bnb

    assert any(isinstance(m, bnb.nn.Linear4bit) for m in trainer.bundle.model.modules())
    lora = [n for n in trainer.start if "lora_" in n]
    assert any("lora_A" in n for n in lora) and any("lora_B" in n for n in lora)
    assert [n for n in unchanged if "lora_" in n] == []
    assert all(math.isfinite(x) for x in losses(tmp_path))
