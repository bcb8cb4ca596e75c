"""The study plan: a study expanded into runs, each keyed by a hash of its config slice."""

from __future__ import annotations

import copy
import hashlib
import itertools
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nerbench.config import (
    SPLITS,
    _validate,
    load_datasets,
    load_models,
    load_schema,
    load_study,
    load_yaml,
    row_line,
)
from nerbench.hparams import check_hparams, without_execution_only
from nerbench.io import InputError

# --------------------------------------------------------------------------- runs


def short_hash(obj: Any, n: int = 7) -> str:
    """Hash of the canonical (sorted-key) JSON of ``obj``."""
    blob = json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:n]


def _fmt_num(x: Any) -> str:
    if isinstance(x, float):
        return f"{x:g}".replace("+", "")
    return str(x)


def make_run_id(slice_: dict) -> str:
    """Readable prefix plus a hash of the run's config slice.

    Example: ``minilm-l6__NCBI-disease__lr5e-05_bs16__s42__3f9a2c1``.
    """
    ds = slice_["train_datasets"]
    ds_part = ds[0] if len(ds) == 1 else f"mix{len(ds)}"
    hp = slice_["hparams"]
    parts = [slice_["model"]["id"], ds_part]
    if slice_["method"] != slice_["model"].get("method"):
        parts.append(slice_["method"])
    parts.append(f"lr{_fmt_num(hp.get('learning_rate'))}_bs{hp.get('batch_size')}")
    if slice_.get("dbr", "none") != "none":
        parts.append(f"dbr-{slice_['dbr']}")
    parts.append(f"s{slice_['seed']}")
    parts.append(short_hash(without_execution_only(slice_)))
    return "__".join(p.replace("/", "-") for p in parts)


def _grid(hparams: dict) -> list[dict]:
    """Expand list-valued hyperparameters into their Cartesian product."""
    keys = sorted(hparams)
    axes = [hparams[k] if isinstance(hparams[k], list) else [hparams[k]] for k in keys]
    return [dict(zip(keys, combo, strict=True)) for combo in itertools.product(*axes)]


def _as_list(x: Any) -> list:
    return x if isinstance(x, list) else [x]


@dataclass
class Plan:
    """Everything the Snakefile needs to know about one study."""

    study_name: str
    study: dict
    datasets: dict[str, dict]
    models: dict[str, dict]
    runs: dict[str, dict] = field(default_factory=dict)
    run_groups: dict[str, str] = field(default_factory=dict)
    eval_sets: dict[str, list[str]] = field(default_factory=dict)
    name: str = ""  # the study's name (config key `study`): its outputs' folder

    @property
    def study_datasets(self) -> list[str]:
        names = list(self.study.get("datasets", []))
        for spec in self.runs.values():
            names.extend(spec["train_datasets"])
        for evals in self.eval_sets.values():
            names.extend(evals)
        return list(dict.fromkeys(names))

    def dataset(self, name: str) -> dict:
        return self.datasets[name]


def _model_slice(model: dict) -> dict:
    return {k: v for k, v in model.items() if k not in ("notes", "citation", "license")}


def expand_runs(study: dict, datasets: dict, models: dict, where: str) -> Plan:
    """Expand a study's run groups into concrete runs keyed by run_id."""
    plan = Plan(study_name=where, study=study, datasets=datasets, models=models)
    for name in study.get("datasets", []):
        if name not in datasets:
            raise InputError(
                f"unknown dataset '{name}' (key 'datasets'); known: {sorted(datasets)}", where
            )
    check_outputs(study, where)
    defaults = study.get("defaults", {}) or {}
    made_by: dict[str, int] = {}  # run_id -> index of the group that made it
    for gi, group in enumerate(study.get("runs", []) or []):
        gname = group.get("name", f"group{gi}")
        gwhere = f"{where} (runs[{gi}] '{gname}')"
        group_datasets = group.get("datasets", study.get("datasets", []))
        if not group_datasets:
            raise InputError("no datasets: set 'datasets' in the run group or the study", gwhere)
        for d in group_datasets + list(group.get("eval_on", []) or []):
            if d not in datasets:
                raise InputError(f"unknown dataset '{d}'; known: {sorted(datasets)}", gwhere)
        if group.get("train_on", "each") == "each":
            train_sets = [[d] for d in group_datasets]
        else:
            train_sets = [list(group_datasets)]
        hparams = copy.deepcopy(defaults.get("hparams", {}))
        hparams.update(group.get("hparams", {}) or {})
        model_hparams = group.get("model_hparams", {}) or {}
        for model_id in list(group["models"]) + list(model_hparams):
            if model_id not in models:
                raise InputError(f"unknown model '{model_id}'; known: {sorted(models)}", gwhere)
        for model_id in group["models"]:
            model = models[model_id]
            method = group.get("method") or model["method"]
            grid = _grid({**hparams, **model_hparams.get(model_id, {})})
            for hp in grid:
                check_hparams(hp, f"{where} (runs[{gi}] '{gname}', model '{model_id}', hparams)")
            for tsets, hp, seed, dbr in itertools.product(
                train_sets,
                grid,
                _as_list(group.get("seeds", defaults.get("seeds", [42]))),
                _as_list(group.get("dbr", "none")),
            ):
                slice_ = {
                    "model": _model_slice(model),
                    "method": method,
                    "train_datasets": tsets,
                    "dataset_types": {d: datasets[d]["types"] for d in tsets},
                    "hparams": hp,
                    "seed": seed,
                    "dbr": dbr,
                }
                run_id = make_run_id(slice_)
                evals = list(group.get("eval_on") or tsets)
                if run_id in plan.runs:
                    # Groups of one name may share a run (trained once, evaluated on the union
                    # of their sets); anything else would relabel or repeat it silently.
                    if made_by[run_id] == gi or plan.run_groups[run_id] != gname:
                        raise InputError(
                            _duplicate_run(run_id, gname, plan.run_groups[run_id]), where
                        )
                    evals = list(dict.fromkeys(plan.eval_sets[run_id] + evals))
                made_by[run_id] = gi
                plan.runs[run_id] = slice_
                plan.run_groups[run_id] = gname
                plan.eval_sets[run_id] = evals
    return plan


