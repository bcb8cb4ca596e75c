"""Tests for nerbench.evaluate: hand-computed metrics on crafted cases, CoNLL I/O and the CLI."""

from __future__ import annotations

import json
import time

import numpy as np
import pytest

import nerbench.evaluate.bootstrap as bs
from nerbench.cli import main as cli_main
from nerbench.evaluate.bootstrap import bootstrap_ci, paired_bootstrap, read_per_sentence
from nerbench.evaluate.cli import main_evaluate
from nerbench.evaluate.conll import read_conll_predictions, write_conll_predictions
from nerbench.evaluate.decoding import decode_iob2, entities
from nerbench.evaluate.scores import compute_metrics, sentence_counts
from nerbench.io import InputError

PRF = {"precision", "recall", "f1", "support"}

# Two sentences with entities of every length bucket: lengths 1, 2, 3, 1 (first sentence) and 4
# (second); PRED hits the first one-token and the three-token entity (test_length_buckets).
GOLD = [
    ["B-D", "O", "B-D", "I-D", "O", "B-D", "I-D", "I-D", "O", "B-C"],
    ["B-C", "I-C", "I-C", "I-C"],
]
PRED = [
    ["B-D", "O", "B-D", "O", "O", "B-D", "I-D", "I-D", "O", "B-D"],
    ["B-C", "I-C", "O", "O"],
]


def random_corpus(n: int, seed: int, noise: float = 0.2) -> tuple[list, list]:
    """Random IOB2-ish tags (including improper I- starts) with noisy predictions."""
    rng = np.random.default_rng(seed)
    tags = ["O", "O", "O", "B-D", "I-D", "B-C", "I-C"]
    gold = [[str(t) for t in rng.choice(tags, size=int(rng.integers(1, 15)))] for _ in range(n)]
    pred = [[t if rng.random() > noise else str(rng.choice(tags)) for t in s] for s in gold]
    return gold, pred


def assert_prf(scores: dict, precision: float, recall: float, f1: float, support: int) -> None:
    assert scores["precision"] == pytest.approx(precision)
    assert scores["recall"] == pytest.approx(recall)
    assert scores["f1"] == pytest.approx(f1)
    assert scores["support"] == support


# --------------------------------------------------------------------------- exact match


def conlleval_counts(gold: list[list[str]], pred: list[list[str]]) -> dict[str, list[int]]:
    """Per type [correct, #pred chunks, #gold chunks] as conlleval.pl counts them (its
    startOfChunk/endOfChunk for IOB tags), written independently of nerbench."""

    def chunks(tags: list[str]) -> set[tuple[str, int, int]]:
        out, start, ctype, prev_tag, prev_type = set(), None, None, "O", ""
        for i, tag in enumerate([*tags, "O"]):
            t, typ = (tag, "") if tag == "O" else tag.split("-", 1)
            end = prev_tag in "BI" and (t in "BO" or typ != prev_type)
            begin = t == "B" or (t == "I" and (prev_tag == "O" or prev_type != typ))
            if end and start is not None:
                out.add((ctype, start, i))
                start = None
            if begin:
                start, ctype = i, typ
            prev_tag, prev_type = t, typ
        return out

    counts: dict[str, list[int]] = {}
    for g, p in zip(gold, pred, strict=True):
        gc, pc = chunks(g), chunks(p)
        for c in pc:
            counts.setdefault(c[0], [0, 0, 0])[1] += 1
            counts[c[0]][0] += c in gc
        for c in gc:
            counts.setdefault(c[0], [0, 0, 0])[2] += 1
    return counts


