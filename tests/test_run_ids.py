"""Finished runs are never redone: the run_ids of every shipped study stay what they were.

``tests/data/run_ids.json`` holds, per study in ``config/studies``, each run_id and its run group,
as :func:`nerbench.plan.load_plan` produced them before hyperparameters were declared in one place
(#16). A run_id is a hash of the run's config slice; a change to what goes into the slice, or to a
default that lands in it, moves every finished run to a new directory. Regenerate the file only for
a deliberate change of the shipped config (a new study, a new model row):

    PYTHONPATH=workflow python -c "import tests.test_run_ids as t; t.write_fixture()"

Adding seeds to a study adds run_ids and keeps the others (a seed is one key of the slice): the
vaner study's seeds 43 and 44 (#15) were added this way, its seed-42 runs kept their ids. The
22-run `open` study was renamed `open-full` (#22) with the same ids; the sittings `open` and
`open-dbr` hold a subset of them (a run finished by a sitting is not redone by `open-full`), but
for `open-dbr`'s DBR runs of seed 43 (#24), which `open-full` does not train. `open-grid` (#29)
trains 3 epochs, so all its 11 runs (the grid and seeds 43, 44 of batch 16 / lr 1e-4) are runs of
`open-full`.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from nerbench.plan import load_plan

ROOT = Path(__file__).resolve().parents[1]
FIXTURE = ROOT / "tests" / "data" / "run_ids.json"


def _config(study: str) -> dict:
    with open(ROOT / "config" / "config.yaml", encoding="utf-8") as f:
        return {**yaml.safe_load(f), "study": study}


def current_run_ids(study: str) -> dict[str, str]:
    plan = load_plan(_config(study), ROOT)
    return {run_id: plan.run_groups[run_id] for run_id in sorted(plan.runs)}


def write_fixture() -> None:
    studies = sorted(p.stem for p in (ROOT / "config" / "studies").glob("*.yaml"))
    data = {s: current_run_ids(s) for s in studies}
    FIXTURE.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n", encoding="utf-8")


RECORDED = json.loads(FIXTURE.read_text(encoding="utf-8"))


def test_every_shipped_study_is_recorded():
    shipped = {p.stem for p in (ROOT / "config" / "studies").glob("*.yaml")}
    assert shipped <= set(RECORDED), f"record the run_ids of {sorted(shipped - set(RECORDED))}"


@pytest.mark.parametrize("study", sorted(RECORDED))
def test_run_ids_of_shipped_study_are_unchanged(study):
    if not (ROOT / "config" / "studies" / f"{study}.yaml").is_file():
        pytest.skip(f"study {study} is no longer shipped")
    assert current_run_ids(study) == RECORDED[study]


def test_open_sittings_reuse_the_runs_of_open_full():
    full = set(RECORDED["open-full"])
    assert set(RECORDED["open"]) <= full
    shared = {r for r in RECORDED["open-dbr"] if "__dbr-" not in r or "__s42__" in r}
    assert len(shared) == 4 and shared <= full


def test_open_grid_runs_are_runs_of_open_full():
    """At 3 epochs every grid cell and its extra seeds are `open-full` runs, trained once."""
    grid = set(RECORDED["open-grid"])
    assert len(grid) == 11 and grid <= set(RECORDED["open-full"])
