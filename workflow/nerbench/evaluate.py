"""Evaluate a prediction file: exact-match and relaxed scores, length buckets, bootstrap CIs.

Prediction files use the project's CoNLL format, one block per sentence::

    # id: <doc_id>/<sent_id>
    token<TAB>gold_tag<TAB>pred_tag
    ...
    <blank line>

The first line of every block is the ``# id:`` comment; every later line of the block is a token
line, so tokens may themselves start with ``#``. Tags are IOB2 with a type (``B-Disease``).

**One decoding rule, one exact-match score.** Before anything is scored, the tags of every
sentence go through :func:`decode_iob2`, whichever method wrote them (encoder, labeler,
generative, or a file from elsewhere): an ``I-T`` that does not continue an entity of type ``T``
(at the start of a sentence, after ``O`` or after an entity of another type) is read as
``B-T``, the reading of conlleval.pl, which the labeler's span decoding and raw-text tagging also
use. Methods write their raw tags; the scorer alone decodes them, and ``decoding`` in the metrics
counts the tags it repaired (``pred_tags_changed``; ``gold_tags_changed`` is 0 for the
workflow's gold, which ``to_bio`` makes valid IOB2). Decoded tags are valid IOB2, so an entity is
a ``B-T`` followed by its ``I-T`` tags and there is one exact-match score (same span and type),
``exact``, equal to conlleval.pl's; ``relaxed`` counts a partial overlap of the same type.
seqeval's strict mode on the *raw* predicted tags, which counts a stray ``I-T`` as no entity, is
only a diagnostic (``--diagnostic-seqeval-strict-raw``, key
``diagnostic_seqeval_strict_raw_tags``); it is never a headline score.

The CLI scores a prediction file against the gold test split it was made from (``--gold``, the
canonical ``results/bio/<dataset>/test.jsonl``): the prediction must hold every gold sentence, in
order, with the same id, tokens and gold tags, and the sentence count in ``<pred>.meta.json``
(when present) must match; anything else -- a truncated or edited prediction file, one made from
another version of the test split -- is an :class:`~nerbench.io.InputError` naming the file, the
line and the sentence. The gold tags scored are the gold file's.

The entities of the decoded tags feed every score: exact, the length buckets, the relaxed scores,
nervaluate and the bootstrap, so their counts agree. Every ratio with a zero denominator is 0.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import warnings
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
from nervaluate import Evaluator
from seqeval.metrics import classification_report
from seqeval.scheme import IOB2, Entities

from nerbench import defaults, paths
from nerbench.io import InputError, atomic_path, write_json

ID_PREFIX = "# id: "
TAG_RE = re.compile(r"O|[BI]-\S+")
FORBIDDEN_CHARS = re.compile(r"[\t\r\n]")
LENGTH_BUCKETS = ("1", "2", ">=3")
NERVALUATE_SCENARIOS = ("partial", "exact")
_NERVALUATE_COUNTS = ("correct", "incorrect", "partial", "missed", "spurious")
# Resampled index matrices are built in blocks of about this many cells to bound memory.
_BOOTSTRAP_BLOCK_CELLS = 4_000_000


class Span(NamedTuple):
    """One entity in one sentence: type and token offsets (``end`` exclusive)."""

    type: str
    start: int
    end: int


# --------------------------------------------------------------------------- CoNLL I/O


def read_conll_predictions(path: str | os.PathLike) -> list[dict]:
    """Read a prediction file into records ``{"id", "tokens", "gold", "pred"}``.

    A malformed line (missing ``# id:`` comment, wrong field count, bad tag, empty token,
    duplicate id) raises :class:`InputError` naming the file and line.
    """
    return [record for record, _ in _read_conll(path)]


def _read_conll(path: str | os.PathLike) -> list[tuple[dict, int]]:
    """Records with the line number of their ``# id:`` comment."""
    if not Path(path).is_file():
        raise InputError("prediction file not found", path)
    records: list[tuple[dict, int]] = []
    seen: set[str] = set()
    current: dict | None = None
    start = 0
    with open(path, encoding="utf-8") as f:
        for lineno, raw in enumerate(f, 1):
            line = raw.rstrip("\n")
            if not line.strip():
                if current is not None:
                    records.append((current, start))
                current = None
            elif current is None:
                current, start = _start_record(line, seen, path, lineno), lineno
            else:
                _add_token_line(current, line, path, lineno)
    if current is not None:
        records.append((current, start))
    return records


