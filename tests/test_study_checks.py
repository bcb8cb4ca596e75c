"""Mistakes in a study (or models.tsv) fail when the workflow plans, naming the key at fault.

Each of these used to pass ``snakemake -n`` silently (or fail only inside a training job).
"""

from __future__ import annotations

import copy
import shutil
from pathlib import Path

import pytest
import yaml

from conftest import run_snakemake
from nerbench import defaults
from nerbench.config import load_datasets, load_models, load_schema
from nerbench.io import InputError
from nerbench.paths import SCHEMA_DIR
from nerbench.plan import check_workflow_inputs, expand_runs, load_plan
from nerbench.plan.files import StudyFiles

ROOT = Path(__file__).resolve().parents[1]

STUDY = {
    "datasets": ["NCBI-disease-demo", "s800-demo"],
    "defaults": {"hparams": {"learning_rate": 1.0e-4, "batch_size": 8}, "seeds": [42]},
    "runs": [
        {"name": "enc", "models": ["tiny-bert"]},
        {"name": "lab", "models": ["tiny-llama"], "method": "labeler", "hparams": {"epochs": 1}},
    ],
    "outputs": {"tables": ["corpus_stats", "metrics"], "figures": ["cost_f1"]},
}


@pytest.fixture
def root(tmp_path: Path) -> Path:
    shutil.copytree(ROOT / "config", tmp_path / "config")
    (tmp_path / "resources").symlink_to(ROOT / "resources")  # the demo corpora (local paths)
    return tmp_path


def plan_of(root: Path, study: dict):
    (root / "config/studies/t.yaml").write_text(yaml.safe_dump(study), encoding="utf-8")
    config = {
        "study": "t",
        "datasets_table": "config/datasets.tsv",
        "models_table": "config/models.tsv",
        "studies_dir": "config/studies",
    }
    plan = load_plan(config, root)
    check_workflow_inputs(plan, config, root)  # as common.smk does
    return plan


def changed(edit) -> dict:
    study = copy.deepcopy(STUDY)
    edit(study)
    return study


def test_the_base_study_plans(root):
    plan = plan_of(root, STUDY)
    assert len(plan.runs) == 4


# --------------------------------------------------------------------------- hyperparameter values

BAD_HPARAMS = [
    # (where in the study, key, value, the key path the error names)
    ("defaults", "learning_rate", -1.0e-5, "defaults.hparams.learning_rate"),
    ("defaults", "learning_rate", "1e-5", "defaults.hparams.learning_rate"),
    ("group", "epochs", 0, "runs.1.hparams.epochs' (run group 'lab')"),
    ("group", "save_every", "two", "runs.1.hparams.save_every' (run group 'lab')"),
    ("group", "scheduler", "cosin", "runs.1.hparams.scheduler' (run group 'lab')"),
    ("group", "precision", "fp16", "runs.1.hparams.precision' (run group 'lab')"),
    ("group", "train_limit", -3, "runs.1.hparams.train_limit' (run group 'lab')"),
    ("group", "learning_rate", [1.0e-5, -1.0], "runs.1.hparams.learning_rate.1'"),
    ("group", "batch_size", [8, 8], "runs.1.hparams.batch_size'"),
    ("group", "attn_implementation", "flash", "runs.1.hparams.attn_implementation'"),
    ("model", "learning_rate", 0, "runs.1.model_hparams.tiny-llama.learning_rate'"),
]


@pytest.mark.parametrize(("place", "key", "value", "named"), BAD_HPARAMS)
def test_bad_hparam_value_fails_at_plan_time(root, place, key, value, named):
    def edit(study):
        if place == "defaults":
            study["defaults"]["hparams"][key] = value
        elif place == "group":
            study["runs"][1]["hparams"][key] = value
        else:
            study["runs"][1]["model_hparams"] = {"tiny-llama": {key: value}}

    with pytest.raises(InputError) as err:
        plan_of(root, changed(edit))
    msg = str(err.value)
    assert msg.startswith("config/studies/t.yaml: ") or "config/studies/t.yaml" in msg
    assert named in msg, msg


def test_hparams_are_checked_per_run_even_without_the_schema():
    """expand_runs checks every grid point itself, naming study, run group and model."""
    datasets = load_datasets(ROOT / "config/datasets.tsv")
    models = load_models(ROOT / "config/models.tsv")
    study = changed(lambda s: s["runs"][1]["hparams"].update(epochs=[1, 0]))
    with pytest.raises(
        InputError, match=r"t.yaml \(runs\[1\] 'lab', model 'tiny-llama', hparams\)"
    ):
        expand_runs(study, datasets, models, "t.yaml")
    study = changed(lambda s: s["runs"][0].update(model_hparams={"tiny-bert": {"scheduler": "x"}}))
    with pytest.raises(InputError, match=r"model 'tiny-bert'.*'scheduler'"):
        expand_runs(study, datasets, models, "t.yaml")


