"""Evaluate a prediction file: exact-match and relaxed scores, length buckets, bootstrap CIs.

``python -m nerbench evaluate --pred X.conll --gold test.jsonl --output metrics.json ...`` reads
the prediction file (:mod:`~nerbench.evaluate.conll`), checks it against the gold test split it
was made from (:mod:`~nerbench.evaluate.gold`), scores it (:mod:`~nerbench.evaluate.scores`) and
writes the metrics JSON.
"""

from __future__ import annotations

import argparse

from nerbench import defaults
from nerbench.evaluate.conll import read_conll_records, read_meta
from nerbench.evaluate.gold import check_against_gold, check_sentence_count, read_gold
from nerbench.evaluate.scores import compute_metrics
from nerbench.io import write_json


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
    records = read_conll_records(args.pred)
    gold = read_gold(args.gold, args.dataset)
    meta = read_meta(args.pred)
    check_sentence_count(args.pred, meta, args.gold, len(gold))
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
