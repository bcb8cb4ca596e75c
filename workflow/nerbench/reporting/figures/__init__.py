"""Paper figures from the aggregated metrics (plot code only; no training code here).

``python -m nerbench figures --metrics results/aggregate/metrics.tsv --which NAME
--out-prefix results/figures/NAME`` writes ``NAME.png`` and ``NAME.pdf`` (matplotlib Agg backend,
Okabe-Ito colour-blind-safe palette, cividis colour maps, labelled axes with units).

Each figure is one drawing function in a module of this package, registered in
:data:`nerbench.reporting.figure_registry.FIGURES`; ``python -m nerbench outputs`` lists them
with what each shows (the first paragraph of its drawing function's docstring).

Every series is in a legend and is labelled by model, method and DBR variant
(:func:`series_labels`): what all series share goes into the legend title, what varies into each
label, and the study group is prefixed only where it alone tells two series apart.
"""

from __future__ import annotations

import argparse
from typing import Any

from nerbench.reporting.figure_registry import FIGURES
from nerbench.reporting.figures.style import pyplot, save_figure
from nerbench.reporting.outputs import figure_names
from nerbench.reporting.specs import check_request
from nerbench.reporting.summary import add_systems, to_percent


def build_figure(name: str, df, **options: Any):
    """Draw the registered figure ``name`` (:data:`nerbench.reporting.outputs.FIGURES`) from
    the aggregated metrics ``df``; ``options`` are the drawing function's own keyword options
    (``learning_rate`` for ``grid_pairs``). Returns a matplotlib Figure."""
    check_request(FIGURES, "figure", name, figure_names(), options)
    draw = FIGURES[name].load()
    plt = pyplot()
    return draw(add_systems(to_percent(df)), plt, **options)


def main_figures(argv: list[str]) -> int:
    """CLI: draw one named figure from the aggregated metrics."""
    from nerbench.reporting.aggregate import load_metrics_table

    ap = argparse.ArgumentParser(prog="nerbench figures", description=__doc__)
    ap.add_argument("--metrics", required=True, help="aggregated metrics TSV")
    ap.add_argument("--which", required=True, choices=figure_names())
    ap.add_argument("--learning-rate", type=float, default=1e-5, help="grid_pairs only")
    ap.add_argument("--out-prefix", required=True, help="writes <prefix>.png and <prefix>.pdf")
    args = ap.parse_args(argv)
    df = load_metrics_table(args.metrics)
    options = {"learning_rate": args.learning_rate}
    fig = build_figure(args.which, df, **{k: options[k] for k in FIGURES[args.which].options})
    try:
        paths = save_figure(fig, args.out_prefix)
    finally:
        pyplot().close(fig)
    print(f"figure {args.which} -> {', '.join(map(str, paths))}")
    return 0