def _start_record(line: str, seen: set[str], path: str | os.PathLike, lineno: int) -> dict:
    if not line.startswith(ID_PREFIX) or not line[len(ID_PREFIX) :].strip():
        raise InputError(
            f"expected '{ID_PREFIX}<doc_id>/<sent_id>' to start a sentence", path, lineno
        )
    sent_id = line[len(ID_PREFIX) :].strip()
    if sent_id in seen:
        raise InputError(f"duplicate sentence id '{sent_id}'", path, lineno)
    seen.add(sent_id)
    return {"id": sent_id, "tokens": [], "gold": [], "pred": []}


def _add_token_line(record: dict, line: str, path: str | os.PathLike, lineno: int) -> None:
    fields = line.split("\t")
    if len(fields) != 3:
        raise InputError(
            f"expected 3 tab-separated fields (token, gold, pred), got {len(fields)}", path, lineno
        )
    token, gold, pred = fields
    if not token:
        raise InputError("empty token", path, lineno)
    for name, tag in (("gold", gold), ("pred", pred)):
        if not TAG_RE.fullmatch(tag):
            raise InputError(
                f"invalid {name} tag '{tag}' (expected O, B-<type> or I-<type>)", path, lineno
            )
    record["tokens"].append(token)
    record["gold"].append(gold)
    record["pred"].append(pred)


def write_conll_predictions(path: str | os.PathLike, records: Iterable[Mapping[str, Any]]) -> int:
    """Write records ``{"id", "tokens", "gold", "pred"}`` atomically; return how many.

    ``id`` may be omitted when ``doc_id`` and ``sent_id`` are given (joined with ``/``).
    A record that could not be read back (tab/newline in a token or id, bad tag, length
    mismatch) raises :class:`ValueError` and leaves ``path`` untouched.
    """
    n = 0
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8", newline="\n") as f:
        for n, record in enumerate(records, 1):
            f.write(format_conll_record(record, n))
    return n


def format_conll_record(record: Mapping[str, Any], index: int = 0) -> str:
    """Render one record as a CoNLL block (comment, token lines, blank line)."""
    sent_id = record_id(record)
    tokens, gold, pred = record["tokens"], record["gold"], record["pred"]
    where = f"record {index} ('{sent_id}')"
    if not sent_id or sent_id != sent_id.strip() or FORBIDDEN_CHARS.search(sent_id):
        raise ValueError(f"{where}: id must be non-empty, trimmed, without tabs or newlines")
    if not len(tokens) == len(gold) == len(pred):
        raise ValueError(
            f"{where}: {len(tokens)} tokens, {len(gold)} gold tags, {len(pred)} predicted tags"
        )
    lines = [ID_PREFIX + sent_id]
    for token, g, p in zip(tokens, gold, pred, strict=True):
        if not token or FORBIDDEN_CHARS.search(token):
            raise ValueError(f"{where}: token {token!r} is empty or contains a tab/newline")
        for tag in (g, p):
            if not TAG_RE.fullmatch(tag):
                raise ValueError(f"{where}: invalid tag {tag!r}")
        lines.append(f"{token}\t{g}\t{p}")
    return "\n".join(lines) + "\n\n"


def record_id(record: Mapping[str, Any]) -> str:
    """The record's sentence id: ``id`` or ``doc_id/sent_id``."""
    if "id" in record:
        return str(record["id"])
    return f"{record['doc_id']}/{record['sent_id']}"


