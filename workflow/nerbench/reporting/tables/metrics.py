"""The metrics table: every configuration x dataset, scores and cost (mean ± sd over seeds)."""

from __future__ import annotations

from nerbench.evaluate.decoding import DECODING_RULE, DECODING_RULE_TEXT
from nerbench.reporting.aggregate import REPAIRED_COLUMN
from nerbench.reporting.render import DASH, Table, fmt, fmt_value, rank_marks
from nerbench.reporting.summary import kb_text, summarize, varying_hparams
from nerbench.reporting.tables.common import prepared


def metrics_table(df, ref=None) -> Table:
    """Every configuration × dataset: mean ± sd over seeds of exact and relaxed P/R/F1, the F1
    interval, repaired tags, training time and inference speed.

    ``ref``: unused (the metrics table compares with no published numbers)."""
    import pandas as pd

    df = prepared(df)
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
