"""Config validation, the study plan and input functions shared by every rule file."""

import json

from snakemake.utils import min_version, validate

from nerbench.config import SPLITS, load_plan
from nerbench.corpora import check_mirror, source_of

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


# download.mirror goes to the download job on the command line, not in its params: the bytes are
# sha256-checked either way, so a new mirror does not rerun downloads that are already there.
DOWNLOAD = dict(config.get("download") or {})
DOWNLOAD_MIRROR = as_json(check_mirror(DOWNLOAD.pop("mirror", None)))


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
            return {"url": src.url, "sha256": src.sha256, **DOWNLOAD}
    raise ValueError(
        f"no remote file '{wildcards.filename}' for dataset '{wildcards.dataset}'"
    )


def bio_files(datasets, splits=SPLITS):
    return [f"results/bio/{d}/{s}.jsonl" for d in datasets for s in splits]


# ----------------------------------------------------------------------------- runs

DEFAULT_RESOURCES = {
    "encoder": {
        "train": {"gpu": 1, "mem_mb": 16000, "runtime": 240, "threads": 4},
        "predict": {"gpu": 1, "mem_mb": 16000, "runtime": 60, "threads": 4},
    },
    "decoder": {
        "train": {"gpu": 1, "mem_mb": 64000, "runtime": 1440, "threads": 8},
        "predict": {"gpu": 1, "mem_mb": 64000, "runtime": 240, "threads": 8},
    },
}


def run_spec(run_id):
    """The config slice of one run (what run.json holds)."""
    if run_id not in RUNS:
        raise ValueError(f"unknown run '{run_id}' for study '{config['study']}'")
    return RUNS[run_id]


def run_split_files(run_id, split):
    """Canonical JSONL of one split of each training dataset of a run (never 'test')."""
    assert split in ("train", "devel"), "training reads train and devel only"
    return bio_files(run_spec(run_id)["train_datasets"], [split])


def run_dbr_files(run_id):
    """DBR samples for each training dataset of a run, unless its variant is 'none'."""
    spec = run_spec(run_id)
    if spec["dbr"] == "none":
        return []
    return [f"results/dbr/{d}/{spec['dbr']}.jsonl" for d in spec["train_datasets"]]


def run_model_dir(run_id):
    """A locally built model directory, for tiny random models; [] for hub/local sources."""
    source = run_spec(run_id)["model"]["source"]
    if source.startswith("tiny:"):
        return [f"results/models/tiny-{source.split(':', 1)[1]}"]
    return []


def run_resource(run_id, stage, key):
    """Cluster resources for a run's job: study `resources` over the family defaults."""
    family = run_spec(run_id)["model"]["family"]
    value = DEFAULT_RESOURCES[family][stage][key]
    return lookup(
        dpath=f"resources/{family}/{stage}/{key}", within=PLAN.study, default=value
    )


def metrics_files():
    """One metrics file per (run, evaluation dataset) of the study."""
    return [
        f"results/runs/{run_id}/metrics/{dataset}.json"
        for run_id in RUNS
        for dataset in PLAN.eval_sets[run_id]
    ]


def all_targets():
    """Everything the study asks for."""
    targets = ["results/tables/corpus_stats.tsv", "results/tables/corpus_stats.md"]
    targets += bio_files(PLAN.study_datasets)
    targets += metrics_files()
    targets += report_targets()
    targets += DBR_WF.targets()
    return targets