# --------------------------------------------------------------------------- decoding

DECODING_RULE = "iob2-conlleval"  # a stray I-T is read as B-T (see the module docstring)
DECODING_RULE_TEXT = "an I-T that continues no entity of type T is read as B-T, as conlleval does"


def decode_iob2(tags: Sequence[str]) -> list[str]:
    """The decoding rule applied to every method's predicted tags before scoring.

    An ``I-T`` that does not continue an entity of type ``T`` becomes ``B-T``; everything else is
    kept. The result is valid IOB2; decoding valid IOB2 changes nothing.
    """
    out: list[str] = []
    prev = "O"
    for tag in tags:
        if tag.startswith("I-") and prev[2:] != tag[2:]:
            tag = "B-" + tag[2:]
        out.append(tag)
        prev = tag
    return out


# --------------------------------------------------------------------------- gold


def read_gold(path: str | os.PathLike, dataset: str | None = None) -> list[tuple[dict, int]]:
    """Gold sentences of a canonical JSONL split as (``{"id", "tokens", "tags"}``, line).

    Ids are built as ``predict`` builds them: ``<doc_id>/<sent_id>``, defaulting to
    ``dataset`` (else the parent folder's name) and the line number.
    """
    path = Path(path)
    dataset = dataset or path.parent.name
    if not path.is_file():
        raise InputError("gold file not found", path)
    out: list[tuple[dict, int]] = []
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
            except json.JSONDecodeError as e:
                raise InputError(f"invalid JSON ({e.msg})", path, lineno) from None
            rec = rec if isinstance(rec, dict) else {}
            tokens, tags = rec.get("tokens"), rec.get("tags")
            if not isinstance(tokens, list) or not isinstance(tags, list):
                raise InputError("record has no 'tokens'/'tags' lists", path, lineno)
            if len(tags) != len(tokens):
                raise InputError("record's 'tags' are not one per token", path, lineno)
            sent_id = f"{rec.get('doc_id', dataset)}/{rec.get('sent_id', lineno)}"
            out.append(({"id": sent_id, "tokens": tokens, "tags": tags}, lineno))
    return out


def check_against_gold(
    pred_path: str | os.PathLike,
    records: Sequence[tuple[dict, int]],
    gold_path: str | os.PathLike,
    gold: Sequence[tuple[dict, int]],
) -> None:
    """The prediction holds exactly the gold sentences, in order, with the same ids, tokens and
    gold tags; else an :class:`InputError` naming the prediction file, line and sentence."""
    for i, (g, g_line) in enumerate(gold):
        where = f"sentence {i + 1} ('{g['id']}', {gold_path}:{g_line})"
        if i >= len(records):
            raise InputError(
                f"ends after {len(records)} sentences but the gold test split has {len(gold)}: "
                f"{where} and {len(gold) - i - 1} more are missing (truncated file?)",
                pred_path,
            )
        r, line = records[i]
        if r["id"] != g["id"]:
            raise InputError(f"sentence id '{r['id']}' where the gold has {where}", pred_path, line)
        if len(r["tokens"]) != len(g["tokens"]):
            raise InputError(
                f"{where}: {len(r['tokens'])} tokens, the gold has {len(g['tokens'])}",
                pred_path,
                line,
            )
        for j, (tok, gtok, tag, gtag) in enumerate(
            zip(r["tokens"], g["tokens"], r["gold"], g["tags"], strict=True)
        ):
            if tok != gtok:
                raise InputError(
                    f"{where}: token {j + 1} is {tok!r}, the gold has {gtok!r}",
                    pred_path,
                    line + j + 1,
                )
            if tag != gtag:
                raise InputError(
                    f"{where}: gold tag of token {j + 1} is {tag!r}, the gold file has {gtag!r}",
                    pred_path,
                    line + j + 1,
                )
    if len(records) > len(gold):
        r, line = records[len(gold)]
        raise InputError(
            f"{len(records)} sentences but the gold test split {gold_path} has {len(gold)}: "
            f"sentence '{r['id']}' is not in it",
            pred_path,
            line,
        )


