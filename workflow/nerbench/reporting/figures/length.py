"""Paper 000: F1 by gold entity length, bars per system, one panel per dataset."""

from __future__ import annotations

from nerbench.evaluate.buckets import length_buckets
from nerbench.reporting.figures.style import (
    colour,
    figure_legend,
    finite,
    panel_row,
    require_columns,
    series_labels,
)
from nerbench.reporting.summary import summarize


def f1_by_length(df, plt):
    """F1 by gold entity length (per length bucket): bars per system, one panel per dataset."""
    import numpy as np

    lengths = [(f"f1_{b.column}", b.label) for _, b in length_buckets()]
    cols = [c for c, _ in lengths]
    require_columns(df, cols[:1], "f1_by_length")
    labels, title = series_labels(df)
    s = summarize(df, ["system", "family", "dataset"], cols)
    datasets = list(dict.fromkeys(s["dataset"]))
    order = s.assign(_llm=s["family"] != "encoder").sort_values(["_llm", "system"])
    systems = list(dict.fromkeys(order["system"]))
    fig, axes = panel_row(plt, len(datasets), 3.6, 1.6, 3.2)
    x = np.arange(len(lengths))
    width = 0.8 / max(len(systems), 1)
    for ax, ds in zip(axes[0], datasets, strict=True):
        sub = s[s["dataset"] == ds]
        for k, system in enumerate(systems):
            row = sub[sub["system"] == system]
            if row.empty:
                continue
            means = [row[f"{c}_mean"].iloc[0] for c in cols]
            sds = [row[f"{c}_sd"].iloc[0] for c in cols]
            hatch = "//" if row["family"].iloc[0] == "decoder" else None
            ax.bar(
                x + (k - (len(systems) - 1) / 2) * width,
                means,
                width,
                yerr=sds,
                capsize=2,
                color=colour(k),
                hatch=hatch,
                label=labels[system],
                edgecolor="white",
            )
            for xi, m in zip(x + (k - (len(systems) - 1) / 2) * width, means, strict=True):
                if finite(m) and abs(float(m)) < 0.05:  # a bar of height 0 would be invisible
                    ax.text(xi, 0, "0", ha="center", va="bottom", fontsize=6, color=colour(k))
        ax.set_xticks(x, [label for _, label in lengths])
        ax.set_xlabel("gold entity length (tokens)")
        ax.set_title(ds)
    axes[0][0].set_ylabel("exact-match F1 (%)")
    figure_legend(fig, title)  # every panel's series: a run need not be evaluated on every set
    return fig
