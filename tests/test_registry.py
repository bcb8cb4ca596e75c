"""The shared registry of extension points: one declaration per name, lazy and temporary entries."""

from __future__ import annotations

import pytest

from nerbench.io import InputError
from nerbench.registry import Registry


def test_registration_order_decorator_and_enum():
    reg: Registry = Registry("widget")

    @reg.register("b", weight=2)
    def build_b():
        return "b"

    reg.add("a", "nerbench.io:InputError")
    assert reg.names() == ("b", "a")
    assert reg["b"] is build_b and reg.meta("b") == {"weight": 2}
    assert reg.load("a") is InputError and reg.load("b") is build_b
    assert reg.enum() == {"enum": ["b", "a"]}
    assert "a" in reg and "c" not in reg and len(reg) == 2


def test_a_name_is_declared_once_and_unknown_names_list_the_known():
    reg: Registry = Registry("widget")
    reg.add("a", 1)
    with pytest.raises(ValueError, match="registered twice"):
        reg.add("a", 2)
    with pytest.raises(InputError, match="unknown widget 'z'; known: a"):
        reg["z"]


def test_temporary_entries_are_removed_even_on_error():
    reg: Registry = Registry("widget")
    with pytest.raises(RuntimeError), reg.temporary("t", 3, kind="test"):
        assert reg["t"] == 3 and reg.meta("t") == {"kind": "test"}
        raise RuntimeError
    assert "t" not in reg and reg.names() == ()
