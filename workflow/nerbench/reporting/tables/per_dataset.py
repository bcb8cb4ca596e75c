"""Systems x (dataset, score) tables of paper 000: exact/relaxed F1 and F1 by entity length,
LLMs against encoders."""

from __future__ import annotations

from typing import Any

from nerbench.evaluate.buckets import length_buckets
from nerbench.reporting.compare import ordered_datasets
from nerbench.reporting.render import Table, _finite, fmt, rank_marks
from nerbench.reporting.tables.common import prepared, summary_for


def _family_gap_rows(summary, columns: list[tuple[str, str]], headers: dict) -> list[dict]:
    """ "LLM − best encoder" cells: best decoder minus best encoder, per column."""
    rec: dict[str, Any] = {"System": "LLM − best encoder", "Family": "", "Source": "ours"}
    data = []
    for key in columns:
        col = f"{key[1]}_mean"
        sub = summary[summary["dataset"] == key[0]]
        dec = sub.loc[sub["family"] == "decoder", col].max()
        enc = sub.loc[sub["family"] == "encoder", col].max()
        gap = dec - enc if _finite(dec) and _finite(enc) else None
        rec[headers[key]] = fmt(gap, signed=True)
        data.append({"dataset": key[0], "score": key[1], "llm_minus_best_encoder": gap})
    return [rec], data


def per_dataset_table(df, ref, name: str) -> Table:
    """Systems × (dataset, score) tables: exact/relaxed F1 or F1 by entity length (paper 000)."""
    import pandas as pd

    df = prepared(df)
    if name == "llm_vs_encoder_f1":
        scores = {"exact_f1": "exact", "relaxed_f1": "relaxed"}
        caption = "Exact-match and relaxed (partial-overlap) F1 (%) per dataset: LLMs vs encoders."
    else:
        scores = {f"f1_{b.column}": b.label for _, b in length_buckets()}
        caption = (
            f"F1 (%, exact match) by gold entity length in tokens ({', '.join(scores.values())}) "
            "per dataset."
        )
    summary = summary_for(df, ["dataset"], list(scores))
    datasets, _ = ordered_datasets(df, None)
    keys = [(d, s) for d in datasets for s in scores]
    headers = {(d, s): f"{d} {scores[s]}" for d, s in keys}
    summary = summary.sort_values(
        ["family", "system"], key=lambda s: s.ne("encoder") if s.name == "family" else s
    )
    records, candidates = [], {}
    for system, fam in summary[["system", "family"]].drop_duplicates().itertuples(index=False):
        rec = {"System": system, "Family": fam, "Source": "ours"}
        i = len(records)
        for d, s in keys:
            hit = summary[(summary["system"] == system) & (summary["dataset"] == d)]
            mean = hit[f"{s}_mean"].iloc[0] if len(hit) else None
            sd = hit[f"{s}_sd"].iloc[0] if len(hit) else None
            rec[headers[(d, s)]] = fmt(mean, sd)
            candidates.setdefault(headers[(d, s)], {})[(i, headers[(d, s)])] = mean
        records.append(rec)
    gap_rows, gap_data = _family_gap_rows(summary, keys, headers)
    families = set(summary["family"])
    notes = ["Ours: mean ± sd over seeds; hyper-parameters chosen on dev F1."]
    if {"encoder", "decoder"} <= families:
        records += gap_rows
    if ref is not None and "claim" in ref.columns:
        claim = ref[ref["claim"] == "llm_minus_best_encoder"]
        if len(claim):
            c = claim.iloc[0]
            notes.append(
                f"Paper 000 (abstract only) reports LLMs ahead of the best encoder by "
                f"{c.low:g}–{c.high:g} {c.unit}; no per-dataset numbers are published."
            )
    display = pd.DataFrame(records)
    marks: dict = {}
    for cells in candidates.values():
        marks.update(rank_marks(cells))
    long = summary.melt(
        id_vars=["system", "family", "dataset", "n_seeds"],
        value_vars=[c for s in scores for c in (f"{s}_mean", f"{s}_sd") if c in summary],
        var_name="score",
        value_name="value",
    )
    data = pd.concat([long, pd.DataFrame(gap_data)], ignore_index=True)
    spans = [("", 3)] + [(d, len(scores)) for d in datasets]
    return Table(name, caption, data, display, marks, spans, notes)


def llm_vs_encoder_f1(df, ref) -> Table:
    """Exact and relaxed F1 per dataset, LLMs against encoders."""
    return per_dataset_table(df, ref, "llm_vs_encoder_f1")


def f1_by_length(df, ref) -> Table:
    """F1 by gold entity length per dataset."""
    return per_dataset_table(df, ref, "f1_by_length")
