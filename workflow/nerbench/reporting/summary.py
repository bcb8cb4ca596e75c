"""Scores over runs, prepared for tables and figures: percent, a ``system`` label per run, mean ±
sd over seeds, one hyper-parameter setting per system chosen on dev F1, the published numbers
(``config/reference``), and the knowledge base the DBR runs used."""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

from nerbench.dbr.variants import dbr_suffix
from nerbench.evaluate.buckets import length_buckets
from nerbench.io import InputError
from nerbench.reporting.aggregate import MODES


def score_columns(df) -> list[str]:
    """Columns holding scores in [0, 1] (converted to percent for display)."""
    modes = "|".join(MODES)
    pat = re.compile(rf"^({modes})_(p|r|f1)$|_ci_(lo|hi)$|^type_(p|r|f1)_")
    by_length = {f"f1_{bucket.column}" for _, bucket in length_buckets()}
    cols = [c for c in df.columns if pat.search(c) or c in by_length]
    return cols + (["best_dev_f1"] if "best_dev_f1" in df.columns else [])


def to_percent(df):
    """Scores as percentages (files written by the evaluator hold fractions)."""
    df = df.copy()
    for col in score_columns(df):
        values = df[col].astype(float)
        if values.abs().max(skipna=True) <= 1.0 + 1e-9 or values.isna().all():
            df[col] = values * 100.0
    return df


def add_systems(df):
    """Add ``system`` (row label), ``base_system`` (label without DBR suffix) and ``dbr_suffix``.

    The DBR suffix ("+ random DBR", "w/o DBR") is added wherever the DBR variant varies among
    the runs of a method (an ablation factor), so a labeler trained without DBR is never shown
    under the name of the paper's DBR system.
    """
    df = df.copy()
    models_per_group = df.groupby("group")["model"].nunique()
    groups_per_model = df.groupby("model")["group"].nunique()
    dbr_per_method = df.groupby("method")["dbr"].nunique()

    def base(row) -> str:
        group, model = row["group"], row["model"]
        if not group:
            return model
        if models_per_group[group] > 1:
            return model if groups_per_model[model] == 1 else f"{model} ({group})"
        return group

    df["base_system"] = df.apply(base, axis=1) if len(df) else []
    df["dbr_suffix"] = [
        dbr_suffix(d) if dbr_per_method[m] > 1 else ""
        for m, d in zip(df["method"], df["dbr"], strict=True)
    ]
    df["system"] = df["base_system"] + df["dbr_suffix"]
    return df


def dbr_ablation_rows(df):
    """Rows of the methods whose runs vary the DBR variant."""
    varying = df.groupby("method")["dbr"].transform("nunique") > 1
    return df[varying]


def hparam_columns(df) -> list[str]:
    return [c for c in df.columns if c.startswith("hp_")]


def varying_hparams(df) -> list[str]:
    return [c for c in hparam_columns(df) if df[c].astype(str).nunique(dropna=False) > 1]


def summarize(df, keys: Sequence[str], values: Sequence[str]):
    """Mean, sample sd and count over seeds for every combination of ``keys``."""
    import pandas as pd

    values = [v for v in values if v in df.columns]
    keys = list(keys)
    if df.empty:
        cols = keys + [f"{v}_{s}" for v in values for s in ("mean", "sd")] + ["n_seeds"]
        return pd.DataFrame(columns=cols)
    work = df[keys + values].copy()
    for k in keys:  # groupby drops NaN keys; keep them as ''.
        work[k] = work[k].where(work[k].notna(), "")
    grouped = work.groupby(keys, sort=False, dropna=False)
    out = grouped[values].agg(["mean", "std"])
    out.columns = [f"{v}_{'mean' if s == 'mean' else 'sd'}" for v, s in out.columns]
    out["n_seeds"] = grouped.size()
    return out.reset_index()


def select_by_dev(summary, by: Sequence[str]):
    """One hyper-parameter setting per ``by`` group: the best mean dev F1 (first if unknown)."""
    if summary.empty:
        return summary
    score = summary["best_dev_f1_mean"] if "best_dev_f1_mean" in summary else None
    order = summary.assign(_dev=score if score is not None else float("nan"))
    order = order.sort_values("_dev", ascending=False, na_position="last", kind="stable")
    return order.drop_duplicates(list(by)).drop(columns="_dev").sort_index()


def load_reference(path: str | Path | None, required: Sequence[str]):
    """Read a reference TSV (``#`` comment lines hold its source note)."""
    import pandas as pd

    if path is None:
        return None
    path = Path(path)
    if not path.is_file():
        raise InputError("reference table not found (--reference)", path)
    ref = pd.read_csv(path, sep="\t", comment="#", dtype={"dataset": str})
    missing = [c for c in required if c not in ref.columns]
    if missing:
        raise InputError(f"reference table lacks column(s) {missing}", path)
    return ref


def kb_text(df) -> tuple[str, list[str]]:
    """The KB of the DBR runs in ``df``: a caption sentence and one note per KB composition.

    Empty when no row trained with DBR. A KB built from open vocabularies although the study
    requires UMLS (``umls_override: open``) is said in the caption.
    """
    if "dbr" not in df.columns or not (df["dbr"] != "none").any():
        return "", []
    dbr_rows = df[df["dbr"] != "none"]
    kbs = dbr_rows["kb"].fillna("").astype(str) if "kb" in df.columns else [""] * len(dbr_rows)
    texts = list(dict.fromkeys(kbs))
    notes = [
        f"DBR knowledge base: {t}." if t else "DBR knowledge base: not recorded." for t in texts
    ]
    umls = dbr_rows["kb_umls"].fillna("").astype(str) if "kb_umls" in df.columns else None
    if any("INSTEAD OF THE REQUIRED UMLS" in t for t in texts):
        caption = " DBR used open vocabularies only: UMLS was required but not given (override)."
    elif umls is not None and (umls == "yes").all():
        caption = " DBR knowledge base with UMLS."
    elif umls is not None and (umls == "no").any():
        caption = " DBR knowledge base without UMLS (open vocabularies and training entities)."
    else:
        caption = " DBR knowledge base not recorded."
    return caption, notes


def kb_of_system(df) -> dict[str, str]:
    """System -> the KB its DBR runs used (empty for systems without DBR)."""
    if "kb" not in df.columns:
        return {}
    rows = df[(df["dbr"] != "none") & (df["kb"].fillna("").astype(str) != "")]
    return {s: " | ".join(dict.fromkeys(g["kb"].astype(str))) for s, g in rows.groupby("system")}
