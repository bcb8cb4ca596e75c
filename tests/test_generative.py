"""Generative BIO method (paper 000): prompt/target, parser, aligner, sidecar, tiny-LM training."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch

from decoder_fixtures import local_decoder_source, save_tiny_decoder
from nerbench.evaluate.conll import read_alignment_failures
from nerbench.hparams import TrainingArgs
from nerbench.methods.adapters import ADAPTER_WEIGHTS, FULL_WEIGHTS
from nerbench.methods.base import Example, TagPrediction, load_trained
from nerbench.methods.generative import (
    GenerativeMethod,
    GenerativePrediction,
    align_to_gold,
    build_prompt,
    build_target,
    meta_path,
    normalize_token,
    parse_response,
    prediction_meta,
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
        ("Na+:Cl-", [("Na+:Cl-", None)]),  # tag missing: the whole line, no tag
        ("::O", [(":", "O")]),  # the token is a colon
        ("x:B-Gene", [("x", "O")]),  # unknown type -> O
        ("x:banana", [("x:banana", None)]),  # not tag-like -> no tag
        ("x : b-disease ", [("x", "B-Disease")]),  # spaces and case
        ("x\tI-Chemical", [("x", "I-Chemical")]),  # tab separator
        ("Na+:Cl-\tB-Chemical", [("Na+:Cl-", "B-Chemical")]),  # tab before colon
        ("x B-Disease", [("x", "B-Disease")]),  # "token TAG", no colon
        ("Na+:Cl-  b-chemical", [("Na+:Cl-", "B-Chemical")]),  # space after a colon token
        ("x:O extra", [("x:O extra", None)]),  # nothing tag-like at the end
        ("B-Disease", [("B-Disease", None)]),  # a tag without its token
        ("lonely", [("lonely", None)]),  # no separator
        (":B-Disease", [(":B-Disease", None)]),  # empty token
        ("a:O\na:O\na:O", [("a", "O")] * 3),  # repeated lines are kept (aligner rejects them)
        ("a:O\n### Input:\nb:B-Disease", [("a", "O")]),  # stop at a new section
        ("a:O\nb:B-Dis", [("a", "O"), ("b", "O")]),  # truncated type: unknown -> O
        ("a:O\nb:B-", [("a", "O"), ("b:B-", None)]),  # truncated tag: no tag
    ],
)
def test_parse_response_malformed(text, expected):
    assert parse_response(text, LABELS) == expected


# Characters a word may hold that a line-based reader can trip on: str.splitlines() breaks at
# U+0085, U+2028, U+2029 and \x0b-\x0c, \x1c-\x1e; "###" starts a section; ":" separates.
ADVERSARIAL = "# ### : \u00a0 \x85 \u2028 \u2029 \x0b \x0c \x1c \x1e \u0301".split(" ")
ADVERSARIAL += ["O", "B-", "I-Disease", "a", "é", "Na+", " ", "\U0001f9ec"]


def random_words(rng, n: int) -> list[str]:
    """Words of 1-4 adversarial pieces: any text without tab, CR or LF (what a token may be)."""
    return ["".join(rng.choice(ADVERSARIAL, size=int(rng.integers(1, 5)))) for _ in range(n)]


@pytest.mark.parametrize(
    "words",
    [
        ["###"],
        ["###Input", "x"],
        ["### Response:", "y"],
        ["a\x85b", "c\u2028d", "\u2029"],
        ["\u2028"],
        [":", "::", "x:O", "B-Disease", " "],
    ],
)
def test_parser_reads_back_the_training_answer(words):
    tags = ["B-Disease"] + ["I-Disease"] * (len(words) - 1)
    assert parse_response(build_target(words, tags), LABELS) == list(zip(words, tags, strict=True))
    assert align_to_gold(words, parse_response(build_target(words, tags), LABELS)).complete


def test_parse_of_build_target_is_the_identity_for_any_words():
    """Property (seeded, 3000 cases): parse(build_target(words, tags)) == (words, tags), and the
    aligner takes the model's own training answer."""
    import numpy as np

    rng = np.random.default_rng(27)
    for _ in range(3000):
        words = random_words(rng, int(rng.integers(0, 8)))
        tags = [str(t) for t in rng.choice(LABELS, size=len(words))]
        target = build_target(words, tags)
        assert parse_response(target, LABELS) == list(zip(words, tags, strict=True)), target
        alignment = align_to_gold(words, parse_response(target + "\n", LABELS))
        assert alignment.complete and alignment.tags == tags, (words, alignment.problem)


# --------------------------------------------------------------------------- aligner


