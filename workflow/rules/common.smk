"""Config validation, the study plan and every input function of the rule files.

All logic lives in the package: `nerbench.plan.files.StudyFiles` (input functions, config
slices, targets, priorities) and `nerbench.paths` (every result path). This file only wraps them
for the rules.
"""

import json
import os
import re
import shlex
import sys

from snakemake.utils import min_version, validate

# This checkout's package, for the Snakefile and for every job it starts, whatever nerbench is
# installed (a second clone of the workflow would otherwise run the first clone's code). Jobs get
# it through the shell prefix (Snakemake's default prefix is the `set -euo pipefail` kept here).
PACKAGE_DIR = os.path.normpath(os.path.join(workflow.current_basedir, ".."))
sys.path.insert(0, PACKAGE_DIR)
_PYTHONPATH = shlex.quote(PACKAGE_DIR).replace("{", "{{").replace("}", "}}")
shell.prefix(
    f"set -euo pipefail; export PYTHONPATH={_PYTHONPATH}${{{{PYTHONPATH:+:$PYTHONPATH}}}}; "
)

from nerbench import hooks, paths
from nerbench.config import SPLITS
from nerbench.data.sources import MIRROR_ENV
from nerbench.dbr.autophrase_build import TOKENIZER_ENV
from nerbench.dbr.variants import sampled_variants
from nerbench.methods.staging import OFFLINE_ENV
from nerbench.plan import check_workflow_inputs, load_plan
from nerbench.plan.files import StudyFiles, bio_files, report_code
from nerbench.reporting.outputs import figure_names, table_names

min_version("8.0")


validate(config, workflow.source_path("../schemas/config.schema.yaml"))
PLAN = load_plan(config)
check_workflow_inputs(PLAN, config, config_files=workflow.configfiles)
FILES = StudyFiles(PLAN, config)
DBR = FILES.dbr
DATASETS = PLAN.datasets
RUNS = PLAN.runs
STUDY = PLAN.name


wildcard_constraints:
    dataset="[A-Za-z0-9][A-Za-z0-9_.-]*",
    split="train|devel|test",
    run_id="[A-Za-z0-9_.-]+",


def as_json(obj):
    """A config slice as one JSON string: passed to the package via params, so a change reruns."""
    return json.dumps(obj, sort_keys=True)


def study_path(template, **values):
    """A path under results/studies/<study>/ (other wildcards kept for the rule)."""
    return FILES.study_path(template, **values)


# ----------------------------------------------------------------------------- the hub is off
# Hub models are staged once on the submit host by the local rule fetch_model (and corpora by the
# local rule download); every other job loads what is on disk, so a compute node never needs the
# network. The hub is switched off here, for the whole workflow, rather than in the profile or in
# each command: this file is parsed by the main Snakemake process (whose environment sbatch and
# local jobs inherit) and again by Snakemake inside every cluster job, so each job's shell gets
# HF_HUB_OFFLINE=1 whatever the executor or profile, and no rule's command text changes (Snakemake
# would rerun finished jobs whose command changed). `nerbench fetch-model` is the one command
# that switches the hub back on, for itself only.
os.environ[OFFLINE_ENV] = "1"  # HF_HUB_OFFLINE (nerbench.methods.staging)


# ----------------------------------------------------------------------------- corpora


def dataset_spec(wildcards):
    return as_json(FILES.dataset_spec(wildcards.dataset))


def raw_split_path(wildcards):
    return FILES.raw_split_path(wildcards.dataset, wildcards.split)


def split_member(wildcards):
    return FILES.split_member(wildcards.dataset, wildcards.split)


def download_params(wildcards):
    return FILES.download_params(wildcards.dataset, wildcards.filename)


# download.mirror reaches the download jobs (local rules) through the environment, not params
# (see nerbench.data.sources.MIRROR_ENV): a new mirror reruns nothing that is already there.
os.environ[MIRROR_ENV] = as_json(FILES.download_mirror())
# dbr.autophrase.tokenizer reaches the autophrase job the same way (TOKENIZER_ENV): AutoPhrase's
# Java tokenizer and nerbench's Python copy write the same files, so a change reruns nothing.
os.environ[TOKENIZER_ENV] = DBR.settings["autophrase"]["tokenizer"]


def corpus_reports(wildcards):
    return FILES.corpus_reports()


def study_bio_files(wildcards):
    return bio_files(PLAN.study_datasets)


# ----------------------------------------------------------------------------- priorities
# Short jobs that make training inputs (downloads, conversions, run specs) go first, so that every
# training job is ready when the first core frees up and the longest can start first.
PREP_PRIORITY = 30
# A trained run is scored (predict, evaluate) before the next training job starts, so a study that
# is stopped or runs out of time midway has test scores for every run it trained.
SCORE_PRIORITY = 20
# The DBR chain (KB -> AutoPhrase -> embedding -> retrieval -> samples) is the longest path to
# the DBR training runs: its jobs go before training jobs that are ready at the same time.
DBR_PRIORITY = 10
# Training jobs: 0..TRAIN_PRIORITY_TOP, in proportion to the run's planned training work
# (longest first), so two cores stay busy to the end instead of one long run ending alone.
TRAIN_PRIORITY_TOP = 9


def train_priority(wildcards):
    return FILES.train_priority(wildcards.run_id, TRAIN_PRIORITY_TOP)


# ----------------------------------------------------------------------------- runs


def run_spec(wildcards):
    return as_json(FILES.run_spec(wildcards.run_id))


def run_split_files(split):
    return lambda wildcards: FILES.run_split_files(wildcards.run_id, split)


def run_dbr_files(wildcards):
    return FILES.run_dbr_files(wildcards.run_id)


def run_model_dir(wildcards):
    return FILES.run_model_dir(wildcards.run_id)


def run_staged_model(wildcards):
    """A run's hub model staged by fetch_model (ordering only; see the train rule)."""
    return [ancient(p) for p in FILES.run_staged_model(wildcards.run_id)]


def embedder_staged_model(wildcards):
    return [ancient(p) for p in DBR.embedder_staged_model()]


def staged_model_spec(wildcards):
    return as_json(FILES.staged_model_spec(wildcards.model_key, wildcards.revision))


def run_resource(stage, key):
    return lambda wildcards: FILES.run_resource(wildcards.run_id, stage, key)


# A run's folder inside a shell command (Snakemake formats {wildcards.run_id}).
RUN_DIR_SHELL = paths.fill(paths.RUN_DIR, run_id="{wildcards.run_id}")


def metrics_files(wildcards=None):
    return FILES.metrics_files()


# ----------------------------------------------------------------------------- reports


def reference_input(wildcards):
    return FILES.reference_input(wildcards.name)


def report_reads(kind):
    """The run files one table's or figure's code reads (training logs for training_curves)."""
    return lambda wildcards: FILES.report_reads(kind, wildcards.name)


def caption_text(kind):
    return lambda wildcards: FILES.caption_text(kind, wildcards.name)


def output_prefix(wildcards, output):
    """The common prefix of a table's or figure's files (its first output minus the suffix)."""
    return str(output[0]).rsplit(".", 1)[0]
