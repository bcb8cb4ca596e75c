"""Aggregate every (run, evaluation dataset) into one tidy TSV: scores, configuration and cost.

``python -m nerbench aggregate --metrics results/runs/<id>/metrics/<ds>.json ... --groups JSON
--out results/aggregate/metrics.tsv``

Each metrics file sits in ``results/runs/<run_id>/metrics/<dataset>.json``; its run directory (two
levels up) holds ``run.json`` (the run's config slice, required), ``cost.json`` (training cost) and
``pred/<dataset>.infer_cost.json`` (inference cost). The cost files are read defensively: several
key spellings are accepted and a missing file leaves empty cells (with a warning on stderr).
Inference cost files written since #12 also give the timing repeats (fastest, slowest, spread),
the job's threads and the machine's load; older files leave those cells empty.
Scores are kept as the fractions the evaluator writes; tables and figures convert to percent.
The headline scores are ``exact_*`` (exact match after the IOB2 decoding rule, conlleval.pl's
score) and ``relaxed_*``, with ``repaired_tags`` (predicted tags the rule rewrote) beside them.
Metrics files and tables written before #27 name the exact-match score ``default`` (seqeval's
conlleval mode; ``strict`` equals it after decoding) and are read as such (:data:`SCORE_KEYS`).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from nerbench import paths
from nerbench.evaluate.buckets import length_buckets
from nerbench.io import InputError, json_option, read_json, write_text

# Score mode -> its key in a metrics file, then the keys older files used for it: the exact-match
# score was "default" (seqeval's conlleval mode), which "strict" equals once tags are decoded.
SCORE_KEYS: dict[str, tuple[str, ...]] = {
    "exact": ("exact", "default", "strict"),
    "relaxed": ("relaxed",),
}
MODES = tuple(SCORE_KEYS)
# Predicted tags the decoding rule rewrote (``decoding.pred_tags_changed``); empty for files
# written before the rule.
REPAIRED_COLUMN = "repaired_tags"
SCORES = (("precision", "p"), ("recall", "r"), ("f1", "f1"))

# Output column <- accepted key spellings, first match wins (cost files come from other modules).
TRAIN_COST_KEYS: dict[str, tuple[str, ...]] = {
    "train_wall_s": ("wall_time_s", "train_wall_time_s", "train_wall_s", "wall_s", "train_time_s"),
    "peak_rss_mb": ("peak_cpu_rss_mb", "peak_rss_mb", "peak_cpu_mb", "max_rss_mb"),
    "peak_gpu_mb": ("peak_gpu_memory_mb", "peak_gpu_mb", "peak_gpu_mem_mb", "max_gpu_mb"),
    "train_device": ("device",),
    "tokens_seen": ("tokens_seen", "train_tokens", "n_tokens"),
    "steps": ("steps", "global_step", "total_steps", "optimizer_steps"),
    "best_step": ("best_step",),
    "best_dev_f1": ("best_dev_f1", "dev_f1_best", "best_dev"),
}
INFER_COST_KEYS: dict[str, tuple[str, ...]] = {
    "infer_sent_per_s": ("sentences_per_s", "sent_per_s", "sentences_per_second"),
    "infer_tok_per_s": ("tokens_per_s", "tok_per_s", "tokens_per_second"),
    "infer_wall_s": ("forward_time_s", "model_time_s", "total_time_s", "wall_time_s"),
    "infer_peak_mem_mb": ("peak_memory_mb", "peak_mem_mb", "peak_gpu_memory_mb", "peak_cpu_rss_mb"),
    "infer_batch_size": ("batch_size",),
    "infer_device": ("device",),
    # timing repeats and conditions (predict since #12; older files leave these cells empty)
    "infer_timing_repeats": ("timing_repeats",),
    "infer_forward_spread": ("forward_time_spread",),
    "infer_threads": ("threads", "num_threads"),
    "infer_load_avg_1m": ("load_avg_1m_end", "load_avg_1m"),
    "infer_other_cpus": ("other_cpus",),
}
# Fastest and slowest timed repeat, from ``forward_time_repeats_s`` (error bars of cost_f1).
INFER_REPEAT_COLUMNS = ["infer_forward_min_s", "infer_forward_max_s"]
NESTED_COST_KEYS = ("training", "train", "inference", "infer", "cost")

ID_COLUMNS = [
    "run_id",
    "group",
    "dataset",
    "types",
    "model",
    "family",
    "method",
    "quantization",
    "train_datasets",
    "dbr",
    "kb",
    "kb_umls",
    "seed",
]
COUNT_COLUMNS = ["n_sentences", "n_tokens", "n_gold_entities", "n_pred_entities"]
REQUIRED_COLUMNS = ["run_id", "group", "dataset", "model", "family", "seed", "exact_f1"]


def score_columns() -> list[str]:
    """Micro P/R/F1 (+ support) of every mode, repaired tags, F1 by entity length and the
    bootstrap CIs."""
    cols = [f"{m}_{short}" for m in MODES for _, short in SCORES]
    cols += [f"{m}_support" for m in MODES] + [REPAIRED_COLUMN]
    cols += [f"f1_{b.column}" for _, b in length_buckets()]
    cols += [f"support_{b.column}" for _, b in length_buckets()]
    cols += [f"{short}_ci_{end}" for _, short in SCORES for end in ("lo", "hi")]
    return cols


COST_COLUMNS = (
    list(TRAIN_COST_KEYS) + list(INFER_COST_KEYS) + INFER_REPEAT_COLUMNS + ["alignment_failures"]
)


# --------------------------------------------------------------------------- reading


def _pick(sources: Iterable[Mapping[str, Any]], keys: tuple[str, ...]) -> Any:
    for src in sources:
        for key in keys:
            if key in src and src[key] is not None:
                return src[key]
    return None


def _cost_sources(obj: Any) -> list[Mapping[str, Any]]:
    """The top level of a cost file plus any nested ``training``/``inference`` section."""
    if not isinstance(obj, Mapping):
        return []
    nested = [obj[k] for k in NESTED_COST_KEYS if isinstance(obj.get(k), Mapping)]
    return [obj, *nested]


def _read_optional_json(path: Path, what: str) -> Any:
    if not path.is_file():
        print(f"warning: {what} not found: {path} (cells left empty)", file=sys.stderr)
        return {}
    try:
        return read_json(path)
    except json.JSONDecodeError as e:
        raise InputError(f"invalid JSON in {what} ({e.msg})", path, e.lineno) from None


def _get(obj: Any, *keys: str) -> Any:
    for key in keys:
        if not isinstance(obj, Mapping) or key not in obj:
            return None
        obj = obj[key]
    return obj


def _num(x: Any) -> float | None:
    if isinstance(x, bool) or x is None:
        return None
    try:
        v = float(x)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(v) else v


def run_dir_of(metrics_path: Path) -> Path:
    """``results/runs/<id>/metrics/<ds>.json`` -> ``results/runs/<id>``."""
    return metrics_path.parent.parent


def infer_cost_path(run_dir: Path, dataset: str) -> Path:
    """Inference cost of one evaluation dataset (``pred/<ds>.infer_cost.json`` or a folder form)."""
    for cand in (
        paths.run_file(run_dir, "infer_cost", dataset=dataset),
        run_dir / "pred" / dataset / "infer_cost.json",  # an older folder form, still read
    ):
        if cand.is_file():
            return cand
    return paths.run_file(run_dir, "infer_cost", dataset=dataset)


def score_block(metrics: Mapping[str, Any], mode: str) -> Mapping[str, Any] | None:
    """A metrics file's ``{"micro", "per_type"}`` block of one score mode (older keys too)."""
    for key in SCORE_KEYS[mode]:
        block = metrics.get(key)
        if isinstance(block, Mapping):
            return block
    return None


