"""Config loading, validation and run identity."""

from __future__ import annotations

import copy
import re
import shutil
from pathlib import Path

import pytest
import yaml

from nerbench.config import load_datasets, load_models, load_study
from nerbench.io import InputError
from nerbench.plan import expand_runs, load_plan, make_run_id

ROOT = Path(__file__).resolve().parents[1]
CONFIG = {
    "study": "demo",
    "datasets_table": "config/datasets.tsv",
    "models_table": "config/models.tsv",
    "studies_dir": "config/studies",
}


def test_every_study_loads_and_expands():
    for study in ("demo", "vaner", "llm_vs_encoder", "foundation_grid"):
        plan = load_plan({**CONFIG, "study": study}, ROOT)
        assert plan.runs, study
        for run_id, spec in plan.runs.items():
            assert run_id == make_run_id(spec)
            assert set(spec["train_datasets"]) <= set(plan.datasets)


def test_foundation_grid_is_models_times_batch_times_lr():
    plan = load_plan({**CONFIG, "study": "foundation_grid"}, ROOT)
    assert len(plan.runs) == 7 * 3 * 4
    lrs = {spec["hparams"]["learning_rate"] for spec in plan.runs.values()}
    assert lrs == {1e-6, 1e-5, 1e-4, 1e-3}


def test_changing_one_models_learning_rate_changes_only_its_runs():
    datasets = load_datasets(ROOT / "config/datasets.tsv")
    models = load_models(ROOT / "config/models.tsv")
    study = load_study("demo", ROOT / "config/studies")
    before = expand_runs(study, datasets, models, "demo")
    changed = copy.deepcopy(study)
    changed["runs"][0]["model_hparams"] = {"tiny-bert": {"learning_rate": 3e-3}}
    after = expand_runs(changed, datasets, models, "demo")
    gone, new = set(before.runs) - set(after.runs), set(after.runs) - set(before.runs)
    n_datasets = len(study["runs"][0]["datasets"])
    assert len(gone) == len(new) == n_datasets
    assert all(r.startswith("tiny-bert__") for r in gone | new)
    assert all(after.runs[r]["hparams"]["learning_rate"] == 3e-3 for r in new)


def test_run_id_ignores_group_name_but_not_seed():
    datasets = load_datasets(ROOT / "config/datasets.tsv")
    models = load_models(ROOT / "config/models.tsv")
    study = load_study("demo", ROOT / "config/studies")
    renamed = copy.deepcopy(study)
    renamed["runs"][0]["name"] = "renamed"
    a = expand_runs(study, datasets, models, "demo")
    b = expand_runs(renamed, datasets, models, "demo")
    assert set(a.runs) == set(b.runs)
    reseeded = copy.deepcopy(study)
    reseeded["runs"][0]["seeds"] = [7]
    c = expand_runs(reseeded, datasets, models, "demo")
    group0 = {r for r, g in a.run_groups.items() if g == study["runs"][0]["name"]}
    assert group0 and not group0 & set(c.runs)
    assert set(a.runs) - group0 <= set(c.runs)  # other groups keep their runs


def _copy_config(tmp_path: Path) -> Path:
    shutil.copytree(ROOT / "config", tmp_path / "config")
    return tmp_path


def test_unknown_study_names_it(tmp_path):
    root = _copy_config(tmp_path)
    with pytest.raises(InputError, match="unknown study 'nope'"):
        load_plan({**CONFIG, "study": "nope"}, root)


def test_unknown_key_in_study_is_named(tmp_path):
    root = _copy_config(tmp_path)
    path = root / "config/studies/demo.yaml"
    data = yaml.safe_load(path.read_text())
    data["runs"][0]["learning_rate"] = 1e-5  # belongs under hparams
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(InputError, match=r"demo\.yaml.*runs\.0.*learning_rate"):
        load_plan(CONFIG, root)


def test_unknown_model_in_study_is_named(tmp_path):
    root = _copy_config(tmp_path)
    path = root / "config/studies/demo.yaml"
    data = yaml.safe_load(path.read_text())
    data["runs"][0]["models"] = ["no-such-model"]
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(InputError, match="unknown model 'no-such-model'"):
        load_plan(CONFIG, root)


def test_models_table_missing_column_and_bad_value(tmp_path):
    root = _copy_config(tmp_path)
    path = root / "config/models.tsv"
    lines = path.read_text().splitlines()
    header = lines[0].split("\t")
    bad = lines[1].split("\t")
    bad[header.index("family")] = "transformer"
    path.write_text("\n".join([lines[0], "\t".join(bad)]) + "\n")
    with pytest.raises(InputError, match=r"models\.tsv:2.*family"):
        load_models(path)
    path.write_text("\n".join(["\t".join(header[1:])] + lines[1:2]) + "\n")
    with pytest.raises(InputError, match=r"missing required column\(s\) \['id'\]"):
        load_models(path)


def test_config_yaml_unknown_key():
    with pytest.raises(InputError, match="colour"):
        load_plan({**CONFIG, "colour": "blue"}, ROOT)


def test_every_shipped_hub_model_is_pinned_to_a_commit():
    """Hub rows carry a 40-hex commit; local sources (pypkg:, tiny:, paths) carry none."""
    sha = re.compile(r"[0-9a-f]{40}")
    models = load_models(ROOT / "config/models.tsv")
    hub = {
        mid: row for mid, row in models.items() if "/" in row["source"] and ":" not in row["source"]
    }
    assert len(hub) >= 19, sorted(hub)
    unpinned = [mid for mid, row in hub.items() if not sha.fullmatch(row["revision"])]
    assert not unpinned, f"hub models without a pinned commit: {unpinned}"
    local = [row for row in models.values() if row["source"].startswith(("pypkg:", "tiny:"))]
    assert local and all(not row["revision"] for row in local)
    study = load_study("vaner", ROOT / "config/studies")
    assert sha.fullmatch(study["dbr"]["embedder"]["revision"])
