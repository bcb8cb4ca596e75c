"""The speed policy's rules (nerbench.training.speed): each choice on given inputs, as cost.json
records it."""

from __future__ import annotations

import dataclasses

import pytest

from nerbench.hparams import TrainingArgs
from nerbench.training.speed import (
    AUTO_COMPILE_STEPS,
    AUTO_MIN_PADDING,
    MIN_COMPILE_STEPS,
    Choice,
    SpeedPlan,
    compile_choice,
    dropout_choice,
    lora_choice,
    packing_choice,
)


def test_packing_rule():
    assert packing_choice("off", None, 0.5) == Choice(False, "off")
    assert packing_choice("off", "cannot", 0.5) == Choice(False, "off")  # never asked the model
    assert packing_choice("on", None, 0.0) == Choice(True, "on")  # on: padding does not matter
    assert packing_choice("on", "sliding window 4", 0.5) == Choice(
        False, "off (sliding window 4)", "sliding window 4"
    )
    auto = packing_choice("auto", None, 0.04)
    assert not auto.on
    assert (
        auto.note
        == "off (auto: length-grouped batches pad only 4.0 % (< 15 %); packing would not pay)"
    )
    assert packing_choice("auto", None, AUTO_MIN_PADDING) == Choice(True, "on")
    assert packing_choice("auto", None, 0.3) == Choice(True, "on")
    # the model's reason comes first: auto never packs a model that cannot
    assert packing_choice("auto", "flash", 0.3).note == "off (flash)"


def test_lora_rule():
    assert lora_choice("peft", 0) == Choice(False, "peft")
    assert lora_choice("fused", 14) == Choice(True, "fused (14 layers)")
    assert lora_choice("fused", 0) == Choice(
        False, "peft (no plain LoRA layers)", "no plain LoRA layers"
    )


def test_compile_only_for_packed_runs_that_can_repay_it():
    big = 10**6
    assert compile_choice("off", True, "cuda", big) == Choice(False, "off")
    assert compile_choice("on", False, "cuda", big).note == (
        "off (needs packing (unpacked batch widths vary))"
    )
    tiny = compile_choice("on", True, "cpu", MIN_COMPILE_STEPS - 1)  # never for tiny runs
    assert not tiny.on and "planned steps" in tiny.note
    assert compile_choice("on", True, "cpu", MIN_COMPILE_STEPS) == Choice(True, "on")  # opt-in
    cpu = compile_choice("auto", True, "cpu", big)
    assert not cpu.on and "CUDA only" in cpu.reason
    short = compile_choice("auto", True, "cuda", AUTO_COMPILE_STEPS - 1)
    assert short.note == f"off (auto: {AUTO_COMPILE_STEPS - 1} planned steps (< 2000))"
    assert compile_choice("auto", True, "cuda", AUTO_COMPILE_STEPS) == Choice(True, "on")


def test_dropout_sampler_rule():
    assert dropout_choice("auto", "cpu", compiled=False) == Choice(True, "vector")
    assert dropout_choice("vector", "cpu", compiled=False) == Choice(True, "vector")
    assert dropout_choice("torch", "cpu", compiled=False) == Choice(False, "torch")
    cuda = dropout_choice("auto", "cuda", compiled=False)
    assert not cuda.on and cuda.note == "torch (cuda: its sampler is parallel)"
    compiled = dropout_choice("vector", "cpu", compiled=True)
    assert not compiled.on and compiled.note.startswith("torch (compiled")
    with pytest.raises(ValueError, match="dropout_sampler"):
        dropout_choice("fast", "cpu", compiled=False)
    assert TrainingArgs().dropout_sampler == "auto"


def test_plan_is_frozen_and_gives_cost_fields_in_order():
    off = Choice(False, "off")
    plan = SpeedPlan(
        packing=Choice(True, "on"),
        packer=None,
        pack_length=64,
        padding_fraction=0.123456,
        lora_forward=Choice(False, "peft"),
        compile=off,
        step_model=None,  # type: ignore[arg-type]
        dropout_sampler=Choice(True, "vector"),
    )
    with pytest.raises(dataclasses.FrozenInstanceError):
        plan.compile = Choice(True, "on")  # type: ignore[misc]
    fields = plan.cost_fields(1.5)
    assert list(fields) == [
        "packing",
        "pack_length",
        "padding_fraction_epoch1",
        "compile",
        "compile_time_s",
        "dropout_sampler",
        "lora_forward",
    ]
    assert fields == {
        "packing": "on",
        "pack_length": 64,
        "padding_fraction_epoch1": 0.1235,
        "compile": "off",
        "compile_time_s": 1.5,
        "dropout_sampler": "vector",
        "lora_forward": "peft",
    }
