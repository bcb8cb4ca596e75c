"""The study plan: a study expanded into runs, each keyed by a hash of its config slice."""

from __future__ import annotations

import copy
import hashlib
import itertools
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nerbench import defaults, paths
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
from nerbench.methods.staging import staged_path, unpinned
from nerbench.reporting.outputs import code_files, dbr_figures

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


# --------------------------------------------------------------------------- a study's files
# What the rules ask of the plan: input functions, config slices and targets. common.smk wraps
# these in thin functions; no rule file computes a path or a slice itself.

_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
INDEX_BUILD_KEYS = ("type", "exact_max", "ann", "nlist", "hnsw_m", "ef_construction", "seed", "gpu")
INDEX_SEARCH_KEYS = ("nprobe", "ef_search", "gpu")
DATASET_SPEC_KEYS = ("name", "format", "tag_map", "delimiter", "tag_column", "repair_iob")
# Package files whose edit reruns a report rule (Snakemake compares their checksums).
REPORT_CODE = {
    "aggregate": ("reporting/aggregate.py",),
    # paired.py reads per-sentence counts and runs evaluate.py's paired bootstrap (Table 3);
    # aggregate.py loads the table (older column names) and declares the score modes
    "table": (
        "reporting/outputs.py",
        "reporting/tables/__init__.py",
        "reporting/tables/common.py",
        *code_files("table"),
        "reporting/summary.py",
        "reporting/aggregate.py",
        "reporting/paired.py",
        "reporting/render.py",
        "reporting/compare.py",
        "evaluate.py",
    ),
    "figure": (
        "reporting/outputs.py",
        "reporting/figures/__init__.py",
        "reporting/figures/style.py",
        *code_files("figure"),
        "reporting/summary.py",
        "reporting/compare.py",
        "reporting/aggregate.py",
    ),
}


def report_code(rule: str) -> list[str]:
    """Project-relative paths of the package files a report rule's output depends on."""
    return [f"workflow/nerbench/{f}" for f in REPORT_CODE[rule]]


