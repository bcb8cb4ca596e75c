"""VANER labeler method: instructions, labels, windows, mixture sampling, type merging, PEFT.

Model tests use tiny random decoders saved to disk (see ``decoder_fixtures``) and run the real
method code: LoRA / QLoRA (bitsandbytes on CPU), save, reload and predict.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from pathlib import Path

import pytest
import torch

from decoder_fixtures import build_tokenizer, local_decoder_source, save_tiny_decoder
from nerbench.hparams import TrainingArgs
from nerbench.io import InputError
from nerbench.methods.adapters import (
    ADAPTER_WEIGHTS,
    FULL_WEIGHTS,
    check_quantization,
    resolve_quantization,
)
from nerbench.methods.base import Example, get_method, load_trained
from nerbench.methods.labeler import (
    LabelerMethod,
    merge_types,
    mixture_counts,
    mixture_sample,
    parse_mixture,
)
from nerbench.methods.prompts import (
    DBR_ID_PREFIXES,
    Prompted,
    build_instruction,
    check_instruction_mode,
    dbr_types,
    display_dataset,
    fit_length,
    is_dbr,
    prompt_dataset,
    tokenize_prompted,
    type_labels,
)

IGNORE = -100
SENT = ["Germline", "mutations", "in", "BRCA1", "cause", "breast", "cancer", "."]
TAGS = ["O", "O", "O", "O", "O", "B-Disease", "I-Disease", "O"]
CHEM = ["Cisplatin", "induced", "nephrotoxicity", "with", "Na+:Cl-", "."]
CHEM_TAGS = ["B-Chemical", "O", "B-Disease", "O", "B-Chemical", "O"]


def ex(i: int, tokens=SENT, tags=TAGS, dataset="NCBI-disease-demo", types=("Disease",)):
    return Example(f"d/{i}", list(tokens), list(tags) if tags else None, dataset, tuple(types))


# --------------------------------------------------------------------------- instructions


def test_instruction_forms():
    """VANER's exact strings: github.com/Eulring/VANER utils_vaner.py parse_mt() token1/token2
    (commit 8289c169d38acd90dd6f0a55bd02eeb356b1f71f), dataset names spelled as its cohorts."""
    assert build_instruction("Disease", "NCBI-disease") == (
        "If any Disease entity is mentioned in the ncbi input, extract it. ##input: "
    )
    assert build_instruction("Gene", "JNLPBA-gene") == (
        "If any Gene entity is mentioned in the JNLPBA input, extract it. ##input: "
    )
    assert build_instruction("Chemical", "BC5CDR-chem", "vaner") == (
        "If any Chemical entity is mentioned in the BC5CDR-chem input, extract it. ##input: "
    )
    assert build_instruction("Species") == (
        "If any Species entity is mentioned in the input, extract it. ##input: "
    )
    assert build_instruction("cell_line") == (
        "If any cell line entity is mentioned in the input, extract it. ##input: "
    )
    # the project's earlier wording, kept as the named template "recognize"
    assert build_instruction("Disease", "NCBI-disease", "recognize") == (
        "### Instruction: Recognize Disease entities in the NCBI-disease dataset.\n### Input: "
    )
    assert build_instruction("cell_line", None, "recognize") == (
        "### Instruction: Recognize cell line entities.\n### Input: "
    )
    with pytest.raises(InputError, match="'prompt_template'"):
        build_instruction("Disease", "NCBI-disease", "alpaca")
    assert display_dataset("NCBI-disease-demo") == "NCBI-disease"
    assert display_dataset("BC5CDR") == "BC5CDR"


def test_prompt_dataset_rules():
    e = ex(0)
    assert prompt_dataset(e, "dataset", None) == "NCBI-disease"
    assert prompt_dataset(e, "dataset", ["NCBI-disease"]) == "NCBI-disease"
    assert prompt_dataset(e, "dataset", ["BC5CDR"]) is None  # unseen dataset: type only
    assert prompt_dataset(e, "type", None) is None  # VANER_adapt
    assert prompt_dataset(ex(0, dataset="dbr:NCBI-disease"), "dataset", None) is None  # DBR
    assert prompt_dataset(ex(0, dataset=None), "dataset", None) is None  # raw text
    with pytest.raises(InputError, match="'instruction'"):
        check_instruction_mode("both")


def test_dbr_samples_are_recognised_and_ask_for_one_type():
    from nerbench.dbr.samples import VARIANTS

    assert DBR_ID_PREFIXES == tuple(f"{v}:" for v in VARIANTS)
    rec = Example("dbr:123/0", CHEM, CHEM_TAGS, "BC5CDR", ("Chemical", "Disease"))
    assert is_dbr(rec) and is_dbr(ex(0, dataset="dbr:BC5CDR")) and not is_dbr(ex(0))
    assert is_dbr(Example("random:9/1", SENT, TAGS, "NCBI-disease", ("Disease",)))
    assert dbr_types(ex(0, dataset="dbr:X")) == ["Disease"]  # the only declared type
    chem_only = ["B-Chemical", "O", "O", "O", "B-Chemical", "O"]
    assert dbr_types(Example("dbr:1/0", CHEM, chem_only, "BC5CDR", ("Chemical", "Disease"))) == [
        "Chemical"
    ]
    assert dbr_types(rec) == []  # two types in the tags: ambiguous, no query


def test_type_labels_select_one_type():
    assert type_labels(CHEM_TAGS, "Chemical") == [1, 0, 0, 0, 1, 0]
    assert type_labels(CHEM_TAGS, "Disease") == [0, 0, 1, 0, 0, 0]
    assert type_labels(TAGS, "Disease") == [0, 0, 0, 0, 0, 1, 2, 0]


# --------------------------------------------------------------------------- mixture sampling


def test_parse_mixture():
    assert parse_mixture(None) is None and parse_mixture("concat") is None
    assert parse_mixture("temperature:2") == 2.0
    for bad in ("temperature:0", "temperature:x", "temp:2", "uniform"):
        with pytest.raises(InputError, match="'mixture_sampling'"):
            parse_mixture(bad)


def test_mixture_counts_follow_size_power():
    sizes = {"big": 900, "small": 100}
    assert mixture_counts(sizes, 1.0) == sizes
    flat = mixture_counts(sizes, 1e6)
    assert abs(flat["big"] - flat["small"]) <= 1
    two = mixture_counts(sizes, 2.0)  # 30 : 10 -> 750 : 250
    assert two == {"big": 750, "small": 250}


def test_mixture_sample_is_seeded_and_keeps_dbr():
    data = [ex(i, dataset="A") for i in range(30)] + [ex(100 + i, dataset="B") for i in range(3)]
    dbr = [ex(200 + i, dataset="dbr:A") for i in range(4)]
    a = mixture_sample(data + dbr, "temperature:3", seed=7)
    b = mixture_sample(data + dbr, "temperature:3", seed=7)
    c = mixture_sample(data + dbr, "temperature:3", seed=8)
    assert [e.id for e in a] == [e.id for e in b] != [e.id for e in c]
    counts = Counter(e.dataset for e in a)
    expected = mixture_counts({"A": 30, "B": 3}, 3.0)
    assert counts["A"] == expected["A"] and counts["B"] == expected["B"]
    assert expected["B"] > 3  # the small dataset is upsampled ...
    assert len({e.id for e in a if e.dataset == "B"}) == 3  # ... with all its sentences
    assert a[-4:] == dbr  # DBR samples untouched
    assert mixture_sample(data, "concat", 7) == data


# --------------------------------------------------------------------------- type merging


def probs(tags: str, p: float = 0.9) -> list[list[float]]:
    """Per-word [P(O), P(B), P(I)] with probability ``p`` on the tags in ``tags`` ("OBI...")."""
    rest = (1 - p) / 2
    return [[p if t == k else rest for k in "OBI"] for t in tags]


def test_merge_types_higher_probability_wins_overlaps():
    per_type = {"Chemical": probs("BIOO", 0.9), "Disease": probs("OBIO", 0.6)}
    tags, scores = merge_types(4, per_type)
    assert tags == ["B-Chemical", "I-Chemical", "O", "O"]
    assert scores[:2] == pytest.approx([0.9, 0.9])
    per_type["Disease"] = probs("OBIO", 0.95)
    tags, _ = merge_types(4, per_type)
    assert tags == ["O", "B-Disease", "I-Disease", "O"]


def test_merge_types_keeps_disjoint_spans_and_repairs_dangling_i():
    per_type = {"Chemical": probs("BOOO"), "Disease": probs("OOIO")}
    tags, scores = merge_types(4, per_type)
    assert tags == ["B-Chemical", "O", "B-Disease", "O"]
    assert scores[1] == pytest.approx(0.9)  # min P(O) over the types asked for
    assert merge_types(2, {}) == (["O", "O"], [1.0, 1.0])


# --------------------------------------------------------------------------- tokenisation


@pytest.mark.parametrize("kind", ["byte", "sp"])
def test_tokenize_prompted_finds_each_words_first_subtoken(kind):
    tok = build_tokenizer(kind)
    prompt = build_instruction("Chemical", "BC5CDR")
    words = CHEM + ["zebrafishes", "Na+:Cl-"]
    (enc,) = tokenize_prompted(tok, [prompt], [words])
    first = enc.first_positions(len(words))
    assert all(k >= 0 for k in first) and first == sorted(first)
    for w, k in enumerate(first):
        piece = tok.decode(enc.ids[k : (first[w + 1] if w + 1 < len(first) else None)])
        assert piece.strip() == words[w]
    # prompt tokens are never assigned to a word
    n_prompt = len(tok(prompt)["input_ids"])
    assert all(w is None for w in enc.word_of[: n_prompt - 1])
    assert sum(enc.word_lengths(len(words))) + n_prompt >= len(enc.ids) - 1


def test_fit_length_keeps_every_first_subtoken():
    p = Prompted(
        ids=[1, 2, 3, 4, 5, 6, 7, 8],
        word_of=[None, None, 0, 0, 0, 1, None, 2],
        charge=[None, None, 0, 0, 0, 1, 2, 2],
    )
    fitted = fit_length(p, 5)
    assert len(fitted.ids) == 5
    assert fitted.first_positions(3) != [-1, -1, -1] and -1 not in fitted.first_positions(3)
    with pytest.raises(InputError, match="too small"):
        fit_length(p, 3)


# --------------------------------------------------------------------------- tiny models


@pytest.fixture(scope="module")
def tiny_dirs(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("tiny")
    return {
        "llama": save_tiny_decoder(root / "llama", "llama", tokenizer_kind="sp"),
        "qwen2": save_tiny_decoder(root / "qwen2", "qwen2", tokenizer_kind="byte"),
    }


def source(path: Path, family: str = "llama", max_length: int = 64, quant: str = "none"):
    return local_decoder_source(path, f"tiny-{family}", max_length=max_length, quantization=quant)


def load(tiny_dirs, family="llama", labels=("Chemical", "Disease"), **hparams):
    method = get_method("labeler")
    assert isinstance(method, LabelerMethod)
    args = TrainingArgs.from_hparams({"lora_dropout": 0.0, **hparams})
    torch.manual_seed(0)
    max_length = hparams.get("max_length", 64)
    src = source(tiny_dirs[family], family, max_length)
    bundle = method.load_for_training(src, method.label_list(labels), args, torch.device("cpu"))
    return method, bundle


def train_steps(method, bundle, examples, steps: int = 2, lr: float = 1e-2) -> list[float]:
    features = method.encode(bundle, examples, train=True)
    params = [p for p in bundle.model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=lr)
    bundle.model.train()
    losses = []
    for _ in range(steps):
        loss = method.loss(bundle, method.collate(bundle, features[:4]))
        loss.backward()
        opt.step()
        opt.zero_grad()
        losses.append(float(loss.detach()))
    return losses


def test_encode_labels_prompt_and_types(tiny_dirs):
    method, bundle = load(tiny_dirs)
    examples = [ex(0), ex(1, CHEM, CHEM_TAGS, "BC5CDR", ("Chemical", "Disease"))]
    feats = method.encode(bundle, examples, train=True)
    queries = [(f["example"], f["type"]) for f in feats]
    assert queries == [(0, "Disease"), (1, "Chemical"), (1, "Disease")]
    tok = bundle.tokenizer
    text = tok.decode(feats[0]["input_ids"], skip_special_tokens=True)
    assert text == (
        "If any Disease entity is mentioned in the ncbi input, extract it. ##input: "
        + " ".join(SENT)
    )
    golds = [[0] * 5 + [1, 2, 0], [1, 0, 0, 0, 1, 0], [0, 0, 1, 0, 0, 0]]
    for f, gold in zip(feats, golds, strict=True):
        labelled = [(k, y) for k, y in enumerate(f["labels"]) if y != IGNORE]
        assert [y for _, y in labelled] == gold
        assert [k for k, _ in labelled] == f["word_index"]
        assert min(f["word_index"]) > len(tok(build_instruction(f["type"]))["input_ids"]) - 2
    assert bundle.extra["train_datasets"] == ["BC5CDR", "NCBI-disease"]
    dbr = Example("dbr:7/0", CHEM, ["B-Chemical"] + ["O"] * 5, "BC5CDR", ("Chemical", "Disease"))
    (f,) = method.encode(bundle, [dbr], train=True)
    text = tok.decode(f["input_ids"], skip_special_tokens=True)
    assert f["type"] == "Chemical"
    assert text.startswith(
        "If any Chemical entity is mentioned in the input, extract it. ##input: "
    )
    adapt = load(tiny_dirs, instruction="type")
    feature = adapt[0].encode(adapt[1], [ex(0)], train=True)[0]
    text = tok.decode(feature["input_ids"], skip_special_tokens=True)
    assert text == build_instruction("Disease") + " ".join(SENT)
    legacy = load(tiny_dirs, prompt_template="recognize")
    feature = legacy[0].encode(legacy[1], [ex(0)], train=True)[0]
    text = tok.decode(feature["input_ids"], skip_special_tokens=True)
    assert text.startswith(
        "### Instruction: Recognize Disease entities in the NCBI-disease dataset."
    )
    with pytest.raises(InputError, match="'prompt_template'"):
        load(tiny_dirs, prompt_template="alpaca")


def test_collate_pads_right_with_mask_and_ignored_labels(tiny_dirs):
    method, bundle = load(tiny_dirs)
    feats = method.encode(bundle, [ex(0), ex(1, SENT[:3], TAGS[:3])], train=True)
    batch = method.collate(bundle, feats)
    short = feats[1]["length"]
    assert batch["attention_mask"][1].tolist() == [1] * short + [0] * (feats[0]["length"] - short)
    assert (batch["labels"][1, short:] == IGNORE).all()
    assert (batch["input_ids"][1, short:] == bundle.tokenizer.pad_token_id).all()


def test_long_sentences_use_windows_and_keep_every_token(tiny_dirs):
    method, bundle = load(tiny_dirs, max_length=40)
    long_tokens = (SENT * 6)[:45]
    long_ex = ex(0, long_tokens, (TAGS * 6)[:45])
    feats = method.encode(bundle, [long_ex], train=True)
    assert len(feats) > 1 and all(f["length"] <= 40 for f in feats)
    covered = [i for f in feats for i in range(f["window"].start, f["window"].end)]
    assert sorted(covered) == list(range(45))  # disjoint training windows cover every word
    preds = method.predict(bundle, [long_ex, ex(1), ex(2, [], None)], batch_size=2, stride=8)
    assert [len(p.tags) for p in preds] == [45, len(SENT), 0]


def test_predict_ignores_padding_and_sees_later_words(tiny_dirs):
    method, bundle = load(tiny_dirs, "qwen2")
    train_steps(method, bundle, [ex(0), ex(1, CHEM, CHEM_TAGS, "BC5CDR")])
    examples = [ex(0), ex(1, SENT[:3], None), ex(2, CHEM, None, "BC5CDR", ("Chemical",))]
    one = method.predict(bundle, examples, batch_size=1)
    batched = method.predict(bundle, examples, batch_size=3)
    for a, b in zip(one, batched, strict=True):
        assert a.tags == b.tags
        assert a.scores == pytest.approx(b.scores, abs=1e-5)
    feats = method.encode(bundle, [ex(0), ex(1, SENT[:-1] + ["zebrafish"])], train=False)
    p = method.word_probabilities(bundle, feats, 2, None)
    assert p[0][0] != pytest.approx(p[1][0], abs=1e-7)  # word 0 sees the last word


@pytest.mark.parametrize("family", ["llama", "qwen2"])
def test_lora_train_save_reload_predict(tiny_dirs, tmp_path, family, monkeypatch):
    monkeypatch.setenv("HF_TOKEN", "hf_secret_never_written")
    method, bundle = load(tiny_dirs, family)
    trainable = {n for n, p in bundle.model.named_parameters() if p.requires_grad}
    assert any("lora_A" in n for n in trainable) and any("score" in n for n in trainable)
    assert not any("embed_tokens" in n for n in trainable)
    losses = train_steps(method, bundle, [ex(0), ex(1, CHEM, CHEM_TAGS, "BC5CDR")], steps=3)
    assert all(math.isfinite(x) for x in losses) and losses[-1] < losses[0]
    examples = [ex(0), ex(1, CHEM, None, "BC5CDR", ("Chemical", "Disease"))]
    before = method.predict(bundle, examples, batch_size=2)
    method.save(bundle, tmp_path / "model", {"seed": 1})
    files = {p.name for p in (tmp_path / "model").iterdir()}
    assert files & set(ADAPTER_WEIGHTS) and not files & set(FULL_WEIGHTS)
    info = json.loads((tmp_path / "model" / "method.json").read_text())
    assert info["adapter"] and info["base"]["name_or_path"] == str(tiny_dirs[family])
    assert info["prompt_datasets"] == ["BC5CDR", "NCBI-disease"] and info["seed"] == 1
    assert info["prompt_template"] == "vaner"
    for p in (tmp_path / "model").iterdir():
        assert b"hf_secret_never_written" not in p.read_bytes()
    loaded_method, loaded = load_trained(tmp_path / "model")
    assert loaded_method.name == "labeler" and loaded.model.config.is_causal is False
    after = loaded_method.predict(loaded, examples, batch_size=2)
    for a, b in zip(before, after, strict=True):
        assert a.tags == b.tags
        assert a.scores == pytest.approx(b.scores, abs=1e-4)
    assert loaded.extra["prompt_template"] == "vaner"
    # a model saved before templates were named was trained with the "recognize" wording
    del info["prompt_template"]
    (tmp_path / "model" / "method.json").write_text(json.dumps(info))
    assert load_trained(tmp_path / "model")[1].extra["prompt_template"] == "recognize"


def test_full_finetuning_when_lora_r_is_zero(tiny_dirs, tmp_path):
    method, bundle = load(tiny_dirs, lora_r=0, gradient_checkpointing=True)
    assert all(p.requires_grad for p in bundle.model.parameters())
    assert bundle.model.is_gradient_checkpointing
    assert all(math.isfinite(x) for x in train_steps(method, bundle, [ex(0)], steps=1))
    method.save(bundle, tmp_path / "full")
    assert {"model.safetensors", "method.json"} <= {p.name for p in (tmp_path / "full").iterdir()}
    _, loaded = load_trained(tmp_path / "full")
    assert method.predict(loaded, [ex(0)])[0].tags == method.predict(bundle, [ex(0)])[0].tags


@pytest.mark.parametrize("mode", ["4bit", "8bit"])
def test_qlora_on_cpu_one_step_save_reload_predict(tiny_dirs, tmp_path, mode):
    """bitsandbytes runs 4-/8-bit on CPU: the QLoRA code path end to end with a tiny model."""
    import bitsandbytes as bnb

    method, bundle = load(tiny_dirs, quantization=mode, gradient_checkpointing=True)
    layer = bundle.model.base_model.model.model.layers[0].self_attn.q_proj.base_layer
    assert isinstance(layer, bnb.nn.Linear4bit if mode == "4bit" else bnb.nn.Linear8bitLt)
    head = bundle.model.base_model.model.score
    assert head.modules_to_save["default"].weight.dtype == torch.float32
    losses = train_steps(method, bundle, [ex(0)], steps=1)
    assert math.isfinite(losses[0])
    method.save(bundle, tmp_path / "q")
    files = {p.name for p in (tmp_path / "q").iterdir()}
    assert files & set(ADAPTER_WEIGHTS) and not files & set(FULL_WEIGHTS)
    assert json.loads((tmp_path / "q" / "method.json").read_text())["base"]["quantization"] == mode
    _, loaded = load_trained(tmp_path / "q")
    pred = method.predict(loaded, [ex(0), ex(1, CHEM, None, "BC5CDR")], batch_size=2)
    assert [len(p.tags) for p in pred] == [len(SENT), len(CHEM)]


def test_unservable_quantization_fails_at_once_naming_model_and_key(tiny_dirs):
    with pytest.raises(InputError, match=r"hparam 'quantization' must be one of none, 4bit, 8bit"):
        load(tiny_dirs, quantization="3bit")
    bad_row = source(tiny_dirs["llama"], quant="3bit")  # models.tsv column, no hparam
    with pytest.raises(InputError, match=r"tiny-llama.*models.tsv column 'quantization'.*allowed"):
        resolve_quantization(None, bad_row)
    with pytest.raises(InputError, match=r"model 'tiny-llama': quantization '4bit'.*'meta'"):
        check_quantization("4bit", "tiny-llama", torch.device("meta"))
