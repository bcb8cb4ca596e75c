"""Training hyperparameters: one dataclass with types, defaults and help text."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from nerbench.io import InputError

SCHEDULERS = ("linear", "cosine", "constant")
PRECISIONS = ("auto", "fp32", "bf16")


@dataclass
class TrainingArgs:
    """Training hyperparameters (``hparams`` of the run slice); missing keys take these defaults.

    Defaults follow Hugging Face ``run_ner.py`` where one exists.
    """

    learning_rate: float = 5e-5
    batch_size: int = 16
    epochs: int = 3
    max_steps: int | None = None  # optimizer steps; overrides epochs when set
    warmup_ratio: float = 0.0
    weight_decay: float = 0.0
    scheduler: str = "linear"  # linear | cosine | constant
    grad_accum: int = 1
    max_length: int | None = None  # None = the model's max_length from models.tsv
    stride: int = 32  # sub-token overlap of prediction windows
    eval_every: int = 0  # optimizer steps between dev evaluations; 0 = each epoch
    save_every: int = 500  # optimizer steps between checkpoints; 0 = only at epoch ends
    patience: int = 3  # evaluations without dev-F1 improvement before stopping; 0 = never stop
    precision: str = "auto"  # auto | fp32 | bf16
    train_limit: int | None = None  # first N sentences of each training file (smoke runs)
    eval_limit: int | None = None  # first N sentences of each dev file
    eval_batch_size: int | None = None  # None = 2 * batch_size
    max_grad_norm: float = 1.0
    logging_steps: int = 10
    mega_batch_mult: int = 50  # length grouping: sort within mega-batches of batch_size * this
    # decoder methods (ignored by encoders)
    lora_r: int | None = None  # None = the method's default (labeler 16, generative 128)
    lora_alpha: int | None = None  # None = the method's default (labeler 32, generative 256)
    lora_dropout: float | None = None  # None = the method's default (labeler 0.1, generative 0.05)
    quantization: str | None = None  # None = the model's quantization from models.tsv
    gradient_checkpointing: bool = False
    instruction: str | None = None
    mixture_sampling: str | None = None
    max_new_tokens: int | None = None
    dbr_ratio: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)  # unknown keys, kept for methods

    @classmethod
    def from_hparams(cls, hparams: dict[str, Any] | None, where: str = "hparams") -> TrainingArgs:
        """Build from a run slice's ``hparams``; wrong types are an :class:`InputError`."""
        hparams = dict(hparams or {})
        known = {f.name: f for f in dataclasses.fields(cls) if f.name != "extra"}
        kwargs: dict[str, Any] = {}
        extra: dict[str, Any] = {}
        for key, value in hparams.items():
            if key not in known:
                extra[key] = value
                continue
            kwargs[key] = _coerce_hparam(key, value, cls.__dataclass_fields__[key].default, where)
        args = cls(**kwargs, extra=extra)
        args.validate(where)
        return args

    def validate(self, where: str = "hparams") -> None:
        checks = [
            (self.learning_rate > 0, "learning_rate", "must be > 0"),
            (self.batch_size >= 1, "batch_size", "must be >= 1"),
            (self.epochs >= 1 or (self.max_steps or 0) > 0, "epochs", "must be >= 1"),
            (self.grad_accum >= 1, "grad_accum", "must be >= 1"),
            (0 <= self.warmup_ratio < 1, "warmup_ratio", "must be in [0, 1)"),
            (self.scheduler in SCHEDULERS, "scheduler", f"must be one of {SCHEDULERS}"),
            (self.precision in PRECISIONS, "precision", f"must be one of {PRECISIONS}"),
            (self.stride >= 0, "stride", "must be >= 0"),
            (self.eval_every >= 0, "eval_every", "must be >= 0"),
            (self.save_every >= 0, "save_every", "must be >= 0"),
            (self.patience >= 0, "patience", "must be >= 0"),
        ]
        for ok, key, msg in checks:
            if not ok:
                raise InputError(f"hparam '{key}' {msg} (got {getattr(self, key, '?')!r})", where)


_HPARAM_TYPES: dict[str, type] = {
    "learning_rate": float,
    "warmup_ratio": float,
    "weight_decay": float,
    "max_grad_norm": float,
    "lora_dropout": float,
    "dbr_ratio": float,
    "gradient_checkpointing": bool,
}


def _coerce_hparam(key: str, value: Any, default: Any, where: str) -> Any:
    """Convert ``value`` to the type of the field (int fields accept integral floats)."""
    if value is None:
        return None
    kind = _HPARAM_TYPES.get(key) or (type(default) if default is not None else None)
    if kind is None:
        kind = str if key in ("quantization", "instruction", "mixture_sampling") else int
    try:
        if kind is bool:
            if isinstance(value, str):
                return value.strip().lower() in ("1", "true", "yes")
            return bool(value)
        if kind is int:
            if isinstance(value, bool) or float(value) != int(float(value)):
                raise ValueError
            return int(float(value))
        if kind is float:
            return float(value)
        return str(value)
    except (TypeError, ValueError):
        raise InputError(f"hparam '{key}' has an invalid value {value!r}", where) from None