def pairs(tokens, tags):
    return list(zip(tokens, tags, strict=True))


def lines(tokens, tags, sep=":"):
    return "\n".join(f"{tok}{sep}{tag}" for tok, tag in zip(tokens, tags, strict=True))


def test_align_exact():
    a = align_to_gold(GOLD, pairs(GOLD, GOLD_TAGS))
    assert a.tags == GOLD_TAGS and a.complete and a.problem is None


def test_normalisation_is_nfkc_and_surrounding_space_only():
    assert normalize_token(" \uff2e\uff41+ ") == "Na+"  # full-width letters
    assert normalize_token("Renal") != normalize_token("renal")
    a = align_to_gold(["\uff2e\uff41+", "salt"], pairs(["Na+", "salt"], ["B-Chemical", "O"]))
    assert a.complete and a.tags == ["B-Chemical", "O"]


# Adversarial answers of issue #15. In every failing case: the sentence is a counted failure,
# no generated tag is used (all O), so no tag can land on a word it was not written for.
SENT = ["Cisplatin", "induced", "acute", "renal", "failure", "."]
SENT_TAGS = ["B-Chemical", "O", "B-Disease", "I-Disease", "I-Disease", "O"]


def assert_failed(alignment, n):
    assert not alignment.complete and alignment.aligned == 0 and alignment.problem
    assert alignment.tags == ["O"] * n


def test_align_dropped_word_plus_split_word_fails():
    # "induced" dropped and "Cisplatin" split: as many lines as words, but every line after the
    # first belongs to another word (the old aligner gave "induced" the tag I-Chemical).
    gen = pairs(
        ["Cis", "platin", "acute", "renal", "failure", "."],
        ["B-Chemical", "I-Chemical", "B-Disease", "I-Disease", "I-Disease", "O"],
    )
    assert_failed(align_to_gold(SENT, gen), 6)


def test_align_answer_about_a_different_sentence_fails():
    other = ["Aspirin", "reduced", "chronic", "kidney", "disease", "."]
    assert_failed(align_to_gold(SENT, pairs(other, SENT_TAGS)), 6)


def test_align_reordered_lines_fail():
    order = [0, 2, 1, 3, 4, 5]  # "acute" before "induced"
    gen = pairs([SENT[i] for i in order], [SENT_TAGS[i] for i in order])
    a = align_to_gold(SENT, gen)
    assert_failed(a, 6)
    assert "line 2" in a.problem


def test_align_no_colon_and_tab_lines_are_parsed_as_such():
    for sep in (" ", "\t", " : "):
        a = align_to_gold(SENT, parse_response(lines(SENT, SENT_TAGS, sep), LABELS))
        assert a.complete and a.tags == SENT_TAGS, sep
    # lines with no tag at all are not an all-O answer: they are a failure
    assert_failed(align_to_gold(SENT, parse_response("\n".join(SENT), LABELS)), 6)


def test_align_insertions_deletions_and_substitutions_fail():
    inserted = pairs(
        ["Na+:Cl-", "extra", "induced", "renal", "failure", "."],
        ["B-Chemical", "B-Disease", "O", "B-Disease", "I-Disease", "O"],
    )
    assert_failed(align_to_gold(GOLD, inserted), 5)
    repeated = pairs([*GOLD, "."], [*GOLD_TAGS, "O"])  # one extra line at the end
    assert_failed(align_to_gold(GOLD, repeated), 5)
    deleted = pairs(["Na+:Cl-", "renal", "failure"], ["B-Chemical", "B-Disease", "I-Disease"])
    assert_failed(align_to_gold(GOLD, deleted), 5)
    changed = pairs(["Na+", "induced", "Renal", "failure", "."], GOLD_TAGS)  # same length
    assert_failed(align_to_gold(GOLD, changed), 5)
    untagged = [(t, None if t == "renal" else g) for t, g in pairs(GOLD, GOLD_TAGS)]
    assert "no tag" in align_to_gold(GOLD, untagged).problem


def test_align_empty_outputs_and_raw_tags():
    assert_failed(align_to_gold(GOLD, []), 5)
    assert align_to_gold([], pairs(["x"], ["O"])).complete  # nothing to tag
    dangling = pairs(GOLD, ["I-Chemical", "O", "I-Disease", "I-Disease", "O"])
    # tags are passed on as written; the scorer's one decoding rule handles stray I- tags
    assert align_to_gold(GOLD, dangling).tags == [t for _, t in dangling]


