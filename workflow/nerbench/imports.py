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


@functools.cache
def direct_imports(module: str) -> frozenset[str]:
    """Every module ``module`` imports anywhere (absolute names; submodules of ``from``)."""
    path = module_file(module)
    if path is None:
        raise ValueError(f"no source file for module '{module}' under {paths.PACKAGE_DIR.parent}")
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()
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
        elif isinstance(node, ast.Call) and _called_name(node) in ("import_module", "find_spec"):
            if node.args and isinstance(node.args[0], ast.Constant):
                found.add(str(node.args[0].value))
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            if m := MODULE_STRING_RE.match(node.value):
                found.add(m.group(1))
    return frozenset(f for f in found if f)


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
