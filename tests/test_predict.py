"""Windows, prediction on test sets (CoNLL + infer_cost.json) and raw-text tagging."""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path

import pytest
import torch

from nerbench.evaluate.conll import read_conll_predictions
from nerbench.hparams import TrainingArgs
from nerbench.io import InputError, read_json
from nerbench.methods.base import (
    Example,
    TagPrediction,
    Window,
    bio_labels,
    get_method,
    load_trained,
    merge_windows,
    restrict_tags,
    word_windows,
)
from nerbench.methods.models import build_tiny_model, resolve_model_source
from nerbench.predict import entity_spans, main_predict, main_tag, split_sentences, tokenize

TINY_ROW = {"id": "tiny-bert", "source": "tiny:bert", "family": "encoder", "max_length": 16}


# --------------------------------------------------------------------------- windows


@pytest.mark.parametrize("stride", [0, 1, 3, 6])
def test_word_windows_cover_every_word_within_budget(stride):
    lengths = [1, 3, 1, 2, 5, 1, 1, 9, 2, 1, 1, 1, 4, 1]
    windows = word_windows(lengths, budget=8, stride=stride)
    covered = sorted({i for w in windows for i in range(w.start, w.end)})
    assert covered == list(range(len(lengths)))
    for w in windows:
        assert sum(lengths[w.start : w.end]) <= 8 or w.end - w.start == 1  # a 9-piece word
    for a, b in zip(windows, windows[1:], strict=False):
        assert a.start < b.start and a.end < b.end  # always progress
        if stride == 0:
            assert b.start == a.end  # training windows are disjoint
    assert word_windows([2, 2], budget=8, stride=3) == [Window(0, 2)]
    assert word_windows([], budget=8) == []


def test_overlapping_windows_overlap_by_stride():
    windows = word_windows([1] * 20, budget=8, stride=3)
    for a, b in zip(windows, windows[1:], strict=False):
        assert a.end - b.start >= 3


def test_merge_prefers_the_window_where_a_word_is_central():
    windows = [Window(0, 6), Window(3, 9)]
    preds = [["a"] * 6, ["b"] * 6]
    # word 3: margin 2 vs 0 -> a; word 4: 1 vs 1 (tie: earlier window) -> a; word 5: 0 vs 2 -> b
    assert merge_windows(9, windows, preds, None) == ["a"] * 5 + ["b"] * 4
    assert merge_windows(2, [Window(0, 1)], [["x"]], "O") == ["x", "O"]


def test_restrict_tags_keeps_only_allowed_types():
    tags = ["B-Chemical", "I-Chemical", "O", "B-Disease"]
    assert restrict_tags(tags, ["Disease"]) == ["O", "O", "O", "B-Disease"]
    assert restrict_tags(tags, None) == tags


# --------------------------------------------------------------------------- model fixtures


@pytest.fixture(scope="module")
def tiny_bert(tmp_path_factory) -> Path:
    return build_tiny_model("bert", tmp_path_factory.mktemp("m") / "tiny-bert", seed=0)


@pytest.fixture(scope="module")
def run_dir(tiny_bert, tmp_path_factory) -> Path:
    """A run directory with an untrained tiny BERT (Chemical + Disease labels, max_length 16)."""
    method = get_method("token-classification")
    source = resolve_model_source(TINY_ROW, tiny_bert)
    labels = bio_labels(["Chemical", "Disease"])
    bundle = method.load_for_training(source, labels, TrainingArgs(), torch.device("cpu"))
    root = tmp_path_factory.mktemp("run")
    meta = {"stride": 4, "dataset_types": {"mix": ["Chemical", "Disease"]}}
    method.save(bundle, root / "model", meta)
    return root


@pytest.fixture()
def disease_biased_run(run_dir, tmp_path) -> Path:
    """The tiny model with its head biased to B-Disease on every token."""
    method, bundle = load_trained(run_dir / "model")
    with torch.no_grad():
        bundle.model.classifier.bias.zero_()
        bundle.model.classifier.bias[bundle.label2id["B-Disease"]] = 50.0
    method.save(bundle, tmp_path / "model", read_json(run_dir / "model" / "method.json"))
    return tmp_path


