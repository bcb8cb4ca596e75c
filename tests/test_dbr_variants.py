"""DBR variants are declared once (nerbench.dbr.variants): the schema, the sample rule's choices,
the tables' names, the figures' styles, the paired tests and the scheduling weight follow."""

from __future__ import annotations

import pytest

from nerbench.config import load_schema
from nerbench.dbr import samples
from nerbench.dbr.variants import (
    DBR_VARIANTS,
    DBRVariant,
    compared_variants,
    dbr_line,
    dbr_suffix,
    sampled_variants,
)
from nerbench.reporting.figures.style import _dbr_name


def _study_dbr_schema() -> dict:
    return load_schema("study")["$defs"]["dbr_variant"]


def test_the_declared_variants_and_what_follows_from_them():
    assert DBR_VARIANTS.names() == ("dbr", "none", "random")
    assert _study_dbr_schema()["enum"] == ["dbr", "none", "random"]
    assert sampled_variants() == samples.VARIANTS == ("dbr", "random")
    assert compared_variants() == ("none", "random")  # VANER Table 3: w/o DBR, + random DBR
    assert dbr_suffix("random") == " + random DBR" and dbr_suffix("none") == " w/o DBR"
    assert dbr_suffix("dbr") == "" and dbr_line("random") == "--" and _dbr_name("") == "no DBR"


def test_a_new_variant_is_one_registration():
    new = DBRVariant(True, " + shuffled DBR", "shuffled DBR", (0, (1, 1)), 1.5)
    with DBR_VARIANTS.temporary("shuffled", new):
        assert "shuffled" in _study_dbr_schema()["enum"]
        assert "shuffled" in sampled_variants() and "shuffled" in compared_variants()
        assert (
            dbr_suffix("shuffled") == " + shuffled DBR" and _dbr_name("shuffled") == "shuffled DBR"
        )
    assert "shuffled" not in _study_dbr_schema()["enum"]
    assert dbr_suffix("shuffled") == " + shuffled DBR"  # an unknown one still reads sensibly
    with pytest.raises(ValueError, match="registered twice"):
        DBR_VARIANTS.add("dbr", new)
