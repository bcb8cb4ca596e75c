"""Hyperparameters are declared once (TrainingArgs); schema, CLI, README and checks follow it."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest
import yaml

from nerbench import hparams as hp
from nerbench.cli import main as cli_main
from nerbench.config import load_schema
from nerbench.hparams import TrainingArgs, check_hparams, fields, markdown_table
from nerbench.io import InputError

ROOT = Path(__file__).resolve().parents[1]
JSON_TYPES = {bool: "boolean", int: "integer", float: "number", str: "string"}


def _study_hparams_schema() -> dict:
    return load_schema("study")["$defs"]["hparams"]


def test_every_training_args_field_is_in_the_study_schema_and_nothing_else():
    props = _study_hparams_schema()["properties"]
    names = {f.name for f in dataclasses.fields(TrainingArgs)} - {"extra"}
    assert set(props) == names
    assert _study_hparams_schema()["additionalProperties"] is False


@pytest.mark.parametrize("f", fields(), ids=lambda f: f.name)
def test_schema_type_of_each_field_follows_its_annotation(f):
    kind, nullable = hp.field_type(f)
    one, grid = _study_hparams_schema()["properties"][f.name]["anyOf"]
    want = [JSON_TYPES[kind], "null"] if nullable else JSON_TYPES[kind]
    assert one["type"] == want
    assert grid["type"] == "array" and grid["items"] == one
    assert f.metadata.get("help"), f"TrainingArgs.{f.name} has no help text"


def test_the_yaml_schema_declares_no_hparam_itself():
    """The properties come from TrainingArgs at load time, never from a second list in the YAML."""
    raw = yaml.safe_load((ROOT / "workflow/schemas/study.schema.yaml").read_text(encoding="utf-8"))
    assert "properties" not in raw["$defs"]["hparams"]


def test_the_four_fields_the_old_schema_rejected_are_accepted():
    given = {
        "attn_implementation": "eager",
        "max_grad_norm": 0.5,
        "eval_batch_size": 8,
        "mega_batch_mult": 10,
    }
    args = check_hparams(given, "test")
    assert args.attn_implementation == "eager" and args.extra == {}
    assert (args.max_grad_norm, args.eval_batch_size, args.mega_batch_mult) == (0.5, 8, 10)
    import jsonschema

    jsonschema.Draft202012Validator(_study_hparams_schema()).validate(given)


def test_docs_hold_exactly_the_generated_table():
    doc = (ROOT / "docs" / "configuration.md").read_text(encoding="utf-8")
    m = re.search(r"^## Hyperparameters\n(.*?)(?=^#)", doc, re.S | re.M)
    assert m, "docs/configuration.md lacks a '## Hyperparameters' section"
    section = m.group(1)
    table = "\n".join(ln for ln in section.splitlines() if ln.startswith("|")) + "\n"
    assert table == markdown_table(), "regenerate: python -m nerbench hparams --format markdown"


def test_cli_lists_every_hparam(capsys):
    assert cli_main(["hparams", "--format", "markdown"]) == 0
    assert capsys.readouterr().out == markdown_table()
    assert cli_main(["hparams"]) == 0
    out = capsys.readouterr().out
    assert all(f"  {f.name} (default" in out for f in fields())


def test_train_help_lists_every_hparam(capsys):
    from nerbench.training.loop import _parse_args

    with pytest.raises(SystemExit):
        _parse_args(["--help"])
    out = capsys.readouterr().out
    assert all(f"  {f.name} (default" in out for f in fields())


@pytest.mark.parametrize(
    ("given", "key"),
    [
        ({"learning_rate": -1e-5}, "learning_rate"),
        ({"learning_rate": "1e-5"}, "learning_rate"),
        ({"epochs": 0}, "epochs"),
        ({"save_every": "two"}, "save_every"),
        ({"scheduler": "cosin"}, "scheduler"),
        ({"precision": "fp16"}, "precision"),
        ({"train_limit": -3}, "train_limit"),
        ({"batch_size": 2.5}, "batch_size"),
        ({"gradient_checkpointing": "yes"}, "gradient_checkpointing"),
        ({"mixture_sampling": "temperature:0"}, "mixture_sampling"),
        ({"attn_implementation": "flash"}, "attn_implementation"),
        ({"lora_dropout": 1.0}, "lora_dropout"),
        ({"learning_rat": 1e-5}, "learning_rat"),
    ],
)
def test_check_hparams_names_the_key(given, key):
    with pytest.raises(InputError, match=rf"study.yaml \(runs\[0\] 'g'\): .*'{key}'"):
        check_hparams(given, "study.yaml (runs[0] 'g')")


def test_runtime_parse_applies_the_same_constraints():
    """A run.json read by the training job is held to the same field constraints."""
    with pytest.raises(InputError, match="'warmup_ratio'"):
        TrainingArgs.from_hparams({"warmup_ratio": 1.0}, "run.json (hparams)")
    with pytest.raises(InputError, match="'mega_batch_mult'"):
        TrainingArgs.from_hparams({"mega_batch_mult": 0})
    assert TrainingArgs.from_hparams({"mixture_sampling": "temperature:2.5"}).mixture_sampling


def test_lora_help_follows_the_declared_method_defaults(monkeypatch):
    """The LoRA defaults are declared once (with each method's registration); help text and
    the methods' defaults are derived."""
    from nerbench.methods import lora_settings
    from nerbench.methods.registry import METHODS

    by_name = {f.name: f for f in fields()}
    for hparam, setting in (("lora_r", "r"), ("lora_alpha", "alpha"), ("lora_dropout", "dropout")):
        said = re.search(r"null = the method's \((.*)\)\.", by_name[hparam].metadata["help"])
        declared = lora_settings.lora_defaults()
        assert said and said.group(1) == ", ".join(
            f"{m} {getattr(s, setting)}" for m, s in declared.items()
        )
    assert lora_settings.defaults_text("r") == "labeler 16, generative 128"
    monkeypatch.setitem(METHODS._meta["labeler"], "lora", lora_settings.LoraSettings(8, 16, 0.0))
    assert lora_settings.defaults_text("r") == "labeler 8, generative 128"
    with METHODS.temporary("adapter-x", "x:Y", lora=lora_settings.LoraSettings(4, 8, 0.0)):
        assert lora_settings.defaults_text("r") == "labeler 8, generative 128, adapter-x 4"
