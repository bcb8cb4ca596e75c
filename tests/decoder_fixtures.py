"""Tiny offline decoder models and tokenizers for the labeler / generative tests.

Everything is built from a config with random weights (2 layers, hidden 64, 4 heads) and a BPE
tokenizer trained in memory on a few sentences, so no hub access is ever needed.
"""

from __future__ import annotations

from pathlib import Path

import torch
from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers
from transformers import (
    AutoModelForCausalLM,
    AutoModelForTokenClassification,
    LlamaConfig,
    MistralConfig,
    PreTrainedConfig,
    PreTrainedTokenizerFast,
    Qwen2Config,
)

FAMILIES = ("llama", "mistral", "qwen2")
SPECIAL = ["<pad>", "<s>", "</s>", "<unk>"]
CORPUS = [
    "Recognize Disease entities in the NCBI-disease dataset.",
    "Recognize Chemical entities in the BC5CDR dataset.",
    "### Instruction: ### Input: ### Response:",
    "Germline mutations in BRCA1 cause breast cancer and ovarian cancer .",
    "Cisplatin induced nephrotoxicity in rats treated with Na+:Cl- solution .",
    "The zebrafish and Yarrowia lipolytica were studied .",
    "Tag each token: O B-Disease I-Disease B-Chemical I-Chemical B-Species",
    "Below is an instruction that describes a task , paired with an input .",
    "0 1 2 3 4 5 6 7 8 9 ( ) [ ] , ; - / % +",
]


def build_tokenizer(kind: str = "byte", vocab_size: int = 400) -> PreTrainedTokenizerFast:
    """A BPE tokenizer: ``byte`` = byte-level (Qwen/Llama-3 style), ``sp`` = metaspace (Llama-2)."""
    tok = Tokenizer(models.BPE(unk_token="<unk>" if kind == "sp" else None))
    if kind == "byte":
        tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        tok.decoder = decoders.ByteLevel()
        alphabet = pre_tokenizers.ByteLevel.alphabet()
    elif kind == "sp":
        tok.normalizer = normalizers.NFKC()
        tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="\u2581", prepend_scheme="first")
        tok.decoder = decoders.Metaspace(replacement="\u2581", prepend_scheme="first")
        alphabet = sorted({c for line in CORPUS for c in line} | {"\u2581", "\n"})
    else:
        raise ValueError(f"unknown tokenizer kind {kind!r}")
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=SPECIAL,
        initial_alphabet=alphabet,
        show_progress=False,
    )
    tok.train_from_iterator(CORPUS, trainer=trainer)
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        pad_token="<pad>",
        bos_token="<s>",
        eos_token="</s>",
        unk_token="<unk>",
    )


def tiny_config(
    family: str,
    vocab_size: int,
    *,
    num_labels: int = 3,
    attn: str = "sdpa",
    sliding_window: int | None = None,
) -> PreTrainedConfig:
    """Config of a 2-layer, hidden-64, 4-head decoder of ``family``."""
    classes = {"llama": LlamaConfig, "mistral": MistralConfig, "qwen2": Qwen2Config}
    config = classes[family](
        vocab_size=vocab_size,
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=512,
        num_labels=num_labels,
        pad_token_id=0,
        bos_token_id=1,
        eos_token_id=2,
        tie_word_embeddings=False,
    )
    if family == "mistral":
        config.sliding_window = sliding_window
    config._attn_implementation = attn
    return config


def build_tiny_token_classifier(
    family: str, *, attn: str = "sdpa", causal: bool = False, vocab_size: int = 64, seed: int = 0
) -> torch.nn.Module:
    """Random ``<Family>ForTokenClassification`` (bidirectional unless ``causal``) in eval mode."""
    config = tiny_config(family, vocab_size, attn=attn)
    if not causal:
        config.is_causal = False
    torch.manual_seed(seed)
    return AutoModelForTokenClassification.from_config(config, attn_implementation=attn).eval()


def save_tiny_decoder(
    out_dir: Path, family: str = "llama", *, tokenizer_kind: str = "byte", seed: int = 0
) -> Path:
    """Save a random causal LM + tokenizer to ``out_dir`` (a local 'pretrained' model)."""
    tokenizer = build_tokenizer(tokenizer_kind)
    config = tiny_config(family, len(tokenizer), num_labels=2)
    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_config(config)
    model.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)
    return Path(out_dir)


def local_decoder_source(
    path: Path, model_id: str, *, max_length: int = 64, quantization: str = "none"
):
    """The ModelSource of a tiny decoder saved by :func:`save_tiny_decoder` (local, fp32)."""
    from nerbench.methods.base import ModelSource

    return ModelSource(
        model_id=model_id,
        name_or_path=str(path),
        family="decoder",
        max_length=max_length,
        dtype="fp32",
        quantization=quantization,
        local=True,
    )
