"""Paper tables from the aggregated metrics: a TSV of numbers plus Markdown, LaTeX and HTML.

``python -m nerbench tables --metrics results/aggregate/metrics.tsv --which NAME
[--reference config/reference/X.tsv] --out-prefix results/tables/NAME`` writes ``NAME.tsv``,
``NAME.md``, ``NAME.tex`` and ``NAME.html`` (the report's view). Scores are shown in percent, as
mean ± sd over seeds. Published numbers (``config/reference``) are shown beside ours with a Δ
(ours − paper) row. Where a system was trained with several hyper-parameter settings, the one with
the best mean *dev* F1 is shown (never selected on test).

How runs become table rows ("systems"): a run's study group name; when a group holds several
models, the model id; when a group varies the DBR variant, a suffix "+ random DBR" / "w/o DBR".
Our systems are matched to the paper's by name (case and punctuation ignored, longest prefix
on word boundaries, e.g. ``biobert-v1.1`` → BioBERT, ``VANER_single`` → VANER_single).
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Sequence
from typing import Any

from nerbench.evaluate.buckets import length_buckets
from nerbench.evaluate.decoding import DECODING_RULE, DECODING_RULE_TEXT
from nerbench.io import InputError
from nerbench.reporting.aggregate import REPAIRED_COLUMN
from nerbench.reporting.compare import (
    Comparison,
    avg_diff,
    long_scores,
    match_system,
    ordered_datasets,
)
from nerbench.reporting.paired import add_paired_tests
from nerbench.reporting.render import DASH, Table, _finite, fmt, fmt_value, rank_marks, write_table
from nerbench.reporting.summary import (
    add_systems,
    dbr_ablation_rows,
    hparam_columns,
    kb_of_system,
    kb_text,
    load_reference,
    select_by_dev,
    summarize,
    to_percent,
    varying_hparams,
)

TABLE_NAMES = (
    "metrics",
    "vaner_table1",
    "vaner_table3",
    "vaner_table4",
    "llm_vs_encoder_f1",
    "f1_by_length",
    "inference_ratio",
    "foundation_f1",
)
# What a study may list under outputs.tables: corpus_stats is made by the stats stage (bio.smk).
STUDY_TABLES = ("corpus_stats", *TABLE_NAMES)
# Published numbers each table compares with (relative to config/reference/).
REFERENCE_FILES = {
    "vaner_table1": "vaner_table1.tsv",
    "vaner_table3": "vaner_table3.tsv",
    "vaner_table4": "vaner_table4.tsv",
    "llm_vs_encoder_f1": "llm_vs_encoder.tsv",
    "f1_by_length": "llm_vs_encoder.tsv",
    "inference_ratio": "llm_vs_encoder.tsv",
    "foundation_f1": "foundation_f1.tsv",
}


# --------------------------------------------------------------------------- table builders


def _prepared(df):
    """Scores in percent and a ``system`` label per row."""
    return add_systems(to_percent(df))


def _summary_for(df, extra_keys: Sequence[str], values: Sequence[str]):
    keys = ["system", "base_system", "group", "model", "family", "dbr", *extra_keys]
    keys += [c for c in hparam_columns(df) if c not in keys]
    summary = summarize(df, keys, [*values, "best_dev_f1"])
    return select_by_dev(summary, ["system", *extra_keys])


def _category_spans(columns: list[str], category: dict[str, str], lead: int) -> list:
    spans: list[tuple[str, int]] = [("", lead)]
    for c in columns:
        if spans and spans[-1][0] == category[c] and len(spans) > 1:
            spans[-1] = (category[c], spans[-1][1] + 1)
        else:
            spans.append((category[c], 1))
    return spans


PRF = {"P": "exact_p", "R": "exact_r", "F1": "exact_f1"}


def vaner_table(df, ref, which: str) -> Table:
    """VANER Tables 1 and 3: P/R/F1 per dataset by category with the "avg. diff." column."""
    df = _prepared(df)
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
    summary = _summary_for(df, ["dataset"], list(PRF.values()))
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
    table.notes = _standard_notes(ref) + kb_notes
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


def _standard_notes(ref) -> list[str]:
    notes = [
        "Ours: mean ± sd over seeds; hyper-parameters chosen on dev F1.",
        "Bold: best F1 per column, underlined: second best (ours and published).",
    ]
    if ref is not None:
        notes.append("Δ = ours − published (config/reference).")
    return notes


def vaner_table4(df, ref) -> Table:
    """VANER Table 4: per-type F1 on the unseen CRAFT corpus (adaptation)."""
    import pandas as pd

    df = _prepared(df)
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
    summary = _summary_for(df, ["dataset"], list(metrics.values()))
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
    table.notes = _standard_notes(ref) + kb_notes
    return table


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

    df = _prepared(df)
    if name == "llm_vs_encoder_f1":
        scores = {"exact_f1": "exact", "relaxed_f1": "relaxed"}
        caption = "Exact-match and relaxed (partial-overlap) F1 (%) per dataset: LLMs vs encoders."
    else:
        scores = {f"f1_{b.column}": b.label for _, b in length_buckets()}
        caption = (
            f"F1 (%, exact match) by gold entity length in tokens ({', '.join(scores.values())}) "
            "per dataset."
        )
    summary = _summary_for(df, ["dataset"], list(scores))
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


def inference_ratio(df, ref) -> Table:
    """LLM / encoder inference-time ratio per dataset (sentences per second, model time only)."""
    import pandas as pd

    df = _prepared(df)
    values = ["infer_sent_per_s", "infer_tok_per_s", "exact_f1"]
    summary = _summary_for(df, ["dataset"], values)
    fams = set(summary["family"])
    if not {"encoder", "decoder"} <= fams:
        raise InputError(
            f"inference_ratio needs runs of both families (encoder, decoder); "
            f"metrics.tsv has only: {sorted(fams)}"
        )
    low = high = None
    if ref is not None and "claim" in ref.columns:
        claim = ref[ref["claim"] == "llm_over_encoder"]
        if len(claim):
            low, high = float(claim.iloc[0]["low"]), float(claim.iloc[0]["high"])
    rows = []
    for ds, sub in summary.groupby("dataset", sort=True):
        for llm in sub[sub["family"] == "decoder"].itertuples():
            for enc in sub[sub["family"] == "encoder"].itertuples():
                ratio = enc.infer_sent_per_s_mean / llm.infer_sent_per_s_mean
                tok_ratio = enc.infer_tok_per_s_mean / llm.infer_tok_per_s_mean
                rows.append(
                    {
                        "dataset": ds,
                        "llm": llm.system,
                        "encoder": enc.system,
                        "llm_sent_per_s": llm.infer_sent_per_s_mean,
                        "encoder_sent_per_s": enc.infer_sent_per_s_mean,
                        "time_ratio": ratio,
                        "token_time_ratio": tok_ratio,
                        "llm_f1": llm.exact_f1_mean,
                        "encoder_f1": enc.exact_f1_mean,
                        "paper_low": low,
                        "paper_high": high,
                    }
                )
    data = pd.DataFrame(rows)
    display = pd.DataFrame(
        {
            "Dataset": data["dataset"],
            "LLM": data["llm"],
            "Encoder": data["encoder"],
            "LLM sent/s": [fmt(v, digits=1) for v in data["llm_sent_per_s"]],
            "Encoder sent/s": [fmt(v, digits=1) for v in data["encoder_sent_per_s"]],
            "Time ratio (×)": [fmt(v, digits=1) for v in data["time_ratio"]],
            "ΔF1 (LLM − enc.)": [
                fmt(a - b, signed=True)
                for a, b in zip(data["llm_f1"], data["encoder_f1"], strict=True)
            ],
        }
    )
    notes = ["Time ratio = encoder sentences/s ÷ LLM sentences/s (model time only)."]
    if low is not None:
        notes.append(f"Paper 000 (abstract only): LLMs {low:g}–{high:g}× more expensive.")
        display["In paper range"] = [
            "yes" if _finite(r) and low <= r <= high else "no" for r in data["time_ratio"]
        ]
    caption = "Inference cost of LLMs relative to encoders (time per sentence ratio)."
    return Table("inference_ratio", caption, data, display, notes=notes)


def foundation_f1(df, ref, learning_rate: float = 1e-5) -> Table:
    """Paper 002 Fig 13: F1 per model and batch size at one learning rate.

    Published numbers are matched on system, batch size *and* learning rate (the reference's
    ``learning_rate`` column): at a learning rate the paper gives no number for, there is no
    paper row and no Δ (paper 002 states Fig 13's numbers at 1e-5 only).
    """
    import pandas as pd

    df = _prepared(df)
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
            cells = {}
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
                records += [paper_row, delta_row]
    caption = (
        f"F1 (%, exact match) per model and batch size at learning rate {learning_rate:g} "
        "(paper 002 Fig 13)."
    )
    notes = ["Bold: best of our models per batch size; underlined: second."]
    if paper:
        notes.append(
            "Paper: Europe PMC full-text corpus (GP/DS/OG), same learning rate; "
            "Δ = ours − published."
        )
    elif ref is not None:
        notes.append(f"The paper gives no F1 at learning rate {learning_rate:g}: no Δ.")
    return Table(
        "foundation_f1", caption, pd.DataFrame(data), pd.DataFrame(records), marks, notes=notes
    )


def metrics_table(df) -> Table:
    """Every configuration × dataset: mean ± sd over seeds of scores and cost."""
    import pandas as pd

    df = _prepared(df)
    hps = varying_hparams(df)
    keys = ["group", "system", "model", "method", "train_datasets", "dbr", *hps, "dataset"]
    if "kb" in df.columns and df["kb"].fillna("").astype(str).ne("").any():
        keys.insert(keys.index("dbr") + 1, "kb")
    values = [
        "exact_p",
        "exact_r",
        "exact_f1",
        "f1_ci_lo",
        "f1_ci_hi",
        "relaxed_f1",
        REPAIRED_COLUMN,
        "train_wall_s",
        "peak_rss_mb",
        "peak_gpu_mb",
        "infer_sent_per_s",
        "alignment_failures",
    ]
    summary = summarize(df, keys, values).sort_values(keys, kind="stable").reset_index(drop=True)
    show = {
        "exact_p": ("Exact P", 2),
        "exact_r": ("Exact R", 2),
        "exact_f1": ("Exact F1", 2),
        "relaxed_f1": ("Relaxed F1", 2),
        REPAIRED_COLUMN: ("Repaired tags", 0),
        "train_wall_s": ("Train time (s)", 0),
        "infer_sent_per_s": ("Infer. (sent/s)", 1),
    }
    if "alignment_failures" in df and df["alignment_failures"].notna().any():
        # generative runs: sentences whose answer did not align (their words predicted O)
        show["alignment_failures"] = ("Align. failures", 0)
    display = pd.DataFrame(
        {
            "Group": summary["group"],
            "Model": summary["model"],
            "Method": summary["method"],
            "Train": summary["train_datasets"],
            **({"DBR": summary["dbr"]} if summary["dbr"].nunique() > 1 else {}),
            **{h[len("hp_") :]: [fmt_value(v) for v in summary[h]] for h in hps},
            "Dataset": summary["dataset"],
            "Seeds": summary["n_seeds"].astype(str),
        }
    )
    for col, (label, digits) in show.items():
        if f"{col}_mean" in summary:
            display[label] = [
                fmt(m, s, digits)
                for m, s in zip(summary[f"{col}_mean"], summary[f"{col}_sd"], strict=True)
            ]
    if "f1_ci_lo_mean" in summary and summary["f1_ci_lo_mean"].notna().any():
        at = list(display.columns).index("Exact F1") + 1
        ci = [
            f"[{lo:.2f}, {hi:.2f}]" if lo == lo and hi == hi else DASH
            for lo, hi in zip(summary["f1_ci_lo_mean"], summary["f1_ci_hi_mean"], strict=True)
        ]
        display.insert(at, "Exact F1 95 % CI", ci)
    marks: dict = {}
    if "Exact F1" in display:
        for _, idx in summary.groupby("dataset").groups.items():
            marks.update(rank_marks({(i, "Exact F1"): summary.at[i, "exact_f1_mean"] for i in idx}))
    kb_caption, kb_notes = kb_text(df)
    caption = (
        "All runs: scores (%) and cost, mean ± sd over seeds. " + decoding_caption(df) + kb_caption
    )
    notes = ["Bold: best exact F1 per dataset; underlined: second.", *kb_notes]
    if "Exact F1 95 % CI" in display:
        notes.append(
            "95 % CI: bootstrap over the test sentences (evaluation.bootstrap resamples); with "
            "several seeds, the mean of the seeds' bounds (sampling uncertainty of one run)."
        )
    if "alignment_failures" in show:
        notes.append(
            "Align. failures: test sentences whose generated answer did not match the sentence "
            "word for word; none of their tags was used (generative runs only)."
        )
    return Table("metrics", caption, summary, display, marks, notes=notes)


def decoding_caption(df) -> str:
    """The decoding rule every score follows and how many predicted tags it repaired in ``df``."""
    repaired = df[REPAIRED_COLUMN] if REPAIRED_COLUMN in df.columns else None
    if repaired is None or repaired.isna().all():
        count = "repaired tags not recorded (metrics written before the rule was)"
    else:
        n, runs = int(repaired.sum()), int(repaired.notna().sum())
        count = f"{n} predicted tags repaired in all ({runs} evaluations; Repaired tags per row)"
    return (
        f"Exact F1: span and type match exactly after the IOB2 decoding rule ({DECODING_RULE}: "
        f"{DECODING_RULE_TEXT}), conlleval.pl's score; relaxed F1: the same type overlaps; "
        f"{count}."
    )


# --------------------------------------------------------------------------- CLI


def build_table(name: str, df, ref, learning_rate: float = 1e-5) -> Table:
    """Dispatch on the table name."""
    if name == "metrics":
        return metrics_table(df)
    if name in ("vaner_table1", "vaner_table3"):
        return vaner_table(df, ref, name)
    if name == "vaner_table4":
        return vaner_table4(df, ref)
    if name in ("llm_vs_encoder_f1", "f1_by_length"):
        return per_dataset_table(df, ref, name)
    if name == "inference_ratio":
        return inference_ratio(df, ref)
    if name == "foundation_f1":
        return foundation_f1(df, ref, learning_rate)
    raise InputError(f"unknown table '{name}'; known: {list(TABLE_NAMES)}")


REFERENCE_COLUMNS = {
    "vaner_table1": ["system", "dataset", "category", "metric", "value"],
    "vaner_table3": ["system", "dataset", "category", "metric", "value"],
    "vaner_table4": ["system", "dataset", "type", "metric", "value"],
    "foundation_f1": ["system", "batch_size", "learning_rate", "metric", "value"],
    "llm_vs_encoder_f1": ["claim", "low", "high", "unit"],
    "f1_by_length": ["claim", "low", "high", "unit"],
    "inference_ratio": ["claim", "low", "high", "unit"],
}


def main_tables(argv: list[str]) -> int:
    """CLI: build one named table from the aggregated metrics."""
    from nerbench.reporting.aggregate import load_metrics_table

    ap = argparse.ArgumentParser(prog="nerbench tables", description=__doc__)
    ap.add_argument("--metrics", required=True, help="aggregated metrics TSV")
    ap.add_argument("--which", required=True, choices=TABLE_NAMES)
    ap.add_argument("--reference", help="published numbers (config/reference/*.tsv)")
    ap.add_argument("--learning-rate", type=float, default=1e-5, help="foundation_f1 only")
    ap.add_argument("--out-prefix", required=True, help="writes <prefix>.tsv, .md, .tex and .html")
    args = ap.parse_args(argv)
    df = load_metrics_table(args.metrics)
    ref = load_reference(args.reference, REFERENCE_COLUMNS.get(args.which, []))
    table = build_table(args.which, df, ref, args.learning_rate)
    paths = write_table(table, args.out_prefix)
    print(f"table {args.which}: {len(table.display)} rows -> {', '.join(map(str, paths))}")
    return 0
