"""The rules' conda environments, generated from ``pyproject.toml``: ``python -m nerbench envs``.

One source: ``[project].dependencies`` holds every pin, ``[tool.nerbench.envs.<name>]`` says
which of those dependencies (by name) each ``envs/<name>.yaml`` installs with pip, and what it
takes from conda channels instead (a Java runtime, a compiler, ``faiss-gpu`` in place of
``faiss-cpu``). ``python -m nerbench envs`` writes the files; ``--check`` exits 1 naming each
file that differs from what it would write, and each rule whose code imports a third-party
module its environment lacks.

The import check follows the ``python -m nerbench <command>`` a rule's shell runs: the command's
module (:data:`nerbench.cli.COMMANDS`) and, transitively, every ``nerbench`` module it imports
-- at module level or inside a function, including registries that name a module in a string
(``"nerbench.methods.encoder:TokenClassificationMethod"``, followed from the modules that load a
registry's entries, not from those that read its names only), ``importlib.import_module("x")`` and
``importlib.util.find_spec("x")`` -- plus the packages named by ``pypkg:`` model sources. It is
conservative: a module imported by any function of a reached module counts.
"""

from __future__ import annotations

import argparse
import functools
import re
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nerbench import paths
from nerbench.imports import reached_modules
from nerbench.io import InputError

PYPROJECT = paths.PROJECT_ROOT / "pyproject.toml"
ENVS_DIR = paths.PROJECT_ROOT / "envs"
RULES_DIR = paths.PROJECT_ROOT / "workflow" / "rules"
HEADER = (
    "# Generated from pyproject.toml by `python -m nerbench envs`: edit pyproject.toml, not this.\n"
    "# The nerbench package itself comes from the checkout (the workflow puts workflow/ on\n"
    "# PYTHONPATH for every job), so it is not installed here."
)
_REQ_RE = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(.*?)\s*$")
_RULE_RE = re.compile(r"^rule (\w+):\n(.*?)(?=^\S|\Z)", re.M | re.S)
_CONDA_RE = re.compile(r"^\s+conda:\n(?:\s*#.*\n)*\s+\"([^\"]+)\"", re.M)
_COMMAND_RE = re.compile(r"python -m nerbench ([a-z][a-z-]*)")
# Modules that load ``pypkg:<module>`` model sources: they import those packages at run time.
PYPKG_LOADERS = ("nerbench.methods.models", "nerbench.dbr.retrieval")


