"""The train rule's priority: the longest run first, counting a DBR variant's longer samples."""

from __future__ import annotations

from pathlib import Path

import yaml

from nerbench.dbr.variants import DBR_VARIANTS
from nerbench.plan import load_plan
from nerbench.plan.files import StudyFiles

ROOT = Path(__file__).resolve().parents[1]


def _files(study: str) -> StudyFiles:
    with open(ROOT / "config" / "config.yaml", encoding="utf-8") as f:
        config = {**yaml.safe_load(f), "study": study}
    return StudyFiles(load_plan(config, ROOT), config)


def test_random_dbr_runs_start_before_dbr_runs_before_plain_ones():
    """open-dbr (#24): equal examples for dbr and random, but random samples are ~2x longer;
    ordering by examples started a seed-43 dbr run before the seed-42 random run, which then
    trained alone for 17 minutes at the end."""
    files = _files("open-dbr")
    priority = {r: files.train_priority(r, 9) for r in files.plan.runs}
    by_variant: dict[str, set[float]] = {}
    for run_id, value in priority.items():
        by_variant.setdefault(files.plan.runs[run_id]["dbr"], set()).add(value)
    assert by_variant["random"] == {9.0}  # the longest get the top priority
    assert min(by_variant["random"]) > max(by_variant["dbr"]) > max(by_variant["none"]) > 0
    # proportional to the planned work: none : dbr : random = 1 : 2.2 : 3.4
    ratio = max(by_variant["dbr"]) / max(by_variant["none"])
    assert abs(ratio - (1 + DBR_VARIANTS["dbr"].sample_length)) < 1e-9
    # the examples a run sees (status's ETA) still count one sample per sentence
    (dbr_run,) = [r for r in files.plan.runs if "dbr-dbr__s42" in r]
    (random_run,) = [r for r in files.plan.runs if "dbr-random__s42" in r]
    assert files.planned_train_examples(dbr_run) == files.planned_train_examples(random_run)


def test_longer_corpora_first_without_dbr():
    files = _files("open")
    priority = {
        files.plan.runs[r]["train_datasets"][0]: files.train_priority(r, 9) for r in files.plan.runs
    }
    # linnaeus has the most training sentences of the five (11,935 in VANER's Table 2)
    assert max(priority, key=priority.get) == "linnaeus"
    assert priority["linnaeus"] == 9.0 and all(0 < v <= 9 for v in priority.values())
