"""Dropout with vectorised mask sampling on CPU (hparam ``dropout_sampler``).

On a CPU, ``torch.nn.functional.dropout`` draws its mask with a serial Bernoulli sampler (one
Mersenne-Twister draw per element, one thread). Profiled on the 2-core AVX2 development VM
(2026-12-02), that sampler was 16 % of a LoRA labeler step (``aten::bernoulli_``; 43 dropout
calls per step: one per LoRA module, as PEFT puts a dropout in front of every adapter) and the
whole dropout about 25 % (the step ran 1.3x faster with dropout off). :class:`VectorDropout`
draws the same distribution -- each element kept with probability ``1 - p`` and scaled by
``1 / (1 - p)``, as ``nn.Dropout`` -- from NumPy's SFC64 generator (raw 32-bit words against
an integer threshold, :func:`keep_mask`; 3.7x faster than torch's sampler and 1.5x faster than
comparing float32 uniforms, ``benchmarks/bench_dropout.py``), on the calling thread. (Drawing
in two chunks on a thread pool was slower in the step: torch's idle OpenMP workers still spin on
the cores the pool needs.)

Reproducible: each call takes its 64-bit seed from torch's default CPU generator, so
``torch.manual_seed`` and a checkpoint's saved RNG state fix every mask exactly as they fix
torch's own, on every machine. The masks differ from torch's (another generator), as a
different seed would.

Only the modules are swapped (:func:`use_vector_dropout`): an ``nn.Dropout`` subclass keeps
``p``, so code that reads ``module.p`` (BERT passes its attention dropout to SDPA as
``dropout_p``) sees the same value; dropout inside fused kernels is left to torch. Off CPU, and
in eval mode, it is ``nn.Dropout``. When the sampler runs is a rule of the speed policy
(:func:`nerbench.training.speed.dropout_choice`).
"""

from __future__ import annotations

import numpy as np
import torch

#: profiler label of the mask sampling (``benchmarks/profile_step.py`` counts it)
MASK_RECORD = "nerbench::vector_dropout_mask"


def keep_threshold(keep: float) -> int:
    """``round(keep * 2**32)``: a uniform 32-bit word below it has probability ``keep`` up to
    2**-33 (finer than float32 uniforms, whose resolution is 2**-24)."""
    if not 0.0 <= keep <= 1.0:
        raise ValueError(f"keep probability must be in [0, 1], not {keep}")
    return round(keep * 2**32)


def keep_mask(shape: torch.Size, keep: float, seed: int) -> torch.Tensor:
    """Bool tensor of ``shape``: True with probability ``keep``, a pure function of ``seed``.

    Each element is one 32-bit half of SFC64's raw 64-bit output compared with
    :func:`keep_threshold` -- one raw draw per two elements and no float conversion."""
    n = int(np.prod(shape, dtype=np.int64))
    threshold = keep_threshold(keep)
    if threshold >= 2**32:  # keep everything (a uint32 cannot hold the threshold)
        return torch.ones(shape, dtype=torch.bool)
    words = np.random.SFC64(seed).random_raw((n + 1) // 2).view(np.uint32)[:n]
    # a uint32 threshold: a wider one makes NumPy widen every word first (1.8x slower)
    return torch.from_numpy(np.less(words, np.uint32(threshold))).view(shape)


def _masked_scale(x: torch.Tensor, mask: torch.Tensor, scale: float) -> torch.Tensor:
    """``where(mask, x, 0) * scale``, the zero a 0-dim tensor of ``x``'s dtype (a Python ``0.0``
    was 1.04x slower, ``benchmarks/bench_dropout.py``; multiplying by the bool mask is slower
    still)."""
    return torch.where(mask, x, x.new_zeros(())).mul_(scale)


class _MaskedScale(torch.autograd.Function):
    """``x * mask * scale`` saving only the bool mask for backward (as ``native_dropout``)."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, mask: torch.Tensor, scale: float) -> torch.Tensor:
        ctx.save_for_backward(mask)
        ctx.scale = scale
        return _masked_scale(x, mask, scale)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        (mask,) = ctx.saved_tensors
        return _masked_scale(grad, mask, ctx.scale), None, None


class VectorDropout(torch.nn.Dropout):
    """``nn.Dropout`` whose CPU training masks come from :func:`keep_mask`."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0 or x.device.type != "cpu" or x.numel() == 0:
            return super().forward(x)
        if self.p == 1:
            return x * 0.0
        seed = int(torch.randint(0, 2**63 - 1, (1,)).item())
        keep = 1.0 - self.p
        with torch.profiler.record_function(MASK_RECORD):
            mask = keep_mask(x.shape, keep, seed)
        return _MaskedScale.apply(x, mask, 1.0 / keep)


def use_vector_dropout(model: torch.nn.Module) -> int:
    """Replace every plain ``nn.Dropout`` in ``model`` by a :class:`VectorDropout` of the same
    ``p``; returns how many were replaced."""
    swaps = [
        (parent, name, child)
        for parent in model.modules()
        for name, child in parent.named_children()
        if type(child) is torch.nn.Dropout
    ]
    for parent, name, child in swaps:
        new = VectorDropout(child.p, child.inplace)
        new.train(child.training)
        setattr(parent, name, new)
    return len(swaps)