def long_sentence(n: int = 60) -> list[str]:
    words = [
        "Hereditary",
        "nonpolyposis",
        "colorectal",
        "cancer",
        "is",
        "caused",
        "by",
        "MLH1",
        ".",
    ]
    return [words[i % len(words)] for i in range(n)]


# --------------------------------------------------------------------------- prediction


def test_windowed_prediction_tags_every_token_from_its_most_central_window(run_dir):
    method, bundle = load_trained(run_dir / "model")
    assert bundle.max_length == 16
    ex = Example("d/1", long_sentence())
    (pred,) = method.predict(bundle, [ex], batch_size=3, stride=4)
    assert len(pred.tags) == len(pred.scores) == 60
    assert all(t in bundle.labels for t in pred.tags) and all(0 < s <= 1 for s in pred.scores)

    feats = method.encode_windows(bundle, [ex], stride=4, with_labels=False)
    assert len(feats) > 4 and all(f["length"] <= 16 for f in feats)
    probs = method.window_probabilities(bundle, feats, batch_size=64, timer=None)
    windows = [f["window"] for f in feats]
    expected = merge_windows(
        60, windows, [[bundle.labels[int(r.argmax())] for r in p] for p in probs], None
    )
    assert pred.tags == expected


def test_prediction_does_not_depend_on_batch_size_or_order(run_dir):
    method, bundle = load_trained(run_dir / "model")
    examples = [Example(f"d/{n}", long_sentence(n)) for n in (3, 40, 7, 1, 25)]
    examples.append(Example("d/empty", []))
    one = method.predict(bundle, examples, batch_size=1, stride=4)
    many = method.predict(bundle, examples, batch_size=32, stride=4)
    assert [p.tags for p in one] == [p.tags for p in many]
    assert one[-1] == TagPrediction([], [])
    reversed_preds = method.predict(bundle, examples[::-1], batch_size=4, stride=4)
    assert [p.tags for p in reversed_preds[::-1]] == [p.tags for p in one]


def write_test_set(path: Path) -> list[dict]:
    recs = [
        {"doc_id": "p1", "sent_id": "0", "tokens": long_sentence(40), "tags": ["O"] * 40},
        {
            "doc_id": "p1",
            "sent_id": "1",
            "tokens": ["Breast", "cancer", "."],
            "tags": ["B-Disease", "I-Disease", "O"],
        },
        {"doc_id": "p2", "sent_id": "0", "tokens": ["Gene", "X"], "tags": ["B-Gene", "O"]},
    ]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in recs), encoding="utf-8")
    return recs


def test_predict_on_a_full_disk_prints_one_line_naming_the_output(
    disease_biased_run, tmp_path, capsys
):
    """#27: a full disk in predict is the one-line error every command gives."""
    from full_disk import full_tmpfs
    from nerbench.cli import main as cli_main

    write_test_set(tmp_path / "bio" / "NCBI-disease" / "test.jsonl")
    with full_tmpfs(tmp_path / "disk") as disk:
        out = disk / "pred" / "NCBI-disease.conll"
        argv = ["predict", "--run-dir", str(disease_biased_run), "--dataset", "NCBI-disease"]
        argv += ["--input", str(tmp_path / "bio" / "NCBI-disease" / "test.jsonl")]
        argv += ["--output", str(out), "--cost", str(disk / "pred" / "cost.json")]
        assert cli_main(argv) == 1
        err = capsys.readouterr().err.strip().splitlines()
        assert len([ln for ln in err if ln.startswith("error:")]) == 1, err
        assert "Traceback" not in "\n".join(err)
        assert err[-1].startswith(f"error: writing {out}: No space left on device ("), err
        assert list(out.parent.iterdir()) == []  # nothing half-written


