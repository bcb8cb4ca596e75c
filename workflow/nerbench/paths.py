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
# A hub model staged on the submit host at its pinned revision (model_key: the hub id with '/'
# spelled '--', as in the Hugging Face cache). Train/predict/embed jobs load it from here offline.
STAGED_MODEL = "resources/models/{model_key}/{revision}"
STAGED_MARKER = "staged.json"  # written last into a staged model: what was fetched, at which commit
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
# Names inside a run folder: the stage commands get the folder and build these with run_file().
IN_RUN = {
    "spec": "run.json",
    "model": "model",
    "train_log": "train_log.jsonl",
    "cost": "cost.json",
    "checkpoints": "checkpoints",
    # the training log while a run trains (train_log.jsonl is written from it at the end)
    "live_log": "checkpoints/live_log.jsonl",
    "lock": "train.lock",
    "pred": "pred/{dataset}.conll",
    "infer_cost": "pred/{dataset}.infer_cost.json",
    "metrics": "metrics/{dataset}.json",
}
RUN_SPEC = f"{RUN_DIR}/{IN_RUN['spec']}"
MODEL = f"{RUN_DIR}/{IN_RUN['model']}"
TRAIN_LOG = f"{RUN_DIR}/{IN_RUN['train_log']}"
TRAIN_COST = f"{RUN_DIR}/{IN_RUN['cost']}"
PRED = f"{RUN_DIR}/{IN_RUN['pred']}"
INFER_COST = f"{RUN_DIR}/{IN_RUN['infer_cost']}"
PRED_META = PRED + ".meta.json"
METRICS = f"{RUN_DIR}/{IN_RUN['metrics']}"
# Snakemake benchmark files (wall time, peak RSS, CPU time of every job; read by `nerbench
# record`): train and predict keep theirs in the run folder, every other rule under BENCHMARK,
# named by rule and by the job's wildcards (benchmark_file()).
BENCHMARK_DIR = "results/benchmarks"
BENCHMARK = BENCHMARK_DIR + "/{rule}/{job}.tsv"
TRAIN_BENCHMARK = RUN_DIR + "/benchmarks/train.tsv"
PREDICT_BENCHMARK = RUN_DIR + "/benchmarks/predict_{dataset}.tsv"
# The train job's log (stdout/stderr: progress bar, errors), read by `nerbench status`.
TRAIN_JOB_LOG = "logs/runs/{run_id}/train.log"

# ----------------------------------------------------------------------------- a study's outputs
STUDY_DIR = "results/studies/{study}"
CORPUS_STATS = STUDY_DIR + "/tables/corpus_stats.{ext}"
AGGREGATE = STUDY_DIR + "/aggregate/metrics.tsv"
TABLE = STUDY_DIR + "/tables/{name}.{ext}"
FIGURE = STUDY_DIR + "/figures/{name}.{ext}"
REPORT = STUDY_DIR + "/report.html"

TABLE_EXTS = ("tsv", "md", "tex", "html")
FIGURE_EXTS = ("png", "pdf")


def fill(template: str, **values: object) -> str:
    """``template`` with its ``{wildcards}`` replaced; a missing value is an error."""
    return template.format(**values)


def study_path(template: str, study: str, **values: object) -> str:
    """A study-owned path with the study filled in and other wildcards kept (for rules)."""
    keep = {k: "{" + k + "}" for k in ("name", "ext", "dataset", "variant")}
    return template.format(**{**keep, "study": study, **values})


def model_key(hub_id: str) -> str:
    """A hub id as one path component: ``org/name`` -> ``org--name``."""
    return hub_id.replace("/", "--")


def staged_model(hub_id: str, revision: str | None) -> str:
    """Where ``fetch_model`` stages ``hub_id`` at ``revision`` (unpinned rows: ``main``)."""
    return fill(STAGED_MODEL, model_key=model_key(hub_id), revision=revision or "main")


def run_file(run_dir: str | os.PathLike, name: str, **values: object) -> Path:
    """A file of a run folder by its role in ``IN_RUN`` (``"cost"`` -> ``<run_dir>/cost.json``)."""
    return Path(run_dir) / IN_RUN[name].format(**values)


def pred_meta(pred: str | os.PathLike) -> Path:
    """The sidecar of a prediction file (``<pred>.meta.json``: sentence count, failures)."""
    return Path(f"{os.fspath(pred)}.meta.json")


def benchmark_file(rule: str, job: str) -> str:
    """The benchmark template of ``rule``; ``job`` names the job by its wildcards
    (``"{dataset}/{split}"``) and keeps them as wildcards."""
    return BENCHMARK.replace("{rule}", rule).replace("{job}", job)


def reference_file(name: str) -> str:
    return f"{REFERENCE_DIR}/{name}"


def caption_file(kind: str, name: str) -> str:
    return f"{CAPTION_DIR}/{kind}_{name}.rst"
