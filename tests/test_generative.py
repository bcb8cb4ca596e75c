"""Generative BIO method (paper 000): prompt/target, parser, aligner, sidecar, tiny-LM training."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch

from decoder_fixtures import save_tiny_decoder
from nerbench.evaluate import read_alignment_failures
from nerbench.hparams import TrainingArgs
from nerbench.methods.adapters import ADAPTER_WEIGHTS, FULL_WEIGHTS
from nerbench.methods.base import Example, ModelSource, TagPrediction, load_trained
from nerbench.methods.generative import (
    GenerativeMethod,
    GenerativePrediction,
    align_to_gold,
    build_prompt,
    build_target,
    meta_path,
    parse_response,
    prediction_meta,
    repair_iob2,
    write_prediction_meta,
)

IGNORE = -100
LABELS = ["O", "B-Chemical", "I-Chemical", "B-Disease", "I-Disease"]
GOLD = ["Na+:Cl-", "induced", "renal", "failure", "."]
GOLD_TAGS = ["B-Chemical", "O", "B-Disease", "I-Disease", "O"]


# --------------------------------------------------------------------------- prompt / target


def test_prompt_lists_labels_and_target_has_one_line_per_token():
    prompt = build_prompt(GOLD, LABELS)
    assert prompt.startswith("Below is an instruction")
    assert "O, B-Chemical, I-Chemical, B-Disease, I-Disease" in prompt
    assert "### Input:\nNa+:Cl- induced renal failure .\n\n### Response:\n" in prompt
    target = build_target(GOLD, GOLD_TAGS)
    assert target.splitlines() == [
        "Na+:Cl-:B-Chemical",
        "induced:O",
        "renal:B-Disease",
        "failure:I-Disease",
        ".:O",
    ]
    assert parse_response(target, LABELS) == list(zip(GOLD, GOLD_TAGS, strict=True))


# --------------------------------------------------------------------------- parser


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", []),
        ("\n\n  \n", []),
        ("a:O\n\nb:B-Disease\n", [("a", "O"), ("b", "B-Disease")]),  # blank lines
        ("Na+:Cl-:B-Chemical", [("Na+:Cl-", "B-Chemical")]),  # split on the last colon
        ("Na+:Cl-", [("Na+:Cl-", "O")]),  # tag missing: the whole line is the token
        ("::O", [(":", "O")]),  # the token is a colon
        ("x:B-Gene", [("x", "O")]),  # unknown type -> O
        ("x:banana", [("x:banana", "O")]),  # not tag-like -> token, O
        ("x : b-disease ", [("x", "B-Disease")]),  # spaces and case
        ("x\tI-Chemical", [("x", "I-Chemical")]),  # tab separator
        ("lonely", [("lonely", "O")]),  # no separator
        (":B-Disease", [(":B-Disease", "O")]),  # empty token
        ("a:O\na:O\na:O", [("a", "O")] * 3),  # repeated lines are kept (aligner drops them)
        ("a:O\n### Input:\nb:B-Disease", [("a", "O")]),  # stop at a new section
        ("a:O\nb:B-Dis", [("a", "O"), ("b", "O")]),  # truncated generation
    ],
)
def test_parse_response_malformed(text, expected):
    assert parse_response(text, LABELS) == expected


# --------------------------------------------------------------------------- aligner


def pairs(tokens, tags):
    return list(zip(tokens, tags, strict=True))


def test_align_exact():
    a = align_to_gold(GOLD, pairs(GOLD, GOLD_TAGS))
    assert a.tags == GOLD_TAGS and a.complete


def test_align_insertions_are_ignored():
    gen = pairs(
        ["Na+:Cl-", "extra", "induced", "renal", "renal", "failure", ".", "tail"],
        ["B-Chemical", "B-Disease", "O", "B-Disease", "O", "I-Disease", "O", "B-Chemical"],
    )
    a = align_to_gold(GOLD, gen)
    assert a.complete and len(a.tags) == len(GOLD)
    assert a.tags[0] == "B-Chemical" and a.tags[1] == "O" and a.tags[-1] == "O"
    assert a.tags[2:4] in (["B-Disease", "I-Disease"], ["O", "B-Disease"])


def test_align_deletions_get_o_and_count_as_failure():
    gen = pairs(["Na+:Cl-", "renal", "failure"], ["B-Chemical", "B-Disease", "I-Disease"])
    a = align_to_gold(GOLD, gen)
    assert a.tags == ["B-Chemical", "O", "B-Disease", "I-Disease", "O"]
    assert a.aligned == 3 and not a.complete


def test_align_substitutions_one_to_one_keep_their_tags():
    gen = pairs(["Na+", "induced", "Renal", "failure", "."], GOLD_TAGS)
    a = align_to_gold(GOLD, gen)
    assert a.tags == GOLD_TAGS and a.complete
    uneven = pairs(["Na+", "Cl-", "induced"], ["B-Chemical", "I-Chemical", "O"])
    b = align_to_gold(GOLD[:2], uneven)  # two tokens for one gold token: unaligned
    assert b.tags == ["O", "O"] and b.aligned == 1


def test_align_empty_outputs_and_repair():
    a = align_to_gold(GOLD, [])
    assert a.tags == ["O"] * 5 and a.aligned == 0
    assert align_to_gold([], pairs(["x"], ["O"])).complete
    dangling = pairs(GOLD, ["I-Chemical", "O", "I-Disease", "I-Disease", "O"])
    assert align_to_gold(GOLD, dangling).tags == GOLD_TAGS
    assert repair_iob2(["B-Chemical", "I-Disease", "I-Disease"]) == [
        "B-Chemical",
        "B-Disease",
        "I-Disease",
    ]


def test_sidecar_counts_failures_and_evaluate_reads_it(tmp_path):
    preds = [
        GenerativePrediction(["O"], [1.0], aligned=True),
        GenerativePrediction(["O"], [1.0], aligned=False),
        TagPrediction(["O"], [1.0]),
    ]
    assert prediction_meta(preds) == {"alignment_failures": 1, "sentences": 3}
    conll = tmp_path / "pred" / "NCBI-disease.conll"
    path = write_prediction_meta(conll, preds)
    assert path == meta_path(conll) == Path(f"{conll}.meta.json")
    assert json.loads(path.read_text()) == {"alignment_failures": 1, "sentences": 3}
    assert read_alignment_failures(conll) == 1


# --------------------------------------------------------------------------- tiny causal LM


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory) -> Path:
    return save_tiny_decoder(tmp_path_factory.mktemp("gen") / "qwen2", "qwen2")


def load(tiny_dir: Path, **hparams):
    method = GenerativeMethod()
    hp = {"lora_r": 8, "lora_alpha": 16, "lora_dropout": 0.0, "max_length": 400, **hparams}
    args = TrainingArgs.from_hparams(hp)
    src = ModelSource(
        model_id="tiny-qwen2",
        name_or_path=str(tiny_dir),
        family="decoder",
        max_length=64,
        dtype="fp32",
        quantization="none",
        local=True,
    )
    torch.manual_seed(0)
    return method, method.load_for_training(src, LABELS, args, torch.device("cpu"))


def ex(i, tokens=GOLD, tags=GOLD_TAGS):
    return Example(f"d/{i}", list(tokens), list(tags) if tags else None, "BC5CDR", ("Chemical",))


def test_encode_masks_the_prompt_and_ends_with_eos(tiny_dir):
    method, bundle = load(tiny_dir)
    (f,) = method.encode(bundle, [ex(0)], train=True)
    tok = bundle.tokenizer
    n_prompt = len(tok(build_prompt(GOLD, LABELS))["input_ids"])
    assert f["labels"][:n_prompt] == [IGNORE] * n_prompt
    response = f["labels"][n_prompt:]
    assert IGNORE not in response and response[-1] == tok.eos_token_id
    assert response == f["input_ids"][n_prompt:]
    assert tok.decode(response[:-1]) == build_target(GOLD, GOLD_TAGS)
    (p,) = method.encode(bundle, [ex(0)], train=False)
    assert "labels" not in p and p["input_ids"] == f["input_ids"][:n_prompt]


def test_lora_targets_attention_mlp_and_lm_head(tiny_dir):
    _, bundle = load(tiny_dir)
    targets = set(bundle.model.peft_config["default"].target_modules)
    assert {"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"} <= targets
    assert "lm_head" in targets


def test_windows_fit_max_length(tiny_dir):
    method, bundle = load(tiny_dir, max_length=300)
    long_ex = ex(0, GOLD * 12, GOLD_TAGS * 12)
    feats = method.encode(bundle, [long_ex], train=True)
    assert len(feats) > 1 and all(f["length"] <= 300 for f in feats)
    covered = sorted(i for f in feats for i in range(f["window"].start, f["window"].end))
    assert covered == list(range(60))


def test_max_new_tokens_is_bounded(tiny_dir):
    method, bundle = load(tiny_dir, max_new_tokens=50)
    feats = [{"n_words": 3, "answer_estimate": 10}, {"n_words": 20, "answer_estimate": 90}]
    assert method.max_new_tokens(bundle, feats) == 50  # capped by the hparam
    _, uncapped = load(tiny_dir)
    assert method.max_new_tokens(uncapped, feats[:1]) == 3 * 8 + 16


def test_tiny_lm_trains_generates_and_tags_every_token(tiny_dir, tmp_path):
    method, bundle = load(tiny_dir, max_new_tokens=48)
    train = [ex(0), ex(1, ["Aspirin", "helps", "."], ["B-Chemical", "O", "O"])]
    features = method.encode(bundle, train, train=True)
    opt = torch.optim.AdamW([p for p in bundle.model.parameters() if p.requires_grad], lr=5e-3)
    bundle.model.train()
    losses = []
    for _ in range(3):
        loss = method.loss(bundle, method.collate(bundle, features))
        loss.backward()
        opt.step()
        opt.zero_grad()
        losses.append(float(loss.detach()))
    assert all(math.isfinite(x) for x in losses) and losses[-1] < losses[0]
    tests = [ex(2, tags=None), ex(3, ["x"], None), ex(4, [], None), ex(5, GOLD * 3, None)]
    preds = method.predict(bundle, tests, batch_size=2, allowed_types=["Chemical"])
    assert [len(p.tags) for p in preds] == [5, 1, 0, 15]
    for p in preds:
        assert set(p.tags) <= {"O", "B-Chemical", "I-Chemical"}
        assert isinstance(p.aligned, bool) and p.tags == repair_iob2(p.tags)
    meta = method.prediction_meta(preds)
    assert meta["sentences"] == 4 and 0 <= meta["alignment_failures"] <= 4
    method.save(bundle, tmp_path / "model")
    files = {p.name for p in (tmp_path / "model").iterdir()}
    assert files & set(ADAPTER_WEIGHTS) and not files & set(FULL_WEIGHTS)
    loaded_method, loaded = load_trained(tmp_path / "model")
    again = loaded_method.predict(loaded, tests[:2], batch_size=2, allowed_types=["Chemical"])
    assert [p.raw for p in again] == [p.raw for p in preds[:2]]  # greedy: same text


def test_qlora_4bit_on_cpu_trains_saves_and_generates(tiny_dir, tmp_path):
    import bitsandbytes as bnb

    method, bundle = load(tiny_dir, quantization="4bit", max_new_tokens=24)
    layer = bundle.model.base_model.model.model.layers[0].mlp.down_proj.base_layer
    assert isinstance(layer, bnb.nn.Linear4bit)
    features = method.encode(bundle, [ex(0)], train=True)
    bundle.model.train()
    loss = method.loss(bundle, method.collate(bundle, features))
    loss.backward()
    torch.optim.AdamW([p for p in bundle.model.parameters() if p.requires_grad], lr=1e-3).step()
    assert math.isfinite(float(loss.detach()))
    method.save(bundle, tmp_path / "q")
    files = {p.name for p in (tmp_path / "q").iterdir()}
    assert files & set(ADAPTER_WEIGHTS) and not files & set(FULL_WEIGHTS)
    loaded_method, loaded = load_trained(tmp_path / "q")
    (pred,) = loaded_method.predict(loaded, [ex(1, tags=None)], batch_size=1)
    assert len(pred.tags) == len(GOLD)