def test_a_full_disk_anywhere_in_a_command_is_one_line(monkeypatch, capsys):
    """#27: the dispatcher's error path for a full disk outside the atomic writers too."""
    import errno
    import types

    from nerbench import cli

    def fails(argv):
        raise OSError(errno.ENOSPC, "No space left on device", "/somewhere/cache.bin")

    monkeypatch.setitem(cli.COMMANDS, "to-bio", "fake_full:main")
    monkeypatch.setitem(sys.modules, "fake_full", types.SimpleNamespace(main=fails))
    assert cli.main(["to-bio"]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    assert err.startswith("error: writing /somewhere/cache.bin: No space left on device ("), err


def test_predict_cli_writes_conll_and_cost(disease_biased_run, tmp_path):
    recs = write_test_set(tmp_path / "bio" / "NCBI-disease" / "test.jsonl")
    out = disease_biased_run / "pred" / "NCBI-disease.conll"
    cost_path = disease_biased_run / "pred" / "NCBI-disease.infer_cost.json"
    argv = [
        "--run-dir",
        str(disease_biased_run),
        "--input",
        str(tmp_path / "bio" / "NCBI-disease" / "test.jsonl"),
    ]
    argv += [
        "--dataset",
        "NCBI-disease",
        "--output",
        str(out),
        "--cost",
        str(cost_path),
        "--batch-size",
        "2",
    ]
    assert main_predict(argv) == 0
    got = read_conll_predictions(out)
    assert [r["id"] for r in got] == ["p1/0", "p1/1", "p2/0"]
    assert [r["gold"] for r in got] == [r["tags"] for r in recs]  # gold kept, even B-Gene
    assert [len(r["pred"]) for r in got] == [40, 3, 2]  # every token tagged (40 > max_length 16)
    assert all(t == "B-Disease" for r in got for t in r["pred"])
    cost = read_json(cost_path)
    assert cost["sentences"] == 3 and cost["tokens"] == 45 and cost["batch_size"] == 2
    assert cost["sentences_per_s"] > 0 and cost["tokens_per_s"] > 0
    assert cost["forward_time_s"] <= cost["total_time_s"]
    assert cost["peak_memory_mb"] > 0 and cost["device"].startswith("cpu")
    assert cost["types_predicted"] == ["Disease"]  # the set's types (gold tags) the model knows
    # timed over repeats (median and spread), with the job's threads and the machine's load
    repeats = cost["forward_time_repeats_s"]
    assert cost["timing_repeats"] == len(repeats) == 3 and all(t > 0 for t in repeats)
    assert cost["forward_time_s"] == pytest.approx(sorted(repeats)[1], abs=1e-4)
    spread = (max(repeats) - min(repeats)) / sorted(repeats)[1]  # from times rounded to 0.1 ms
    assert cost["forward_time_spread"] == pytest.approx(spread, rel=0.05, abs=0.02)
    assert cost["timing_noisy"] == (cost["forward_time_spread"] > 0.2)
    assert cost["threads"] == torch.get_num_threads() and cost["cpu_count"] >= 1
    assert cost["load_avg_1m_start"] >= 0 and cost["load_avg_1m_end"] >= 0
    assert cost["other_cpus"] >= 0 and isinstance(cost["machine_busy"], bool)


class _TimedFake:
    """A method whose forward passes take set times; each pass tags with its pass number."""

    def __init__(self, forward_s: list[float]):
        self.forward_s, self.calls = list(forward_s), []

    def predict(self, bundle, examples, *, batch_size, stride, timer=None, allowed_types=None):
        self.calls.append(len(examples))
        if timer is not None:
            timer.seconds += self.forward_s.pop(0)
            timer.calls += 1
        tag = f"B-T{len(self.calls)}"
        return [TagPrediction([tag] * len(ex.tokens), [1.0] * len(ex.tokens)) for ex in examples]


def test_inference_cost_records_repeats_median_and_spread():
    """Warm-up batch, then three timed passes; tags from one pass; median, spread, noisy flag."""
    from types import SimpleNamespace

    from nerbench.predict import infer_cost, predict_examples

    bundle = SimpleNamespace(
        device=torch.device("cpu"), autocast=None, method="fake", max_length=16
    )
    examples = [Example(f"d/{i}", ["a", "b"]) for i in range(5)]
    fake = _TimedFake([0.6, 7.2, 0.5])  # the 0.60 s vs 7.2 s on a shared node
    timing = predict_examples(fake, bundle, examples, 2, 4, None, repeats=3)
    assert fake.calls == [2, 5, 5, 5]  # one warm-up batch, then three full passes
    assert [p.tags for p in timing.predictions] == [["B-T2"] * 2] * 5  # the first timed pass
    cost = infer_cost(examples, timing, bundle, 2, {})
    assert cost["forward_time_repeats_s"] == [0.6, 7.2, 0.5] and cost["timing_repeats"] == 3
    assert cost["forward_time_s"] == 0.6  # median
    assert cost["sentences_per_s"] == pytest.approx(5 / 0.6, abs=0.01)
    assert cost["forward_time_spread"] == pytest.approx((7.2 - 0.5) / 0.6, abs=1e-3)
    assert cost["timing_noisy"] is True
    quiet = predict_examples(_TimedFake([1.0, 1.05, 0.98]), bundle, examples, 2, 4, None)
    assert infer_cost(examples, quiet, bundle, 2, {})["timing_noisy"] is False


def test_timing_budget_stops_repeating_long_passes():
    """A pass is repeated only while the timed passes so far took less than the budget: a large
    test set is timed once (spread unknown, not zero), a small one three times."""
    from types import SimpleNamespace

    from nerbench.predict import infer_cost, predict_examples

    bundle = SimpleNamespace(
        device=torch.device("cpu"), autocast=None, method="fake", max_length=16
    )
    examples = [Example(f"d/{i}", ["a", "b"]) for i in range(5)]
    cases = [  # forward seconds of each pass, budget -> passes run
        ([70.0, 70.0, 70.0], 60.0, 1),
        ([25.0, 40.0, 30.0], 60.0, 2),
        ([25.0, 40.0, 30.0], 0.0, 3),  # 0: no budget
        ([1.0, 1.1, 0.9], 60.0, 3),
    ]
    for times, budget, passes in cases:
        fake = _TimedFake(times)
        timing = predict_examples(fake, bundle, examples, 2, 4, None, repeats=3, budget_s=budget)
        assert fake.calls == [2] + [5] * passes, (times, budget)
        cost = infer_cost(examples, timing, bundle, 2, {})
        assert cost["timing_repeats"] == passes and cost["timing_budget_s"] == budget
        assert cost["forward_time_repeats_s"] == times[:passes]
        if passes == 1:
            assert cost["forward_time_spread"] is None and cost["timing_noisy"] is None
        else:
            assert cost["forward_time_spread"] >= 0 and isinstance(cost["timing_noisy"], bool)
    with pytest.raises(SystemExit):
        from nerbench.predict import _parse_predict_args

        _parse_predict_args(
            [
                "--run-dir",
                "r",
                "--input",
                "i",
                "--output",
                "o",
                "--cost",
                "c",
                "--dataset",
                "d",
                "--timing-budget-s",
                "-1",
            ]
        )


def test_predict_restricts_to_the_test_sets_types(disease_biased_run, tmp_path):
    test = tmp_path / "bio" / "BC5CDR-chem" / "test.jsonl"
    test.parent.mkdir(parents=True)
    test.write_text(
        json.dumps({"doc_id": "a", "sent_id": "0", "tokens": ["aspirin"], "tags": ["B-Chemical"]})
        + "\n"
    )
    common = [
        "--run-dir",
        str(disease_biased_run),
        "--input",
        str(test),
        "--dataset",
        "BC5CDR-chem",
    ]
    out, cost = tmp_path / "p.conll", tmp_path / "c.json"
    assert main_predict([*common, "--output", str(out), "--cost", str(cost)]) == 0
    assert read_conll_predictions(out)[0]["pred"] == ["O"]  # Disease is not a type of this set
    assert read_json(cost)["types_predicted"] == ["Chemical"]
    assert main_predict([*common, "--output", str(out), "--cost", str(cost), "--all-types"]) == 0
    assert read_conll_predictions(out)[0]["pred"] == ["B-Disease"]


def test_predict_without_model_is_an_input_error(tmp_path):
    argv = [
        "--run-dir",
        str(tmp_path),
        "--input",
        "x",
        "--dataset",
        "d",
        "--output",
        "o",
        "--cost",
        "c",
    ]
    with pytest.raises(InputError, match="model/ missing"):
        main_predict(argv)


# --------------------------------------------------------------------------- raw text


def test_tokenize_splits_punctuation_like_the_mtl_corpora():
    assert [t.text for t in tokenize("IL-2-induced (p<0.05).")] == [
        "IL", "-", "2", "-", "induced", "(", "p", "<", "0", ".", "05", ")", ".",
    ]  # fmt: skip
    text = (
        "BRCA1 mutations cause cancer. Smith et al. Found in Fig. 2 more. New one!\n\nSecond part"
    )
    sents = split_sentences(text)
    assert [" ".join(t.text for t in s) for s in sents] == [
        "BRCA1 mutations cause cancer .",
        "Smith et al . Found in Fig . 2 more .",
        "New one !",
        "Second part",
    ]
    assert all(text[t.start : t.end] == t.text for s in sents for t in s)


def test_entity_spans_average_scores_and_open_on_orphan_inside_tags():
    text = "a b c d e"
    toks = tokenize(text)
    pred = TagPrediction(
        ["B-Disease", "I-Disease", "I-Chemical", "O", "I-Gene"], [0.9, 0.7, 0.5, 1, 0.4]
    )
    spans = list(entity_spans(text, toks, pred))
    assert spans == [
        {"text": "a b", "start": 0, "end": 3, "type": "Disease", "score": pytest.approx(0.8)},
        {"text": "c", "start": 4, "end": 5, "type": "Chemical", "score": 0.5},
        {"text": "e", "start": 8, "end": 9, "type": "Gene", "score": 0.4},
    ]


HINDI = "\u0915\u093f\u0924\u093e\u092c"  # kitab: consonants with dependent vowel signs (Mc)
ARABIC = "\u0645\u064e\u0631"  # a fatha (Mn) between two letters


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("cafe\u0301 au lait", ["cafe\u0301", "au", "lait"]),  # #27: the accent was a token
        ("na\u0308ive T-cell\u0301s.", ["na\u0308ive", "T", "-", "cell\u0301s", "."]),
        (f"{HINDI} {ARABIC}", [HINDI, ARABIC]),  # vowel signs and harakat are marks too
        ("-\u0301 x", ["-\u0301", "x"]),  # a mark stays with any base, punctuation too
        ("\U0001f469\u200d\U0001f52c lab", ["\U0001f469\u200d\U0001f52c", "lab"]),  # one emoji
    ],
)
def test_tag_splits_words_by_graphemes(text, words):
    toks = tokenize(text)
    assert [t.text for t in toks] == words
    assert all(text[t.start : t.end] == t.text for t in toks)


