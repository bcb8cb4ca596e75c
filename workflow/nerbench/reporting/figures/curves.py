"""Training curves: dev F1 and training loss per epoch from each run's ``train_log.jsonl``
(with against without DBR as VANER Fig 5)."""

from __future__ import annotations

from pathlib import Path

from nerbench import paths
from nerbench.dbr.variants import WITH_DBR, dbr_line
from nerbench.io import InputError, read_jsonl
from nerbench.reporting.figures.style import (
    MARKERS,
    add_legend,
    colour,
    finite,
    hp_label,
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


def varied_hparams(runs) -> list[str]:
    """The ``hp_*`` columns whose value differs between runs of one system (a grid): the
    learning rate first, then the batch size, then the others by name."""
    cols = [c for c in runs.columns if c.startswith("hp_")]
    varied = [c for c in cols if runs.groupby("system")[c].nunique(dropna=False).max() > 1]
    first = ("hp_learning_rate", "hp_batch_size")
    return [c for c in first if c in varied] + sorted(c for c in varied if c not in first)


def _number(value) -> tuple[int, float | str]:
    """Sort key: numbers by value, before anything else by its text."""
    return (0, float(value)) if finite(value) else (1, str(value))


def _hp(row, cols: list[str]) -> tuple[str, ...]:
    return tuple(str(getattr(row, c)) for c in cols)


def training_curves(df, plt):
    """Dev F1 (top) and training loss (bottom) per epoch, one column per training set; with
    vs without DBR where a method's runs vary it (VANER Fig 5: then only those runs are drawn).
    Where a system's runs vary hyperparameters (a grid), each setting is its own series: the
    colour follows the system and the first varied hyperparameter (the learning rate), the marker
    the others (the batch size); seeds of one setting share both.
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
    labels, title = series_labels(runs)
    varied = varied_hparams(runs)
    if varied:  # the legend by system, then by each setting's values
        curves.sort(key=lambda c: (c[0].base_system, *(_number(getattr(c[0], h)) for h in varied)))
    fig, axes = plt.subplots(
        2,
        len(panels),
        figsize=(4.4 * len(panels) + (3.2 if varied else 0.8), 5.6),
        squeeze=False,
        sharex="col",
        sharey="row",
        layout="constrained",
    )
    scale = 100.0 if max(f for _, dev, _ in curves for _, f in dev) <= 1.0 else 1.0
    colours = list(dict.fromkeys((row.base_system, *_hp(row, varied[:1])) for row, _, _ in curves))
    shapes = list(dict.fromkeys(_hp(row, varied[1:]) for row, _, _ in curves))
    for row, dev, loss in curves:
        col = panels.index(row.train_datasets)
        style = dbr_line(row.dbr) if row.dbr_suffix or row.dbr == WITH_DBR else "-"
        label = labels[row.system]  # every seed: the legend lists each label once
        if varied:
            label += ": " + ", ".join(hp_label(c, getattr(row, c)) for c in varied)
        kwargs = {
            "linestyle": style,
            "label": label,
            "color": colour(colours.index((row.base_system, *_hp(row, varied[:1])))),
        }
        marker = MARKERS[shapes.index(_hp(row, varied[1:])) % len(MARKERS)] if varied else "."
        epochs, f1s = zip(*dev, strict=True)
        axes[0][col].plot(epochs, [f * scale for f in f1s], marker=marker, **kwargs)
        if loss:
            epochs, losses = zip(*loss, strict=True)
            every = max(1, len(losses) // 8)
            axes[1][col].plot(epochs, losses, marker=marker if varied else None,
                              markevery=every, **kwargs)  # fmt: skip
    for col, ds in enumerate(panels):
        axes[0][col].set_title(f"trained on {ds}")
        axes[1][col].set_xlabel("epoch")
        if not varied:
            add_legend(axes[0][col], [axes[0][col]], title, handlelength=3.5)
    if varied:  # many series: one legend beside the panels, not over the curves
        add_legend(fig, [ax for top in axes[:1] for ax in top], title, loc="outside right center")
    axes[0][0].set_ylabel("dev F1 (%)")
    axes[1][0].set_ylabel("training loss\n(mean over logging steps)")
    key = " (solid: DBR, dashed: random DBR, dotted: no DBR)" if not ablation.empty else ""
    fig.suptitle("Dev F1 and training loss per epoch" + key)
    return fig