class DBRPlan:
    """Everything the DBR rules ask of the study plan: settings, slices, paths, targets.

    ``plan`` is a :class:`Plan`; ``config`` the Snakemake config (``umls_dir``).
    """

    def __init__(self, plan: Plan, config: dict):
        from nerbench.dbr.samples import resolve_settings

        self.plan = plan
        self.config = config
        self.settings = resolve_settings(plan.study.get("dbr"))
        self.kb = str(self.settings["kb"]["name"])
        self.embedder = str(self.settings["embedder"]["name"])
        for key, name in (("dbr.kb.name", self.kb), ("dbr.embedder.name", self.embedder)):
            if not _NAME_RE.fullmatch(name):
                raise InputError(f"{key} '{name}' must be letters, digits, '_', '.', '-'")
        embedder = self.settings["embedder"]
        problem = unpinned(embedder["source"], embedder.get("revision"))
        if problem:
            raise InputError(f"key 'dbr.embedder.revision': {problem}", plan.study_name)

    # paths
    @property
    def kb_path(self) -> str:
        return paths.fill(paths.KB, kb=self.kb)

    @property
    def kb_stats_path(self) -> str:
        return paths.fill(paths.KB_STATS, kb=self.kb)

    @property
    def embeddings_path(self) -> str:
        return paths.fill(paths.EMBEDDINGS, kb=self.kb, embedder=self.embedder)

    @property
    def index_path(self) -> str:
        return paths.fill(paths.INDEX, kb=self.kb, embedder=self.embedder)

    @property
    def index_info_path(self) -> str:
        return paths.fill(paths.INDEX_INFO, kb=self.kb, embedder=self.embedder)

    def figure_prefix(self, fig: str) -> str:
        """``results/studies/<study>/figures/vaner_fig3_dbr_entities`` for ``vaner_fig3``."""
        name = dbr_figures()[fig]
        return paths.fill(paths.FIGURE, study=self.plan.name, name=name, ext="").removesuffix(".")

    def figure_files(self) -> list[str]:
        return [f"{self.figure_prefix(f)}.{ext}" for f in dbr_figures() for ext in DBR_FIG_EXTS]

    # datasets
    def datasets(self) -> list[str]:
        """Datasets that some run trains with DBR samples (variant dbr or random)."""
        names = [
            d for r in self.plan.runs.values() if r["dbr"] != "none" for d in r["train_datasets"]
        ]
        return list(dict.fromkeys(names))

    def kb_train_datasets(self) -> list[str]:
        """Datasets whose training-split entities join the KB (default: every DBR dataset)."""
        given = self.settings["kb"]["train_datasets"]
        names = self.datasets() if given is None else list(given)
        unknown = [d for d in names if d not in self.plan.datasets]
        if unknown:
            raise InputError(f"unknown dataset(s) {unknown} in dbr.kb.train_datasets")
        return names

    def kb_bio_files(self) -> list[str]:
        return bio_files(self.kb_train_datasets(), ["train"])

    # config slices
    def kb_spec(self) -> dict:
        """dbr.kb (minus name), dbr.category_of_type, the top-level umls_dir (and umls_override
        where it applies: umls 'required' without umls_dir)."""
        spec = {k: v for k, v in self.settings["kb"].items() if k != "name"}
        spec["train_datasets"] = self.kb_train_datasets()
        spec["category_of_type"] = self.settings["category_of_type"]
        spec["umls_dir"] = self.config.get("umls_dir") if spec["umls"] != "off" else None
        # umls: required without umls_dir still plans (a dry run works); the kb job stops with
        # an error naming umls_dir unless the top-level umls_override is 'open'.
        override = self.config.get("umls_override")
        if spec["umls"] == "required" and not spec["umls_dir"] and override:
            spec["umls_override"] = override
        return spec

    def vocab_files(self) -> list[str]:
        return [v["path"] for v in self.settings["kb"]["vocabularies"]]

    def umls_files(self) -> list[str]:
        umls_dir = self.kb_spec()["umls_dir"]
        return [str(Path(umls_dir) / n) for n in ("MRCONSO.RRF", "MRSTY.RRF")] if umls_dir else []

    def autophrase_spec(self) -> dict:
        """dbr.autophrase without the keys that only change speed or the tool build."""
        drop = ("threads", "compile")
        return {k: v for k, v in self.settings["autophrase"].items() if k not in drop}

    def embedder_spec(self) -> dict:
        """dbr.embedder without the keys that only size the job (threads, gpus)."""
        drop = ("threads", "gpus")
        return {k: v for k, v in self.settings["embedder"].items() if k not in drop}

    def embedder_staged_model(self) -> list[str]:
        """The embedder's staged directory (fetch_model) for a hub source; [] otherwise."""
        e = self.settings["embedder"]
        path = staged_path(e["source"], e.get("revision"))
        return [path] if path else []

    def index_spec(self, stage: str) -> dict:
        keys = INDEX_BUILD_KEYS if stage == "build" else INDEX_SEARCH_KEYS
        return {k: self.settings["index"][k] for k in keys}

    def threads(self, section: str) -> int:
        return max(1, int(self.settings[section].get("threads") or 1))

    def gpus(self) -> int:
        return int(self.settings["embedder"]["gpus"])

    def sampling_spec(self, dataset: str) -> dict:
        from nerbench.dbr.samples import sampling_spec

        if dataset not in self.plan.datasets:
            raise InputError(f"unknown dataset '{dataset}'; known: {sorted(self.plan.datasets)}")
        return sampling_spec(self.settings, dataset, self.plan.datasets[dataset]["types"])

    # targets
    def samples(self, dataset: str, variant: str) -> str:
        return paths.fill(paths.DBR_SAMPLES, dataset=dataset, variant=variant)

    def targets(self) -> list[str]:
        """DBR samples the study's runs train on, and Figs 3-4 if outputs.figures lists them."""
        targets = [
            self.samples(d, r["dbr"])
            for r in self.plan.runs.values()
            if r["dbr"] != "none"
            for d in r["train_datasets"]
        ]
        figures = (self.plan.study.get("outputs") or {}).get("figures") or []
        if self.datasets() and set(dbr_figures()) & set(figures):
            targets += self.figure_files()
        return list(dict.fromkeys(targets))

    def run_stats(self) -> list[str]:
        """The stats files of every DBR sample set the study's runs train on (each names its KB)."""
        return [
            paths.fill(paths.DBR_STATS, dataset=d, variant=r["dbr"])
            for r in self.plan.runs.values()
            if r["dbr"] != "none"
            for d in r["train_datasets"]
        ]

    def figure_stats(self) -> list[str]:
        return [paths.fill(paths.DBR_STATS, dataset=d, variant="dbr") for d in self.datasets()]


DBR_FIG_EXTS = ("png", "pdf", "tsv")


def bio_files(datasets: list[str], splits: tuple[str, ...] | list[str] = SPLITS) -> list[str]:
    """Canonical JSONL of each split of each dataset."""
    return [paths.fill(paths.BIO, dataset=d, split=s) for d in datasets for s in splits]


