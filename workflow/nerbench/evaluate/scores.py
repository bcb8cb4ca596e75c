"""Scores of one prediction set: exact-match and relaxed F1, by length, nervaluate's.

**One decoding rule, one exact-match score.** :func:`compute_metrics` decodes every sentence's
tags with :func:`~nerbench.evaluate.decoding.decode_iob2` first, and ``decoding`` in the metrics
counts the tags it repaired (``pred_tags_changed``; ``gold_tags_changed`` is 0 for the workflow's
gold, which ``to_bio`` makes valid IOB2). On decoded tags there is one exact-match score (same span
and type), ``exact``, equal to conlleval.pl's; ``relaxed`` counts a partial overlap of the same
type. seqeval's strict mode on the *raw* predicted tags, which counts a stray ``I-T`` as no entity,
is only a diagnostic (``--diagnostic-seqeval-strict-raw``, key
``diagnostic_seqeval_strict_raw_tags``); it is never a headline score.

The entities of the decoded tags feed every score: exact, the length buckets, the relaxed scores,
nervaluate and the bootstrap, so their counts agree. Every ratio with a zero denominator is 0.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Sequence

import numpy as np
from nervaluate import Evaluator
from seqeval.metrics import classification_report
from seqeval.scheme import IOB2

from nerbench.evaluate.bootstrap import bootstrap_ci, per_sentence_record
from nerbench.evaluate.buckets import bucket_of, length_buckets
from nerbench.evaluate.conll import TAG_RE
from nerbench.evaluate.decoding import DECODING_RULE, Span, decode_iob2, entities

NERVALUATE_SCENARIOS = ("partial", "exact")
_NERVALUATE_COUNTS = ("correct", "incorrect", "partial", "missed", "spurious")


def _overlaps(a: Span, b: Span) -> bool:
    return a.type == b.type and a.start < b.end and b.start < a.end


def _ratio(num: float, den: float) -> float:
    return float(num) / float(den) if den else 0.0


def _f1(precision: float, recall: float) -> float:
    return _ratio(2 * precision * recall, precision + recall)


def _prf(precision: float, recall: float, support: int) -> dict:
    return {
        "precision": float(precision),
        "recall": float(recall),
        "f1": _f1(precision, recall),
        "support": int(support),
    }


def exact_scores(gold_ents: list[list[Span]], pred_ents: list[list[Span]]) -> dict:
    """Exact-match scores (same span and type), micro and per type; support = #gold.

    On decoded tags this is conlleval.pl's score (and seqeval's default mode's).
    """
    tp: dict[str, int] = {}
    n_pred: dict[str, int] = {}
    n_gold: dict[str, int] = {}
    for g_sent, p_sent in zip(gold_ents, pred_ents, strict=True):
        gold_set = set(g_sent)
        for p in p_sent:
            n_pred[p.type] = n_pred.get(p.type, 0) + 1
            tp[p.type] = tp.get(p.type, 0) + (p in gold_set)
        for g in g_sent:
            n_gold[g.type] = n_gold.get(g.type, 0) + 1

    def score(types: Iterable[str]) -> dict:
        types = list(types)
        t = sum(tp.get(x, 0) for x in types)
        np_, ng = sum(n_pred.get(x, 0) for x in types), sum(n_gold.get(x, 0) for x in types)
        return _prf(_ratio(t, np_), _ratio(t, ng), ng)

    all_types = sorted(set(n_pred) | set(n_gold))
    return {"micro": score(all_types), "per_type": {t: score([t]) for t in all_types}}


def seqeval_strict_raw_scores(gold: list[list[str]], raw_pred: list[list[str]]) -> dict:
    """Diagnostic only: seqeval's strict IOB2 mode on the raw (undecoded) predicted tags, where
    a stray ``I-T`` is no entity; micro and per-type P/R/F1/support."""
    if not gold:
        return {"micro": _prf(0.0, 0.0, 0), "per_type": {}}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        report = classification_report(
            gold, raw_pred, output_dict=True, zero_division=0, mode="strict", scheme=IOB2
        )

    def row(name: str) -> dict:
        r = report[name]
        return {
            "precision": float(r["precision"]),
            "recall": float(r["recall"]),
            "f1": float(r["f1-score"]),
            "support": int(r["support"]),
        }

    per_type = {t: row(t) for t in sorted(report) if not t.endswith(" avg")}
    return {"micro": row("micro avg"), "per_type": per_type}


def length_bucket_scores(gold_ents: list[list[Span]], pred_ents: list[list[Span]]) -> dict:
    """Scores by entity length in tokens, one entry per bucket of :mod:`~nerbench.evaluate.buckets`.

    For bucket b: TP = predicted entities of length b that exactly match a gold entity (same
    span and type; a match implies the gold entity is in b too); precision = TP / #predicted
    entities in b; recall = TP / #gold entities in b; support = #gold in b; n_pred = #pred in b.
    """
    buckets = length_buckets()
    names = [name for name, _ in buckets]
    tp = dict.fromkeys(names, 0)
    n_gold = dict.fromkeys(names, 0)
    n_pred = dict.fromkeys(names, 0)
    for g_sent, p_sent in zip(gold_ents, pred_ents, strict=True):
        gold_set = set(g_sent)
        for span in g_sent:
            n_gold[bucket_of(span.end - span.start, buckets)] += 1
        for span in p_sent:
            bucket = bucket_of(span.end - span.start, buckets)
            n_pred[bucket] += 1
            tp[bucket] += span in gold_set
    out = {}
    for b in names:
        scores = _prf(_ratio(tp[b], n_pred[b]), _ratio(tp[b], n_gold[b]), n_gold[b])
        out[b] = {**scores, "n_pred": n_pred[b]}
    return out


def relaxed_scores(gold_ents: list[list[Span]], pred_ents: list[list[Span]]) -> dict:
    """Partial-overlap scores, micro and per type.

    A predicted entity is correct if it shares at least one token with a gold entity of the
    same type: precision = #pred overlapping some same-type gold / #pred; recall = #gold
    overlapped by some same-type pred / #gold; F1 is their harmonic mean; support = #gold.
    """
    hit_pred: dict[str, int] = {}
    n_pred: dict[str, int] = {}
    hit_gold: dict[str, int] = {}
    n_gold: dict[str, int] = {}
    for g_sent, p_sent in zip(gold_ents, pred_ents, strict=True):
        for p in p_sent:
            n_pred[p.type] = n_pred.get(p.type, 0) + 1
            hit_pred[p.type] = hit_pred.get(p.type, 0) + any(_overlaps(p, g) for g in g_sent)
        for g in g_sent:
            n_gold[g.type] = n_gold.get(g.type, 0) + 1
            hit_gold[g.type] = hit_gold.get(g.type, 0) + any(_overlaps(g, p) for p in p_sent)

    def score(types: Iterable[str]) -> dict:
        types = list(types)
        hp, np_ = sum(hit_pred.get(t, 0) for t in types), sum(n_pred.get(t, 0) for t in types)
        hg, ng = sum(hit_gold.get(t, 0) for t in types), sum(n_gold.get(t, 0) for t in types)
        return _prf(_ratio(hp, np_), _ratio(hg, ng), ng)

    all_types = sorted(set(n_pred) | set(n_gold))
    return {"micro": score(all_types), "per_type": {t: score([t]) for t in all_types}}


def nervaluate_scores(gold_ents: list[list[Span]], pred_ents: list[list[Span]]) -> dict:
    """nervaluate 1.2.1 "partial" and "exact" overall scores on the decoded entities.

    Both scenarios ignore the entity type. "exact": correct = identical span. "partial":
    identical span = correct, overlapping span = half credit; P = (COR + 0.5 PAR) / ACT,
    R = (COR + 0.5 PAR) / POS. Entities are passed as spans (dict loader) rather than BIO lists
    because nervaluate's list loader extracts entities leniently (a stray I- starts one).
    """
    empty = {"precision": 0.0, "recall": 0.0, "f1": 0.0}
    empty.update(dict.fromkeys(_NERVALUATE_COUNTS, 0))
    if not gold_ents:
        return {s: dict(empty) for s in NERVALUATE_SCENARIOS}

    def as_dicts(ents: list[list[Span]]) -> list[list[dict]]:
        return [[{"label": e.type, "start": e.start, "end": e.end - 1} for e in s] for s in ents]

    types = sorted({e.type for s in gold_ents + pred_ents for e in s})
    evaluator = Evaluator(as_dicts(gold_ents), as_dicts(pred_ents), tags=types, loader="dict")
    overall = evaluator.evaluate()["overall"]
    out = {}
    for scenario in NERVALUATE_SCENARIOS:
        r = overall[scenario]
        out[scenario] = {
            "precision": float(r.precision),
            "recall": float(r.recall),
            "f1": float(r.f1),
            **{k: int(getattr(r, k)) for k in _NERVALUATE_COUNTS},
        }
    return out


def sentence_counts(
    gold_ents: list[list[Span]], pred_ents: list[list[Span]]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-sentence exact-match TP, #predicted and #gold entity counts."""
    tp = np.array(
        [len(set(g) & set(p)) for g, p in zip(gold_ents, pred_ents, strict=True)], dtype=np.int64
    )
    n_pred = np.array([len(p) for p in pred_ents], dtype=np.int64)
    n_gold = np.array([len(g) for g in gold_ents], dtype=np.int64)
    return tp, n_pred, n_gold


