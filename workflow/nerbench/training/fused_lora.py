"""LoRA forward with the adapter's update added inside one product (hparam ``lora_forward``).

PEFT's ``lora.Linear`` computes ``result = base(x) + lora_B(lora_A(dropout(x))) * scaling``:
besides the two skinny products it makes two elementwise passes over the full output width
(the scaling and the add) and, in backward, a third (the gradient times the scaling). On the
2-core AVX2 development VM (2026-12-02, fourth session, ``benchmarks/profile_step.py``) the
scalar multiplications of the MLP's outputs (8/3 times as wide as the model) alone were 5.5 %
of a LoRA labeler step and their adds 2.4 %; fused, the step ran 1.035x faster
(``benchmarks/bench_steps.py``).

:class:`FusedLoraLinear` computes the same sum as ``base(x).addmm_(s * lora_A(dropout(x)),
lora_B.weight.T)``: the scaling moves to the rank-``r`` side (``r`` columns instead of the
output's width) and the add happens inside the product, in place in the base layer's output,
so no full-width elementwise pass is left in forward or backward (``addmm``'s backward skips
multiplying by ``beta = alpha = 1``). Under autocast (or mixed dtypes) it is the out-of-place
``torch.addmm``, which autocast casts; that copies the base output once.
The same math up to float rounding (``tests/test_fused_lora.py``: forward and gradients match
PEFT's within fp32 tolerance).

Only the instance's class changes (:func:`fuse_lora`): parameters, state-dict keys,
``scaling``, merging and saving stay PEFT's. Anything but a plain single-adapter LoRA on an
``nn.Linear`` -- merged or disabled adapters, variants (DoRA ...), LoRA biases, mixed-adapter
batches, quantized base layers (other classes) -- runs PEFT's own forward.
"""

from __future__ import annotations

from typing import Any

import torch
from peft.tuners.lora.layer import Linear as LoraLinear


class FusedLoraLinear(LoraLinear):
    """PEFT ``lora.Linear`` whose plain single-adapter forward is one ``addmm``."""

    def forward(self, x: torch.Tensor, *args: Any, **kwargs: Any) -> torch.Tensor:
        adapter = self._fusable_adapter(args, kwargs)
        if adapter is None:
            return super().forward(x, *args, **kwargs)
        self._check_forward_args(x)
        lead = x.shape[:-1]
        x = x.reshape(-1, x.shape[-1])  # 2D throughout: an in-place op on a view would copy
        result = self.base_layer(x)  # in backward (autograd's CopySlices)
        lora_a, lora_b = self.lora_A[adapter], self.lora_B[adapter]
        x = self._cast_input_dtype(x, lora_a.weight.dtype)
        low = lora_a(self.lora_dropout[adapter](x)) * self.scaling[adapter]
        weight = lora_b.weight.t()
        in_place = result.dtype == low.dtype == weight.dtype and not torch.is_autocast_enabled(
            result.device.type
        )
        if in_place:  # into the base layer's output (nn.Linear keeps no output for backward)
            out = result.addmm_(low, weight)
        else:  # autocast or mixed dtypes: autocast casts addmm; it copies the base output once
            out = torch.addmm(result, low, weight).to(result.dtype)
        return out.view(*lead, out.shape[-1])

    def _fusable_adapter(self, args: tuple, kwargs: dict) -> str | None:
        """The one active plain adapter, or None where PEFT's forward must run."""
        if args or kwargs or self.disable_adapters or self.merged:
            return None
        active = [a for a in self.active_adapters if a in self.lora_A.keys()]
        if len(active) != 1 or active[0] in self.lora_variant:
            return None
        lora_a, lora_b = self.lora_A[active[0]], self.lora_B[active[0]]
        plain = type(lora_a) is torch.nn.Linear and type(lora_b) is torch.nn.Linear
        if not plain or lora_a.bias is not None or lora_b.bias is not None:
            return None
        return active[0]


def fuse_lora(model: torch.nn.Module) -> int:
    """Turn every PEFT ``lora.Linear`` of ``model`` (that exact class) into a
    :class:`FusedLoraLinear`; returns how many."""
    layers = [m for m in model.modules() if type(m) is LoraLinear]
    for layer in layers:
        layer.__class__ = FusedLoraLinear
    return len(layers)
