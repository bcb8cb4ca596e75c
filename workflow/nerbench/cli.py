"""Command-line entry point: ``python -m nerbench <command> [args]``.

Each command lives in the module of its stage as ``main_<name>(argv)``; this table only routes.
Errors of type :class:`nerbench.io.InputError` print one clear line and exit with status 2;
:class:`nerbench.io.ResourceError` (disk full, run folder in use, unusable checkpoint) print one
clear line and exit with status 1, as does any other error that is a full disk
(:func:`nerbench.io.disk_full_error`), whichever command met it.
"""

from __future__ import annotations

import importlib
import json
import os
import sys

from nerbench.io import InputError, ResourceError, disk_full_error

COMMANDS: dict[str, str] = {
    "download": "nerbench.data.sources:main_download",
    "to-bio": "nerbench.data.convert:main_to_bio",
    "corpus-stats": "nerbench.data.stats:main_corpus_stats",
    "run-spec": "nerbench.plan.study:main_run_spec",
    "build-tiny-model": "nerbench.methods.models:main_build_tiny_model",
    "fetch-model": "nerbench.methods.staging:main_fetch_model",
    "hparams": "nerbench.hparams:main_hparams",
    "train": "nerbench.training.loop:main_train",
    "predict": "nerbench.predict:main_predict",
    "evaluate": "nerbench.evaluate.cli:main_evaluate",
    "aggregate": "nerbench.reporting.aggregate:main_aggregate",
    "tables": "nerbench.reporting.tables:main_tables",
    "figures": "nerbench.reporting.figures:main_figures",
    "outputs": "nerbench.reporting.outputs:main_outputs",
    "record": "nerbench.reporting.record:main_record",
    "status": "nerbench.status:main_status",
    "envs": "nerbench.envs:main_envs",
    "tag": "nerbench.predict:main_tag",
    "kb": "nerbench.dbr.kb:main_kb",
    "autophrase": "nerbench.dbr.phrases:main_autophrase",
    "embed": "nerbench.dbr.retrieval:main_embed",
    "retrieve": "nerbench.dbr.retrieval:main_retrieve",
    "dbr": "nerbench.dbr.samples:main_dbr",
    "dbr-stats": "nerbench.dbr.samples:main_dbr_stats",
    "dbr-profile": "nerbench.dbr.profile:main_dbr_profile",
    "index": "nerbench.dbr.retrieval:main_index",
}


def _usage() -> str:
    return "usage: python -m nerbench <command> [args]\ncommands: " + ", ".join(sorted(COMMANDS))


# Diagnostics: with $NERBENCH_ENV_LOG set, each command appends the settings it started with
# (one JSON line) to that file -- the SLURM test checks from these that every cluster job ran with
# the hub off and that downloads and model staging ran on the submit host. Names, never secrets.
ENV_LOG = "NERBENCH_ENV_LOG"
ENV_KEYS = ("HF_HUB_OFFLINE", "SLURM_JOB_ID")


def _record_environment(command: str) -> None:
    path = os.environ.get(ENV_LOG)
    if not path:
        return
    record = {"command": command, **{k: os.environ.get(k) for k in ENV_KEYS}}
    record["HF_TOKEN_set"] = bool(os.environ.get("HF_TOKEN"))
    with open(path, "a", encoding="utf-8") as f:  # one short line: appends do not interleave
        f.write(json.dumps(record, sort_keys=True) + "\n")


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(_usage())
        return 0
    command, rest = argv[0], argv[1:]
    if command not in COMMANDS:
        print(f"error: unknown command '{command}'\n{_usage()}", file=sys.stderr)
        return 2
    _record_environment(command)
    module_name, func_name = COMMANDS[command].split(":")
    func = getattr(importlib.import_module(module_name), func_name)
    try:
        result = func(rest)
    except InputError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except ResourceError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    except Exception as e:
        full = disk_full_error(e)
        if full is None:
            raise
        print(f"error: {full}", file=sys.stderr)
        return 1
    return int(result or 0)