def exact_f1(metrics: Mapping[str, Any]) -> float | None:
    """The exact-match micro F1 of a metrics file, whichever version wrote it."""
    return _num(_get(score_block(metrics, "exact"), "micro", "f1"))


def _score_cells(metrics: Mapping[str, Any], path: Path) -> dict[str, Any]:
    row: dict[str, Any] = {}
    for mode in MODES:
        micro = _get(score_block(metrics, mode), "micro")
        for key, short in SCORES:
            row[f"{mode}_{short}"] = _num(_get(micro, key))
        row[f"{mode}_support"] = _num(_get(micro, "support"))
    if row["exact_f1"] is None:
        raise InputError("missing or non-numeric 'exact.micro.f1' (exact-match F1)", path)
    row[REPAIRED_COLUMN] = _num(_get(metrics, "decoding", "pred_tags_changed"))
    for key, bucket in length_buckets():
        row[f"f1_{bucket.column}"] = _num(_get(metrics, "by_length", key, "f1"))
        row[f"support_{bucket.column}"] = _num(_get(metrics, "by_length", key, "support"))
    for key, short in SCORES:
        ci = _get(metrics, "bootstrap", f"{key}_ci")
        lo, hi = ci if isinstance(ci, list | tuple) and len(ci) == 2 else (None, None)
        row[f"{short}_ci_lo"], row[f"{short}_ci_hi"] = _num(lo), _num(hi)
    per_type = _get(score_block(metrics, "exact"), "per_type") or {}
    for etype, sc in sorted(per_type.items()):
        for key, short in SCORES:
            row[f"type_{short}_{etype}"] = _num(_get(sc, key))
    gold_types = [t for t, sc in per_type.items() if (_num(_get(sc, "support")) or 0) > 0]
    row["types"] = "+".join(sorted(gold_types or per_type))
    return row


