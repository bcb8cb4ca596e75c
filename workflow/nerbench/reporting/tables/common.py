"""What the table builders share: scores in percent with a system label, one row per system
chosen on dev F1, and the notes under a table compared with published numbers."""

from __future__ import annotations

from collections.abc import Sequence

from nerbench.reporting.summary import (
    add_systems,
    hparam_columns,
    select_by_dev,
    summarize,
    to_percent,
)


def prepared(df):
    """Scores in percent and a ``system`` label per row."""
    return add_systems(to_percent(df))


def summary_for(df, extra_keys: Sequence[str], values: Sequence[str]):
    keys = ["system", "base_system", "group", "model", "family", "dbr", *extra_keys]
    keys += [c for c in hparam_columns(df) if c not in keys]
    summary = summarize(df, keys, [*values, "best_dev_f1"])
    return select_by_dev(summary, ["system", *extra_keys])


def standard_notes(ref) -> list[str]:
    notes = [
        "Ours: mean ± sd over seeds; hyper-parameters chosen on dev F1.",
        "Bold: best F1 per column, underlined: second best (ours and published).",
    ]
    if ref is not None:
        notes.append("Δ = ours − published (config/reference).")
    return notes
