"""What a ``nerbench`` module imports, read from its source (``ast``), never by importing it.

A module's imports are every ``import`` and ``from ... import`` anywhere in it (at module level or
inside a function), ``importlib.import_module("x")`` / ``importlib.util.find_spec("x")`` with a
literal name, and strings that name a module, as registries do
(``"nerbench.methods.encoder:TokenClassificationMethod"``). :func:`reached_modules` follows them
transitively through the package. It is conservative: a module imported by any function of a
reached module counts.

Used by :mod:`nerbench.envs` (the third-party modules a rule's environment must provide) and by
:func:`code_files` (the package files a report rule's output depends on, declared as its inputs).
"""

from __future__ import annotations

import ast
import functools
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from nerbench import paths

MODULE_STRING_RE = re.compile(r"^(nerbench(?:\.\w+)+)(?::\w+)?$")


def module_file(module: str) -> Path | None:
    """The source file of a ``nerbench`` module (``pkg/__init__.py`` for a package); else None."""
    base = paths.PACKAGE_DIR.parent / module.replace(".", "/")
    for path in (base.with_suffix(".py"), base / "__init__.py"):
        if path.is_file():
            return path
    return None


@dataclass(frozen=True)
class _Scan:
    """What one module's source names: imported modules, and module strings it declares."""

    imports: frozenset[str]
    strings: frozenset[str]  # "nerbench.x" / "nerbench.x:attr" string constants
    declares_registry: bool  # instantiates nerbench.registry.Registry
    loads_from: frozenset[str]  # modules whose imported name is loaded: NAME.load(), NAME[k].load()


@functools.cache
def _scan(module: str) -> _Scan:
    path = module_file(module)
    if path is None:
        raise ValueError(f"no source file for module '{module}' under {paths.PACKAGE_DIR.parent}")
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()
    strings: set[str] = set()
    declares = False
    imported_from: dict[str, str] = {}  # name bound by ``from M import name`` -> M
    loaded: set[str] = set()  # names whose entries are loaded
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{parent}.{base}" if base else parent
            found.add(base)
            found |= {f"{base}.{a.name}" for a in node.names if module_file(f"{base}.{a.name}")}
            imported_from |= {a.asname or a.name: base for a in node.names}
        elif isinstance(node, ast.Call):
            called = _called_name(node)
            if called in ("import_module", "find_spec"):
                if node.args and isinstance(node.args[0], ast.Constant):
                    found.add(str(node.args[0].value))
            declares |= called == "Registry"
            func = node.func
            if isinstance(func, ast.Attribute) and func.attr == "load":
                target = func.value.value if isinstance(func.value, ast.Subscript) else func.value
                if isinstance(target, ast.Name):
                    loaded.add(target.id)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            if m := MODULE_STRING_RE.match(node.value):
                strings.add(m.group(1))
    loads_from = frozenset(imported_from[n] for n in loaded if n in imported_from)
    return _Scan(frozenset(f for f in found if f), frozenset(strings), declares, loads_from)


@functools.cache
def direct_imports(module: str) -> frozenset[str]:
    """Every module ``module`` imports anywhere (absolute names; submodules of ``from``).

    A module string (``"nerbench.x:attr"``) counts as an import of ``nerbench.x``, except in a
    module that declares a :class:`~nerbench.registry.Registry`: there it names an entry imported
    only when loaded, so it counts for the modules that import the registry and load its entries
    (``REG.load(name)``, ``REG[name].load()``: the dispatch), not for those that read its names
    only (a schema's enum, a wildcard constraint).
    """
    scan = _scan(module)
    found = set(scan.imports)
    if not scan.declares_registry:
        found |= scan.strings
    for name in scan.loads_from:
        if name.startswith("nerbench.") and module_file(name) and _scan(name).declares_registry:
            found |= _scan(name).strings
    return frozenset(found)


def _called_name(call: ast.Call) -> str | None:
    func = call.func
    return func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)


def reached_modules(
    module: str, extra: dict[str, Iterable[str]] | None = None
) -> tuple[set[str], set[str]]:
    """``(nerbench modules, other module names)`` that ``module`` reaches, itself included.

    Every ``nerbench`` module with a source file is followed (its parent packages too: importing
    a module runs their ``__init__``); other names are collected, not followed. ``extra`` adds
    imports a module makes that its source does not spell (module -> names).
    """
    extra = extra or {}
    seen: set[str] = set()
    parts = module.split(".")
    todo = [".".join(parts[:i]) for i in range(1, len(parts) + 1)]
    others: set[str] = set()
    while todo:
        current = todo.pop()
        if current in seen:
            continue
        seen.add(current)
        for name in direct_imports(current) | set(extra.get(current, ())):
            parts = name.split(".")
            if parts[0] != "nerbench":
                others.add(name)
                continue
            prefixes = (".".join(parts[:i]) for i in range(1, len(parts) + 1))
            todo += [p for p in prefixes if module_file(p)]
    return seen, others


def code_files(module: str) -> list[str]:
    """Project-relative paths of the source files of every package module ``module`` reaches,
    sorted: what its output depends on, as a rule's inputs (editing one reruns the rule)."""
    modules, _ = reached_modules(module)
    root = paths.PROJECT_ROOT
    return sorted({module_file(m).relative_to(root).as_posix() for m in modules})
