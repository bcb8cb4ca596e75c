"""Method names are declared once (nerbench.methods.registry): schemas and docs follow it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from nerbench.config import _validate, load_schema
from nerbench.io import InputError
from nerbench.methods.registry import METHODS

ROOT = Path(__file__).resolve().parents[1]


def test_schema_method_enums_are_the_registry() -> None:
    names = list(METHODS.names())
    assert load_schema("models")["properties"]["method"]["enum"] == names
    assert load_schema("study")["$defs"]["method"]["enum"] == names


def test_a_registered_method_is_accepted_in_a_study_and_in_models_tsv() -> None:
    study = {"runs": [{"name": "g", "models": ["m"], "method": "toy-method"}]}
    row = {"id": "m", "source": "tiny:bert", "family": "encoder", "method": "toy-method"}
    row["max_length"] = 32
    with pytest.raises(InputError, match="key 'runs.0.method'"):
        _validate(study, load_schema("study"), "study.yaml")
    with METHODS.temporary("toy-method", "nerbench.methods.encoder:TokenClassificationMethod"):
        _validate(study, load_schema("study"), "study.yaml")
        _validate(row, load_schema("models"), "models.tsv:2")
    with pytest.raises(InputError, match="key 'method'"):
        _validate(row, load_schema("models"), "models.tsv:2")


def test_docs_describe_exactly_the_registered_methods() -> None:
    doc = (ROOT / "docs" / "methods.md").read_text(encoding="utf-8")
    m = re.search(r"^Methods: (.*?)Every method's tags", doc, re.S | re.M)
    assert m, "docs/methods.md lacks its 'Methods: ...' paragraph"
    assert re.findall(r"`([a-z-]+)` \(", m.group(1)) == list(METHODS.names())