def test_the_four_training_args_fields_are_accepted_in_a_study(root):
    def edit(study):
        study["runs"][1]["hparams"].update(
            attn_implementation="eager", max_grad_norm=0.5, eval_batch_size=4, mega_batch_mult=8
        )

    plan = plan_of(root, changed(edit))
    lab = [spec for spec in plan.runs.values() if spec["model"]["id"] == "tiny-llama"]
    assert lab and all(spec["hparams"]["attn_implementation"] == "eager" for spec in lab)


# --------------------------------------------------------------------------- datasets, revisions


def test_empty_datasets_list_is_an_error(root):
    with pytest.raises(InputError, match=r"t.yaml: .*key 'datasets'.*non-empty"):
        plan_of(root, changed(lambda s: s.update(datasets=[])))


def test_run_group_without_datasets_is_an_error(root):
    def edit(study):
        del study["datasets"]

    with pytest.raises(InputError, match=r"runs\[0\] 'enc'.*no datasets"):
        plan_of(root, changed(edit))


def test_model_revision_with_unsafe_characters_names_the_row(root):
    path = root / "config/models.tsv"
    lines = path.read_text(encoding="utf-8").splitlines()
    header = lines[0].split("\t")
    col = header.index("revision")
    for i, line in enumerate(lines):
        cells = line.split("\t")
        if cells[0] == "bert-base-cased":
            cells[col] = "main branch!"
            lines[i] = "\t".join(cells)
            lineno = i + 1
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    named = rf"models.tsv:{lineno}: .*key 'revision' \(row id 'bert-base-cased'\).*main branch!"
    with pytest.raises(InputError, match=named):
        plan_of(root, STUDY)


PINNED = "cd5ef92a9fb2f889e972770a36d4ed042daf221e"  # bert-base-cased in models.tsv


def _with_revision(root: Path, revision: str) -> int:
    """bert-base-cased's revision set to ``revision``; returns its line in models.tsv."""
    path = root / "config/models.tsv"
    lines = path.read_text(encoding="utf-8").splitlines()
    lineno = next(i for i, ln in enumerate(lines, 1) if PINNED in ln)
    path.write_text("\n".join(lines).replace(PINNED, revision) + "\n", encoding="utf-8")
    return lineno


@pytest.mark.parametrize("revision", ["0" * 40, "tag:v1.0", "tag:release_2.1-rc1"])
def test_full_commit_and_named_tag_revisions_are_accepted(root, revision):
    _with_revision(root, revision)
    plan_of(root, STUDY)


@pytest.mark.parametrize(
    "revision", ["cd5ef92", "main", "v1.0", "refs/pr/12", PINNED.upper(), PINNED + "0", "tag:"]
)
def test_branch_short_commit_and_bare_tag_revisions_are_rejected(root, revision):
    """#27: a 7-character commit passed as a branch name; only full commits or 'tag:<name>'."""
    lineno = _with_revision(root, revision)
    named = rf"models.tsv:{lineno}: .*key 'revision' \(row id 'bert-base-cased'\).*40-hex"
    with pytest.raises(InputError, match=named):
        plan_of(root, STUDY)


def test_hub_model_without_a_revision_is_rejected_naming_row_and_column(root):
    lineno = _with_revision(root, "")
    named = rf"models.tsv:{lineno}: row id 'bert-base-cased', column 'revision': hub source"
    with pytest.raises(InputError, match=named):
        plan_of(root, STUDY)


def test_hub_embedder_without_a_revision_is_rejected(root):
    dbr = {"embedder": {"name": "sap", "source": "cambridgeltl/SapBERT-from-PubMedBERT-fulltext"}}
    study = changed(lambda s: s.update(dbr=dbr))
    with pytest.raises(InputError, match=r"t.yaml: key 'dbr.embedder.revision': hub source"):
        StudyFiles(plan_of(root, study), {})


def test_a_tag_is_asked_of_the_hub_by_name_and_staged_apart_from_commits():
    from nerbench.methods.staging import hub_revision, staged_path

    assert hub_revision("tag:v1.0") == "v1.0" and hub_revision(PINNED) == PINNED
    assert hub_revision("") is None
    assert staged_path("org/m", "tag:v1.0") == "resources/models/org--m/tag-v1.0"
    assert staged_path("org/m", PINNED) == f"resources/models/org--m/{PINNED}"


# --------------------------------------------------------------------------- YAML


