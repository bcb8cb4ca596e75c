"""Cost against F1: training and inference time per system with the Pareto front.

:func:`cost_summary` derives the points (per system: mean F1, training time, inference time
with the spread of its timed repeats, and the flags of noisy timings); :func:`cost_f1` draws
them."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from nerbench import defaults
from nerbench.reporting.figures.style import (
    OKABE_ITO,
    colour,
    figure_legend,
    finite,
    panel_row,
    require_columns,
    series_labels,
)
from nerbench.reporting.summary import summarize


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


@dataclass
class CostPoints:
    """What :func:`cost_f1` draws, per system.

    ``summary``: one row per (system, family) with the mean and sd over its runs of
    ``exact_f1``, ``train_wall_s``, ``infer_s_per_1k`` (the median timed repeat) and
    ``infer_lo`` / ``infer_hi`` (the fastest / slowest repeat); ``noisy`` / ``busy``: systems
    with a run whose repeats spread by more than ``defaults.COST_NOISY_SPREAD`` / that was timed
    while other processes used ``defaults.COST_BUSY_OTHER_CPUS`` CPUs; ``panels``: (column,
    axis label) of each cost drawn; ``has_bars``: some system's repeats differ.
    """

    summary: Any
    noisy: Any
    busy: Any
    panels: list[tuple[str, str]]
    has_bars: bool


def cost_summary(df) -> CostPoints:
    """Per-system cost and F1 of the runs in ``df`` (metrics rows with a ``system`` label)."""
    df = df.copy()
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
    return CostPoints(s, noisy, busy, panels, has_bars)


def cost_f1(df, plt):
    """Training and inference cost vs mean exact-match F1 per system, with the Pareto front.

    Inference: the median of the timed repeats; error bars from the fastest to the slowest
    repeat (means over the system's runs); a ring marks a system with a run whose repeats spread
    by more than ``defaults.COST_NOISY_SPREAD`` (a busy machine: rerun on an exclusive node).
    """
    require_columns(df, ["train_wall_s"], "cost_f1")
    labels, title = series_labels(df)
    points = cost_summary(df)
    s, panels = points.summary, points.panels
    fig, axes = panel_row(plt, len(panels), 4.2, 2.4, 3.6)
    rings = (  # (which systems, label, ring style)
        (
            points.noisy,
            f"timing spread > {defaults.COST_NOISY_SPREAD:.0%}",
            (180, OKABE_ITO[4], "-"),
        ),
        (
            points.busy,
            f"timed while other processes used ≥ {defaults.COST_BUSY_OTHER_CPUS:g} CPU",
            (330, OKABE_ITO[7], "--"),
        ),
    )
    for ax, (col, label) in zip(axes[0], panels, strict=True):
        pts = []
        for i, row in enumerate(s.itertuples(index=False)):
            x, y = getattr(row, f"{col}_mean"), row.exact_f1_mean
            if not (finite(x) and finite(y)):
                continue
            marker = "s" if row.family == "decoder" else "o"
            ax.scatter(
                x, y, color=colour(i), marker=marker, s=40, label=labels[row.system], zorder=3
            )
            if col == "infer_s_per_1k":
                lo, hi = row.infer_lo_mean, row.infer_hi_mean
                if finite(lo) and finite(hi) and hi > lo:
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
        if col == "infer_s_per_1k" and points.has_bars:
            ax.set_title("bars: fastest to slowest timed repeat", fontsize=8)
    axes[0][0].set_ylabel("exact-match F1 (%), mean over datasets and seeds")
    figure_legend(fig, title)
    fig.suptitle("Cost vs F1 (circles: encoders, squares: decoders)")
    return fig
