"""Paper 002's hyper-parameter grid: P/R/F1 heatmaps (Figs 3-9) and F1 of model pairs by
batch size (Figs 10-11)."""

from __future__ import annotations

import math

from nerbench.io import InputError
from nerbench.reporting.compare import match_system
from nerbench.reporting.figures.style import (
    SEQUENTIAL_CMAP,
    add_legend,
    colour,
    lr_label,
    require_columns,
    series_labels,
)
from nerbench.reporting.summary import summarize

PAIRS = (("BioBERT", "BioMedBERT"), ("BERT", "RoBERTa"))


def grid_heatmaps(df, plt):
    """P/R/F1 heatmaps over batch size × learning rate, one row per model (and dataset)."""
    import numpy as np

    require_columns(df, ["hp_learning_rate", "hp_batch_size"], "grid_heatmaps")
    keys = ["model", "dataset", "hp_batch_size", "hp_learning_rate"]
    s = summarize(df, keys, ["exact_p", "exact_r", "exact_f1"])
    lrs = sorted(s["hp_learning_rate"].astype(float).unique())
    batches = sorted(s["hp_batch_size"].astype(int).unique())
    panels = list(s[["model", "dataset"]].drop_duplicates().itertuples(index=False))
    fig, axes = plt.subplots(
        len(panels),
        3,
        figsize=(9.5, 2.6 * len(panels) + 0.6),
        squeeze=False,
        sharey=True,
        layout="constrained",
    )
    image = None
    for r, (model, ds) in enumerate(panels):
        sub = s[(s["model"] == model) & (s["dataset"] == ds)]
        for c, (col, label) in enumerate(
            (("exact_p", "Precision"), ("exact_r", "Recall"), ("exact_f1", "F1"))
        ):
            grid = np.full((len(batches), len(lrs)), np.nan)
            for row in sub.itertuples(index=False):
                i = batches.index(int(row.hp_batch_size))
                j = lrs.index(float(row.hp_learning_rate))
                grid[i, j] = getattr(row, f"{col}_mean")
            ax = axes[r][c]
            image = ax.imshow(grid, cmap=SEQUENTIAL_CMAP, vmin=0, vmax=100, aspect="auto")
            for (i, j), v in np.ndenumerate(grid):
                if np.isfinite(v):
                    ax.text(
                        j,
                        i,
                        f"{v:.1f}",
                        ha="center",
                        va="center",
                        fontsize=7,
                        color="white" if v < 55 else "black",
                    )
            ax.set_xticks(range(len(lrs)), [lr_label(x) for x in lrs])
            ax.set_yticks(range(len(batches)), [str(b) for b in batches])
            ax.set_xlabel("learning rate")
            if c == 0:
                ax.set_ylabel(f"{model}\n{ds}\nbatch size (sentences)")
            ax.set_title(f"{label} (%)")
    fig.colorbar(image, ax=axes, shrink=0.8, label="score (%)")
    fig.suptitle("Hyper-parameter grid: exact-match P/R/F1 on test (mean over seeds)")
    return fig


def grid_pairs(df, plt, learning_rate: float = 1e-5):
    """F1 vs batch size at one learning rate for model pairs (BioBERT/BioMedBERT, BERT/RoBERTa)."""
    import numpy as np

    require_columns(df, ["hp_learning_rate", "hp_batch_size"], "grid_pairs")
    lr = df["hp_learning_rate"].astype(float)
    df = df[[math.isclose(v, learning_rate, rel_tol=1e-6) for v in lr]]
    if df.empty:
        raise InputError(f"grid_pairs: no runs with learning_rate {learning_rate:g}")
    s = summarize(df, ["model", "hp_batch_size"], ["exact_f1"])
    models = list(dict.fromkeys(s["model"]))
    names = [n for pair in PAIRS for n in pair]
    owner = {}
    for m in models:
        hit = match_system(m, names)
        if hit and hit not in owner:
            owner[hit] = m
    pairs = [tuple(owner[n] for n in p) for p in PAIRS if all(n in owner for n in p)]
    if not pairs:
        pairs = [tuple(models)]
    fig, axes = plt.subplots(
        1, len(pairs), figsize=(4.2 * len(pairs), 3.2), squeeze=False, layout="constrained"
    )
    batches = sorted(s["hp_batch_size"].astype(int).unique())
    x = np.arange(len(batches))
    _, title = series_labels(df)
    for ax, pair in zip(axes[0], pairs, strict=True):
        width = 0.8 / len(pair)
        for k, model in enumerate(pair):
            sub = s[s["model"] == model]
            sub = sub.set_index(sub["hp_batch_size"].astype(int))
            means = [sub["exact_f1_mean"].get(b, np.nan) for b in batches]
            sds = [sub["exact_f1_sd"].get(b, np.nan) for b in batches]
            ax.bar(
                x + (k - (len(pair) - 1) / 2) * width,
                means,
                width,
                yerr=sds,
                label=model,
                color=colour(k),
                capsize=2,
            )
        ax.set_xticks(x, [str(b) for b in batches])
        ax.set_xlabel("batch size (sentences)")
        ax.set_ylabel("exact-match F1 (%)")
        ax.set_title(" vs ".join(pair) + f" (lr {lr_label(learning_rate)})")
        # below the axes: the bars fill the panel's height
        add_legend(ax, [ax], title, loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=len(pair))
    return fig
