"""What the DBR rules ask of a study's plan: settings, config slices, paths and targets."""

from __future__ import annotations

import re
from pathlib import Path

from nerbench import paths
from nerbench.io import InputError
from nerbench.methods.staging import staged_path, unpinned
from nerbench.plan.study import Plan
from nerbench.reporting.outputs import dbr_figures

_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
INDEX_BUILD_KEYS = ("type", "exact_max", "ann", "nlist", "hnsw_m", "ef_construction", "seed", "gpu")
INDEX_SEARCH_KEYS = ("nprobe", "ef_search", "gpu")
DBR_FIG_EXTS = ("png", "pdf", "tsv")


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
        from nerbench.plan.files import bio_files  # files.py builds on this module

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
        """dbr.autophrase without the keys that only change speed, the tool build or the
        tokenizer's implementation (its Java and Python versions write the same files)."""
        drop = ("threads", "compile", "tokenizer")
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
