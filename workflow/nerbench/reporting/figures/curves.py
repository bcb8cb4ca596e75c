"""Training curves: dev F1 and training loss per epoch from each run's ``train_log.jsonl``
(with against without DBR as VANER Fig 5)."""

from __future__ import annotations

from pathlib import Path

from nerbench import paths
from nerbench.dbr.variants import WITH_DBR, dbr_line
from nerbench.io import InputError, read_jsonl
from nerbench.reporting.figures.style import (
    add_legend,
    colour,
    finite,
    require_columns,
    series_labels,
)
from nerbench.reporting.summary import dbr_ablation_rows


def _curves(run_dir: Path) -> tuple[list[tuple[float, float]], list[tuple[float, float]]]:
    """(epoch, dev F1) of each dev evaluation and (epoch, training loss) of each logging step
    in a run's ``train_log.jsonl``; a step a resumed run logged twice keeps its last record."""
    path = paths.run_file(run_dir, "train_log")
    if not path.is_file():
        return [], []
    dev: dict[float, tuple[float, float]] = {}
    loss: dict[float, tuple[float, float]] = {}
    for rec in read_jsonl(path):
        step, epoch = rec.get("step"), rec.get("epoch")
        if not (finite(step) and finite(epoch)):
            continue
        for key, points in (("dev_f1", dev), ("loss", loss)):
            if finite(rec.get(key)):
                points[float(step)] = (float(epoch), float(rec[key]))
    return [dev[k] for k in sorted(dev)], [loss[k] for k in sorted(loss)]


def training_curves(df, plt):
    """Dev F1 (top) and training loss (bottom) per epoch, one column per training set; with
    vs without DBR where a method's runs vary it (VANER Fig 5: then only those runs are drawn).
    """
    require_columns(df, ["run_dir"], "training_curves")
    runs = df.drop_duplicates("run_id")
    ablation = dbr_ablation_rows(runs)
    if not ablation.empty:
        runs = ablation
    curves = []
    for row in runs.itertuples(index=False):
        dev, loss = _curves(Path(row.run_dir))
        if dev:
            curves.append((row, dev, loss))
    if not curves:
        raise InputError("training_curves: no run in metrics.tsv logged dev_f1 in train_log.jsonl")
    panels = list(dict.fromkeys(row.train_datasets for row, _, _ in curves))
    systems = list(dict.fromkeys(row.base_system for row, _, _ in curves))
    fig, axes = plt.subplots(
        2,
        len(panels),
        figsize=(4.4 * len(panels) + 0.8, 5.6),
        squeeze=False,
        sharex="col",
        sharey="row",
        layout="constrained",
    )
    scale = 100.0 if max(f for _, dev, _ in curves for _, f in dev) <= 1.0 else 1.0
    labels, title = series_labels(runs)
    for row, dev, loss in curves:
        col = panels.index(row.train_datasets)
        style = dbr_line(row.dbr) if row.dbr_suffix or row.dbr == WITH_DBR else "-"
        kwargs = {
            "linestyle": style,
            "label": labels[row.system],  # every seed: the legend lists each label once
            "color": colour(systems.index(row.base_system)),
        }
        epochs, f1s = zip(*dev, strict=True)
        axes[0][col].plot(epochs, [f * scale for f in f1s], marker=".", **kwargs)
        if loss:
            epochs, losses = zip(*loss, strict=True)
            axes[1][col].plot(epochs, losses, **kwargs)
    for col, ds in enumerate(panels):
        axes[0][col].set_title(f"trained on {ds}")
        axes[1][col].set_xlabel("epoch")
        add_legend(axes[0][col], [axes[0][col]], title, handlelength=3.5)
    axes[0][0].set_ylabel("dev F1 (%)")
    axes[1][0].set_ylabel("training loss\n(mean over logging steps)")
    key = " (solid: DBR, dashed: random DBR, dotted: no DBR)" if not ablation.empty else ""
    fig.suptitle("Dev F1 and training loss per epoch" + key)
    return fig