def test_exact_is_conlleval_on_raw_tags_and_seqeval_default():
    """#27: one exact-match score; with stray I- tags in gold and predictions, it is what
    conlleval.pl (and seqeval's default mode) computes from the raw tags."""
    from seqeval.metrics import classification_report

    gold, pred = random_corpus(400, seed=5, noise=0.3)
    assert [decode_iob2(s) for s in gold] != gold  # invalid gold tags too
    m = compute_metrics(gold, pred, bootstrap=10)
    counts = conlleval_counts(gold, pred)
    assert set(m["exact"]["per_type"]) == set(counts)
    for etype, (correct, n_pred, n_gold) in counts.items():
        assert_prf(
            m["exact"]["per_type"][etype],
            correct / n_pred,
            correct / n_gold,
            2 * correct / (n_pred + n_gold),
            n_gold,
        )
    tp, n_pred, n_gold = (sum(c[i] for c in counts.values()) for i in range(3))
    assert_prf(m["exact"]["micro"], tp / n_pred, tp / n_gold, 2 * tp / (n_pred + n_gold), n_gold)
    default = classification_report(gold, pred, output_dict=True, zero_division=0)["micro avg"]
    assert m["exact"]["micro"]["f1"] == pytest.approx(default["f1-score"])
    assert (m["n_gold_entities"], m["n_pred_entities"]) == (n_gold, n_pred)
    ps = m["per_sentence"]
    assert (sum(ps["tp"]), sum(ps["n_pred"]), sum(ps["n_gold"])) == (tp, n_pred, n_gold)
    assert "strict" not in m and "default" not in m


def test_stray_i_in_predictions_is_decoded_and_counted():
    # pred I-D I-D: decoded to B-D I-D for every method; one repaired tag.
    m = compute_metrics([["B-D", "I-D", "O"]], [["I-D", "I-D", "O"]], bootstrap=10)
    assert_prf(m["exact"]["micro"], 1.0, 1.0, 1.0, 1)
    assert m["n_pred_entities"] == 1
    assert m["decoding"] == {
        "rule": "iob2-conlleval",
        "pred_tags_changed": 1,
        "gold_tags_changed": 0,
    }


def test_seqeval_strict_on_raw_tags_only_as_a_named_diagnostic():
    gold, pred = [["B-D", "I-D", "O"]], [["I-D", "I-D", "O"]]
    assert not [k for k in compute_metrics(gold, pred, bootstrap=5) if "strict" in k]
    m = compute_metrics(gold, pred, bootstrap=5, diagnostic_seqeval_strict_raw=True)
    diag = m["diagnostic_seqeval_strict_raw_tags"]
    assert_prf(diag["micro"], 0.0, 0.0, 0.0, 1)  # the stray I-D is no entity there
    assert_prf(m["exact"]["micro"], 1.0, 1.0, 1.0, 1)


def test_improper_type_continuation():
    # pred B-D I-C is decoded to B-D B-C: D(0) and C(1).
    m = compute_metrics([["B-D", "I-D"]], [["B-D", "I-C"]], bootstrap=10)
    assert_prf(m["exact"]["micro"], 0.0, 0.0, 0.0, 1)
    assert set(m["exact"]["per_type"]) == {"C", "D"}
    assert m["exact"]["per_type"]["C"]["support"] == 0
    assert m["n_pred_entities"] == 2


def test_one_decoding_rule_whatever_the_method_wrote():
    """Raw tags (encoder) and tags a method decoded itself (labeler spans) score alike."""
    gold, raw = random_corpus(200, seed=3, noise=0.3)
    decoded = [decode_iob2(s) for s in raw]
    assert decoded != raw  # the corpus has stray I- tags to decode
    a = compute_metrics(gold, raw, bootstrap=20)
    b = compute_metrics(gold, decoded, bootstrap=20)
    assert a["decoding"]["pred_tags_changed"] > 0 and b["decoding"]["pred_tags_changed"] == 0
    del a["decoding"], b["decoding"]
    assert a == b
    assert decode_iob2(["I-C", "B-D", "I-C", "I-C", "O", "I-D"]) == [
        "B-C",
        "B-D",
        "B-C",
        "I-C",
        "O",
        "B-D",
    ]


def test_improper_gold_read_by_the_same_rule():
    # gold B-D I-D I-C reads as D(0-1), C(2), as conlleval reads it.
    m = compute_metrics([["B-D", "I-D", "I-C"]], [["B-D", "I-D", "O"]], bootstrap=10)
    assert_prf(m["exact"]["micro"], 1.0, 0.5, 2 / 3, 2)
    assert m["decoding"]["gold_tags_changed"] == 1


