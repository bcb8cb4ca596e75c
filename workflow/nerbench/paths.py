"""Every path the workflow builds: the project layout and the result files of each stage.

This is the only module that spells a result path. Rules take their input and output paths from
here (through ``common.smk``), and pass each one explicitly to the package's commands. Templates
use Snakemake's wildcard syntax (``{dataset}``) and are filled with :func:`fill` in Python.

Shared results (corpora, the DBR chain, runs) are keyed by content: a run folder is named by a
hash of its config slice, so a run that two studies list trains once. What belongs to a study
(its corpus table, aggregate, tables, figures, report) lives under ``results/studies/<study>/``,
so the outputs of several studies coexist.
"""

from __future__ import annotations

import os
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
PROJECT_ROOT = PACKAGE_DIR.parents[1]  # workflow/nerbench -> the repository
SCHEMA_DIR = PROJECT_ROOT / "workflow" / "schemas"
CAPTION_DIR = "workflow/report"
DEMO_CORPORA = PROJECT_ROOT / "resources" / "corpora" / "demo"
REFERENCE_DIR = "config/reference"

# ----------------------------------------------------------------------------- corpora
RAW = "resources/corpora/{dataset}/raw/{filename}"
BIO = "results/bio/{dataset}/{split}.jsonl"
BIO_REPORT = "results/bio/{dataset}/{split}.report.json"
TINY_MODEL = "results/models/tiny-{family}"
AUTOPHRASE_TOOL = "resources/tools/AutoPhrase"

# ----------------------------------------------------------------------------- DBR chain
KB = "results/kb/{kb}.tsv"
KB_STATS = "results/kb/{kb}.stats.json"
PHRASES = "results/phrases/{dataset}.tsv"
EMBEDDINGS = "results/retrieval/embeddings/{kb}/{embedder}.npy"
EMBEDDINGS_META = "results/retrieval/embeddings/{kb}/{embedder}.json"
INDEX = "results/retrieval/index/{kb}/{embedder}.faiss"
INDEX_INFO = "results/retrieval/index/{kb}/{embedder}.faiss.json"
RETRIEVAL = "results/retrieval/{dataset}.jsonl"
DBR_SAMPLES = "results/dbr/{dataset}/{variant}.jsonl"
DBR_STATS = "results/dbr/{dataset}/{variant}.stats.json"

# ----------------------------------------------------------------------------- runs
RUN_DIR = "results/runs/{run_id}"
RUN_SPEC = RUN_DIR + "/run.json"
MODEL = RUN_DIR + "/model"
TRAIN_LOG = RUN_DIR + "/train_log.jsonl"
TRAIN_COST = RUN_DIR + "/cost.json"
PRED = RUN_DIR + "/pred/{dataset}.conll"
INFER_COST = RUN_DIR + "/pred/{dataset}.infer_cost.json"
PRED_META = PRED + ".meta.json"
METRICS = RUN_DIR + "/metrics/{dataset}.json"
TRAIN_BENCHMARK = RUN_DIR + "/benchmarks/train.tsv"
PREDICT_BENCHMARK = RUN_DIR + "/benchmarks/predict_{dataset}.tsv"

# ----------------------------------------------------------------------------- a study's outputs
STUDY_DIR = "results/studies/{study}"
CORPUS_STATS = STUDY_DIR + "/tables/corpus_stats.{ext}"
AGGREGATE = STUDY_DIR + "/aggregate/metrics.tsv"
TABLE = STUDY_DIR + "/tables/{name}.{ext}"
FIGURE = STUDY_DIR + "/figures/{name}.{ext}"
REPORT = STUDY_DIR + "/report.html"
DBR_FIGURES = {"fig3": "vaner_fig3_dbr_entities", "fig4": "vaner_fig4_dbr_length"}

TABLE_EXTS = ("tsv", "md", "tex", "html")
FIGURE_EXTS = ("png", "pdf")


def fill(template: str, **values: object) -> str:
    """``template`` with its ``{wildcards}`` replaced; a missing value is an error."""
    return template.format(**values)


def study_path(template: str, study: str, **values: object) -> str:
    """A study-owned path with the study filled in and other wildcards kept (for rules)."""
    keep = {k: "{" + k + "}" for k in ("name", "ext", "dataset", "variant")}
    return template.format(**{**keep, "study": study, **values})


def pred_meta(pred: str | os.PathLike) -> Path:
    """The sidecar of a prediction file (``<pred>.meta.json``: sentence count, failures)."""
    return Path(f"{os.fspath(pred)}.meta.json")


def reference_file(name: str) -> str:
    return f"{REFERENCE_DIR}/{name}"


def caption_file(kind: str, name: str) -> str:
    return f"{CAPTION_DIR}/{kind}_{name}.rst"
