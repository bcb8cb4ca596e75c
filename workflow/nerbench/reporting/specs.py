"""What a registered table or figure is: its builder, published numbers, options, the run files
it reads and the rule that makes it (entries of :mod:`nerbench.reporting.table_registry` and
:mod:`nerbench.reporting.figure_registry`)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from nerbench.io import InputError
from nerbench.registry import Registry, resolve


class _Built:
    """What tables and figures share: a lazily imported builder, or the rule that makes it."""

    builder: str | None
    rule: str

    def load(self) -> Callable[..., Any]:
        """The builder (imports its module)."""
        if self.builder is None:
            raise ValueError(f"made by the '{self.rule}' rule, not built from runs")
        return resolve(self.builder)


@dataclass(frozen=True)
class TableSpec(_Built):
    """One table a study may list.

    ``builder``: ``"module:function"`` making the table from the aggregated metrics,
    ``function(df, ref, **options) -> Table``; ``None`` for a table another rule makes
    (``rule``). ``reference``: published numbers it is compared with (a file under
    ``config/reference/``), read with the columns ``reference_columns``. ``options``: the
    keyword options of the builder the CLI may set (e.g. ``learning_rate``). ``reads``: the run
    files its builder reads besides ``metrics.tsv`` (roles of ``nerbench.paths.IN_RUN``), declared
    as the rule's inputs so that a new one rebuilds the table.
    """

    builder: str | None
    reference: str | None = None
    reference_columns: tuple[str, ...] = ()
    options: tuple[str, ...] = ()
    rule: str = "table"
    reads: tuple[str, ...] = ()
    about: str = ""  # what it shows, for a table another rule makes (else the builder's docstring)


@dataclass(frozen=True)
class FigureSpec(_Built):
    """One figure a study may list.

    ``builder``: ``"module:function"`` drawing it from the aggregated metrics,
    ``function(df, plt, **options) -> Figure``; ``None`` for a figure another rule makes
    (``rule``), saved as ``stem`` (default: the figure's name). ``reads``: as for a table.
    """

    builder: str | None
    rule: str = "figure"
    stem: str | None = None
    options: tuple[str, ...] = ()
    reads: tuple[str, ...] = ()
    about: str = ""  # what it shows, for a figure another rule makes (else the builder's docstring)


def check_request(
    registry: Registry, kind: str, name: str, buildable: tuple[str, ...], options: dict
) -> None:
    """Refuse a ``kind`` (table, figure) that this rule does not build, or options its builder
    does not take. The caller then loads the entry itself (``REGISTRY[name].load()``), so that
    its module is the one that depends on the builders' code (:mod:`nerbench.imports`)."""
    if name not in buildable:
        raise InputError(f"unknown {kind} '{name}'; known: {list(buildable)}")
    unknown = sorted(set(options) - set(registry[name].options))
    if unknown:
        raise InputError(f"{kind} '{name}' takes no option {', '.join(unknown)}")


def describe(spec: TableSpec | FigureSpec) -> str:
    """What a table or figure shows, in one line: the first paragraph of its builder's
    docstring (imports the builder's module), or ``about`` for one another rule makes."""
    if spec.builder is None:
        return spec.about
    doc = (spec.load().__doc__ or "").strip().split("\n\n")[0]
    return " ".join(doc.split())