def normalize(name: str) -> str:
    """A distribution name as pip compares them (PEP 503)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def split_requirement(text: str) -> tuple[str, str]:
    """``"torch==2.13.0"`` -> ``("torch", "==2.13.0")`` (name normalized)."""
    m = _REQ_RE.match(text.split(";")[0])
    if not m:
        raise InputError(f"unreadable requirement '{text}'", PYPROJECT)
    return normalize(m.group(1)), m.group(2)


# --------------------------------------------------------------------------- pyproject


@dataclass
class EnvSpec:
    """One ``[tool.nerbench.envs.<name>]`` table."""

    name: str
    description: str
    channels: list[str]
    conda: list[str] = field(default_factory=list)
    pip: list[str] = field(default_factory=list)
    pip_options: list[str] = field(default_factory=list)
    # a [project] dependency (normalized name) installed from conda instead: -> conda spec
    conda_replaces: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def load_pyproject(path: Path = PYPROJECT) -> dict[str, Any]:
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        import tomli as tomllib
    with open(path, "rb") as f:
        return tomllib.load(f)


def project_pins(pyproject: dict[str, Any]) -> dict[str, str]:
    """Normalized name -> the full requirement of every ``[project].dependencies`` entry."""
    return {split_requirement(r)[0]: r for r in pyproject["project"]["dependencies"]}


def env_specs(pyproject: dict[str, Any]) -> tuple[str, dict[str, EnvSpec]]:
    """(the envs' Python version, every env table) from ``[tool.nerbench.envs]``."""
    table = dict(pyproject["tool"]["nerbench"]["envs"])
    python = str(table.pop("python"))
    specs = {}
    for name, t in table.items():
        replaces = {normalize(k): v for k, v in (t.get("conda_replaces") or {}).items()}
        specs[name] = EnvSpec(
            name=name,
            description=t["description"],
            channels=list(t["channels"]),
            conda=list(t.get("conda", [])),
            pip=[normalize(p) for p in t.get("pip", [])],
            pip_options=list(t.get("pip_options", [])),
            conda_replaces=replaces,
            notes=list(t.get("notes", [])),
        )
    return python, specs


def render_env(spec: EnvSpec, python: str, pins: dict[str, str]) -> str:
    """The YAML text of ``envs/<name>.yaml``."""
    unknown = [p for p in [*spec.pip, *spec.conda_replaces] if p not in pins]
    if unknown:
        raise InputError(
            f"[tool.nerbench.envs.{spec.name}] names {unknown}, which [project].dependencies "
            "does not list",
            PYPROJECT,
        )
    lines = [HEADER, f"# {spec.description}"]
    lines += [f"# {note}" for note in spec.notes]
    lines += [f"channels: [{', '.join(spec.channels)}]", "dependencies:", f"  - python={python}"]
    lines += [f"  - {c}" for c in spec.conda]
    lines += [f"  - {c}  # in place of {pins[r]}" for r, c in spec.conda_replaces.items()]
    lines += ["  - pip", "  - pip:"]
    lines += [f"      - {opt}" for opt in spec.pip_options]
    lines += [f"      - {pins[p]}" for p in spec.pip]
    return "\n".join(lines) + "\n"


def rendered_envs(pyproject_path: Path = PYPROJECT) -> dict[str, str]:
    """File name -> text of every environment file."""
    pyproject = load_pyproject(pyproject_path)
    pins = project_pins(pyproject)
    python, specs = env_specs(pyproject)
    return {f"{name}.yaml": render_env(spec, python, pins) for name, spec in specs.items()}


# --------------------------------------------------------------------------- rules and imports


def rule_commands(rules_dir: Path = RULES_DIR) -> dict[str, tuple[str, str | None]]:
    """Rule name -> (``nerbench`` command its shell runs, its ``conda:`` env file name)."""
    out = {}
    for smk in sorted(rules_dir.glob("*.smk")):
        for m in _RULE_RE.finditer(smk.read_text(encoding="utf-8")):
            body = m.group(2)
            command = _COMMAND_RE.search(body)
            conda = _CONDA_RE.search(body)
            if command is None:
                continue
            out[m.group(1)] = (command.group(1), Path(conda.group(1)).name if conda else None)
    return out


def third_party_imports(module: str, extra: dict[str, Iterable[str]] | None = None) -> set[str]:
    """Top-level names of the non-stdlib, non-nerbench modules ``module`` reaches."""
    _, others = reached_modules(module, extra)
    tops = {name.split(".")[0] for name in others}
    return {t for t in tops if t not in sys.stdlib_module_names and t != "__future__"}


def pypkg_modules() -> set[str]:
    """Packages named by ``pypkg:`` model sources (models.tsv, the default DBR embedder)."""
    from nerbench import defaults

    sources = [str(defaults.EMBEDDER["source"])]
    models = paths.PROJECT_ROOT / "config" / "models.tsv"
    sources += [line.split("\t")[1] for line in models.read_text().splitlines()[1:] if line]
    return {s.split(":", 1)[1] for s in sources if s.startswith("pypkg:")}


@functools.cache
def _installed_providers() -> dict[str, list[str]]:
    from importlib.metadata import packages_distributions

    return packages_distributions()


def distributions_of(modules: Iterable[str]) -> dict[str, set[str]]:
    """Module -> normalized names of the installed distributions that provide it."""
    provided = _installed_providers()
    return {m: {normalize(d) for d in provided.get(m, [])} for m in modules}


def rule_import_gaps() -> list[str]:
    """``rule X (env E): module M (distribution D) is not in E`` for each gap."""
    from nerbench.cli import COMMANDS

    pyproject = load_pyproject()
    _, specs = env_specs(pyproject)
    extra = {loader: pypkg_modules() for loader in PYPKG_LOADERS}
    gaps = []
    for rule, (command, env_file) in sorted(rule_commands().items()):
        if env_file is None:
            gaps.append(f"rule {rule}: no conda: environment")
            continue
        spec = specs.get(env_file.removesuffix(".yaml"))
        if spec is None:
            gaps.append(f"rule {rule}: envs/{env_file} is not generated from pyproject.toml")
            continue
        provided = set(spec.pip) | set(spec.conda_replaces)
        module = COMMANDS[command].split(":")[0]
        for mod, dists in sorted(distributions_of(third_party_imports(module, extra)).items()):
            if not dists & provided:
                what = ", ".join(sorted(dists)) or "not installed here"
                gaps.append(f"rule {rule} (envs/{env_file}): imports {mod} ({what})")
    return gaps


# --------------------------------------------------------------------------- CLI


def main_envs(argv: list[str]) -> int:
    """CLI: write envs/*.yaml from pyproject.toml (``--check``: compare, and check imports)."""
    ap = argparse.ArgumentParser(
        prog="nerbench envs",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ap.add_argument("--check", action="store_true", help="write nothing; exit 1 on a difference")
    args = ap.parse_args(argv)
    wanted = rendered_envs()
    stale = [n for n, text in wanted.items() if _read(ENVS_DIR / n) != text]
    extra = sorted(p.name for p in ENVS_DIR.glob("*.yaml") if p.name not in wanted)
    if not args.check:
        for name in stale:
            (ENVS_DIR / name).write_text(wanted[name], encoding="utf-8")
            print(f"wrote envs/{name}")
        for name in extra:
            print(f"warning: envs/{name} is not generated from pyproject.toml", file=sys.stderr)
        return 0
    problems = [
        f"envs/{n} differs from pyproject.toml (run: python -m nerbench envs)" for n in stale
    ]
    problems += [f"envs/{n} is not generated from pyproject.toml" for n in extra]
    problems += rule_import_gaps()
    for p in problems:
        print(p, file=sys.stderr)
    return 1 if problems else 0


def _read(path: Path) -> str | None:
    return path.read_text(encoding="utf-8") if path.is_file() else None