def test_exact_counts_agree_with_entity_counts():
    gold, pred = random_corpus(300, seed=1)
    m = compute_metrics(gold, pred, bootstrap=10)
    ents = [entities([decode_iob2(s) for s in x]) for x in (gold, pred)]
    tp, n_pred, n_gold = sentence_counts(*ents)
    micro = m["exact"]["micro"]
    assert micro["support"] == n_gold.sum() == m["n_gold_entities"]
    assert n_pred.sum() == m["n_pred_entities"]
    assert micro["precision"] == pytest.approx(tp.sum() / n_pred.sum())
    assert micro["recall"] == pytest.approx(tp.sum() / n_gold.sum())
    assert m["n_tokens"] == sum(map(len, gold))


# --------------------------------------------------------------------------- by length, relaxed


def test_length_buckets():
    # gold spans: s1 D[0] D[2-3] D[5-7] C[9]; s2 C[0-3]
    # pred spans: s1 D[0]✓ D[2] D[5-7]✓ D[9] (wrong type); s2 C[0-1]
    by_len = compute_metrics(GOLD, PRED, bootstrap=10)["by_length"]
    assert list(by_len) == ["1", "2", ">=3"]
    assert_prf(by_len["1"], 1 / 3, 1 / 2, 0.4, 2)
    assert by_len["1"]["n_pred"] == 3
    assert_prf(by_len["2"], 0.0, 0.0, 0.0, 1)
    assert by_len["2"]["n_pred"] == 1
    assert_prf(by_len[">=3"], 1.0, 0.5, 2 / 3, 2)
    assert by_len[">=3"]["n_pred"] == 1


def test_relaxed_counts_partial_overlap():
    m = compute_metrics(GOLD, PRED, bootstrap=10)
    assert_prf(m["exact"]["micro"], 0.4, 0.4, 0.4, 5)
    relaxed = m["relaxed"]
    # pred overlapping same-type gold: D[0], D[2], D[5-7], C[0-1] (not D[9] vs gold C[9]).
    assert_prf(relaxed["micro"], 0.8, 0.8, 0.8, 5)
    assert_prf(relaxed["per_type"]["D"], 0.75, 1.0, 2 * 0.75 / 1.75, 3)
    assert_prf(relaxed["per_type"]["C"], 1.0, 0.5, 2 / 3, 2)


def test_relaxed_one_prediction_covering_two_gold():
    m = compute_metrics([["B-D", "O", "B-D"]], [["B-D", "I-D", "I-D"]], bootstrap=10)
    assert_prf(m["relaxed"]["micro"], 1.0, 1.0, 1.0, 2)
    assert_prf(m["exact"]["micro"], 0.0, 0.0, 0.0, 2)


def test_nervaluate_partial_and_exact():
    nerv = compute_metrics(GOLD, PRED, bootstrap=10)["relaxed"]["nervaluate"]
    # Type-agnostic: exact spans D[0], D[5-7], [9]; D[2] and C[0-1] only overlap.
    assert nerv["exact"]["correct"] == 3 and nerv["exact"]["incorrect"] == 2
    assert nerv["exact"]["precision"] == pytest.approx(0.6)
    assert nerv["exact"]["recall"] == pytest.approx(0.6)
    assert nerv["partial"]["correct"] == 3 and nerv["partial"]["partial"] == 2
    assert nerv["partial"]["precision"] == pytest.approx(0.8)
    assert nerv["partial"]["f1"] == pytest.approx(0.8)


# --------------------------------------------------------------------------- edge cases


def _all_scores(m: dict) -> list[dict]:
    scores = [m[k]["micro"] for k in ("exact", "relaxed")]
    scores += [s for k in ("exact", "relaxed") for s in m[k]["per_type"].values()]
    scores += list(m["by_length"].values()) + list(m["relaxed"]["nervaluate"].values())
    return scores


def test_perfect_prediction_is_one_everywhere():
    m = compute_metrics(GOLD, GOLD, bootstrap=200)
    for scores in _all_scores(m):
        assert (scores["precision"], scores["recall"], scores["f1"]) == (1.0, 1.0, 1.0)
    for key in ("precision_ci", "recall_ci", "f1_ci"):
        assert m["bootstrap"][key] == [1.0, 1.0]