def _check_inputs(gold: Sequence[Sequence[str]], pred: Sequence[Sequence[str]]) -> None:
    if len(gold) != len(pred):
        raise ValueError(f"{len(gold)} gold sentences but {len(pred)} predicted sentences")
    for i, (g, p) in enumerate(zip(gold, pred, strict=True)):
        if len(g) != len(p):
            raise ValueError(f"sentence {i}: {len(g)} gold tags but {len(p)} predicted tags")
        for tag in (*g, *p):
            if not TAG_RE.fullmatch(tag):
                raise ValueError(f"sentence {i}: invalid tag {tag!r}")


def compute_metrics(
    gold: list[list[str]],
    pred: list[list[str]],
    bootstrap: int = 1000,
    seed: int = 13,
    ids: Sequence[str] | None = None,
    diagnostic_seqeval_strict_raw: bool = False,
) -> dict:
    """All metrics for one prediction set (the decoding rule: :mod:`~nerbench.evaluate.decoding`).

    Gold and predicted tags are read with :func:`decode_iob2` first, whatever method wrote them.
    Keys: n_sentences, n_tokens, n_gold_entities, n_pred_entities, exact (exact-match micro and
    per-type P/R/F1), relaxed (partial overlap, plus nervaluate's partial/exact under
    ``relaxed["nervaluate"]``), by_length, bootstrap (CIs of exact micro P/R/F1), decoding
    (``{"rule": "iob2-conlleval", "pred_tags_changed": n, "gold_tags_changed": m}``) and
    per_sentence (exact TP, #pred, #gold per sentence, for paired tests between runs;
    :func:`per_sentence_record`). With ``diagnostic_seqeval_strict_raw``, also
    ``diagnostic_seqeval_strict_raw_tags`` (:func:`seqeval_strict_raw_scores`).
    """
    _check_inputs(gold, pred)
    raw_gold = [list(s) for s in gold]
    raw_pred = [list(s) for s in pred]
    dec_gold = [decode_iob2(s) for s in raw_gold]
    dec_pred = [decode_iob2(s) for s in raw_pred]
    gold_ents, pred_ents = entities(dec_gold), entities(dec_pred)
    tp, n_pred, n_gold = sentence_counts(gold_ents, pred_ents)
    relaxed = relaxed_scores(gold_ents, pred_ents)
    relaxed["nervaluate"] = nervaluate_scores(gold_ents, pred_ents)
    metrics = {
        "n_sentences": len(raw_gold),
        "n_tokens": sum(len(s) for s in raw_gold),
        "n_gold_entities": int(n_gold.sum()),
        "n_pred_entities": int(n_pred.sum()),
        "exact": exact_scores(gold_ents, pred_ents),
        "relaxed": relaxed,
        "by_length": length_bucket_scores(gold_ents, pred_ents),
        "bootstrap": bootstrap_ci(tp, n_pred, n_gold, bootstrap, seed),
        "decoding": {
            "rule": DECODING_RULE,
            "pred_tags_changed": _changed(raw_pred, dec_pred),
            "gold_tags_changed": _changed(raw_gold, dec_gold),
        },
        "per_sentence": per_sentence_record(tp, n_pred, n_gold, ids),
    }
    if diagnostic_seqeval_strict_raw:
        metrics["diagnostic_seqeval_strict_raw_tags"] = seqeval_strict_raw_scores(
            raw_gold, raw_pred
        )
    return metrics


def _changed(raw: list[list[str]], decoded: list[list[str]]) -> int:
    """How many tags the decoding rule rewrote."""
    return sum(a != b for r, d in zip(raw, decoded, strict=True) for a, b in zip(r, d, strict=True))
