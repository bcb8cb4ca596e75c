"""LoRA settings; each decoder method's defaults are declared with its registration
(``lora=`` in :mod:`nerbench.methods.registry`).

Light (no torch): :mod:`nerbench.hparams` derives the help text of ``lora_r``, ``lora_alpha`` and
``lora_dropout`` from :func:`lora_defaults`, and the methods take their defaults from it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from nerbench.io import InputError


@dataclass(frozen=True)
class LoraSettings:
    """LoRA hyperparameters; ``r == 0`` means full fine-tuning (no adapters)."""

    r: int
    alpha: int
    dropout: float

    @classmethod
    def from_args(cls, args: Any, defaults: LoraSettings) -> LoraSettings:
        """Take ``lora_r``/``lora_alpha``/``lora_dropout`` from ``args``; ``None`` = default."""

        def pick(key: str, default: Any) -> Any:
            value = getattr(args, key, None)
            return default if value is None else value

        settings = cls(
            r=int(pick("lora_r", defaults.r)),
            alpha=int(pick("lora_alpha", defaults.alpha)),
            dropout=float(pick("lora_dropout", defaults.dropout)),
        )
        if settings.r < 0 or settings.alpha <= 0 or not 0 <= settings.dropout < 1:
            raise InputError(
                f"invalid LoRA settings {settings} (hparams 'lora_r' >= 0, 'lora_alpha' > 0, "
                "0 <= 'lora_dropout' < 1)"
            )
        return settings


def lora_defaults() -> dict[str, LoraSettings]:
    """Method name -> its LoRA settings where the hparams are null (the methods registered
    with ``lora=``)."""
    from nerbench.methods.registry import METHODS

    return {n: METHODS.meta(n)["lora"] for n in METHODS if "lora" in METHODS.meta(n)}


def defaults_text(setting: str) -> str:
    """One setting's default per method, for help text: ``labeler 16, generative 128``."""
    return ", ".join(f"{method} {getattr(s, setting)}" for method, s in lora_defaults().items())