class StudyFiles:
    """The input functions of every rule, over one study's :class:`Plan` and the config."""

    def __init__(self, plan: Plan, config: dict):
        self.plan = plan
        self.config = config
        self.dbr = DBRPlan(plan, config)
        self._planned: dict[str, int] | None = None  # run_id -> planned training examples
        self._sentences: dict[str, int] = {}  # dataset -> training sentences

    # ------------------------------------------------------------------ corpora
    def dataset_row(self, dataset: str) -> dict:
        if dataset not in self.plan.datasets:
            raise InputError(f"unknown dataset '{dataset}'; known: {sorted(self.plan.datasets)}")
        return self.plan.datasets[dataset]

    def dataset_spec(self, dataset: str) -> dict:
        """The slice of datasets.tsv one conversion job uses."""
        row = self.dataset_row(dataset)
        return {k: row[k] for k in DATASET_SPEC_KEYS}

    def raw_split_path(self, dataset: str, split: str) -> str:
        """Local path of a split's source file: downloaded into resources/ or shipped there."""
        from nerbench.data.sources import source_of

        src = source_of(self.dataset_row(dataset), split)
        if src.is_remote:
            return paths.fill(paths.RAW, dataset=dataset, filename=src.filename)
        return src.path

    def split_member(self, dataset: str, split: str) -> str:
        from nerbench.data.sources import source_of

        return source_of(self.dataset_row(dataset), split).member or ""

    def download_params(self, dataset: str, filename: str) -> dict:
        """URL and expected checksum of one remote file of a dataset, plus download settings."""
        from nerbench.data.sources import source_of

        settings = {k: v for k, v in (self.config.get("download") or {}).items() if k != "mirror"}
        for split in SPLITS:
            src = source_of(self.dataset_row(dataset), split)
            if src.is_remote and src.filename == filename:
                return {"url": src.url, "sha256": src.sha256, **settings}
        raise InputError(f"no remote file '{filename}' for dataset '{dataset}'")

    def download_mirror(self) -> dict[str, str]:
        """``download.mirror`` checked (URL prefix -> replacement prefix; empty if unset)."""
        from nerbench.data.sources import check_mirror

        return check_mirror((self.config.get("download") or {}).get("mirror"))

    def vaner_counts(self) -> dict:
        return {d: self.plan.datasets[d]["vaner_counts"] for d in self.plan.study_datasets}

    def corpus_reports(self) -> list[str]:
        return [
            paths.fill(paths.BIO_REPORT, dataset=d, split=s)
            for d in self.plan.study_datasets
            for s in SPLITS
        ]

    # ------------------------------------------------------------------ runs
    def run_spec(self, run_id: str) -> dict:
        """The config slice of one run (what run.json holds)."""
        if run_id not in self.plan.runs:
            raise InputError(f"unknown run '{run_id}' for study '{self.plan.name}'")
        return self.plan.runs[run_id]

    def run_split_files(self, run_id: str, split: str) -> list[str]:
        """Canonical JSONL of one split of each training dataset of a run (never 'test')."""
        if split not in ("train", "devel"):
            raise ValueError("training reads train and devel only")
        return bio_files(self.run_spec(run_id)["train_datasets"], [split])

    def run_dbr_files(self, run_id: str) -> list[str]:
        """DBR samples for each training dataset of a run, unless its variant is 'none'."""
        spec = self.run_spec(run_id)
        if spec["dbr"] == "none":
            return []
        return [self.dbr.samples(d, spec["dbr"]) for d in spec["train_datasets"]]

    def run_model_dir(self, run_id: str) -> list[str]:
        """A locally built model directory, for tiny random models; [] for hub/local sources."""
        source = self.run_spec(run_id)["model"]["source"]
        if source.startswith("tiny:"):
            return [paths.fill(paths.TINY_MODEL, family=source.split(":", 1)[1])]
        return []

    def run_staged_model(self, run_id: str) -> list[str]:
        """The run's hub model staged by fetch_model on the submit host; [] for other sources."""
        model = self.run_spec(run_id)["model"]
        path = staged_path(model["source"], model.get("revision"))
        return [path] if path else []

    def staged_model_spec(self, model_key: str, revision: str) -> dict:
        """What fetch_model stages at ``resources/models/<model_key>/<revision>``: the first
        models.tsv row of the study (or dbr.embedder) with that hub id and revision."""
        wanted = paths.fill(paths.STAGED_MODEL, model_key=model_key, revision=revision)
        runs = self.plan.runs.values()
        rows = [(f"models.tsv row '{r['model']['id']}'", r["model"]) for r in runs]
        rows.append(("dbr.embedder", self.dbr.settings["embedder"]))
        for row, model in rows:
            if staged_path(model["source"], model.get("revision")) == wanted:
                revision = str(model.get("revision") or "").strip() or "main"
                gated = str(model.get("gated", "")).strip().lower() in ("true", "1", "yes")
                return {"row": row, "source": model["source"], "revision": revision, "gated": gated}
        raise InputError(f"no model of study '{self.plan.name}' is staged at '{wanted}'")

    def run_resource(self, run_id: str, stage: str, key: str) -> Any:
        """Cluster resources for a run's job: the study's `resources` over the family defaults."""
        family = self.run_spec(run_id)["model"]["family"]
        given = (self.plan.study.get("resources") or {}).get(family, {}).get(stage, {})
        return given.get(key, defaults.RESOURCES[family][stage][key])

    def planned_train_examples(self, run_id: str) -> int:
        """Training examples a run will see: training sentences x epochs (x 2 with DBR, one
        sample per sentence). Sentences are counted in the converted training split when it
        exists, else taken from datasets.tsv ``vaner_counts`` (VANER's Table 2); 0 if neither."""
        spec = self.run_spec(run_id)
        sentences = sum(self._train_sentences(d) for d in spec["train_datasets"])
        epochs = check_hparams(spec["hparams"], f"run '{run_id}' (hparams)").epochs
        return sentences * epochs * (1 if spec["dbr"] == "none" else 2)

    def _train_sentences(self, dataset: str) -> int:
        """Training sentences of a dataset (see :meth:`planned_train_examples`), counted once."""
        if dataset not in self._sentences:
            bio = Path(paths.fill(paths.BIO, dataset=dataset, split="train"))
            if bio.is_file():
                with open(bio, "rb") as f:
                    count = sum(1 for line in f if line.strip())
            else:
                counts = str(self.plan.datasets[dataset].get("vaner_counts") or "").split("/")
                count = int(counts[0]) if counts[0].strip().isdigit() else 0
            self._sentences[dataset] = count
        return self._sentences[dataset]

    def train_priority(self, run_id: str, top: float) -> float:
        """A training job's scheduling priority in [0, top]: proportional to its planned
        examples, so the longest runs start first and no long run is left alone at the end."""
        if self._planned is None:
            self._planned = {r: self.planned_train_examples(r) for r in self.plan.runs}
        most = max(self._planned.values(), default=0)
        return top * self._planned[run_id] / most if most else 0.0

    def evaluation(self, key: str) -> Any:
        return (self.plan.study.get("evaluation") or {}).get(key, defaults.EVALUATION[key])

    def metrics_files(self) -> list[str]:
        """One metrics file per (run, evaluation dataset) of the study."""
        return [
            paths.fill(paths.METRICS, run_id=run_id, dataset=dataset)
            for run_id in self.plan.runs
            for dataset in self.plan.eval_sets[run_id]
        ]

    # ------------------------------------------------------------------ the study's outputs
    def study_path(self, template: str, **values: Any) -> str:
        return paths.study_path(template, self.plan.name, **values)

    def study_outputs(self, kind: str) -> list[str]:
        """Names of the tables or figures the study lists (corpus_stats and DBR figures are
        made by their own rules)."""
        from nerbench.reporting.outputs import figure_names, table_names

        names = (self.plan.study.get("outputs") or {}).get(kind) or []
        known = table_names() if kind == "tables" else figure_names()
        return [n for n in names if n in known]

    def report_targets(self) -> list[str]:
        """Aggregate table plus every table and figure the study lists."""
        if not self.metrics_files():
            return []
        targets = [self.study_path(paths.AGGREGATE)]
        for name in self.study_outputs("tables"):
            targets += [self.study_path(paths.TABLE, name=name, ext=e) for e in paths.TABLE_EXTS]
        for name in self.study_outputs("figures"):
            targets += [self.study_path(paths.FIGURE, name=name, ext=e) for e in paths.FIGURE_EXTS]
        return targets

    def reference_input(self, name: str) -> list[str]:
        """Published numbers a table is compared with (config/reference/), if any."""
        from nerbench.reporting.outputs import TABLES

        ref = TABLES[name].reference
        return [paths.reference_file(ref)] if ref else []

    @staticmethod
    def caption_text(kind: str, name: str) -> str:
        """Caption of one table or figure for the HTML report: workflow/report/<kind>_<name>.rst."""
        path = Path(paths.caption_file(kind, name))
        if path.is_file():
            return path.read_text(encoding="utf-8")
        return f"{kind.capitalize()} ``{name}``."

    def all_targets(self) -> list[str]:
        """Everything the study asks for."""
        targets = [self.study_path(paths.CORPUS_STATS, ext=e) for e in ("tsv", "md")]
        targets += bio_files(self.plan.study_datasets)
        targets += self.metrics_files()
        targets += self.report_targets()
        targets += self.dbr.targets()
        return targets