# --------------------------------------------------------------------------- entities


def entities(sequences: Sequence[Sequence[str]]) -> list[list[Span]]:
    """Entities per sentence of valid IOB2 tags (decoded ones), extracted by seqeval."""
    per_sentence = Entities([list(s) for s in sequences], IOB2).entities
    return [[Span(e.tag, e.start, e.end) for e in ents] for ents in per_sentence]


def _length_bucket(span: Span) -> str:
    length = span.end - span.start
    return LENGTH_BUCKETS[min(length, 3) - 1]


def _overlaps(a: Span, b: Span) -> bool:
    return a.type == b.type and a.start < b.end and b.start < a.end


# --------------------------------------------------------------------------- scores


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
    """Scores by entity length in tokens: buckets "1", "2", ">=3".

    For bucket b: TP = predicted entities of length b that exactly match a gold entity (same
    span and type; a match implies the gold entity is in b too); precision = TP / #predicted
    entities in b; recall = TP / #gold entities in b; support = #gold in b; n_pred = #pred in b.
    """
    tp = dict.fromkeys(LENGTH_BUCKETS, 0)
    n_gold = dict.fromkeys(LENGTH_BUCKETS, 0)
    n_pred = dict.fromkeys(LENGTH_BUCKETS, 0)
    for g_sent, p_sent in zip(gold_ents, pred_ents, strict=True):
        gold_set = set(g_sent)
        for span in g_sent:
            n_gold[_length_bucket(span)] += 1
        for span in p_sent:
            bucket = _length_bucket(span)
            n_pred[bucket] += 1
            tp[bucket] += span in gold_set
    out = {}
    for b in LENGTH_BUCKETS:
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


