"""The rules' conda environments: generated from pyproject.toml, same pins, every import covered."""

from __future__ import annotations

import copy

import pytest
import yaml
from packaging.specifiers import SpecifierSet
from packaging.version import Version

from conftest import ROOT
from nerbench import envs


def _env_files() -> dict[str, dict]:
    return {p.name: yaml.safe_load(p.read_text()) for p in sorted((ROOT / "envs").glob("*.yaml"))}


def test_env_files_are_generated_from_pyproject():
    wanted = envs.rendered_envs()
    assert sorted(wanted) == sorted(_env_files()), "an env file that pyproject.toml does not make"
    for name, text in wanted.items():
        assert (ROOT / "envs" / name).read_text() == text, (
            f"envs/{name}: run python -m nerbench envs"
        )
    assert envs.main_envs(["--check"]) == 0


def test_every_env_pin_agrees_with_pyproject():
    """Read the YAML files themselves: each pip requirement is pyproject's, letter for letter;
    a conda package standing in for a dependency satisfies its pin; Python fits."""
    pyproject = envs.load_pyproject()
    pins = {
        name: spec
        for name, spec in map(envs.split_requirement, envs.project_pins(pyproject).values())
    }
    python = SpecifierSet(pyproject["project"]["requires-python"])
    _, specs = envs.env_specs(pyproject)
    for name, env in _env_files().items():
        spec = specs[name.removesuffix(".yaml")]
        deps = env["dependencies"]
        pip = next(d["pip"] for d in deps if isinstance(d, dict))
        for line in (p for p in pip if not p.startswith("-")):
            dist, version = envs.split_requirement(line)
            assert dist in pins, f"{name}: {dist} is not a [project] dependency"
            assert version == pins[dist], f"{name}: {line} but pyproject.toml has {pins[dist]!r}"
        conda = {d.split("=")[0]: d for d in deps if isinstance(d, str)}
        assert Version(conda["python"].split("=")[1] + ".0") in python, name
        for dependency, stand_in in spec.conda_replaces.items():
            package, version = stand_in.split("=")
            assert conda[package] == stand_in, name
            assert Version(version) in SpecifierSet(pins[dependency]), f"{name}: {stand_in}"
            assert dependency not in {envs.split_requirement(p)[0] for p in pip}, name


def test_every_rule_imports_are_in_its_env():
    rules = envs.rule_commands()
    assert {"to_bio", "autophrase", "dbr", "train", "predict", "evaluate", "figure"} <= set(rules)
    assert envs.rule_import_gaps() == []


def test_a_missing_module_is_named(monkeypatch):
    """Taking lxml out of the data env makes the check name the rule that imports it."""
    pyproject = copy.deepcopy(envs.load_pyproject())
    pyproject["tool"]["nerbench"]["envs"]["data"]["pip"].remove("lxml")
    monkeypatch.setattr(envs, "load_pyproject", lambda *a: pyproject)
    assert envs.rule_import_gaps() == ["rule to_bio (envs/data.yaml): imports lxml (lxml)"]


@pytest.mark.parametrize(
    ("module", "expected"),
    [
        ("nerbench.data.convert", {"lxml", "bioc"}),  # inside a format reader's function
        ("nerbench.methods.base", {"peft", "transformers"}),  # via the METHODS registry strings
        ("nerbench.dbr.phrases", {"autophrase"}),  # importlib.util.find_spec("autophrase")
    ],
)
def test_import_closure_follows_lazy_imports(module, expected):
    assert expected <= envs.third_party_imports(module)
    assert "nerbench" not in envs.third_party_imports(module)


def test_reading_a_registrys_names_does_not_reach_its_entries():
    """config reads the method and format names (schema enums) without loading any entry, so
    the data rules' environment needs neither a model library nor a corpus reader's parser."""
    reached = envs.third_party_imports("nerbench.config")
    assert not reached & {"torch", "peft", "transformers", "lxml", "bioc"}
