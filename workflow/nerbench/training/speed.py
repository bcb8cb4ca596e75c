"""The speed policy of a training run: which speed-ups run, and why.

Four hyperparameters ask for a speed-up; each has a *rule* (a pure function of the hparam and
facts about the run, returning a :class:`Choice`) and an *application* to the loaded model.
:func:`resolve_speed` applies them in this order, each later rule seeing the earlier choices, and
returns a :class:`SpeedPlan`; cost.json records every choice's :attr:`Choice.note`
(:meth:`SpeedPlan.cost_fields`) and the train log says why one is off.

``packing`` (:func:`packing_choice`, :mod:`nerbench.training.packing`)
    ``off``; ``on`` where the method and model can pack (else ``off (<why>)``); ``auto`` packs
    only where length-grouped batches pad at least :data:`AUTO_MIN_PADDING` of their positions.
``lora_forward`` (:func:`lora_choice`, :mod:`nerbench.training.fused_lora`)
    ``fused``: plain LoRA layers add their update inside one product; ``peft``: PEFT's forward.
``compile`` (:func:`compile_choice`)
    ``torch.compile`` of the packed step: never unpacked (batch widths vary) or below
    :data:`MIN_COMPILE_STEPS`; ``auto`` only on CUDA from :data:`AUTO_COMPILE_STEPS`.
``dropout_sampler`` (:func:`dropout_choice`, :mod:`nerbench.training.dropout`)
    the vector sampler on CPU unless the step is compiled (inductor then fuses the masks).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

from nerbench.hparams import DROPOUT_SAMPLERS, TrainingArgs
from nerbench.io import InputError
from nerbench.methods.base import Bundle, Method
from nerbench.training.data import epoch_batches
from nerbench.training.dropout import use_vector_dropout
from nerbench.training.fused_lora import fuse_lora
from nerbench.training.packing import Packer, padding_fraction, plan_rows

# the training log's messages keep the loop's logger name (train logs read as before)
log = logging.getLogger("nerbench.training.loop")

#: ``packing: auto`` packs only when length-grouped batches would compute at least this share of
#: padding positions (see :func:`packing_choice`).
AUTO_MIN_PADDING = 0.15
#: ``compile``: never below this many planned steps; ``auto`` only on CUDA from AUTO_COMPILE_STEPS
MIN_COMPILE_STEPS = 200
AUTO_COMPILE_STEPS = 2000


@dataclass(frozen=True)
class Choice:
    """One resolved speed choice: whether the speed-up runs, cost.json's text for it and, where
    the policy (not the hparam alone) decided, the reason."""

    on: bool
    note: str
    reason: str | None = None

    @classmethod
    def off(cls, reason: str | None = None, name: str = "off") -> Choice:
        """``off`` (the hparam said so) or ``off (<reason>)``."""
        return cls(False, name if reason is None else f"{name} ({reason})", reason)


# --------------------------------------------------------------------------- the rules


def auto_packing_reason(grouped_padding: float) -> str | None:
    """``packing: auto``: None (pack) or why not, from the padding of length-grouped batches.

    On an SDPA mask kernel a packed row costs attention over the whole row, so packing only pays
    where the batches it replaces are padded heavily (>= :data:`AUTO_MIN_PADDING`); with
    mega-batch length grouping (about 4 % padding on NCBI-disease) it does not.
    """
    if grouped_padding >= AUTO_MIN_PADDING:
        return None
    return (
        f"auto: length-grouped batches pad only {100 * grouped_padding:.1f} % "
        f"(< {100 * AUTO_MIN_PADDING:.0f} %); packing would not pay"
    )


def packing_choice(mode: str, unsupported: str | None, grouped_padding: float) -> Choice:
    """Hparam ``packing`` given why the model cannot pack (None: it can) and the padding share
    of length-grouped batches."""
    if mode == "off":
        return Choice.off()
    reason = unsupported
    if reason is None and mode == "auto":
        reason = auto_packing_reason(grouped_padding)
    return Choice.off(reason) if reason is not None else Choice(True, "on")


def lora_choice(mode: str, fused_layers: int) -> Choice:
    """Hparam ``lora_forward`` given how many LoRA layers were fused (0 when not tried)."""
    if mode == "peft":
        return Choice(False, "peft")
    if fused_layers:
        return Choice(True, f"fused ({fused_layers} layers)")
    return Choice.off("no plain LoRA layers", name="peft")


def compile_choice(mode: str, packed: bool, device_type: str, planned_steps: int) -> Choice:
    """Hparam ``compile``: compile the training step or why not.

    Compiling needs fixed shapes, which only packed rows give (widths vary per batch otherwise).
    On CPU it is opt-in: on the 2-core development VM inductor took about 100 s to compile a
    MiniLM step for a 1.13x faster step, more than an epoch of NCBI-disease saves.
    """
    if mode == "off":
        return Choice.off()
    if not packed:
        return Choice.off("needs packing (unpacked batch widths vary)")
    if planned_steps < MIN_COMPILE_STEPS:
        return Choice.off(
            f"only {planned_steps} planned steps (< {MIN_COMPILE_STEPS}); would not repay"
        )
    if mode == "auto" and device_type != "cuda":
        return Choice.off(
            "auto compiles on CUDA only (on CPU compile time was not repaid; use compile: on)"
        )
    if mode == "auto" and planned_steps < AUTO_COMPILE_STEPS:
        return Choice.off(f"auto: {planned_steps} planned steps (< {AUTO_COMPILE_STEPS})")
    return Choice(True, "on")


def dropout_choice(mode: str, device_type: str, compiled: bool) -> Choice:
    """Hparam ``dropout_sampler``: ``vector`` (``auto`` or ``vector`` on CPU) or ``torch`` /
    ``torch (<why>)``."""
    if mode not in DROPOUT_SAMPLERS:
        raise ValueError(f"dropout_sampler must be one of {DROPOUT_SAMPLERS}, not {mode!r}")
    if mode == "torch":
        return Choice(False, "torch")
    if device_type != "cpu":
        return Choice.off(f"{device_type}: its sampler is parallel", name="torch")
    if compiled:
        return Choice.off("compiled step: inductor draws and fuses the masks", name="torch")
    return Choice(True, "vector")


# --------------------------------------------------------------------------- the plan


@dataclass(frozen=True)
class SpeedPlan:
    """The resolved speed choices of one run and what they built."""

    packing: Choice
    packer: Packer | None  # None: length-grouped batches
    pack_length: int | None  # packed row length (None when not packing)
    padding_fraction: float  # share of padding positions in epoch 1 with the chosen layout
    lora_forward: Choice
    compile: Choice
    step_model: torch.nn.Module  # what the packed training step calls (compiled or not)
    dropout_sampler: Choice

    def cost_fields(self, compile_time_s: float | None) -> dict[str, Any]:
        """cost.json's speed fields, in its order."""
        return {
            "packing": self.packing.note,
            "pack_length": self.pack_length,
            "padding_fraction_epoch1": round(self.padding_fraction, 4),
            "compile": self.compile.note,
            "compile_time_s": compile_time_s,
            "dropout_sampler": self.dropout_sampler.note,
            "lora_forward": self.lora_forward.note,
        }