def test_empty_predictions_are_zero():
    pred = [["O"] * len(s) for s in GOLD]
    m = compute_metrics(GOLD, pred, bootstrap=50)
    assert m["n_pred_entities"] == 0
    for scores in _all_scores(m):
        assert (scores["precision"], scores["recall"], scores["f1"]) == (0.0, 0.0, 0.0)
    assert m["exact"]["micro"]["support"] == 5
    assert m["by_length"][">=3"]["n_pred"] == 0
    for key in ("precision_ci", "recall_ci", "f1_ci"):
        assert m["bootstrap"][key] == [0.0, 0.0]


@pytest.mark.parametrize("gold", [[], [["O", "O"]], [[]]])
def test_no_entities_at_all_does_not_crash(gold):
    m = compute_metrics(gold, gold, bootstrap=5)
    assert m["exact"]["micro"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 0}
    assert m["n_sentences"] == len(gold) and m["n_gold_entities"] == 0
    json.dumps(m, allow_nan=False)


@pytest.mark.parametrize(
    "gold, pred, message",
    [
        ([["O"]], [], "1 gold sentences but 0"),
        ([["O", "O"]], [["O"]], "sentence 0: 2 gold tags"),
        ([["O"]], [["X-D"]], "invalid tag 'X-D'"),
    ],
)
def test_bad_inputs_rejected(gold, pred, message):
    with pytest.raises(ValueError, match=message):
        compute_metrics(gold, pred)


# --------------------------------------------------------------------------- bootstrap


def test_bootstrap_reproducible_and_seed_dependent():
    gold, pred = random_corpus(200, seed=2)
    a = compute_metrics(gold, pred, bootstrap=300, seed=13)["bootstrap"]
    b = compute_metrics(gold, pred, bootstrap=300, seed=13)["bootstrap"]
    c = compute_metrics(gold, pred, bootstrap=300, seed=14)["bootstrap"]
    assert a == b
    assert a["f1_ci"] != c["f1_ci"]
    assert (a["n"], a["seed"], c["seed"]) == (300, 13, 14)


def test_ci_contains_point_estimate():
    gold, pred = random_corpus(300, seed=3)
    m = compute_metrics(gold, pred, bootstrap=500)
    micro = m["exact"]["micro"]
    for name in ("precision", "recall", "f1"):
        lo, hi = m["bootstrap"][f"{name}_ci"]
        assert lo < micro[name] < hi
        assert hi - lo < 0.3


def test_bootstrap_matches_naive_resampling():
    tp = np.array([0, 1, 2, 1, 0, 3])
    n_pred = np.array([1, 1, 2, 2, 0, 4])
    n_gold = np.array([0, 2, 2, 1, 1, 3])
    got = bootstrap_ci(tp, n_pred, n_gold, n_resamples=100, seed=7)
    idx = np.random.default_rng(7).integers(0, 6, size=(100, 6))
    f1 = []
    for row in idx:
        t, p, g = tp[row].sum(), n_pred[row].sum(), n_gold[row].sum()
        f1.append(2 * t / (p + g) if p + g else 0.0)
    assert got["f1_ci"] == pytest.approx(list(np.percentile(f1, [2.5, 97.5])))


def test_bootstrap_blocked_path(monkeypatch):
    gold, pred = random_corpus(100, seed=4)
    monkeypatch.setattr(bs, "_BOOTSTRAP_BLOCK_CELLS", 100 * 7)  # 7 resamples per block
    m = compute_metrics(gold, pred, bootstrap=50)
    assert m == compute_metrics(gold, pred, bootstrap=50)
    lo, hi = m["bootstrap"]["f1_ci"]
    assert lo < m["exact"]["micro"]["f1"] < hi


def test_bootstrap_is_fast():
    rng = np.random.default_rng(0)
    n_gold = rng.integers(0, 5, size=5000)
    tp = rng.binomial(n_gold, 0.8)
    n_pred = tp + rng.integers(0, 2, size=5000)
    start = time.perf_counter()
    bootstrap_ci(tp, n_pred, n_gold, n_resamples=1000, seed=13)
    assert time.perf_counter() - start < 5.0