def _safe_div(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    num, den = num.astype(np.float64), den.astype(np.float64)
    return np.divide(num, den, out=np.zeros_like(num), where=den > 0)


def bootstrap_ci(
    tp: np.ndarray, n_pred: np.ndarray, n_gold: np.ndarray, n_resamples: int, seed: int
) -> dict:
    """95 % percentile-bootstrap CIs of micro P, R, F1, resampling sentences with replacement.

    Each resample draws ``len(tp)`` sentence indices from ``numpy.random.default_rng(seed)`` and
    sums the precomputed per-sentence counts; F1 = 2 TP / (#pred + #gold). Zero division = 0.
    """
    if n_resamples < 1:
        raise ValueError(f"bootstrap must be >= 1, got {n_resamples}")
    out = {"n": int(n_resamples), "seed": int(seed)}
    n = len(tp)
    if n == 0:
        return {**out, "precision_ci": [0.0, 0.0], "recall_ci": [0.0, 0.0], "f1_ci": [0.0, 0.0]}
    rng = np.random.default_rng(seed)
    counts = np.stack([tp, n_pred, n_gold])  # (3, n)
    sums = np.empty((3, n_resamples), dtype=np.int64)
    block = max(1, _BOOTSTRAP_BLOCK_CELLS // n)
    for start in range(0, n_resamples, block):
        stop = min(start + block, n_resamples)
        idx = rng.integers(0, n, size=(stop - start, n))
        sums[:, start:stop] = counts[:, idx].sum(axis=2)
    s_tp, s_pred, s_gold = sums
    stats = {
        "precision_ci": _safe_div(s_tp, s_pred),
        "recall_ci": _safe_div(s_tp, s_gold),
        "f1_ci": _safe_div(2 * s_tp, s_pred + s_gold),
    }
    for key, values in stats.items():
        lo, hi = np.percentile(values, [2.5, 97.5])
        out[key] = [float(lo), float(hi)]
    return out


def per_sentence_record(
    tp: np.ndarray, n_pred: np.ndarray, n_gold: np.ndarray, ids: Sequence[str] | None = None
) -> dict:
    """Per-sentence exact-match counts for paired tests between runs (``metrics["per_sentence"]``).

    ``ids_sha256`` (of the newline-joined sentence ids, in file order) lets a paired test check
    that two runs were scored on the same sentences in the same order.
    """
    import hashlib

    out = {"tp": tp.tolist(), "n_pred": n_pred.tolist(), "n_gold": n_gold.tolist()}
    if ids is not None:
        out["ids_sha256"] = hashlib.sha256("\n".join(ids).encode("utf-8")).hexdigest()
    return out


def read_per_sentence(metrics: Mapping[str, Any]) -> tuple[np.ndarray, ...] | None:
    """(tp, n_pred, n_gold) arrays from a metrics JSON; None for files written before they were
    recorded."""
    rec = metrics.get("per_sentence")
    if not isinstance(rec, Mapping) or not all(k in rec for k in ("tp", "n_pred", "n_gold")):
        return None
    return tuple(np.asarray(rec[k], dtype=np.int64) for k in ("tp", "n_pred", "n_gold"))


def paired_bootstrap(
    a: Sequence[tuple[np.ndarray, np.ndarray, np.ndarray]],
    b: Sequence[tuple[np.ndarray, np.ndarray, np.ndarray]],
    n_resamples: int,
    seed: int,
) -> dict:
    """Paired bootstrap of the micro-F1 difference between systems A and B.

    ``a[k]`` and ``b[k]`` are the per-sentence (tp, #pred, #gold) counts of seed pair k, all on
    the same test sentences. Each resample draws one set of sentence indices (with replacement)
    and applies it to every run of both systems; the statistic is the mean over seed pairs of
    F1(A) − F1(B). Returns the observed difference, its 95 % percentile CI and a two-sided
    p-value, 2 · min(P*(Δ ≤ 0), P*(Δ ≥ 0)) over the resamples (capped at 1).
    """
    if not a or len(a) != len(b):
        raise ValueError(f"need the same number (>0) of runs per system, got {len(a)}, {len(b)}")
    n = len(a[0][0])
    if any(len(c) != n for run in (*a, *b) for c in run):
        raise ValueError("paired runs were scored on different numbers of sentences")
    if n_resamples < 1:
        raise ValueError(f"bootstrap must be >= 1, got {n_resamples}")
    runs = np.stack([np.stack(r) for r in (*a, *b)])  # (2k, 3, n)
    k = len(a)

    def delta(sums: np.ndarray) -> np.ndarray:  # sums: (2k, 3, m) -> (m,)
        f1 = _safe_div(2 * sums[:, 0], sums[:, 1] + sums[:, 2])
        return f1[:k].mean(axis=0) - f1[k:].mean(axis=0)

    observed = float(delta(runs.sum(axis=2)[..., None])[0])
    rng = np.random.default_rng(seed)
    deltas = np.empty(n_resamples)
    block = max(1, _BOOTSTRAP_BLOCK_CELLS // max(1, n * 6 * k))
    for start in range(0, n_resamples, block):
        stop = min(start + block, n_resamples)
        idx = rng.integers(0, n, size=(stop - start, n)) if n else np.zeros((stop - start, 0), int)
        deltas[start:stop] = delta(runs[:, :, idx].sum(axis=3))
    lo, hi = np.percentile(deltas, [2.5, 97.5])
    p = min(1.0, 2 * min(float(np.mean(deltas <= 0)), float(np.mean(deltas >= 0))))
    return {
        "delta_f1": observed,
        "ci": [float(lo), float(hi)],
        "p_value": p,
        "n": int(n_resamples),
        "seed": int(seed),
        "pairs": k,
    }


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
    """All metrics for one prediction set (see the module docstring for the decoding rule).

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


# --------------------------------------------------------------------------- CLI


meta_path = paths.pred_meta  # the sidecar predict writes beside a prediction file


def read_meta(pred_path: str | os.PathLike) -> dict[str, Any] | None:
    """The sidecar ``<pred>.meta.json`` (None if absent); ``sentences`` and
    ``alignment_failures``, when there, must be non-negative integers."""
    sidecar = meta_path(pred_path)
    if not sidecar.is_file():
        return None
    try:
        meta = json.loads(sidecar.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise InputError(f"invalid JSON ({e.msg})", sidecar, e.lineno) from None
    if not isinstance(meta, dict):
        raise InputError("expected a JSON object", sidecar)
    for key in ("sentences", "alignment_failures"):
        value = meta.get(key)
        if key in meta and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
            raise InputError(f"{key} must be a non-negative integer, got {value!r}", sidecar)
    return meta


def read_alignment_failures(pred_path: str | os.PathLike) -> int | None:
    """``alignment_failures`` from the sidecar ``<pred>.meta.json``, or None if absent."""
    meta = read_meta(pred_path)
    return None if meta is None else meta.get("alignment_failures")


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def _parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="nerbench evaluate", description=__doc__.splitlines()[0])
    parser.add_argument("--pred", required=True, help="prediction file (CoNLL: token gold pred)")
    parser.add_argument(
        "--gold", required=True, help="gold test split the prediction was made from (JSONL)"
    )
    parser.add_argument("--output", required=True, help="metrics JSON to write")
    parser.add_argument("--run-id", required=True)
    parser.add_argument("--dataset", required=True)
    parser.add_argument(
        "--bootstrap",
        type=_positive_int,
        default=defaults.EVALUATION["bootstrap"],
        help="resamples",
    )
    parser.add_argument(
        "--seed", type=int, default=defaults.EVALUATION["seed"], help="bootstrap seed"
    )
    parser.add_argument(
        "--diagnostic-seqeval-strict-raw",
        action="store_true",
        help="also record seqeval's strict mode on the raw, undecoded predicted tags "
        "(a diagnostic, never a headline score)",
    )
    return parser.parse_args(argv)


def main_evaluate(argv: list[str]) -> int:
    """``python -m nerbench evaluate --pred X.conll --output metrics.json --run-id ID ...``."""
    args = _parse_args(argv)
    records = _read_conll(args.pred)
    gold = read_gold(args.gold, args.dataset)
    meta = read_meta(args.pred)
    if meta is not None and "sentences" in meta and meta["sentences"] != len(gold):
        raise InputError(
            f"predict recorded {meta['sentences']} sentences but the gold test split "
            f"{args.gold} has {len(gold)} (prediction made from another test split?)",
            meta_path(args.pred),
        )
    check_against_gold(args.pred, records, args.gold, gold)
    metrics = compute_metrics(
        [g["tags"] for g, _ in gold],
        [r["pred"] for r, _ in records],
        bootstrap=args.bootstrap,
        seed=args.seed,
        ids=[r["id"] for r, _ in records],
        diagnostic_seqeval_strict_raw=args.diagnostic_seqeval_strict_raw,
    )
    metrics["run_id"] = args.run_id
    metrics["dataset"] = args.dataset
    if meta is not None and "alignment_failures" in meta:
        metrics["alignment_failures"] = meta["alignment_failures"]
    write_json(args.output, metrics)
    micro = metrics["exact"]["micro"]
    print(
        f"evaluate {args.run_id} on {args.dataset}: {metrics['n_sentences']} sentences, "
        f"exact P={micro['precision']:.4f} R={micro['recall']:.4f} F1={micro['f1']:.4f}, "
        f"relaxed F1={metrics['relaxed']['micro']['f1']:.4f}, "
        f"{metrics['decoding']['pred_tags_changed']} predicted tags repaired"
    )
    return 0
