"""The figures' shared style: the Agg backend, the colour-blind-safe palette, saving PNG and
PDF, and legends whose labels name what varies among the series."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from nerbench.dbr.variants import DBR_VARIANTS, NO_DBR
from nerbench.io import InputError, atomic_path

OKABE_ITO = (
    "#E69F00",  # orange
    "#56B4E9",  # sky blue
    "#009E73",  # bluish green
    "#0072B2",  # blue
    "#D55E00",  # vermillion
    "#CC79A7",  # reddish purple
    "#F0E442",  # yellow
    "#000000",  # black
)
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")
SEQUENTIAL_CMAP = "cividis"


def pyplot():
    """matplotlib.pyplot on the non-interactive Agg backend, with the project's style."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams.update(
        {
            "axes.prop_cycle": matplotlib.cycler(color=list(OKABE_ITO)),
            "font.size": 9,
            "axes.titlesize": 10,
            "axes.spines.top": False,
            "axes.spines.right": False,
            "figure.dpi": 100,
            "savefig.dpi": 150,
            "svg.hashsalt": "nerbench",
        }
    )
    return plt


def colour(i: int) -> str:
    return OKABE_ITO[i % len(OKABE_ITO)]


def save_figure(fig, out_prefix: str | Path) -> list[Path]:
    """Save ``<prefix>.png`` and ``<prefix>.pdf`` atomically (no timestamps in the PDF)."""
    paths = []
    for fmt, meta in (("png", {"Software": None}), ("pdf", {"CreationDate": None})):
        path = Path(f"{out_prefix}.{fmt}")
        with atomic_path(path, suffix=f".{fmt}") as tmp:
            fig.savefig(tmp, format=fmt, bbox_inches="tight", metadata=meta)
        paths.append(path)
    return paths


def panel_row(plt, n: int, panel_width: float, extra_width: float, height: float):
    """``(fig, axes)``: one row of ``n`` panels sharing the y axis (axes as a 1 x n array)."""
    return plt.subplots(
        1,
        n,
        figsize=(panel_width * n + extra_width, height),
        squeeze=False,
        sharey=True,
        layout="constrained",
    )


def require_columns(df, columns: Sequence[str], figure: str) -> None:
    missing = [c for c in columns if c not in df.columns or df[c].isna().all()]
    if missing:
        raise InputError(f"figure '{figure}' needs values in column(s) {missing} of metrics.tsv")


def lr_label(lr: float) -> str:
    return f"{lr:.0e}".replace("e-0", "e-").replace("e+0", "e")


#: short names of hyperparameter columns in legends (others: the name without ``hp_``)
_HP_NAMES = {"hp_learning_rate": "lr", "hp_batch_size": "batch"}


def hp_label(column: str, value: Any) -> str:
    """``lr 1e-4``, ``batch 16``, ``epochs 3``: one hyperparameter value of a metrics.tsv row."""
    name = _HP_NAMES.get(column, column.removeprefix("hp_"))
    if column == "hp_learning_rate" and finite(value):
        return f"{name} {lr_label(float(value))}"
    if finite(value) and float(value).is_integer():
        return f"{name} {int(float(value))}"
    return f"{name} {value}"


def finite(x: Any) -> bool:
    try:
        return math.isfinite(float(x))
    except (TypeError, ValueError):
        return False


def _dbr_name(dbr: Any) -> str:
    if not str(dbr):
        return DBR_VARIANTS[NO_DBR].label
    return DBR_VARIANTS[str(dbr)].label if str(dbr) in DBR_VARIANTS else f"{dbr} DBR"


def series_labels(df) -> tuple[dict[str, str], str]:
    """Legend label of each ``system`` in ``df`` and the legend title (what all series share).

    A label names the model and, where they vary among the series, the method and the DBR
    variant (``minilm-l6 (token-classification, DBR)``); the parts every series shares go into
    the title (``token-classification, no DBR``). Where two systems would get the same label
    (the same model in two study groups), the group is prefixed (``VANER_single: ...``).
    """
    rows = df.drop_duplicates("system")
    dbr = rows["dbr"] if "dbr" in rows else ["none"] * len(rows)
    facts = [
        (sys_, str(m), str(meth), _dbr_name(d), str(g))
        for sys_, m, meth, d, g in zip(
            rows["system"], rows["model"], rows["method"], dbr, rows["group"], strict=True
        )
    ]
    vary_method = len({f[2] for f in facts}) > 1
    vary_dbr = len({f[3] for f in facts}) > 1
    labels = {}
    for sys_, model, method, dbr_name, _ in facts:
        parts = [p for p, varies in ((method, vary_method), (dbr_name, vary_dbr)) if varies]
        labels[sys_] = model + (f" ({', '.join(parts)})" if parts else "")
    counts: dict[str, int] = {}
    for label in labels.values():
        counts[label] = counts.get(label, 0) + 1
    for sys_, _, _, _, group in facts:
        if counts[labels[sys_]] > 1 and group:
            labels[sys_] = f"{group}: {labels[sys_]}"
    if not facts:
        return labels, ""
    shared = [
        p for p, varies in ((facts[0][2], vary_method), (facts[0][3], vary_dbr)) if not varies
    ]
    return labels, ("all: " + ", ".join(shared) if shared else "")


def add_legend(target, axes, title: str = "", **kwargs):
    """One legend on ``target`` (a figure or an axes) with every labelled series drawn in
    ``axes``, once per label, in drawing order."""
    handles: dict[str, Any] = {}
    for ax in axes:
        for h, label in zip(*ax.get_legend_handles_labels(), strict=True):
            handles.setdefault(label, h)
    if not handles:
        return None
    opts = {"frameon": False, "fontsize": 8, "title_fontsize": 8, **kwargs}
    return target.legend(list(handles.values()), list(handles), title=title or None, **opts)


def figure_legend(fig, title: str = ""):
    """The figure's legend at its right, outside the panels."""
    return add_legend(fig, fig.axes, title, loc="outside right upper")


# --------------------------------------------------------------------------- figures
