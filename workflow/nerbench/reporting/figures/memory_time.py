"""Paper 002 Fig 12: peak memory against training time per configuration."""

from __future__ import annotations

from nerbench.reporting.figures.style import (
    MARKERS,
    OKABE_ITO,
    colour,
    figure_legend,
    require_columns,
    series_labels,
)


def memory_time(df, plt):
    """Peak memory (GB) vs mean training time per configuration (min), with a fitted line."""
    import numpy as np

    require_columns(df, ["train_wall_s"], "memory_time")
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
