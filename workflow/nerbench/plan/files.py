"""What the rules ask of a study's plan: input functions, config slices, targets, priorities.

common.smk wraps these in thin functions; no rule file computes a path or a slice itself. The
study's expansion into runs is :mod:`nerbench.plan.study`; the DBR rules' part is
:class:`nerbench.plan.dbr.DBRPlan`.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from nerbench import defaults, paths
from nerbench.config import SPLITS
from nerbench.data.formats.base import SPEC_KEYS
from nerbench.dbr.variants import DBR_VARIANTS
from nerbench.hparams import check_hparams
from nerbench.imports import code_files
from nerbench.io import InputError
from nerbench.methods.staging import staged_path
from nerbench.plan.dbr import DBRPlan
from nerbench.plan.study import Plan

# The run files a report command reads besides its named inputs (metrics.tsv points it at the run
# folders), by role in paths.IN_RUN, so that a new one reruns it: the aggregate reads each
# evaluation's run spec and costs; a table or a figure only where its code reads run files (its
# registry entry's ``reads``, nerbench.reporting.outputs).
AGGREGATE_READS = ("spec", "cost", "infer_cost")


def report_code(command: str) -> list[str]:
    """Project-relative paths of the package files that ``python -m nerbench <command>`` runs:
    its module (:data:`nerbench.cli.COMMANDS`) and every package module it imports, found in
    their sources (:func:`nerbench.imports.code_files`). A report rule takes them as inputs, so
    editing one reruns the rules whose command reaches it (Snakemake compares checksums)."""
    from nerbench.cli import COMMANDS

    return code_files(COMMANDS[command].split(":")[0])


def bio_files(datasets: list[str], splits: tuple[str, ...] | list[str] = SPLITS) -> list[str]:
    """Canonical JSONL of each split of each dataset."""
    return [paths.fill(paths.BIO, dataset=d, split=s) for d in datasets for s in splits]


class StudyFiles:
    """The input functions of every rule, over one study's :class:`Plan` and the config."""

    def __init__(self, plan: Plan, config: dict):
        self.plan = plan
        self.config = config
        self.dbr = DBRPlan(plan, config)
        self._planned: dict[str, float] | None = None  # run_id -> planned training work
        self._sentences: dict[str, int] = {}  # dataset -> training sentences

    # ------------------------------------------------------------------ corpora
    def dataset_row(self, dataset: str) -> dict:
        if dataset not in self.plan.datasets:
            raise InputError(f"unknown dataset '{dataset}'; known: {sorted(self.plan.datasets)}")
        return self.plan.datasets[dataset]

    def dataset_spec(self, dataset: str) -> dict:
        """The slice of datasets.tsv one conversion job uses."""
        row = self.dataset_row(dataset)
        return {k: row[k] for k in SPEC_KEYS}

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
        sentence_epochs, variant = self._sentence_epochs(run_id)
        return sentence_epochs * (1 if variant == "none" else 2)

    def planned_train_work(self, run_id: str) -> float:
        """A run's training work in sentence lengths: sentences x epochs x (1 + the length of
        its DBR variant's sample relative to a sentence, ``DBRVariant.sample_length``): a
        random-DBR run trains on longer samples than a DBR run with as many examples."""
        sentence_epochs, variant = self._sentence_epochs(run_id)
        return sentence_epochs * (1.0 + DBR_VARIANTS[variant].sample_length)

    def _sentence_epochs(self, run_id: str) -> tuple[int, str]:
        """(training sentences x epochs, DBR variant) of a run."""
        spec = self.run_spec(run_id)
        sentences = sum(self._train_sentences(d) for d in spec["train_datasets"])
        epochs = check_hparams(spec["hparams"], f"run '{run_id}' (hparams)").epochs
        return sentences * epochs, spec["dbr"]

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
        """A training job's scheduling priority in [0, top]: proportional to its planned work
        (:meth:`planned_train_work`), so the longest runs start first and no long run is left
        alone at the end."""
        if self._planned is None:
            self._planned = {r: self.planned_train_work(r) for r in self.plan.runs}
        most = max(self._planned.values(), default=0)
        return top * self._planned[run_id] / most if most else 0.0

    def evaluation(self, key: str) -> Any:
        return (self.plan.study.get("evaluation") or {}).get(key, defaults.EVALUATION[key])

    def evaluations(self) -> list[tuple[str, str]]:
        """(run, evaluation dataset) of the study: one metrics file each."""
        return [(r, d) for r in self.plan.runs for d in self.plan.eval_sets[r]]

    def metrics_files(self) -> list[str]:
        """One metrics file per (run, evaluation dataset) of the study."""
        return [paths.fill(paths.METRICS, run_id=r, dataset=d) for r, d in self.evaluations()]

    def run_files(self, roles: Sequence[str]) -> list[str]:
        """The files of the given roles (:data:`nerbench.paths.IN_RUN` keys) in the folder of
        each evaluation's run; a role per dataset (``infer_cost``) once per evaluation."""
        files = [
            str(paths.run_file(paths.fill(paths.RUN_DIR, run_id=r), role, dataset=d))
            for r, d in self.evaluations()
            for role in roles
        ]
        return list(dict.fromkeys(files))

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

    def aggregate_reads(self) -> list[str]:
        """Run files the aggregate reads besides the metrics files (:data:`AGGREGATE_READS`)."""
        return self.run_files(AGGREGATE_READS)

    def report_reads(self, kind: str, name: str) -> list[str]:
        """Run files one table or figure reads (``kind`` ``table`` or ``figure``), as its entry
        in :mod:`nerbench.reporting.outputs` declares (``reads``): each run's training log for
        ``training_curves``, the metrics files for ``vaner_table3``."""
        from nerbench.reporting.outputs import FIGURES, TABLES

        return self.run_files({"table": TABLES, "figure": FIGURES}[kind][name].reads)

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