def _run_cells(run: Mapping[str, Any], path: Path) -> dict[str, Any]:
    model = run.get("model")
    if not isinstance(model, Mapping) or "id" not in model:
        raise InputError("missing key 'model.id'", path)
    train = run.get("train_datasets") or []
    row: dict[str, Any] = {
        "model": model["id"],
        "family": model.get("family", ""),
        "method": run.get("method") or model.get("method", ""),
        "quantization": model.get("quantization", ""),
        "train_datasets": "+".join(train),
        "dbr": run.get("dbr", "none"),
        "seed": run.get("seed"),
    }
    for key, value in sorted((run.get("hparams") or {}).items()):
        row[f"hp_{key}"] = value
    return row


def kb_cells(run: Mapping[str, Any], run_dir: Path) -> dict[str, Any]:
    """The KB a DBR run's samples came from, read from their stats (``results/dbr/<ds>/<v>``).

    ``kb``: ``<name>: <composition>`` (names per category, sources, UMLS yes/no; several KBs
    joined with " | "); ``kb_umls``: yes / no. Empty for runs without DBR or stats without a KB
    record (written before the KB was recorded).
    """
    variant = run.get("dbr", "none")
    if variant == "none":
        return {"kb": "", "kb_umls": ""}
    root = run_dir.parents[len(Path(paths.RUN_DIR).parts) - 1]  # the project root
    records = []
    for ds in run.get("train_datasets") or []:
        stats_path = root / paths.fill(paths.DBR_STATS, dataset=ds, variant=variant)
        kb = _get(_read_optional_json(stats_path, "DBR stats"), "kb")
        if isinstance(kb, Mapping):
            records.append(kb)
        else:
            print(f"warning: no KB record in {stats_path} (kb cell left empty)", file=sys.stderr)
    if not records:
        return {"kb": "", "kb_umls": ""}
    texts = list(dict.fromkeys(f"{r.get('name', '')}: {r.get('composition', '')}" for r in records))
    return {
        "kb": " | ".join(texts),
        "kb_umls": "yes" if all(r.get("umls") for r in records) else "no",
    }


def aggregate_row(metrics_path: Path, groups: Mapping[str, str] | None) -> dict[str, Any]:
    """One row of the aggregate table for one metrics file."""
    metrics_path = Path(metrics_path)
    if not metrics_path.is_file():
        raise InputError("metrics file not found", metrics_path)
    try:
        metrics = read_json(metrics_path)
    except json.JSONDecodeError as e:
        raise InputError(f"invalid JSON ({e.msg})", metrics_path, e.lineno) from None
    for key in ("run_id", "dataset"):
        if key not in metrics:
            raise InputError(f"missing key '{key}'", metrics_path)
    run_id, dataset = metrics["run_id"], metrics["dataset"]
    run_dir = run_dir_of(metrics_path)
    run_json = paths.run_file(run_dir, "spec")
    if not run_json.is_file():
        raise InputError(
            f"run.json of run '{run_id}' not found (expected beside metrics/)", run_json
        )
    if groups is not None and run_id not in groups:
        raise InputError(f"run '{run_id}' has no group in --groups", metrics_path)
    row: dict[str, Any] = {
        "run_id": run_id,
        "group": "" if groups is None else groups[run_id],
        "dataset": dataset,
        "run_dir": str(run_dir),
    }
    run = read_json(run_json)
    row.update(_run_cells(run, run_json))
    row.update(kb_cells(run, run_dir))
    for key in COUNT_COLUMNS:
        row[key] = _num(metrics.get(key))
    row.update(_score_cells(metrics, metrics_path))
    failures = metrics.get("alignment_failures")
    row["alignment_failures"] = len(failures) if isinstance(failures, list) else _num(failures)
    train_cost = _cost_sources(_read_optional_json(run_dir / "cost.json", "training cost"))
    for col, keys in TRAIN_COST_KEYS.items():
        row[col] = _pick(train_cost, keys)
    infer_path = infer_cost_path(run_dir, dataset)
    infer_cost = _cost_sources(_read_optional_json(infer_path, "inference cost"))
    for col, keys in INFER_COST_KEYS.items():
        row[col] = _pick(infer_cost, keys)
    row.update(_repeat_cells(_pick(infer_cost, ("forward_time_repeats_s",))))
    median = _num(row["infer_wall_s"])
    if row["infer_forward_spread"] is None and row["infer_forward_max_s"] is not None and median:
        row["infer_forward_spread"] = (
            row["infer_forward_max_s"] - row["infer_forward_min_s"]
        ) / median
    return row


