"""Load and validate the workflow's configuration; expand a study into runs.

Files: ``config/config.yaml`` (which study), ``config/datasets.tsv``, ``config/models.tsv`` and
``config/studies/<study>.yaml``. Every file is checked against a JSON schema in
``workflow/schemas``; errors name the file and the row or key at fault. YAML files are read with
:func:`load_yaml`, which rejects a key given twice in one mapping (YAML would keep the last).

A *run* is one training job: (model, method, training datasets, DBR variant, hyperparameters,
seed). Its ``run_id`` is a readable prefix plus a hash of exactly that slice of config, so a change
to one value creates one new run directory and nothing else.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import jsonschema
import yaml
from jsonschema.exceptions import best_match

from nerbench.hparams import hparams_schema
from nerbench.io import InputError
from nerbench.paths import SCHEMA_DIR

SPLITS = ("train", "devel", "test")


class _UniqueKeyLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` that raises :class:`InputError` on a mapping key given twice."""

    def construct_mapping(self, node: yaml.Node, deep: bool = False) -> dict:
        if isinstance(node, yaml.MappingNode):
            first: dict[Any, int] = {}
            for key_node, _ in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    continue  # "<<:" merges; keys beside it override the merged ones
                key = self.construct_object(key_node, deep=True)
                line = key_node.start_mark.line + 1
                if isinstance(key, list | dict):
                    continue  # unhashable: the base class reports it
                if key in first:
                    raise InputError(
                        f"duplicate key '{key}' (first at line {first[key]}); YAML would keep "
                        "the last silently: remove one",
                        key_node.start_mark.name,
                        line,
                    )
                first[key] = line
        return super().construct_mapping(node, deep=deep)


def load_yaml(path: str | Path) -> Any:
    """Read a YAML file; a key given twice in a mapping or a syntax error is an
    :class:`InputError` naming the file and line."""
    path = Path(path)
    with open(path, encoding="utf-8") as f:
        try:
            return yaml.load(f, Loader=_UniqueKeyLoader)  # a SafeLoader
        except yaml.MarkedYAMLError as e:
            mark = e.problem_mark or e.context_mark
            line = mark.line + 1 if mark is not None else None
            raise InputError(f"invalid YAML ({e.problem or e.context})", path, line) from None


def _generated_fragments() -> dict[str, dict[tuple[str, ...], dict]]:
    """Schema name -> {path of a placeholder in the YAML: the fragment generated for it}.

    Each fragment comes from the one declaration of its names: hyperparameters from
    :class:`nerbench.hparams.TrainingArgs`, method names from
    :data:`nerbench.methods.registry.METHODS`, corpus formats from
    :data:`nerbench.data.formats.registry.FORMATS`, DBR variants from
    :data:`nerbench.dbr.variants.DBR_VARIANTS`.
    """
    from nerbench.data.formats.registry import FORMATS
    from nerbench.dbr.variants import DBR_VARIANTS
    from nerbench.methods.registry import METHODS

    return {
        "study": {
            ("$defs", "hparams"): hparams_schema(),
            ("$defs", "method"): METHODS.enum(),
            ("$defs", "dbr_variant"): DBR_VARIANTS.enum(),
        },
        "models": {("properties", "method"): METHODS.enum()},
        "datasets": {("properties", "format"): FORMATS.enum()},
    }


def load_schema(name: str) -> dict:
    """Load ``workflow/schemas/<name>.schema.yaml``, with its generated parts filled in.

    The YAML holds a placeholder (description, type) where a fragment is generated from a
    declaration in the package (:func:`_generated_fragments`): the study schema's
    ``$defs/hparams`` and ``$defs/method``, the method column of models.tsv and the format column
    of datasets.tsv. The names are so declared once.
    """
    schema = load_yaml(SCHEMA_DIR / f"{name}.schema.yaml")
    for path, fragment in _generated_fragments().get(name, {}).items():
        parent = schema
        for key in path[:-1]:
            parent = parent[key]
        parent[path[-1]] = {**fragment, **parent[path[-1]]}
    return schema


# validators whose message alone does not say what is allowed: add the schema's description
_EXPLAIN = ("anyOf", "oneOf", "type", "pattern", "enum")


def _validate(instance: Any, schema: dict, where: str, row: str = "") -> None:
    """Raise an :class:`InputError` for the most relevant violation, naming the key at fault.

    ``row`` (e.g. ``id 'bert-base-cased'``) names the table row; a key under a study's ``runs``
    is followed by its run group's name.
    """
    validator = jsonschema.Draft202012Validator(schema)
    errors = sorted(validator.iter_errors(instance), key=lambda e: list(e.absolute_path))
    if errors:
        e = best_match([errors[0]])
        key = ".".join(str(p) for p in e.absolute_path) or "<top level>"
        group = f" (row {row})" if row else _run_group(instance, list(e.absolute_path))
        message = e.message
        description = e.schema.get("description") if isinstance(e.schema, dict) else None
        if e.validator in _EXPLAIN and description:
            message += f"; expected {description}"
        raise InputError(f"schema violation at key '{key}'{group}: {message}", where)


