"""Paper 002 Fig 13 as a table: F1 per model and batch size at one learning rate."""

from __future__ import annotations

import math

from nerbench.io import InputError
from nerbench.reporting.compare import match_system
from nerbench.reporting.render import Table, _finite, fmt, rank_marks
from nerbench.reporting.summary import summarize
from nerbench.reporting.tables.common import prepared


def foundation_f1(df, ref, learning_rate: float = 1e-5) -> Table:
    """Paper 002 Fig 13: F1 per model and batch size at one learning rate.

    Published numbers are matched on system, batch size *and* learning rate (the reference's
    ``learning_rate`` column): at a learning rate the paper gives no number for, there is no
    paper row and no Δ (paper 002 states Fig 13's numbers at 1e-5 only).
    """
    import pandas as pd

    df = prepared(df)
    for col in ("hp_learning_rate", "hp_batch_size"):
        if col not in df.columns:
            raise InputError(f"foundation_f1 needs column '{col}' in metrics.tsv")
    lr = df["hp_learning_rate"].astype(float)
    df = df[[math.isclose(v, learning_rate, rel_tol=1e-6) for v in lr]]
    if df.empty:
        raise InputError(f"foundation_f1: no runs with learning_rate {learning_rate:g}")
    df = df.assign(system=df["model"])
    summary = summarize(df, ["system", "dataset", "hp_batch_size"], ["exact_f1"])
    paper_names = [] if ref is None else list(dict.fromkeys(ref["system"]))
    ours_systems = list(dict.fromkeys(summary["system"]))
    match = {s: match_system(s, paper_names) for s in ours_systems}
    owner = {p: s for s, p in match.items() if p}
    paper = {}
    if ref is not None:
        if "learning_rate" not in ref.columns:
            raise InputError("foundation_f1: the reference table needs a 'learning_rate' column")
        at_lr = ref["learning_rate"].map(
            lambda v: math.isclose(float(v), learning_rate, rel_tol=1e-6)
        )
        sub = ref[(ref["metric"] == "F1") & at_lr.astype(bool)]
        paper = {(r.system, int(r.batch_size)): r.value for r in sub.itertuples()}
    published = {c for c, _ in paper}
    columns = [p for p in paper_names if p in owner or p in published]
    columns += [s for s in ours_systems if match[s] is None]
    header = {c: (f"{c} ({owner[c]})" if c in owner else c) for c in columns}
    batches = sorted(set(summary["hp_batch_size"].astype(int)) | {b for _, b in paper})
    records, marks, data = [], {}, []
    datasets = list(dict.fromkeys(summary["dataset"]))
    for ds in datasets:
        for bs in batches:
            ours_row = {"Dataset": ds, "Batch size": bs, "Source": "ours"}
            paper_row = {"Dataset": "", "Batch size": bs, "Source": "paper"}
            delta_row = {"Dataset": "", "Batch size": bs, "Source": "Δ"}
            cells, deltas = {}, []
            for c in columns:
                system = owner.get(c, c if c in match else None)
                hit = summary[
                    (summary["system"] == system)
                    & (summary["dataset"] == ds)
                    & (summary["hp_batch_size"].astype(int) == bs)
                ]
                mean = hit["exact_f1_mean"].iloc[0] if len(hit) else None
                sd = hit["exact_f1_sd"].iloc[0] if len(hit) else None
                pub = paper.get((c, bs))
                ours_row[header[c]] = fmt(mean, sd)
                paper_row[header[c]] = fmt(pub)
                delta = mean - pub if _finite(mean) and _finite(pub) else None
                delta_row[header[c]] = fmt(delta, signed=True)
                deltas.append(delta)
                cells[(len(records), header[c])] = mean
                data.append(
                    {
                        "dataset": ds,
                        "batch_size": bs,
                        "model": system or "",
                        "paper_system": c if c in paper_names else "",
                        "learning_rate": learning_rate,
                        "ours_mean": mean,
                        "ours_sd": sd,
                        "paper": pub,
                        "delta": delta,
                    }
                )
            marks.update(rank_marks(cells))
            records.append(ours_row)
            if paper:
                records.append(paper_row)
            if any(_finite(v) for v in deltas):  # a Δ row only where a model is the paper's
                records.append(delta_row)
    caption = (
        f"F1 (%, exact match) per model and batch size at learning rate {learning_rate:g} "
        "(paper 002 Fig 13)."
    )
    notes = ["Bold: best of our models per batch size; underlined: second."]
    if paper:
        shown = any(r["Source"] == "Δ" for r in records)
        notes.append(
            "Paper: Europe PMC full-text corpus (GP/DS/OG), same learning rate; "
            + ("Δ = ours − published." if shown else "none of its models is ours: no Δ.")
        )
    elif ref is not None:
        notes.append(f"The paper gives no F1 at learning rate {learning_rate:g}: no Δ.")
    return Table(
        "foundation_f1", caption, pd.DataFrame(data), pd.DataFrame(records), marks, notes=notes
    )
