"""Code shared by the decoder methods (labeler, generative): tokenizer and base-model record."""

from __future__ import annotations

from typing import Any

from nerbench.io import InputError
from nerbench.methods import adapters
from nerbench.methods.base import (
    ModelSource,
)

# --------------------------------------------------------------------------- loading


def load_tokenizer(name_or_path: str, source: ModelSource | None = None) -> Any:
    """Fast tokenizer (offsets are needed) with a padding token (EOS if it has none)."""
    from transformers import AutoTokenizer

    from nerbench.methods.models import load_error

    kwargs = adapters.pretrained_kwargs(source) if source is not None else {}
    try:
        tokenizer = AutoTokenizer.from_pretrained(name_or_path, **kwargs)
    except OSError as e:  # hub unreachable, unknown repo or revision, missing files
        where = source or ModelSource(model_id=name_or_path, name_or_path=name_or_path)
        raise load_error("AutoTokenizer", where, e) from None
    if not getattr(tokenizer, "is_fast", False):
        raise InputError(f"tokenizer of '{name_or_path}' is not a fast tokenizer (no offsets)")
    if tokenizer.pad_token_id is None:
        if tokenizer.eos_token_id is None:
            raise InputError(f"tokenizer of '{name_or_path}' has neither a pad nor an EOS token")
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def source_dict(source: ModelSource, quantization: str) -> dict[str, Any]:
    return {
        "model_id": source.model_id,
        "name_or_path": source.name_or_path,
        "revision": source.revision,
        "family": source.family,
        "max_length": source.max_length,
        "dtype": source.dtype,
        "quantization": quantization,
        "local": source.local,
    }