def _repeat_cells(repeats: Any) -> dict[str, Any]:
    """Fastest and slowest timed repeat (empty cells when the file has no repeats)."""
    times = [_num(t) for t in repeats] if isinstance(repeats, list) else []
    times = [t for t in times if t is not None]
    if not times:
        return dict.fromkeys(INFER_REPEAT_COLUMNS)
    return {"infer_forward_min_s": min(times), "infer_forward_max_s": max(times)}


def aggregate(metrics_paths: Iterable[str | Path], groups: Mapping[str, str] | None):
    """All rows as a DataFrame with a stable column order and a deterministic row order."""
    import pandas as pd

    rows = [aggregate_row(Path(p), groups) for p in metrics_paths]
    if not rows:
        raise InputError("no metrics files given (--metrics)")
    df = pd.DataFrame(rows)
    dupes = df[df.duplicated(["run_id", "dataset"], keep=False)]
    if not dupes.empty:
        first = dupes.iloc[0]
        raise InputError(f"run '{first.run_id}' has two metrics files for '{first.dataset}'")
    hp_cols = sorted(c for c in df.columns if c.startswith("hp_"))
    type_cols = sorted(c for c in df.columns if c.startswith("type_"))
    order = ID_COLUMNS + hp_cols + COUNT_COLUMNS + score_columns() + type_cols + COST_COLUMNS
    order += ["run_dir"]
    df = df.reindex(columns=order)
    return df.sort_values(["group", "model", "train_datasets", "dbr", "dataset", "seed", "run_id"])


# --------------------------------------------------------------------------- loading for tables


def load_metrics_table(path: str | Path):
    """Read ``metrics.tsv`` written by :func:`aggregate`; a missing column is an InputError."""
    import pandas as pd

    path = Path(path)
    if not path.is_file():
        raise InputError("aggregated metrics table not found", path)
    text_cols = {"kb": str, "kb_umls": str}  # often all empty: never read as float
    df = pd.read_csv(path, sep="\t", keep_default_na=True, na_values=[""], dtype=text_cols)
    df = _renamed_legacy_columns(df)
    missing = [c for c in REQUIRED_COLUMNS if c not in df.columns]
    if missing:
        raise InputError(f"missing column(s) {missing}; was it written by 'aggregate'?", path, 1)
    for col in ("group", "model", "family", "method", "train_datasets", "dbr", "types", *text_cols):
        if col in df.columns:
            df[col] = df[col].fillna("").astype(str)
    return df


def _renamed_legacy_columns(df):
    """A table written before #27: its ``default_*`` (else ``strict_*``) columns become
    ``exact_*`` (:data:`SCORE_KEYS`); the other old mode's columns are dropped."""
    old_modes = SCORE_KEYS["exact"][1:]
    old = next((m for m in old_modes if f"{m}_f1" in df.columns), None)
    if "exact_f1" in df.columns or old is None:
        return df
    shorts = [short for _, short in SCORES] + ["support"]
    df = df.rename(columns={f"{old}_{short}": f"exact_{short}" for short in shorts})
    stale = [f"{m}_{short}" for m in old_modes for short in shorts]
    return df.drop(columns=[c for c in stale if c in df.columns])


# --------------------------------------------------------------------------- CLI


def _parse_groups(value: str | None) -> dict[str, str] | None:
    if value is None:
        return None
    text = value
    if value.startswith("@"):
        path = Path(value[1:])
        if not path.is_file():
            raise InputError("groups file not found (--groups @FILE)", path)
        text = path.read_text(encoding="utf-8")
    groups = json_option(text, "--groups")
    if not all(isinstance(v, str) for v in groups.values()):
        raise InputError("--groups must be a JSON object {run_id: group_name}")
    return groups


def main_aggregate(argv: list[str]) -> int:
    """CLI: aggregate metrics JSON files (+ run.json, cost files) into one TSV."""
    ap = argparse.ArgumentParser(prog="nerbench aggregate", description=__doc__)
    ap.add_argument("--metrics", nargs="+", required=True, help="metrics/<dataset>.json files")
    ap.add_argument("--groups", help="JSON {run_id: group} or @file.json")
    ap.add_argument("--out", required=True, help="output TSV (written atomically)")
    args = ap.parse_args(argv)
    df = aggregate(args.metrics, _parse_groups(args.groups))
    # full precision (shortest round-trip repr): a table rounding a pre-rounded value would
    # round twice (0.765550 -> "0.76555" -> 76.55 instead of 76.56)
    write_text(args.out, df.to_csv(sep="\t", index=False, na_rep=""))
    print(f"aggregated {len(df)} rows from {df['run_id'].nunique()} runs -> {args.out}")
    return 0