def tag_spans(run_dir: Path, text: str, tmp_path: Path, monkeypatch) -> list[dict]:
    """``nerbench tag`` on ``text`` from stdin: the spans it writes."""
    monkeypatch.setattr(sys, "stdin", io.StringIO(text))
    out = tmp_path / "spans.jsonl"
    assert main_tag(["--run-dir", str(run_dir), "--output", str(out)]) == 0
    return [json.loads(line) for line in out.read_text().splitlines()]


def test_tag_keeps_a_combining_accent_in_its_word(disease_biased_run, tmp_path, monkeypatch):
    spans = tag_spans(disease_biased_run, "Cafe\u0301 syndrome.\n", tmp_path, monkeypatch)
    assert [s["text"] for s in spans] == ["Cafe\u0301", "syndrome", "."]
    assert spans[0]["end"] == len("Cafe\u0301")


def test_tag_cli_outputs_spans_with_character_offsets(disease_biased_run, tmp_path, monkeypatch):
    text = "Breast cancer.  Colon tumours!\n"
    spans = tag_spans(disease_biased_run, text, tmp_path, monkeypatch)
    # every token is B-Disease -> one single-token span per token, offsets into the input
    assert [s["text"] for s in spans] == ["Breast", "cancer", ".", "Colon", "tumours", "!"]
    assert all(text[s["start"] : s["end"]] == s["text"] and s["type"] == "Disease" for s in spans)
    assert all(0.99 < s["score"] <= 1.0 for s in spans)

    src = tmp_path / "in.txt"
    src.write_text(text)
    conll = tmp_path / "out.conll"
    argv = ["--run-dir", str(disease_biased_run), "--input", str(src), "--format", "conll"]
    assert main_tag([*argv, "--output", str(conll)]) == 0
    lines = ["Breast", "cancer", ".", "", "Colon", "tumours", "!", ""]  # blank after each
    expected = "".join(f"{w}\tB-Disease\n" if w else "\n" for w in lines)
    assert conll.read_text() == expected
