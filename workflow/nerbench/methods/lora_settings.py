"""LoRA settings and the decoder methods' defaults, declared once.

Light (no torch): :mod:`nerbench.hparams` derives the help text of ``lora_r``, ``lora_alpha`` and
``lora_dropout`` from :data:`LORA_DEFAULTS`, and the methods take their defaults from it.
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


#: method name -> its LoRA settings where the hparams are null
LORA_DEFAULTS: dict[str, LoraSettings] = {
    "labeler": LoraSettings(r=16, alpha=32, dropout=0.1),
    "generative": LoraSettings(r=128, alpha=256, dropout=0.05),
}


def defaults_text(setting: str) -> str:
    """One setting's default per method, for help text: ``labeler 16, generative 128``."""
    return ", ".join(f"{method} {getattr(s, setting)}" for method, s in LORA_DEFAULTS.items())
