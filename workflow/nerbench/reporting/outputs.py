"""The tables and figures a study may list under ``outputs``: one registration line each.

Every paper table and figure is declared here, once, as an entry of :data:`TABLES` or
:data:`FIGURES`. The names a study may list (checked when the workflow plans), the CLI choices
of ``nerbench tables`` / ``nerbench figures``, their dispatch, the Snakemake wildcard
constraints of the ``table`` and ``figure`` rules, the published numbers each table is compared
with and the docs' lists are all derived from these two registries.

Adding a table is one builder function (``builder(df, ref) -> Table`` in a module of
:mod:`nerbench.reporting.tables`) plus one ``TABLES.add`` line here; a figure is one drawing
function (``draw(df, plt) -> Figure`` in :mod:`nerbench.reporting.figures`) plus one
``FIGURES.add`` line. Its caption for the HTML report is ``workflow/report/<kind>_<name>.rst``
(``nerbench.paths.caption_file``); a test checks that every table and figure has one.

Entries are light (builders named as ``"module:function"`` strings, imported when used), so
this module imports neither pandas nor matplotlib: the Snakefile and the study checks read it.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from nerbench.registry import Registry

_TABLES = "nerbench.reporting.tables"
_FIGURES = "nerbench.reporting.figures"


def _resolve(target: str) -> Callable[..., Any]:
    """The function a ``"module:function"`` string names (imported now)."""
    module_name, _, attribute = target.partition(":")
    return getattr(importlib.import_module(module_name), attribute)


@dataclass(frozen=True)
class TableSpec:
    """One table a study may list.

    ``builder``: ``"module:function"`` making the table from the aggregated metrics,
    ``function(df, ref, **options) -> Table``; ``None`` for a table another rule makes
    (``rule``). ``reference``: published numbers it is compared with (a file under
    ``config/reference/``), read with the columns ``reference_columns``. ``options``: the
    keyword options of the builder the CLI may set (e.g. ``learning_rate``).
    """

    builder: str | None
    reference: str | None = None
    reference_columns: tuple[str, ...] = ()
    options: tuple[str, ...] = ()
    rule: str = "table"

    def load(self) -> Callable[..., Any]:
        """The builder function (imports its module)."""
        if self.builder is None:
            raise ValueError(f"this table is made by the '{self.rule}' rule, not built from runs")
        return _resolve(self.builder)


@dataclass(frozen=True)
class FigureSpec:
    """One figure a study may list.

    ``builder``: ``"module:function"`` drawing it from the aggregated metrics,
    ``function(df, plt, **options) -> Figure``; ``None`` for a figure another rule makes
    (``rule``), saved as ``stem`` (default: the figure's name).
    """

    builder: str | None
    rule: str = "figure"
    stem: str | None = None
    options: tuple[str, ...] = ()

    def load(self) -> Callable[..., Any]:
        """The drawing function (imports its module)."""
        if self.builder is None:
            raise ValueError(f"this figure is made by the '{self.rule}' rule")
        return _resolve(self.builder)


# --------------------------------------------------------------------------- tables

VANER_REF = ("system", "dataset", "category", "metric", "value")
CLAIM_REF = ("claim", "low", "high", "unit")

TABLES: Registry[TableSpec] = Registry("table")
TABLES.add("corpus_stats", TableSpec(None, rule="corpus_stats"))  # the stats stage (bio.smk)
TABLES.add("metrics", TableSpec(f"{_TABLES}.metrics:metrics_table"))
TABLES.add(
    "vaner_table1", TableSpec(f"{_TABLES}.vaner:vaner_table1", "vaner_table1.tsv", VANER_REF)
)
TABLES.add(
    "vaner_table3", TableSpec(f"{_TABLES}.vaner:vaner_table3", "vaner_table3.tsv", VANER_REF)
)
TABLES.add(
    "vaner_table4",
    TableSpec(
        f"{_TABLES}.vaner:vaner_table4",
        "vaner_table4.tsv",
        ("system", "dataset", "type", "metric", "value"),
    ),
)
TABLES.add(
    "llm_vs_encoder_f1",
    TableSpec(f"{_TABLES}.per_dataset:llm_vs_encoder_f1", "llm_vs_encoder.tsv", CLAIM_REF),
)
TABLES.add(
    "f1_by_length",
    TableSpec(f"{_TABLES}.per_dataset:f1_by_length", "llm_vs_encoder.tsv", CLAIM_REF),
)
TABLES.add(
    "inference_ratio",
    TableSpec(f"{_TABLES}.inference:inference_ratio", "llm_vs_encoder.tsv", CLAIM_REF),
)
TABLES.add(
    "foundation_f1",
    TableSpec(
        f"{_TABLES}.foundation:foundation_f1",
        "foundation_f1.tsv",
        ("system", "batch_size", "learning_rate", "metric", "value"),
        options=("learning_rate",),
    ),
)

# --------------------------------------------------------------------------- figures

FIGURES: Registry[FigureSpec] = Registry("figure")
FIGURES.add("grid_heatmaps", FigureSpec(f"{_FIGURES}.grid:grid_heatmaps"))
FIGURES.add("grid_pairs", FigureSpec(f"{_FIGURES}.grid:grid_pairs", options=("learning_rate",)))
FIGURES.add("memory_time", FigureSpec(f"{_FIGURES}.memory_time:memory_time"))
FIGURES.add("f1_by_length", FigureSpec(f"{_FIGURES}.length:f1_by_length"))
FIGURES.add("cost_f1", FigureSpec(f"{_FIGURES}.cost:cost_f1"))
FIGURES.add("training_curves", FigureSpec(f"{_FIGURES}.curves:training_curves"))
# VANER Figs 3-4, drawn from the DBR sample statistics by `nerbench dbr-stats` (dbr.smk)
FIGURES.add("vaner_fig3", FigureSpec(None, rule="dbr_figures", stem="vaner_fig3_dbr_entities"))
FIGURES.add("vaner_fig4", FigureSpec(None, rule="dbr_figures", stem="vaner_fig4_dbr_length"))


# --------------------------------------------------------------------------- derived views


def table_names(rule: str = "table") -> tuple[str, ...]:
    """Tables a rule makes (default: those the ``table`` rule builds from the runs)."""
    return tuple(n for n, spec in TABLES.items() if spec.rule == rule)


def figure_names(rule: str = "figure") -> tuple[str, ...]:
    """Figures a rule makes (default: those the ``figure`` rule draws from the runs)."""
    return tuple(n for n, spec in FIGURES.items() if spec.rule == rule)


def study_tables() -> tuple[str, ...]:
    """Every table a study may list under ``outputs.tables``."""
    return TABLES.names()


def study_figures() -> tuple[str, ...]:
    """Every figure a study may list under ``outputs.figures``."""
    return FIGURES.names()


def dbr_figures() -> dict[str, str]:
    """Figures the DBR rules make: name -> file name (without extension)."""
    return {n: spec.stem or n for n, spec in FIGURES.items() if spec.rule == "dbr_figures"}


def code_files(kind: str) -> tuple[str, ...]:
    """Package-relative paths (``reporting/tables/vaner.py``) of the modules holding the
    registered builders of ``kind`` (``"table"`` or ``"figure"``): the code whose edit reruns
    that report rule (:data:`nerbench.plan.REPORT_CODE`)."""
    registry = {"table": TABLES, "figure": FIGURES}[kind]
    targets = [spec.builder for _, spec in registry.items()]
    modules = [t.partition(":")[0] for t in targets if t and t.startswith("nerbench.")]
    return tuple(
        dict.fromkeys(m.removeprefix("nerbench.").replace(".", "/") + ".py" for m in modules)
    )