def test_bootstrap_rejects_zero_resamples():
    with pytest.raises(ValueError, match="bootstrap must be >= 1"):
        compute_metrics(GOLD, PRED, bootstrap=0)


# --------------------------------------------------------------------------- CoNLL I/O

RECORDS = [
    {
        "id": "PMID1/0",
        "tokens": ["#", "# id: fake", "β-catenin", "naïve", "中文", "\u00a0", "##ing", "a#b"],
        "gold": ["O", "O", "B-Gene", "O", "B-Disease", "I-Disease", "O", "O"],
        "pred": ["O", "B-Gene", "B-Gene", "O", "B-Disease", "O", "I-Chemical", "O"],
    },
    {"id": "PMID1/1", "tokens": ["#"], "gold": ["O"], "pred": ["O"]},
    {"id": "dóc#2/0", "tokens": ["x"], "gold": ["B-Gene-Protein"], "pred": ["O"]},
]


def test_conll_round_trip(tmp_path):
    path = tmp_path / "pred.conll"
    assert write_conll_predictions(path, iter(RECORDS)) == 3
    assert read_conll_predictions(path) == RECORDS
    text = path.read_text(encoding="utf-8")
    assert text.startswith("# id: PMID1/0\n#\tO\tO\n# id: fake\tO\tB-Gene\n")
    assert text.endswith("\n\n") and "\r" not in text


def test_writer_accepts_doc_and_sent_id(tmp_path):
    path = tmp_path / "p.conll"
    rec = {k: v for k, v in RECORDS[1].items() if k != "id"}
    write_conll_predictions(path, [{"doc_id": "d", "sent_id": 3, **rec}])
    assert read_conll_predictions(path)[0]["id"] == "d/3"


def test_reader_tolerates_missing_final_blank_and_extra_blanks(tmp_path):
    path = tmp_path / "p.conll"
    path.write_text("\n\n# id: a/1\nx\tB-D\tO\n\n\n# id: a/2\ny\tO\tO", encoding="utf-8")
    assert [r["id"] for r in read_conll_predictions(path)] == ["a/1", "a/2"]


@pytest.mark.parametrize(
    "bad_record, message",
    [
        ({"tokens": ["a\tb"]}, "tab/newline"),
        ({"tokens": [""]}, "empty"),
        ({"gold": ["B-D", "O"]}, "1 tokens, 2 gold tags"),
        ({"pred": ["Disease"]}, "invalid tag"),
        ({"id": "a\nb"}, "id must be"),
    ],
)
def test_writer_rejects_unreadable_records_atomically(tmp_path, bad_record, message):
    path = tmp_path / "p.conll"
    good = {"id": "d/0", "tokens": ["a"], "gold": ["O"], "pred": ["O"]}
    with pytest.raises(ValueError, match=message):
        write_conll_predictions(path, [good, {**good, "id": "d/1", **bad_record}])
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    "text, line, message",
    [
        ("# id: a/1\nx\tO\tO\ny\tO\n", 3, "expected 3 tab-separated fields"),
        ("# id: a/1\nx\tO\tO\n\nx\tO\tO\n", 4, "expected '# id: "),
        ("# id: a/1\nx\tO\tB_D\n", 2, "invalid pred tag 'B_D'"),
        ("# id: a/1\nx\tD\tO\n", 2, "invalid gold tag 'D'"),
        ("# id: a/1\n\tO\tO\n", 2, "empty token"),
        ("# id: a/1\nx\tO\tO\n\n# id: a/1\nx\tO\tO\n", 4, "duplicate sentence id"),
        ("# id: \nx\tO\tO\n", 1, "expected '# id: "),
    ],
)
def test_malformed_conll_names_file_and_line(tmp_path, text, line, message):
    path = tmp_path / "bad.conll"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(InputError, match=message) as info:
        read_conll_predictions(path)
    assert info.value.line == line
    assert str(info.value).startswith(f"{path}:{line}: ")


def test_missing_prediction_file(tmp_path):
    with pytest.raises(InputError, match="not found"):
        read_conll_predictions(tmp_path / "nope.conll")


# --------------------------------------------------------------------------- CLI

