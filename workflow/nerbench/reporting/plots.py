"""Paper figures from the aggregated metrics (plot code only; no training code here).

``python -m nerbench figures --metrics results/aggregate/metrics.tsv --which NAME
--out-prefix results/figures/NAME`` writes ``NAME.png`` and ``NAME.pdf`` (matplotlib Agg backend,
Okabe-Ito colour-blind-safe palette, cividis colour maps, labelled axes with units).

Figures: ``grid_heatmaps`` (paper 002 Figs 3-9), ``grid_pairs`` (Figs 10-11), ``memory_time``
(Fig 12), ``f1_by_length`` (paper 000), ``cost_f1`` (cost vs F1 with the Pareto front; inference
error bars span the fastest to the slowest timed repeat, and a ring marks a spread over 20 %) and
``training_curves`` (dev F1 and training loss per epoch, with/without DBR as VANER Fig 5; reads
each run's ``train_log.jsonl`` through the ``run_dir`` column of the metrics table).

Every series is in a legend and is labelled by model, method and DBR variant
(:func:`series_labels`): what all series share goes into the legend title, what varies into each
label, and the study group is prefixed only where it alone tells two series apart.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from nerbench import defaults, paths
from nerbench.evaluate.buckets import length_buckets
from nerbench.io import InputError, atomic_path, read_jsonl
from nerbench.reporting.compare import match_system
from nerbench.reporting.summary import add_systems, dbr_ablation_rows, summarize, to_percent

FIGURE_NAMES = (
    "grid_heatmaps",
    "grid_pairs",
    "memory_time",
    "f1_by_length",
    "cost_f1",
    "training_curves",
)
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
PAIRS = (("BioBERT", "BioMedBERT"), ("BERT", "RoBERTa"))
DBR_STYLE = {"dbr": "-", "random": "--", "none": ":"}
DBR_NAMES = {"dbr": "DBR", "random": "random DBR", "none": "no DBR"}


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


def _require(df, columns: Sequence[str], figure: str) -> None:
    missing = [c for c in columns if c not in df.columns or df[c].isna().all()]
    if missing:
        raise InputError(f"figure '{figure}' needs values in column(s) {missing} of metrics.tsv")


def _lr_label(lr: float) -> str:
    return f"{lr:.0e}".replace("e-0", "e-").replace("e+0", "e")


def _finite(x: Any) -> bool:
    try:
        return math.isfinite(float(x))
    except (TypeError, ValueError):
        return False


def _dbr_name(dbr: Any) -> str:
    return DBR_NAMES.get(str(dbr), f"{dbr} DBR") if str(dbr) else "no DBR"


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


def grid_heatmaps(df, plt):
    """P/R/F1 heatmaps over batch size × learning rate, one row per model (and dataset)."""
    import numpy as np

    _require(df, ["hp_learning_rate", "hp_batch_size"], "grid_heatmaps")
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
            ax.set_xticks(range(len(lrs)), [_lr_label(x) for x in lrs])
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

    _require(df, ["hp_learning_rate", "hp_batch_size"], "grid_pairs")
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
        ax.set_title(" vs ".join(pair) + f" (lr {_lr_label(learning_rate)})")
        # below the axes: the bars fill the panel's height
        add_legend(ax, [ax], title, loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=len(pair))
    return fig


def memory_time(df, plt):
    """Peak memory (GB) vs mean training time per configuration (min), with a fitted line."""
    import numpy as np

    _require(df, ["train_wall_s"], "memory_time")
    df = df.drop_duplicates("run_id").copy()
    gpu = df["peak_gpu_mb"].astype(float) if "peak_gpu_mb" in df else np.nan
    rss = df["peak_rss_mb"].astype(float) if "peak_rss_mb" in df else np.nan
    use_gpu = bool(np.nan_to_num(gpu).max() > 0) if "peak_gpu_mb" in df else False
    df["memory_gb"] = (gpu if use_gpu else rss) / 1024.0
    labels, title = series_labels(df)
    per_system = df.groupby("system", sort=False).agg(
        memory_gb=("memory_gb", "max"), minutes=("train_wall_s", "mean")
    )
    per_system["minutes"] /= 60.0
    fig, ax = plt.subplots(figsize=(6.8, 3.8), layout="constrained")
    for i, (system, row) in enumerate(per_system.iterrows()):
        ax.scatter(
            row.memory_gb,
            row.minutes,
            color=colour(i),
            marker=MARKERS[i % 8],
            s=40,
            label=labels[system],
            zorder=3,
        )
    pts = per_system.dropna()
    fitted = pts["memory_gb"].nunique() >= 2
    if fitted:
        slope, intercept = np.polyfit(pts["memory_gb"], pts["minutes"], 1)
        xs = np.linspace(pts["memory_gb"].min(), pts["memory_gb"].max(), 50)
        ax.plot(
            xs,
            slope * xs + intercept,
            linestyle="--",
            color=OKABE_ITO[4],
            label=f"fit: {slope:.2f} min/GB",
            zorder=2,
        )
    kind = "GPU" if use_gpu else "CPU (RSS)"
    ax.set_xlabel(f"peak {kind} memory (GB)")
    ax.set_ylabel("mean training time per configuration (min)")
    ax.set_title(
        "Memory vs training time" + ("\n(below the line = more efficient)" if fitted else "")
    )
    figure_legend(fig, title)
    return fig


def f1_by_length(df, plt):
    """F1 by gold entity length (per length bucket): bars per system, one panel per dataset."""
    import numpy as np

    lengths = [(f"f1_{b.column}", b.label) for _, b in length_buckets()]
    cols = [c for c, _ in lengths]
    _require(df, cols[:1], "f1_by_length")
    labels, title = series_labels(df)
    s = summarize(df, ["system", "family", "dataset"], cols)
    datasets = list(dict.fromkeys(s["dataset"]))
    order = s.assign(_llm=s["family"] != "encoder").sort_values(["_llm", "system"])
    systems = list(dict.fromkeys(order["system"]))
    fig, axes = plt.subplots(
        1,
        len(datasets),
        figsize=(3.6 * len(datasets) + 1.6, 3.2),
        squeeze=False,
        sharey=True,
        layout="constrained",
    )
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
                if _finite(m) and abs(float(m)) < 0.05:  # a bar of height 0 would be invisible
                    ax.text(xi, 0, "0", ha="center", va="bottom", fontsize=6, color=colour(k))
        ax.set_xticks(x, [label for _, label in lengths])
        ax.set_xlabel("gold entity length (tokens)")
        ax.set_title(ds)
    axes[0][0].set_ylabel("exact-match F1 (%)")
    figure_legend(fig, title)  # every panel's series: a run need not be evaluated on every set
    return fig


def pareto_front(points: Sequence[tuple[float, float]]) -> list[tuple[float, float]]:
    """Points not dominated by a cheaper-or-equal one with a higher-or-equal score (cost, score)."""
    front: list[tuple[float, float]] = []
    best = -math.inf
    for cost, score in sorted(points, key=lambda p: (p[0], -p[1])):
        if score > best:
            front.append((cost, score))
            best = score
    return front


def _inference_spread(df):
    """Per row: inference time per 1000 sentences (median repeat) and the times the fastest
    and the slowest timed repeat give (the median's where no repeats were recorded)."""
    import numpy as np

    per_1k = 1000.0 / df["infer_sent_per_s"].astype(float)
    median = df["infer_wall_s"].astype(float) if "infer_wall_s" in df else np.nan
    lo, hi = per_1k.copy(), per_1k.copy()
    if "infer_forward_min_s" in df and "infer_forward_max_s" in df:
        lo_ratio = df["infer_forward_min_s"].astype(float) / median
        hi_ratio = df["infer_forward_max_s"].astype(float) / median
        lo = (per_1k * lo_ratio).where(lo_ratio.notna() & (median > 0), per_1k)
        hi = (per_1k * hi_ratio).where(hi_ratio.notna() & (median > 0), per_1k)
    return per_1k, lo, hi


def cost_f1(df, plt):
    """Training and inference cost vs mean exact-match F1 per system, with the Pareto front.

    Inference: the median of the timed repeats; error bars from the fastest to the slowest
    repeat (means over the system's runs); a ring marks a system with a run whose repeats spread
    by more than ``defaults.COST_NOISY_SPREAD`` (a busy machine: rerun on an exclusive node).
    """
    _require(df, ["train_wall_s"], "cost_f1")
    df = df.copy()
    labels, title = series_labels(df)
    if "infer_sent_per_s" in df:
        df["infer_s_per_1k"], df["infer_lo"], df["infer_hi"] = _inference_spread(df)
    spread = df["infer_forward_spread"].astype(float) if "infer_forward_spread" in df else None
    df["infer_noisy"] = (spread > defaults.COST_NOISY_SPREAD) if spread is not None else False
    other = df["infer_other_cpus"].astype(float) if "infer_other_cpus" in df else None
    df["infer_busy"] = (other >= defaults.COST_BUSY_OTHER_CPUS) if other is not None else False
    values = ["exact_f1", "train_wall_s", "infer_s_per_1k", "infer_lo", "infer_hi"]
    s = summarize(df, ["system", "family"], values)
    noisy = df.groupby("system")["infer_noisy"].any()
    busy = df.groupby("system")["infer_busy"].any()
    has_bars = "infer_hi_mean" in s and bool(
        (s["infer_hi_mean"].astype(float) > s["infer_lo_mean"].astype(float)).any()
    )
    panels = [("train_wall_s", "training wall time (s)")]
    if "infer_s_per_1k_mean" in s and s["infer_s_per_1k_mean"].notna().any():
        panels.append(("infer_s_per_1k", "inference time per 1000 sentences (s)"))
    fig, axes = plt.subplots(
        1,
        len(panels),
        figsize=(4.2 * len(panels) + 2.4, 3.6),
        squeeze=False,
        sharey=True,
        layout="constrained",
    )
    rings = (  # (which systems, label, ring style)
        (noisy, f"timing spread > {defaults.COST_NOISY_SPREAD:.0%}", (180, OKABE_ITO[4], "-")),
        (
            busy,
            f"timed while other processes used ≥ {defaults.COST_BUSY_OTHER_CPUS:g} CPU",
            (330, OKABE_ITO[7], "--"),
        ),
    )
    for ax, (col, label) in zip(axes[0], panels, strict=True):
        pts = []
        for i, row in enumerate(s.itertuples(index=False)):
            x, y = getattr(row, f"{col}_mean"), row.exact_f1_mean
            if not (_finite(x) and _finite(y)):
                continue
            marker = "s" if row.family == "decoder" else "o"
            ax.scatter(
                x, y, color=colour(i), marker=marker, s=40, label=labels[row.system], zorder=3
            )
            if col == "infer_s_per_1k":
                lo, hi = row.infer_lo_mean, row.infer_hi_mean
                if _finite(lo) and _finite(hi) and hi > lo:
                    err = [[max(x - lo, 0.0)], [max(hi - x, 0.0)]]
                    ax.errorbar(x, y, xerr=err, fmt="none", ecolor=colour(i), capsize=3, zorder=2)
                for flagged, ring_label, (size, edge, style) in rings:
                    if flagged.get(row.system, False):
                        ax.scatter(
                            x,
                            y,
                            s=size,
                            facecolors="none",
                            edgecolors=edge,
                            linestyles=style,
                            linewidths=1.2,
                            label=ring_label,
                            zorder=4,
                        )
            pts.append((float(x), float(y)))
        front = pareto_front(pts)
        if len(front) >= 1:
            fx, fy = zip(*front, strict=True)
            ax.step(
                fx,
                fy,
                where="post",
                color=OKABE_ITO[7],
                linestyle="--",
                linewidth=1,
                label="Pareto front",
                zorder=2,
            )
        xs = [p[0] for p in pts if p[0] > 0]
        if xs and max(xs) / min(xs) > 20:
            from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

            ax.set_xscale("log")
            decades = math.log10(max(xs) / min(xs))  # few decades: ticks at 1, 2, 5 x 10^k
            ax.xaxis.set_major_locator(LogLocator(subs=(1, 2, 5) if decades < 3 else (1,)))
            ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
            ax.xaxis.set_minor_formatter(NullFormatter())
        ax.set_xlabel(label)
        if col == "infer_s_per_1k" and has_bars:
            ax.set_title("bars: fastest to slowest timed repeat", fontsize=8)
    axes[0][0].set_ylabel("exact-match F1 (%), mean over datasets and seeds")
    figure_legend(fig, title)
    fig.suptitle("Cost vs F1 (circles: encoders, squares: decoders)")
    return fig


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
        if not (_finite(step) and _finite(epoch)):
            continue
        for key, points in (("dev_f1", dev), ("loss", loss)):
            if _finite(rec.get(key)):
                points[float(step)] = (float(epoch), float(rec[key]))
    return [dev[k] for k in sorted(dev)], [loss[k] for k in sorted(loss)]


def training_curves(df, plt):
    """Dev F1 (top) and training loss (bottom) per epoch, one column per training set; with
    vs without DBR where a method's runs vary it (VANER Fig 5: then only those runs are drawn).
    """
    _require(df, ["run_dir"], "training_curves")
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
        style = DBR_STYLE.get(row.dbr, "-.") if row.dbr_suffix or row.dbr == "dbr" else "-"
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


# --------------------------------------------------------------------------- CLI


def build_figure(name: str, df, learning_rate: float = 1e-5):
    """Dispatch on the figure name; returns a matplotlib Figure."""
    plt = pyplot()
    df = add_systems(to_percent(df))
    if name == "grid_heatmaps":
        return grid_heatmaps(df, plt)
    if name == "grid_pairs":
        return grid_pairs(df, plt, learning_rate)
    if name == "memory_time":
        return memory_time(df, plt)
    if name == "f1_by_length":
        return f1_by_length(df, plt)
    if name == "cost_f1":
        return cost_f1(df, plt)
    if name == "training_curves":
        return training_curves(df, plt)
    raise InputError(f"unknown figure '{name}'; known: {list(FIGURE_NAMES)}")


def main_figures(argv: list[str]) -> int:
    """CLI: draw one named figure from the aggregated metrics."""
    from nerbench.reporting.aggregate import load_metrics_table

    ap = argparse.ArgumentParser(prog="nerbench figures", description=__doc__)
    ap.add_argument("--metrics", required=True, help="aggregated metrics TSV")
    ap.add_argument("--which", required=True, choices=FIGURE_NAMES)
    ap.add_argument("--learning-rate", type=float, default=1e-5, help="grid_pairs only")
    ap.add_argument("--out-prefix", required=True, help="writes <prefix>.png and <prefix>.pdf")
    args = ap.parse_args(argv)
    df = load_metrics_table(args.metrics)
    fig = build_figure(args.which, df, args.learning_rate)
    try:
        paths = save_figure(fig, args.out_prefix)
    finally:
        pyplot().close(fig)
    print(f"figure {args.which} -> {', '.join(map(str, paths))}")
    return 0
