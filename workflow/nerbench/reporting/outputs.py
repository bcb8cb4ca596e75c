"""The tables and figures a study may list under ``outputs``: one registration line each.

Every paper table and figure is declared once, as an entry of :data:`TABLES`
(:mod:`~nerbench.reporting.table_registry`) or :data:`FIGURES`
(:mod:`~nerbench.reporting.figure_registry`). The names a study may list (checked when the
workflow plans), the CLI choices of ``nerbench tables`` / ``nerbench figures``, their dispatch,
the Snakemake wildcard constraints of the ``table`` and ``figure`` rules, the run files each
reads, the published numbers each table is compared with and the docs' lists are all derived
from these two registries; this module holds the derived views.

Adding a table is one builder function (``builder(df, ref) -> Table`` in a module of
:mod:`nerbench.reporting.tables`) plus one ``TABLES.add`` line in ``table_registry.py``; a
figure is one drawing function (``draw(df, plt) -> Figure`` in a module of
:mod:`nerbench.reporting.figures`) plus one ``FIGURES.add`` line in ``figure_registry.py``. Its
caption for the HTML report is ``workflow/report/<kind>_<name>.rst``
(``nerbench.paths.caption_file``); a test checks that every table and figure has one.

Entries are light (builders named as ``"module:function"`` strings, imported when used), so
this module imports neither pandas nor matplotlib: the Snakefile and the study checks read it.
"""

from __future__ import annotations

from nerbench.reporting.figure_registry import FIGURES
from nerbench.reporting.specs import FigureSpec, TableSpec
from nerbench.reporting.table_registry import TABLES

__all__ = ["FIGURES", "TABLES", "FigureSpec", "TableSpec"]


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


def outputs_markdown() -> str:
    """The Markdown list of every table and figure a study may list (docs/outputs.md holds it;
    a test keeps the two equal): name, what it shows, the rule that makes it, its published
    numbers."""
    from nerbench.reporting.specs import describe

    lines = [
        "| output | name | what it shows | made by | published numbers |",
        "|---|---|---|---|---|",
    ]
    for kind, registry in (("table", TABLES), ("figure", FIGURES)):
        for name, spec in registry.items():
            reference = getattr(spec, "reference", None)
            ref = f"`config/reference/{reference}`" if reference else "–"
            lines.append(f"| {kind} | `{name}` | {describe(spec)} | `{spec.rule}` | {ref} |")
    return "\n".join(lines) + "\n"


def main_outputs(argv: list[str]) -> int:
    """CLI: print the Markdown list of tables and figures (docs/outputs.md)."""
    import argparse

    argparse.ArgumentParser(prog="nerbench outputs", description=main_outputs.__doc__).parse_args(
        argv
    )
    print(outputs_markdown(), end="")
    return 0