TOP_KEYS = {
    "n_sentences",
    "n_tokens",
    "n_gold_entities",
    "n_pred_entities",
    "exact",
    "relaxed",
    "by_length",
    "bootstrap",
    "decoding",
    "per_sentence",
    "run_id",
    "dataset",
}


def _write_gold(path, records) -> None:
    """The canonical test split the prediction records were made from."""
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = []
    for r in records:
        doc_id, sent_id = r["id"].rsplit("/", 1)
        rec = {"doc_id": doc_id, "sent_id": sent_id, "tokens": r["tokens"], "tags": r["gold"]}
        lines.append(json.dumps(rec) + "\n")
    path.write_text("".join(lines), encoding="utf-8")


def _write_pred(tmp_path, gold=GOLD, pred=PRED):
    """A prediction file and its gold test split; returns (pred path, gold path)."""
    records = [
        {"id": f"d/{i}", "tokens": [f"t{j}" for j in range(len(g))], "gold": g, "pred": p}
        for i, (g, p) in enumerate(zip(gold, pred, strict=True))
    ]
    path = tmp_path / "pred.conll"
    write_conll_predictions(path, records)
    gold_path = tmp_path / "bio" / "ncbi" / "test.jsonl"
    _write_gold(gold_path, records)
    return path, gold_path


def test_cli_writes_metrics_with_exact_keys(tmp_path):
    pred, gold = _write_pred(tmp_path)
    out = tmp_path / "metrics" / "ncbi.json"
    argv = ["--pred", str(pred), "--gold", str(gold), "--output", str(out), "--run-id", "r1"]
    argv += ["--dataset", "ncbi"]
    assert main_evaluate([*argv, "--bootstrap", "20", "--seed", "5"]) == 0
    m = json.loads(out.read_text(encoding="utf-8"))
    assert set(m) == TOP_KEYS
    assert (m["run_id"], m["dataset"], m["n_sentences"], m["n_tokens"]) == ("r1", "ncbi", 2, 14)
    assert set(m["exact"]) == {"micro", "per_type"}
    assert set(m["exact"]["micro"]) == PRF
    assert all(set(s) == PRF for s in m["exact"]["per_type"].values())
    assert set(m["relaxed"]) == {"micro", "per_type", "nervaluate"}
    assert set(m["relaxed"]["micro"]) == PRF
    assert set(m["by_length"]) == {"1", "2", ">=3"}
    assert all(set(s) == PRF | {"n_pred"} for s in m["by_length"].values())
    assert set(m["bootstrap"]) == {"n", "seed", "precision_ci", "recall_ci", "f1_ci"}
    assert (m["bootstrap"]["n"], m["bootstrap"]["seed"]) == (20, 5)
    assert m["exact"]["micro"]["f1"] == pytest.approx(0.4)


def test_cli_reads_alignment_failures_sidecar(tmp_path):
    pred, gold = _write_pred(tmp_path)
    meta = '{"alignment_failures": 3, "sentences": 2}'
    (tmp_path / "pred.conll.meta.json").write_text(meta, encoding="utf-8")
    out = tmp_path / "m.json"
    argv = [
        "evaluate",
        "--pred",
        str(pred),
        "--gold",
        str(gold),
        "--output",
        str(out),
        "--run-id",
        "r",
        "--dataset",
        "x",
    ]
    assert cli_main([*argv, "--bootstrap", "10"]) == 0
    m = json.loads(out.read_text(encoding="utf-8"))
    assert set(m) == TOP_KEYS | {"alignment_failures"}
    assert m["alignment_failures"] == 3


def test_cli_bad_input_writes_nothing(tmp_path, capsys):
    pred = tmp_path / "pred.conll"
    pred.write_text("# id: a/1\nx\tO\n", encoding="utf-8")
    out = tmp_path / "m.json"
    argv = [
        "evaluate",
        "--pred",
        str(pred),
        "--gold",
        str(tmp_path / "test.jsonl"),
        "--output",
        str(out),
        "--run-id",
        "r",
        "--dataset",
        "x",
    ]
    assert cli_main(argv) == 2
    assert f"{pred}:2:" in capsys.readouterr().err
    assert not out.exists()