def test_duplicate_key_in_a_study_is_rejected_naming_file_and_line(root):
    """#27: YAML keeps the last of two equal keys; a negative learning rate then planned."""
    path = root / "config/studies/t.yaml"
    text = yaml.safe_dump(STUDY, sort_keys=False)
    text = text.replace("    learning_rate: 0.0001\n", "    learning_rate: -1e-3\n", 1)
    lines = text.splitlines()
    at = next(i for i, ln in enumerate(lines) if "learning_rate: -1e-3" in ln)
    lines.insert(at + 1, "    learning_rate: 1.0e-3")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    config = {"study": "t", "datasets_table": "config/datasets.tsv"}
    config |= {"models_table": "config/models.tsv", "studies_dir": "config/studies"}
    with pytest.raises(InputError, match=rf"t.yaml:{at + 2}: duplicate key 'learning_rate' "):
        load_plan(config, root)


def test_duplicate_key_in_a_config_file_is_rejected(root):
    extra = root / "mirror.yaml"
    extra.write_text("download:\n  retries: 4\n  retries: 0\n", encoding="utf-8")
    config = {"study": "demo", "datasets_table": "config/datasets.tsv"}
    config |= {"models_table": "config/models.tsv", "studies_dir": "config/studies"}
    plan = load_plan(config, root)
    check_workflow_inputs(plan, config, root, config_files=["config/config.yaml"])
    named = r"mirror.yaml:3: duplicate key 'retries' \(first at line 2"
    with pytest.raises(InputError, match=named):
        check_workflow_inputs(plan, config, root, config_files=["config/config.yaml", extra])


def test_duplicate_key_in_an_extra_configfile_stops_the_dry_run(tmp_path):
    extra = tmp_path / "dup.yaml"
    extra.write_text("study: demo\nstudy: open\n", encoding="utf-8")
    proc = run_snakemake(ROOT, "-n", "--configfile", str(extra), check=False, timeout=600)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert f"{extra}:2: duplicate key 'study'" in out, out[-3000:]


# --------------------------------------------------------------------------- local corpus files


def _dataset_source(root: Path, dataset: str, split: str, value: str) -> int:
    """Set a datasets.tsv cell; returns the row's line."""
    path = root / "config/datasets.tsv"
    lines = path.read_text(encoding="utf-8").splitlines()
    col = lines[0].split("\t").index(split)
    lineno = next(i for i, ln in enumerate(lines, 1) if ln.split("\t")[0] == dataset)
    cells = lines[lineno - 1].split("\t")
    cells[col] = value
    lines[lineno - 1] = "\t".join(cells)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return lineno


@pytest.mark.parametrize("kind", ["path", "file-url", "file-url-member"])
def test_missing_local_corpus_file_is_reported_at_plan_time(root, tmp_path, kind):
    """#27: a missing local file (or file:// URL) names datasets.tsv, the row and the column."""
    missing = tmp_path / "nowhere" / "devel.tsv"
    value = {
        "path": "resources/corpora/demo/NCBI-disease/devel-typo.tsv",
        "file-url": missing.as_uri(),
        "file-url-member": missing.as_uri() + "#inner/devel.tsv",
    }[kind]
    lineno = _dataset_source(root, "NCBI-disease-demo", "devel", value)
    named = rf"datasets.tsv:{lineno}: row name 'NCBI-disease-demo', column 'devel': .*not exist"
    with pytest.raises(InputError, match=named):
        plan_of(root, STUDY)


def test_existing_file_url_and_unused_rows_pass(root):
    demo = ROOT / "resources/corpora/demo/NCBI-disease/devel.tsv"
    _dataset_source(root, "NCBI-disease-demo", "devel", demo.as_uri())
    _dataset_source(root, "EuropePMC", "train", "resources/corpora/none/train.tsv")  # not used
    plan_of(root, STUDY)


# --------------------------------------------------------------------------- the dbr block


@pytest.mark.parametrize(
    ("dbr", "named"),
    [
        ({"kb": {"nmae": "x"}}, "key 'dbr.kb'.*'nmae'"),
        ({"top_k": "ten"}, "key 'dbr.top_k'"),
        ({"max_neg": -1}, "key 'dbr.max_neg'"),
        ({"embedder": {"revision": "main branch!"}}, "key 'dbr.embedder.revision'"),
        ({"embedder": {"pooling": "max"}}, "key 'dbr.embedder.pooling'"),
        ({"index": {"type": "ivf", "nprobe": 0}}, "key 'dbr.index.nprobe'"),
        ({"autophrase": {"min_sup": "3"}}, "key 'dbr.autophrase.min_sup'"),
        ({"kb": {"name": "my kb"}}, "key 'dbr.kb.name'"),
        ({"sampling": {}}, "'sampling' was unexpected"),
    ],
)
def test_dbr_block_is_validated_by_the_schema(root, dbr, named):
    with pytest.raises(InputError, match=rf"t.yaml: .*{named}"):
        plan_of(root, changed(lambda s: s.update(dbr=dbr)))


