"""One registry per extension point: the single declaration of what exists under a name.

Tables, figures, corpus formats, methods, entity-length buckets and entity categories are each
declared once, as entries of a :class:`Registry`; schema enums, CLI choices, dispatch and the
docs' lists are generated from it (as :mod:`nerbench.hparams` does for hyperparameters).

An entry is any object; a registry keeps them in registration order. Entries are registered
with a call or a decorator::

    TABLES = Registry("table")

    @TABLES.register("metrics", reference=None)
    def metrics_table(df): ...

    TABLES.add("corpus_stats", TableSpec(...))

A registry whose entries must stay importable without heavy modules (a schema loaded by
Snakemake before any job runs, the CLI's choices) holds light entries, such as a
``"module:attribute"`` string resolved by :meth:`Registry.load`, or a small dataclass.

Tests add a throw-away entry with :meth:`Registry.temporary`, which removes it afterwards.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, Generic, TypeVar

from nerbench.io import InputError

T = TypeVar("T")


def resolve(target: str) -> Any:
    """The object a ``"module:attribute"`` string names (its module imported now)."""
    module_name, _, attribute = target.partition(":")
    return getattr(importlib.import_module(module_name), attribute)


class Registry(Generic[T]):
    """Named entries of one extension point, in registration order."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._entries: dict[str, T] = {}
        self._meta: dict[str, dict[str, Any]] = {}

    # declaring
    def add(self, name: str, entry: T, **meta: Any) -> T:
        """Register ``entry`` under ``name`` (with optional metadata); a name is declared once."""
        if not name or not isinstance(name, str):
            raise ValueError(f"{self.kind} name must be a non-empty string, got {name!r}")
        if name in self._entries:
            raise ValueError(f"{self.kind} '{name}' is registered twice")
        self._entries[name] = entry
        self._meta[name] = dict(meta)
        return entry

    def register(self, name: str, **meta: Any) -> Callable[[T], T]:
        """Decorator form of :meth:`add`; returns the decorated object unchanged."""

        def decorate(entry: T) -> T:
            return self.add(name, entry, **meta)

        return decorate

    @contextmanager
    def temporary(self, name: str, entry: T, **meta: Any) -> Iterator[T]:
        """Register ``entry`` for the duration of a ``with`` block (tests of extension points)."""
        self.add(name, entry, **meta)
        try:
            yield entry
        finally:
            self._entries.pop(name, None)
            self._meta.pop(name, None)

    # reading
    def names(self) -> tuple[str, ...]:
        """Registered names, in registration order."""
        return tuple(self._entries)

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def items(self) -> list[tuple[str, T]]:
        return list(self._entries.items())

    def __getitem__(self, name: str) -> T:
        try:
            return self._entries[name]
        except KeyError:
            raise InputError(
                f"unknown {self.kind} '{name}'; known: {', '.join(self._entries) or '(none)'}"
            ) from None

    def meta(self, name: str) -> dict[str, Any]:
        """The metadata registered with ``name``."""
        self[name]  # noqa: B018 - raises the unknown-name error
        return dict(self._meta[name])

    def load(self, name: str) -> Any:
        """Resolve an entry that is a ``"module:attribute"`` string (lazy import)."""
        entry = self[name]
        if not isinstance(entry, str) or ":" not in entry:
            return entry
        return resolve(entry)

    def enum(self) -> dict[str, list[str]]:
        """JSON-schema fragment allowing exactly the registered names."""
        return {"enum": list(self._entries)}

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}, {list(self._entries)})"