def _duplicate_run(run_id: str, group: str, other: str) -> str:
    if other == group:
        return (
            f"run group '{group}' makes run '{run_id}' twice (a repeated model, dataset, seed "
            "or grid value)"
        )
    return (
        f"run groups '{other}' and '{group}' both make run '{run_id}' (same model, method, "
        "training datasets, hparams, seed and dbr): the second would overwrite the first; "
        "remove one or make them differ"
    )


def check_outputs(study: dict, where: str) -> None:
    """Every name under ``outputs.tables`` / ``outputs.figures`` is one the report can make."""
    from nerbench.reporting.outputs import study_figures, study_tables

    known = {"tables": study_tables(), "figures": study_figures()}
    outputs = study.get("outputs") or {}
    for kind, names in known.items():
        for i, name in enumerate(outputs.get(kind) or []):
            if name not in names:
                raise InputError(
                    f"unknown {kind[:-1]} '{name}' (key 'outputs.{kind}[{i}]'); known: "
                    f"{sorted(names)}",
                    where,
                )


def load_plan(config: dict, root: str | Path = ".") -> Plan:
    """Build the :class:`Plan` for ``config['study']`` from the config files under ``root``."""
    root = Path(root)
    _validate(config, load_schema("config"), "config/config.yaml (or --config)")
    datasets = load_datasets(root / config["datasets_table"])
    models = load_models(root / config["models_table"])
    study = load_study(config["study"], root / config["studies_dir"])
    where = f"{config['studies_dir']}/{config['study']}.yaml"
    plan = expand_runs(study, datasets, models, where)
    plan.name = str(config["study"])
    return plan


def check_workflow_inputs(
    plan: Plan, config: dict, root: str | Path = ".", config_files: Sequence[str | Path] = ()
) -> None:
    """What a workflow run needs beyond a valid plan, checked when it plans (common.smk):
    ``config_files`` (Snakemake's ``workflow.configfiles``) read again with the loader that
    rejects duplicate keys (Snakemake's keeps the last), and the local corpus files of the
    study's datasets (:func:`check_local_sources`)."""
    root = Path(root)
    for config_file in config_files:
        load_yaml(root / config_file)  # an absolute path stays as is
    check_local_sources(plan, root / config["datasets_table"], root)


def check_local_sources(plan: Plan, table: Path, root: Path) -> None:
    """Every split of the study's datasets read from a local path or a ``file://`` URL exists:
    a missing one is an :class:`InputError` naming the table, its line, the row and the column
    when the workflow plans, rather than a failed conversion or download job."""
    from nerbench.data.sources import local_file, source_of

    for name in plan.study_datasets:
        for split in SPLITS:
            src = source_of(plan.datasets[name], split)
            path = local_file(src, root)
            if path is not None and not path.exists():
                given = src.url if src.is_remote else src.path
                kind = "file:// URL" if src.is_remote else "local path"
                raise InputError(
                    f"row name '{name}', column '{split}': {kind} '{given}' names a file that "
                    f"does not exist ({path})",
                    table,
                    row_line(table, name),
                )


def main_run_spec(argv: list[str]) -> int:
    """Write a run's config slice (JSON given on the command line) to run.json, atomically."""
    import argparse

    from nerbench.io import json_option, write_json

    parser = argparse.ArgumentParser(prog="nerbench run-spec")
    parser.add_argument("--spec", required=True, help="the run slice as JSON")
    parser.add_argument("--output", required=True)
    args = parser.parse_args(argv)
    spec = json_option(args.spec, "--spec")
    write_json(args.output, {**spec, "run_id": make_run_id(spec)})
    return 0
