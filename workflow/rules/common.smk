"""Config validation, the study plan and input functions shared by every rule file."""

import json

from snakemake.utils import min_version, validate

from nerbench.config import SPLITS, load_plan
from nerbench.corpora import source_of

min_version("8.0")


validate(config, workflow.source_path("../schemas/config.schema.yaml"))
PLAN = load_plan(config)
DATASETS = PLAN.datasets
RUNS = PLAN.runs


wildcard_constraints:
    dataset="[A-Za-z0-9][A-Za-z0-9_.-]*",
    split="train|devel|test",
    run_id="[A-Za-z0-9_.-]+",


def as_json(obj):
    """A config slice as one JSON string: passed to the package via params, so a change reruns."""
    return json.dumps(obj, sort_keys=True)


def dataset_spec(dataset):
    """The slice of datasets.tsv one conversion job uses."""
    if dataset not in DATASETS:
        raise ValueError(f"unknown dataset '{dataset}'; known: {sorted(DATASETS)}")
    row = DATASETS[dataset]
    keep = ("name", "format", "tag_map", "delimiter", "tag_column", "repair_iob")
    return {k: row[k] for k in keep}


def raw_split_path(wildcards):
    """Local path of a split's source file: downloaded into resources/ or shipped there."""
    src = source_of(DATASETS[wildcards.dataset], wildcards.split)
    if src.is_remote:
        return f"resources/corpora/{wildcards.dataset}/raw/{src.filename}"
    return src.path


def split_member(dataset, split):
    return source_of(DATASETS[dataset], split).member or ""


def download_params(wildcards):
    """URL and expected checksum of one remote file of a dataset."""
    for split in SPLITS:
        src = source_of(DATASETS[wildcards.dataset], split)
        if src.is_remote and src.filename == wildcards.filename:
            return {"url": src.url, "sha256": src.sha256, **config.get("download", {})}
    raise ValueError(f"no remote file '{wildcards.filename}' for dataset '{wildcards.dataset}'")


def bio_files(datasets, splits=SPLITS):
    return [f"results/bio/{d}/{s}.jsonl" for d in datasets for s in splits]


def all_targets():
    """Everything the study asks for."""
    targets = ["results/tables/corpus_stats.tsv", "results/tables/corpus_stats.md"]
    targets += bio_files(PLAN.study_datasets)
    return targets