def _run_group(instance: Any, path: list) -> str:
    """`` (run group 'NAME')`` when ``path`` points into a study's ``runs`` list, else ``""``."""
    if len(path) >= 2 and path[0] == "runs" and isinstance(instance, dict):
        try:
            name = instance["runs"][path[1]]["name"]
        except (KeyError, IndexError, TypeError):
            return ""
        return f" (run group '{name}')"
    return ""


def _apply_defaults(row: dict, schema: dict) -> dict:
    out = dict(row)
    for key, sub in schema.get("properties", {}).items():
        if out.get(key, "") in ("", None) and "default" in sub:
            out[key] = sub["default"]
    return out


def _coerce(value: str, sub: dict) -> Any:
    kind = sub.get("type")
    kinds = kind if isinstance(kind, list) else [kind]
    if value == "" and "null" in kinds:
        return None
    try:
        if "integer" in kinds and value != "":
            return int(value)
        if "boolean" in kinds and value.lower() in ("true", "false"):
            return value.lower() == "true"
    except ValueError:
        return value
    return value


def read_tsv_table(path: str | Path, schema_name: str, key: str) -> dict[str, dict]:
    """Read a TSV config table, validate every row, and index it by ``key``.

    A missing or unknown column, a schema violation or a duplicate key is an
    :class:`InputError` naming the file and line.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError("config table not found", path)
    schema = load_schema(schema_name)
    props = schema["properties"]
    with open(path, encoding="utf-8", newline="") as f:
        lines = [ln for ln in f.read().splitlines() if ln.strip() and not ln.startswith("#")]
    if not lines:
        raise InputError("config table is empty", path)
    reader = csv.reader(lines, delimiter="\t")
    header = next(reader)
    unknown = [c for c in header if c not in props]
    if unknown:
        raise InputError(f"unknown column(s) {unknown}; allowed: {sorted(props)}", path, 1)
    missing = [c for c in schema.get("required", []) if c not in header]
    if missing:
        raise InputError(f"missing required column(s) {missing}", path, 1)
    table: dict[str, dict] = {}
    for lineno, cells in enumerate(reader, 2):
        if len(cells) != len(header):
            raise InputError(
                f"row has {len(cells)} cells but the header has {len(header)} columns", path, lineno
            )
        raw = dict(zip(header, cells, strict=True))
        row = {k: _coerce(v, props[k]) for k, v in raw.items()}
        row = _apply_defaults(row, schema)
        _validate(row, schema, f"{path}:{lineno}", f"{key} '{raw.get(key, '')}'")
        name = row[key]
        if name in table:
            raise InputError(f"duplicate {key} '{name}'", path, lineno)
        table[name] = row
    return table


def parse_tag_map(spec: str, where: str) -> dict[str, str]:
    """Parse ``"SRC:Canonical,SRC2:Canonical2"`` into a mapping of source type to canonical type."""
    mapping: dict[str, str] = {}
    for item in spec.split(","):
        item = item.strip()
        if not item:
            continue
        if ":" not in item:
            raise InputError(f"tag_map entry '{item}' is not SOURCE:Canonical", where)
        src, dst = (s.strip() for s in item.split(":", 1))
        if not src or not dst:
            raise InputError(f"tag_map entry '{item}' has an empty side", where)
        mapping[src] = dst
    if not mapping:
        raise InputError("tag_map is empty", where)
    return mapping


def load_datasets(path: str | Path) -> dict[str, dict]:
    """Load ``datasets.tsv``; each row gains ``types`` (sorted canonical types)."""
    table = read_tsv_table(path, "datasets", "name")
    for name, row in table.items():
        mapping = parse_tag_map(row["tag_map"], f"{path} (dataset '{name}', column tag_map)")
        row["types"] = sorted(set(mapping.values()) - {"O"})
    return table


def load_models(path: str | Path) -> dict[str, dict]:
    """Load ``models.tsv``; a hub source must pin its revision (a 40-hex commit id or
    ``tag:<name>``, see :mod:`nerbench.methods.staging`)."""
    from nerbench.methods.staging import unpinned

    table = read_tsv_table(path, "models", "id")
    for name, row in table.items():
        problem = unpinned(row["source"], row.get("revision"))
        if problem:
            raise InputError(
                f"row id '{name}', column 'revision': {problem}", path, row_line(path, name)
            )
    return table


def row_line(path: str | Path, name: str) -> int | None:
    """The line of the row whose first cell is ``name`` in a config table (for messages)."""
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            if line.split("\t", 1)[0] == name:
                return lineno
    return None


def load_study(study: str, study_dir: str | Path) -> dict:
    """Load and validate ``<study_dir>/<study>.yaml``; an unknown study is an error naming it."""
    study_dir = Path(study_dir)
    path = study_dir / f"{study}.yaml"
    if not path.is_file():
        known = sorted(p.stem for p in study_dir.glob("*.yaml"))
        raise InputError(f"unknown study '{study}' (config key 'study'); known studies: {known}")
    data = load_yaml(path) or {}
    _validate(data, load_schema("study"), str(path))
    return data