def test_sidecar_counts_failures_and_evaluate_reads_it(tmp_path):
    preds = [
        GenerativePrediction(["O"], [1.0], aligned=True),
        GenerativePrediction(["O"], [1.0], aligned=False),
        TagPrediction(["O"], [1.0]),
    ]
    preds[1].unaligned = 1
    expected = {"alignment_failures": 1, "unaligned_tokens": 1, "sentences": 3}
    assert prediction_meta(preds) == expected
    conll = tmp_path / "pred" / "NCBI-disease.conll"
    path = write_prediction_meta(conll, preds)
    assert path == meta_path(conll) == Path(f"{conll}.meta.json")
    assert json.loads(path.read_text()) == expected
    assert read_alignment_failures(conll) == 1


# --------------------------------------------------------------------------- tiny causal LM


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory) -> Path:
    return save_tiny_decoder(tmp_path_factory.mktemp("gen") / "qwen2", "qwen2")


def load(tiny_dir: Path, **hparams):
    method = GenerativeMethod()
    hp = {"lora_r": 8, "lora_alpha": 16, "lora_dropout": 0.0, "max_length": 400, **hparams}
    args = TrainingArgs.from_hparams(hp)
    src = local_decoder_source(tiny_dir, "tiny-qwen2")
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


def canned(answers):
    """A ``generate`` that answers each prompt feature with ``answers(feature, words)``."""

    def generate(bundle, features, batch_size, timer):
        return [answers(f, f["words"]) for f in features]

    return generate


def test_predict_counts_alignment_failures_per_sentence(tiny_dir, monkeypatch):
    method, bundle = load(tiny_dir)
    original = method._feature

    def feature(bundle, words, tags, i, win):  # keep the words for the canned answers
        return {**original(bundle, words, tags, i, win), "words": list(words)}

    monkeypatch.setattr(method, "_feature", feature)
    other = ["Aspirin", "reduced", "chronic", "kidney", "disease", "."]
    texts = {
        0: lines(SENT, SENT_TAGS),  # right
        1: lines(["Cis", "platin", *SENT[2:]], SENT_TAGS),  # dropped + split word
        2: lines(SENT, SENT_TAGS, "\t"),  # tab lines: right
        3: lines(other, SENT_TAGS),  # another sentence
        4: lines(SENT, SENT_TAGS, " "),  # "token TAG" lines: right
    }
    monkeypatch.setattr(method, "generate", canned(lambda f, words: texts[f["example"]]))
    tests = [Example(f"d/{i}", list(SENT), None, "BC5CDR", ("Chemical",)) for i in range(5)]
    preds = method.predict(bundle, tests, batch_size=2)
    assert [p.aligned for p in preds] == [True, False, True, False, True]
    for i in (0, 2, 4):
        assert preds[i].tags == SENT_TAGS and preds[i].unaligned == 0
    for i in (1, 3):  # nothing of a failed answer is used
        assert preds[i].tags == ["O"] * 6 and preds[i].unaligned == 6
    meta = method.prediction_meta(preds)
    assert meta == {"alignment_failures": 2, "unaligned_tokens": 12, "sentences": 5}


def test_predict_uses_only_aligned_windows(tiny_dir, monkeypatch):
    method, bundle = load(tiny_dir, max_length=300)
    original = method._feature

    def feature(bundle, words, tags, i, win):
        return {**original(bundle, words, tags, i, win), "words": list(words)}

    monkeypatch.setattr(method, "_feature", feature)
    words = SENT * 10
    gold = SENT_TAGS * 10

    def answer(f, window_words):  # the first window answers right, every other one drops a word
        w = f["window"]
        text = lines(window_words, gold[w.start : w.end])
        return text if w.start == 0 else "\n".join(text.splitlines()[1:])

    monkeypatch.setattr(method, "generate", canned(answer))
    (pred,) = method.predict(bundle, [Example("d/0", words, None, "x", ())], stride=0)
    first = method.windows(bundle, words, stride=0)[0]
    assert 0 < first.end < len(words) and not pred.aligned
    assert pred.tags[: first.end] == gold[: first.end]
    assert pred.tags[first.end :] == ["O"] * (len(words) - first.end)
    assert pred.unaligned == len(words) - first.end


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
    for p, t in zip(preds, tests, strict=True):
        assert set(p.tags) <= {"O", "B-Chemical", "I-Chemical"}
        assert isinstance(p.aligned, bool)
        assert p.aligned or (set(p.tags) <= {"O"} and p.unaligned == len(t.tokens))
    meta = method.prediction_meta(preds)
    assert meta["sentences"] == 4 and 0 <= meta["alignment_failures"] <= 4
    assert meta["unaligned_tokens"] == sum(p.unaligned for p in preds)
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