def test_cli_bad_sidecar(tmp_path):
    pred, gold = _write_pred(tmp_path)
    (tmp_path / "pred.conll.meta.json").write_text('{"alignment_failures": -1}', encoding="utf-8")
    argv = ["--pred", str(pred), "--gold", str(gold), "--output", str(tmp_path / "m.json")]
    argv += ["--run-id", "r"]
    with pytest.raises(InputError, match="alignment_failures"):
        main_evaluate([*argv, "--dataset", "x", "--bootstrap", "5"])


# --------------------------------------------------------------------------- against the gold split

FIVE_GOLD = [
    ["B-D", "I-D", "O"],
    ["O", "B-C", "O", "O"],
    ["B-D", "O", "O", "B-C", "I-C"],
    ["O", "O", "O"],
    ["B-C", "I-C", "I-C", "O", "B-D", "O"],
]
FIVE_PRED = [["O" if i % 2 else t for i, t in enumerate(s)] for s in FIVE_GOLD]


def _blocks(path) -> list[str]:
    return [b + "\n\n" for b in path.read_text(encoding="utf-8").split("\n\n") if b.strip()]


def _damage(pred, how: str) -> None:
    blocks = _blocks(pred)
    if how == "sentence block deleted":
        del blocks[2]
    elif how == "last sentence block deleted":
        del blocks[-1]
    elif how == "cut at a line boundary":
        blocks[-1] = "".join(blocks[-1].splitlines(keepends=True)[:3])  # id + 2 of 6 tokens
    elif how == "tokens removed from a sentence":
        lines = blocks[2].splitlines(keepends=True)
        blocks[2] = "".join(lines[:2] + lines[4:])
    elif how == "token changed":
        blocks[1] = blocks[1].replace("t2\t", "T2\t")
    elif how == "gold tag changed":
        blocks[1] = blocks[1].replace("t1\tB-C\t", "t1\tB-D\t")
    elif how == "extra sentence":
        blocks.append("# id: d/99\nt0\tO\tO\n\n")
    elif how == "sentences reordered":
        blocks[0], blocks[1] = blocks[1], blocks[0]
    pred.write_text("".join(blocks), encoding="utf-8")


@pytest.mark.parametrize(
    "how, line, fragments",
    [
        ("sentence block deleted", 12, ["sentence id 'd/3'", "sentence 3 ('d/2',", ":3)"]),
        ("last sentence block deleted", None, ["ends after 4 sentences", "has 5", "'d/4'"]),
        ("cut at a line boundary", 24, ["sentence 5 ('d/4',", "2 tokens, the gold has 6"]),
        ("tokens removed from a sentence", 12, ["sentence 3 ('d/2',", "3 tokens, the gold has 5"]),
        ("token changed", 9, ["sentence 2 ('d/1',", "token 3 is 'T2', the gold has 't2'"]),
        ("gold tag changed", 8, ["sentence 2 ('d/1',", "gold tag of token 2 is 'B-D'"]),
        ("extra sentence", 32, ["6 sentences", "has 5", "'d/99' is not in it"]),
        ("sentences reordered", 1, ["sentence id 'd/1'", "sentence 1 ('d/0',"]),
    ],
)
def test_cli_checks_the_prediction_against_the_gold_split(tmp_path, capsys, how, line, fragments):
    pred, gold = _write_pred(tmp_path, FIVE_GOLD, FIVE_PRED)
    out = tmp_path / "m.json"
    argv = ["evaluate", "--pred", str(pred), "--gold", str(gold), "--output", str(out)]
    argv += ["--run-id", "r", "--dataset", "ncbi", "--bootstrap", "5"]
    assert cli_main(argv) == 0  # intact: accepted
    out.unlink()
    _damage(pred, how)
    assert cli_main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    where = f"{pred}:{line}: " if line else f"{pred}: "
    assert err.startswith(f"error: {where}"), err
    for fragment in fragments:
        assert fragment in err, err
    assert not out.exists()