def resolve_speed(
    method: Method,
    bundle: Bundle,
    args: TrainingArgs,
    *,
    lengths: Sequence[int],
    seed: int,
    total_steps: int,
) -> SpeedPlan:
    """Decide every speed choice for a run and apply it to ``bundle`` (its packer, used by dev
    prediction too; fused LoRA layers; vector dropout modules); logs why a choice is off.

    ``lengths``: the training features' lengths; ``seed``: the run's (first epoch's layout).
    """
    device = bundle.device
    packer, packing, pack_length, padding = _packing(method, bundle, args, lengths, seed)
    bundle.packer = packer
    fused = fuse_lora(bundle.model) if args.lora_forward != "peft" else 0
    if fused:
        log.info("LoRA updates added inside one product (%d layers)", fused)
    lora = lora_choice(args.lora_forward, fused)
    compiled = compile_choice(args.compile, packer is not None, device.type, total_steps)
    step_model = bundle.model
    if compiled.on:
        log.info("compiling the training step (torch.compile; first step includes compile)")
        step_model = torch.compile(bundle.model)
    elif compiled.reason is not None:
        log.warning("compile off (%s)", compiled.reason)
    dropout = dropout_choice(args.dropout_sampler, device.type, compiled.on)
    if dropout.on:
        swapped = use_vector_dropout(bundle.model)
        log.info("dropout masks drawn by the vector sampler (%d modules)", swapped)
    return SpeedPlan(
        packing=packing,
        packer=packer,
        pack_length=pack_length,
        padding_fraction=padding,
        lora_forward=lora,
        compile=compiled,
        step_model=step_model,
        dropout_sampler=dropout,
    )


def _packing(
    method: Method, bundle: Bundle, args: TrainingArgs, lengths: Sequence[int], seed: int
) -> tuple[Packer | None, Choice, int | None, float]:
    """The packer (None: length-grouped batches), the choice, the row length and the share of
    padding positions the first epoch computes with the chosen layout."""
    batches = epoch_batches(lengths, args.batch_size, seed, 0, args.mega_batch_mult)
    grouped = padding_fraction(batches, lengths)
    if args.packing == "off":
        return None, packing_choice("off", None, grouped), None, grouped
    row = args.pack_length or bundle.max_length
    if row < bundle.max_length:
        raise InputError(
            f"hparam 'pack_length' {row} is shorter than the window length "
            f"{bundle.max_length} (max_length); raise it or leave it null"
        )
    got = method.packer(bundle, row)
    choice = packing_choice(args.packing, got if isinstance(got, str) else None, grouped)
    if not choice.on:
        log.warning("packing off (%s); length-grouped batches instead", choice.reason)
        return None, choice, None, grouped
    rows = sum(len(plan_rows([lengths[i] for i in b], row)) for b in batches)
    padding = 1.0 - sum(lengths) / (rows * row)
    log.info(
        "packing on: rows of %d sub-tokens, %.2f windows per row, %.1f %% padding "
        "(length grouping: %.1f %%)",
        row,
        len(lengths) / rows,
        100 * padding,
        100 * grouped,
    )
    return got, choice, row, padding