def test_dbr_schema_has_the_keys_the_code_reads_and_no_defaults_of_its_own():
    schema = load_schema("study")["properties"]["dbr"]["properties"]
    assert set(schema) == set(defaults.DBR_SECTIONS) | set(defaults.SAMPLING)
    for name, section in defaults.DBR_SECTIONS.items():
        assert set(schema[name]["properties"]) == set(section), name
    assert "default:" not in (SCHEMA_DIR / "study.schema.yaml").read_text()  # one declaration


def test_the_code_defaults_pass_the_dbr_schema():
    import jsonschema

    study = load_schema("study")
    dbr_schema = {**study["properties"]["dbr"], "$defs": study["$defs"]}
    jsonschema.Draft202012Validator(dbr_schema).validate(
        {**defaults.SAMPLING, **defaults.DBR_SECTIONS}
    )


# --------------------------------------------------------------------------- outputs


@pytest.mark.parametrize(
    ("kind", "names", "named"),
    [
        (
            "tables",
            ["corpus_stats", "metrcs"],
            r"unknown table 'metrcs' \(key 'outputs.tables\[1\]'\)",
        ),
        (
            "figures",
            ["cost_f1", "vaner_fig5"],
            r"unknown figure 'vaner_fig5' \(key 'outputs.figures\[1\]'\)",
        ),
    ],
)
def test_unknown_output_name_is_an_error(root, kind, names, named):
    with pytest.raises(InputError, match=rf"t.yaml: {named}"):
        plan_of(root, changed(lambda s: s["outputs"].update({kind: names})))


def test_every_known_output_name_is_accepted(root):
    from nerbench.reporting.outputs import study_figures, study_tables

    tables, figures = list(study_tables()), list(study_figures())
    assert "corpus_stats" in tables and {"cost_f1", "vaner_fig3", "vaner_fig4"} <= set(figures)
    plan_of(root, changed(lambda s: s.update(outputs={"tables": tables, "figures": figures})))


# --------------------------------------------------------------------------- duplicate runs


def test_two_groups_making_the_same_run_is_an_error_naming_both(root):
    def edit(study):
        study["runs"].append({"name": "enc_again", "models": ["tiny-bert"]})

    with pytest.raises(
        InputError, match=r"run groups 'enc' and 'enc_again' both make run 'tiny-bert__"
    ):
        plan_of(root, changed(edit))


def test_groups_of_one_name_share_a_run_trained_once_and_evaluated_on_both_sets(root):
    def edit(study):
        study["runs"].append(
            {"name": "enc", "models": ["tiny-bert"], "eval_on": ["BC5CDR-chem-demo"]}
        )

    base = plan_of(root, changed(lambda s: None))
    plan = plan_of(root, changed(edit))
    assert sorted(plan.runs) == sorted(base.runs)  # nothing new to train
    shared = [r for r in plan.runs if plan.eval_sets[r] != base.eval_sets[r]]
    assert shared and all("BC5CDR-chem-demo" in plan.eval_sets[r] for r in shared)
    assert all(set(base.eval_sets[r]) <= set(plan.eval_sets[r]) for r in shared)


def test_a_group_repeating_a_run_is_an_error(root):
    with pytest.raises(InputError, match=r"key 'runs.0.seeds'.*\(run group 'enc'\)"):
        plan_of(root, changed(lambda s: s["runs"][0].update(seeds=[42, 42])))
    datasets = load_datasets(ROOT / "config/datasets.tsv")
    models = load_models(ROOT / "config/models.tsv")
    study = changed(lambda s: s["runs"][0].update(seeds=[42, 42]))  # the schema is bypassed here
    with pytest.raises(InputError, match=r"run group 'enc' makes run 'tiny-bert__.*' twice"):
        expand_runs(study, datasets, models, "t.yaml")


# --------------------------------------------------------------------------- snakemake -n


def test_snakemake_dry_run_fails_on_a_bad_hparam(tmp_path):
    study = changed(lambda s: s["runs"][1]["hparams"].update(scheduler="cosin"))
    (tmp_path / "t.yaml").write_text(yaml.safe_dump(study), encoding="utf-8")
    proc = run_snakemake(
        ROOT, "-n", "--config", "study=t", f"studies_dir={tmp_path}", check=False, timeout=600
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert f"{tmp_path}/t.yaml" in out and "runs.1.hparams.scheduler" in out, out[-3000:]


def test_revision_pattern_is_the_same_for_models_and_the_dbr_embedder():
    models = load_schema("models")["properties"]["revision"]
    study = load_schema("study")["$defs"]["revision"]
    assert models["pattern"] == study["pattern"]
