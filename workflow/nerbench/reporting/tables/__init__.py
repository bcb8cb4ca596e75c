"""Paper tables from the aggregated metrics: a TSV of numbers plus Markdown, LaTeX and HTML.

``python -m nerbench tables --metrics results/aggregate/metrics.tsv --which NAME
[--reference config/reference/X.tsv] --out-prefix results/tables/NAME`` writes ``NAME.tsv``,
``NAME.md``, ``NAME.tex`` and ``NAME.html`` (the report's view). Scores are shown in percent, as
mean ± sd over seeds. Published numbers (``config/reference``) are shown beside ours with a Δ
(ours − paper) row. Where a system was trained with several hyper-parameter settings, the one with
the best mean *dev* F1 is shown (never selected on test).

How runs become table rows ("systems"): a run's study group name; when a group holds several
models, the model id; when a group varies the DBR variant, a suffix "+ random DBR" / "w/o DBR".
Our systems are matched to the paper's by name (case and punctuation ignored, longest prefix
on word boundaries, e.g. ``biobert-v1.1`` → BioBERT, ``VANER_single`` → VANER_single).
"""

from __future__ import annotations

import argparse
from typing import Any

from nerbench.reporting.outputs import table_names
from nerbench.reporting.render import Table
from nerbench.reporting.specs import check_request
from nerbench.reporting.table_registry import TABLES


def build_table(name: str, df, ref, **options: Any) -> Table:
    """Build the registered table ``name`` (:data:`nerbench.reporting.outputs.TABLES`) from the
    aggregated metrics ``df`` and its published numbers ``ref`` (or ``None``); ``options`` are
    the builder's own keyword options (``learning_rate`` for ``foundation_f1``)."""
    check_request(TABLES, "table", name, table_names(), options)
    return TABLES[name].load()(df, ref, **options)


def main_tables(argv: list[str]) -> int:
    """CLI: build one named table from the aggregated metrics."""
    from nerbench.reporting.aggregate import load_metrics_table
    from nerbench.reporting.render import write_table
    from nerbench.reporting.summary import load_reference

    ap = argparse.ArgumentParser(prog="nerbench tables", description=__doc__)
    ap.add_argument("--metrics", required=True, help="aggregated metrics TSV")
    ap.add_argument("--which", required=True, choices=table_names())
    ap.add_argument("--reference", help="published numbers (config/reference/*.tsv)")
    ap.add_argument("--learning-rate", type=float, default=1e-5, help="foundation_f1 only")
    ap.add_argument("--out-prefix", required=True, help="writes <prefix>.tsv, .md, .tex and .html")
    args = ap.parse_args(argv)
    df = load_metrics_table(args.metrics)
    spec = TABLES[args.which]
    ref = load_reference(args.reference, list(spec.reference_columns))
    options = {"learning_rate": args.learning_rate}
    table = build_table(args.which, df, ref, **{k: options[k] for k in spec.options})
    paths = write_table(table, args.out_prefix)
    print(f"table {args.which}: {len(table.display)} rows -> {', '.join(map(str, paths))}")
    return 0
