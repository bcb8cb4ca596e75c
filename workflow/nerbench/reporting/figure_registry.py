"""Every figure a study may list under ``outputs.figures``: one registration line each.

A drawing function is named as a ``"module:function"`` string, imported only when the figure is
drawn, so this module imports no matplotlib. Figures another rule makes (VANER Figs 3-4, drawn
by ``nerbench dbr-stats`` in dbr.smk) are registered with that rule and their file stem.
"""

from __future__ import annotations

from nerbench.registry import Registry
from nerbench.reporting.specs import FigureSpec

FIGURES: Registry[FigureSpec] = Registry("figure")
FIGURES.add("grid_heatmaps", FigureSpec("nerbench.reporting.figures.grid:grid_heatmaps"))
FIGURES.add(
    "grid_pairs",
    FigureSpec("nerbench.reporting.figures.grid:grid_pairs", options=("learning_rate",)),
)
FIGURES.add("memory_time", FigureSpec("nerbench.reporting.figures.memory_time:memory_time"))
FIGURES.add("f1_by_length", FigureSpec("nerbench.reporting.figures.length:f1_by_length"))
FIGURES.add("cost_f1", FigureSpec("nerbench.reporting.figures.cost:cost_f1"))
FIGURES.add(
    "training_curves",
    FigureSpec("nerbench.reporting.figures.curves:training_curves", reads=("train_log",)),
)
# VANER Figs 3-4, drawn from the DBR sample statistics by `nerbench dbr-stats` (dbr.smk)
FIGURES.add(
    "vaner_fig3",
    FigureSpec(
        None,
        rule="dbr_figures",
        stem="vaner_fig3_dbr_entities",
        about="VANER Fig 3: entities per DBR sample (positives, negatives) against entities per "
        "training sentence.",
    ),
)
FIGURES.add(
    "vaner_fig4",
    FigureSpec(
        None,
        rule="dbr_figures",
        stem="vaner_fig4_dbr_length",
        about="VANER Fig 4: words per DBR sample against words per training sentence.",
    ),
)
