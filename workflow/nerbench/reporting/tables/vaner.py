"""VANER Tables 1 and 3 (P/R/F1 per dataset by category, DBR ablations) and Table 4 (per-type
F1 on the unseen CRAFT corpus)."""

from __future__ import annotations

from nerbench.io import InputError
from nerbench.reporting.compare import (
    Comparison,
    avg_diff,
    long_scores,
    match_system,
    ordered_datasets,
)
from nerbench.reporting.paired import add_paired_tests
from nerbench.reporting.render import Table
from nerbench.reporting.summary import dbr_ablation_rows, kb_of_system, kb_text
from nerbench.reporting.tables.common import prepared, standard_notes, summary_for

PRF = {"P": "exact_p", "R": "exact_r", "F1": "exact_f1"}


def _category_spans(columns: list[str], category: dict[str, str], lead: int) -> list:
    spans: list[tuple[str, int]] = [("", lead)]
    for c in columns:
        if spans and spans[-1][0] == category[c] and len(spans) > 1:
            spans[-1] = (category[c], spans[-1][1] + 1)
        else:
            spans.append((category[c], 1))
    return spans


def vaner_table(df, ref, which: str) -> Table:
    """VANER Tables 1 and 3: P/R/F1 per dataset by category with the "avg. diff." column."""
    df = prepared(df)
    in_domain = [
        d in t.split("+") for d, t in zip(df["dataset"], df["train_datasets"], strict=True)
    ]
    df = df[in_domain]  # adaptation to unseen corpora is Table 4
    if which == "vaner_table1":  # each system's DBR variant on the datasets where it has one
        has_dbr = df.groupby(["base_system", "dataset"])["dbr"].transform(
            lambda s: (s == "dbr").any()
        )
        df = df[~has_dbr | (df["dbr"] == "dbr")]
    else:
        ref_names = [] if ref is None else list(dict.fromkeys(ref["system"]))
        matched = df["system"].map(lambda s: match_system(s, ref_names) is not None)
        df = df[df.index.isin(dbr_ablation_rows(df).index) | matched]
    if df.empty:
        raise InputError(f"{which}: no runs to show (metrics.tsv has no matching systems)")
    summary = summary_for(df, ["dataset"], list(PRF.values()))
    columns, category = ordered_datasets(df, ref)
    ours = long_scores(summary, "dataset", PRF)
    paper = None
    if ref is not None:
        paper = ref.loc[ref["metric"].isin([*PRF, "avg_diff"]), ["system", "dataset", "metric"]]
        paper = paper.assign(value=ref["value"]).rename(columns={"dataset": "col"})
    comparison = Comparison(ours, paper, columns, list(PRF))
    base_of = dict(zip(summary["system"], summary["base_system"], strict=True))

    if which == "vaner_table1":
        vaner_ours = next((s for s, p in comparison.matches().items() if p == "VANER"), None)

        def anchor(system: str, source: str) -> tuple[str, str] | None:
            if system == vaner_ours:
                return None
            return ("ours", vaner_ours) if vaner_ours else ("paper", "VANER")

        caption = (
            "Precision, recall and F1 (%, exact match, micro) per dataset, by entity category "
            "(VANER Table 1). avg. diff. = mean F1 difference to VANER over the datasets a "
            "system reports."
        )
    else:

        def anchor(system: str, source: str) -> tuple[str, str] | None:
            base = base_of.get(system, system)
            return None if base == system else ("ours", base)

        caption = (
            "DBR ablations (VANER Table 3): each system with DBR, with random DBR and without "
            "DBR. avg. diff. = mean F1 difference to the same system with DBR."
        )
    comparison.extra = {"avg. diff.": avg_diff(comparison, anchor)}
    table = comparison.build(which, caption)
    table.data["category"] = table.data["col"].map(category).fillna("")
    table.data = table.data.rename(columns={"col": "dataset"})
    table.spans = _category_spans(columns, category, 3) + [("", 1)]
    kb_caption, kb_notes = kb_text(df)
    table.caption += kb_caption
    table.notes = standard_notes(ref) + kb_notes
    if which == "vaner_table3":
        add_paired_tests(table, df, columns)
        seeds = summary.groupby("system")["n_seeds"].min()
        if (seeds < 3).any():
            few = ", ".join(f"{s} ({n})" for s, n in seeds.items() if n < 3)
            table.notes.append(f"Fewer than 3 seeds: {few}; differences of 0.3–3 F1 need more.")
    if kb_notes:
        kb_of = kb_of_system(df)
        table.data["kb"] = [kb_of.get(s, "") for s in table.data["system"]]
    return table


def vaner_table1(df, ref) -> Table:
    """VANER Table 1: each system's DBR variant, P/R/F1 per dataset, avg. diff. to VANER."""
    return vaner_table(df, ref, "vaner_table1")


def vaner_table3(df, ref) -> Table:
    """VANER Table 3: DBR ablations, with paired tests against the same system with DBR."""
    return vaner_table(df, ref, "vaner_table3")


def vaner_table4(df, ref) -> Table:
    """VANER Table 4: per-type F1 on the unseen CRAFT corpus (adaptation)."""
    import pandas as pd

    df = prepared(df)
    df = df[df["dataset"].str.lower().str.startswith("craft")]
    if df.empty:
        raise InputError("vaner_table4: no evaluation on a CRAFT dataset in metrics.tsv")
    types = [] if ref is None else list(dict.fromkeys(ref["type"]))
    types += sorted(
        c[len("type_f1_") :]
        for c in df.columns
        if c.startswith("type_f1_") and df[c].notna().any() and c[len("type_f1_") :] not in types
    )
    metrics = {t: f"type_f1_{t}" for t in types if f"type_f1_{t}" in df.columns}
    summary = summary_for(df, ["dataset"], list(metrics.values()))
    if not metrics:
        raise InputError("vaner_table4: no per-type F1 (type_f1_*) for the CRAFT evaluation")
    parts = []
    for t, col in metrics.items():
        part = summary[["system", f"{col}_mean", f"{col}_sd", "n_seeds"]].copy()
        part.columns = ["system", "mean", "sd", "n_seeds"]
        parts.append(part.assign(col=t, metric="F1"))
    ours = pd.concat(parts, ignore_index=True)
    paper = None
    if ref is not None:
        paper = ref.rename(columns={"type": "col"})[["system", "col", "metric", "value"]]
    comparison = Comparison(ours, paper, types, ["F1"])
    caption = (
        "Per-type F1 (%, exact match) on CRAFT, a corpus unseen in training "
        "(VANER Table 4, adaptation)."
    )
    kb_caption, kb_notes = kb_text(df)
    table = comparison.build("vaner_table4", caption + kb_caption)
    table.notes = standard_notes(ref) + kb_notes
    return table