def test_cli_checks_the_sentence_count_of_the_meta_sidecar(tmp_path, capsys):
    pred, gold = _write_pred(tmp_path, FIVE_GOLD, FIVE_PRED)
    sidecar = tmp_path / "pred.conll.meta.json"
    out = tmp_path / "m.json"
    argv = ["evaluate", "--pred", str(pred), "--gold", str(gold), "--output", str(out)]
    argv += ["--run-id", "r", "--dataset", "ncbi", "--bootstrap", "5"]
    sidecar.write_text('{"sentences": 5}', encoding="utf-8")
    assert cli_main(argv) == 0
    out.unlink()
    sidecar.write_text('{"sentences": 4}', encoding="utf-8")
    assert cli_main(argv) == 2
    err = capsys.readouterr().err
    assert f"error: {sidecar}: predict recorded 4 sentences" in err and "has 5" in err
    assert not out.exists()


def test_cli_scores_the_gold_files_tags(tmp_path):
    pred, gold = _write_pred(tmp_path, FIVE_GOLD, FIVE_PRED)
    out = tmp_path / "m.json"
    argv = ["--pred", str(pred), "--gold", str(gold), "--output", str(out), "--run-id", "r"]
    assert main_evaluate([*argv, "--dataset", "ncbi", "--bootstrap", "5"]) == 0
    m = json.loads(out.read_text(encoding="utf-8"))
    assert m == {
        **compute_metrics(FIVE_GOLD, FIVE_PRED, bootstrap=5, ids=[f"d/{i}" for i in range(5)]),
        "run_id": "r",
        "dataset": "ncbi",
    }
    with pytest.raises(InputError, match="gold file not found"):
        main_evaluate(
            [*argv[:2], "--gold", str(tmp_path / "nope.jsonl"), *argv[4:], "--dataset", "x"]
        )


def test_metrics_record_per_sentence_counts(tmp_path):
    pred, gold = _write_pred(tmp_path)
    out = tmp_path / "m.json"
    argv = ["--pred", str(pred), "--gold", str(gold), "--output", str(out), "--run-id", "r"]
    argv += ["--dataset", "d"]
    assert main_evaluate([*argv, "--bootstrap", "5"]) == 0
    m = json.loads(out.read_text(encoding="utf-8"))
    ps = m["per_sentence"]
    assert set(ps) == {"tp", "n_pred", "n_gold", "ids_sha256"}
    assert len(ps["tp"]) == m["n_sentences"]
    assert sum(ps["n_gold"]) == m["n_gold_entities"] and sum(ps["n_pred"]) == m["n_pred_entities"]
    f1 = 2 * sum(ps["tp"]) / (sum(ps["n_pred"]) + sum(ps["n_gold"]))
    assert f1 == pytest.approx(m["exact"]["micro"]["f1"])
    assert read_per_sentence(m) is not None and read_per_sentence({}) is None  # older files


def test_paired_bootstrap_resamples_sentences_jointly():
    rng = np.random.default_rng(0)
    n = 400
    gold = rng.integers(1, 4, n)
    better = [(np.minimum(gold, rng.integers(1, 4, n)), gold.copy(), gold) for _ in range(3)]
    worse = [(np.maximum(0, t - rng.integers(0, 2, n)), p, g) for t, p, g in better]
    res = paired_bootstrap(better, worse, 500, 7)
    assert res["delta_f1"] > 0 and res["ci"][0] > 0 and res["p_value"] < 0.01
    assert (res["n"], res["seed"], res["pairs"]) == (500, 7, 3)
    assert paired_bootstrap(better, worse, 500, 7) == res  # seeded
    same = paired_bootstrap(better, better, 200, 7)
    assert same["delta_f1"] == 0 and same["ci"] == [0.0, 0.0] and same["p_value"] == 1.0
    # Joint resampling: the two systems differ by a constant on every sentence; independent
    # resampling of each system would give a much wider interval than this.
    shifted = [(t, p + 1, g) for t, p, g in better]
    tight = paired_bootstrap(better, shifted, 300, 1)
    assert tight["ci"][1] - tight["ci"][0] < 0.02
    with pytest.raises(ValueError, match="same number"):
        paired_bootstrap(better, worse[:2], 10, 1)
    with pytest.raises(ValueError, match="different numbers of sentences"):
        paired_bootstrap(better, [(t[:-1], p[:-1], g[:-1]) for t, p, g in worse], 10, 1)
