"""Training hyperparameters, declared once: the :class:`TrainingArgs` dataclass.

Each field carries its type (the annotation), its default and, in the style of Hugging Face
``run_ner.py``, ``metadata={"help": ...}`` plus its constraints: ``minimum``, ``exclusive_minimum``,
``maximum``, ``exclusive_maximum``, ``choices`` or ``pattern`` (``pattern_help`` says it in words).
Everything else is derived from it:

* the study schema's hparams (``$defs/hparams`` of ``workflow/schemas/study.schema.yaml``):
  :func:`hparams_schema` generates it and :func:`nerbench.config.load_schema` puts it into the
  study schema at load time, so the YAML file holds only a placeholder and cannot disagree with
  the fields (``tests/test_hparams.py`` checks the loaded schema against the fields all the same);
* the value check when the workflow plans: :func:`check_hparams`, which
  :func:`nerbench.plan.study.expand_runs` runs on every grid point (an error names the study file,
  run group, model and key), and the same check when a training job reads its ``run.json``
  (:meth:`TrainingArgs.from_hparams`);
* ``python -m nerbench hparams`` and the epilog of ``python -m nerbench train --help``;
* the table under "Hyperparameters" in docs/configuration.md (:func:`markdown_table`; a test checks
  that the file holds exactly this rendering).

A run's config slice holds only the hparams its study writes, never these defaults, so a default
changed here changes no run_id; it silently changes what finished runs would mean, so don't.
"""

from __future__ import annotations

import argparse
import dataclasses
import re
import sys
import types
import typing
from dataclasses import dataclass, field
from typing import Any

from nerbench.io import InputError
from nerbench.methods.lora_settings import defaults_text as lora_defaults_text

SCHEDULERS = ("linear", "cosine", "constant")
PRECISIONS = ("auto", "fp32", "bf16")
QUANTIZATIONS = ("none", "4bit", "8bit")
INSTRUCTIONS = ("dataset", "type")
ATTN_IMPLEMENTATIONS = ("sdpa", "eager")
PACKING = ("off", "on", "auto")
COMPILE = ("off", "on", "auto")
DROPOUT_SAMPLERS = ("auto", "torch", "vector")
LORA_FORWARDS = ("fused", "peft")
# comma-separated module leaf names, e.g. "q_proj,v_proj"
LORA_TARGETS_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]*(,[A-Za-z_][A-Za-z0-9_]*)*$"
# 'concat', or 'temperature:<T>' with T a positive decimal number
MIXTURE_PATTERN = r"^(concat|temperature:(0*[1-9][0-9]*(\.[0-9]*)?|0*\.[0-9]*[1-9][0-9]*))$"

# metadata keys of a field -> JSON-schema keywords
_BOUNDS = {
    "minimum": ("minimum", ">="),
    "exclusive_minimum": ("exclusiveMinimum", ">"),
    "maximum": ("maximum", "<="),
    "exclusive_maximum": ("exclusiveMaximum", "<"),
}
_JSON_TYPES = {bool: "boolean", int: "integer", float: "number", str: "string"}
_NOUNS = {bool: "true or false", int: "an integer", float: "a number", str: "a string"}


@dataclass
class TrainingArgs:
    """Training hyperparameters: a study's ``hparams``; missing keys take these defaults.

    Defaults follow Hugging Face ``run_ner.py`` where one exists.
    """

    learning_rate: float = field(
        default=5e-5, metadata={"help": "AdamW peak learning rate.", "exclusive_minimum": 0}
    )
    batch_size: int = field(
        default=16, metadata={"help": "Training sentences (windows) per step.", "minimum": 1}
    )
    epochs: int = field(
        default=3, metadata={"help": "Passes over the training data.", "minimum": 1}
    )
    max_steps: int | None = field(
        default=None,
        metadata={"help": "Optimizer steps; overrides `epochs` when set.", "minimum": 1},
    )
    warmup_ratio: float = field(
        default=0.0,
        metadata={
            "help": "Fraction of the steps with a linear warm-up.",
            "minimum": 0,
            "exclusive_maximum": 1,
        },
    )
    weight_decay: float = field(default=0.0, metadata={"help": "AdamW weight decay.", "minimum": 0})
    scheduler: str = field(
        default="linear", metadata={"help": "Learning-rate schedule.", "choices": SCHEDULERS}
    )
    grad_accum: int = field(
        default=1,
        metadata={"help": "Gradient accumulation steps per optimizer step.", "minimum": 1},
    )
    max_length: int | None = field(
        default=None,
        metadata={
            "help": "Sub-tokens per window; null = the model's `max_length` (models.tsv).",
            "minimum": 1,
        },
    )
    stride: int = field(
        default=32, metadata={"help": "Sub-token overlap of prediction windows.", "minimum": 0}
    )
    eval_every: int = field(
        default=0,
        metadata={"help": "Optimizer steps between dev evaluations; 0 = each epoch.", "minimum": 0},
    )
    save_every: int = field(
        default=500,
        metadata={"help": "Optimizer steps between checkpoints; 0 = at epoch ends.", "minimum": 0},
    )
    keep_checkpoints: bool = field(
        default=False,
        metadata={
            "help": "Keep the step checkpoints of a finished run (default: removed once model/ "
            "and cost.json are written; they hold the optimizer state, ~8x the model).",
            "execution_only": True,
        },
    )
    patience: int = field(
        default=3,
        metadata={
            "help": "Evaluations without dev-F1 gain before stopping; 0 = never stop.",
            "minimum": 0,
        },
    )
    precision: str = field(
        default="auto",
        metadata={
            "help": "Autocast precision; auto = bf16 where supported.",
            "choices": PRECISIONS,
        },
    )
    train_limit: int | None = field(
        default=None,
        metadata={"help": "First N sentences of each training file (smoke runs).", "minimum": 1},
    )
    eval_limit: int | None = field(
        default=None, metadata={"help": "First N sentences of each dev file.", "minimum": 1}
    )
    eval_batch_size: int | None = field(
        default=None,
        metadata={
            "help": "Sentences per dev-evaluation batch; null = twice `batch_size`.",
            "minimum": 1,
        },
    )
    max_grad_norm: float = field(
        default=1.0, metadata={"help": "Gradient-norm clipping; 0 = no clipping.", "minimum": 0}
    )
    logging_steps: int = field(
        default=10,
        metadata={"help": "Optimizer steps between train_log.jsonl records.", "minimum": 1},
    )
    mega_batch_mult: int = field(
        default=50,
        metadata={
            "help": "Length grouping: sort within mega-batches of `batch_size` times this.",
            "minimum": 1,
        },
    )
    packing: str = field(
        default="off",
        metadata={
            "help": (
                "Pack several windows per row with block-diagonal attention (same examples per "
                "step); auto = only where length-grouped batches pad >= 15 %. A model that "
                "cannot pack falls back to length grouping (reason in cost.json)."
            ),
            "choices": PACKING,
            "execution_only": True,
        },
    )
    pack_length: int | None = field(
        default=None,
        metadata={
            "help": "Packed row length in sub-tokens (>= the window length); null = the window "
            "length.",
            "minimum": 1,
            "execution_only": True,
        },
    )
    compile: str = field(
        default="off",
        metadata={
            "help": (
                "torch.compile the packed training step (needs packing); auto = on CUDA with "
                ">= 2000 planned steps; never under 200 steps. Compile time is in cost.json."
            ),
            "choices": COMPILE,
            "execution_only": True,
        },
    )
    dropout_sampler: str = field(
        default="auto",
        metadata={
            "help": (
                "How dropout masks are drawn in training (same Bernoulli(1 - p) masks, another "
                "generator): vector = NumPy SFC64, drawing 3.7x faster than torch's serial "
                "CPU sampler; auto = vector on CPU (torch on GPUs and in compiled steps)."
            ),
            "choices": DROPOUT_SAMPLERS,
            "execution_only": True,
        },
    )
    lora_forward: str = field(
        default="fused",
        metadata={
            "help": (
                "How a LoRA layer adds its update in training: fused = inside one addmm, the "
                "scaling on the rank-r side (PEFT's math without its full-width elementwise "
                "passes); peft = PEFT's own forward. Other LoRA kinds always run PEFT's."
            ),
            "choices": LORA_FORWARDS,
            "execution_only": True,
        },
    )
    # decoder methods (ignored by encoders)
    lora_r: int | None = field(
        default=None,
        metadata={
            "help": f"LoRA rank, 0 = none; null = the method's ({lora_defaults_text('r')}).",
            "minimum": 0,
        },
    )
    lora_alpha: int | None = field(
        default=None,
        metadata={
            "help": f"LoRA alpha; null = the method's ({lora_defaults_text('alpha')}).",
            "minimum": 1,
        },
    )
    lora_dropout: float | None = field(
        default=None,
        metadata={
            "help": f"LoRA dropout; null = the method's ({lora_defaults_text('dropout')}).",
            "minimum": 0,
            "exclusive_maximum": 1,
        },
    )
    lora_targets: str | None = field(
        default=None,
        metadata={
            "help": "LoRA target modules (leaf names, comma-separated: q_proj,v_proj); null = "
            "every linear layer but the head.",
            "pattern": LORA_TARGETS_PATTERN,
            "pattern_help": "module names separated by commas",
            "fingerprint_if_set": True,
        },
    )
    quantization: str | None = field(
        default=None,
        metadata={
            "help": "Base-model quantization; null = the model's in models.tsv.",
            "choices": QUANTIZATIONS,
        },
    )
    gradient_checkpointing: bool = field(
        default=False, metadata={"help": "Recompute activations in the backward pass."}
    )
    instruction: str | None = field(
        default=None,
        metadata={
            "help": "Labeler prompt: name the dataset or only the entity types; null = dataset.",
            "choices": INSTRUCTIONS,
        },
    )
    mixture_sampling: str | None = field(
        default=None,
        metadata={
            "help": "Labeler: how the training datasets are mixed; null = concat.",
            "pattern": MIXTURE_PATTERN,
            "pattern_help": "concat or temperature:T with T > 0",
        },
    )
    attn_implementation: str | None = field(
        default=None,
        metadata={
            "help": "Labeler attention kernel; null = sdpa.",
            "choices": ATTN_IMPLEMENTATIONS,
        },
    )
    max_new_tokens: int | None = field(
        default=None,
        metadata={"help": "Generative decoding budget per sentence; null = 1024.", "minimum": 1},
    )
    dbr_ratio: float | None = field(
        default=None, metadata={"help": "Reserved; no method reads it yet.", "minimum": 0}
    )
    extra: dict[str, Any] = field(
        default_factory=dict,
        metadata={"help": "Unknown keys of a run.json, kept for methods (not a study key)."},
    )

    @classmethod
    def from_hparams(cls, hparams: dict[str, Any] | None, where: str = "hparams") -> TrainingArgs:
        """Build from a run slice's ``hparams``; a wrong type or value is an :class:`InputError`.

        Lenient on types as JSON round trips need (``"5e-5"``, ``16.0``); unknown keys go to
        :attr:`extra`. :func:`check_hparams` is the strict form used when the workflow plans.
        """
        hparams = dict(hparams or {})
        known = {f.name: f for f in fields()}
        kwargs: dict[str, Any] = {}
        extra: dict[str, Any] = {}
        for key, value in hparams.items():
            if key not in known:
                extra[key] = value
                continue
            kwargs[key] = _coerce(known[key], value, where)
        args = cls(**kwargs, extra=extra)
        args.validate(where)
        return args

    def result_defining(self) -> dict[str, Any]:
        """The fields that can change what a run computes: all but those marked
        ``execution_only`` (how it runs, e.g. whether checkpoints are kept). A resume checks
        these (:func:`nerbench.training.fingerprint.fingerprint_parts`), so adding or changing an
        execution-only field never discards a run's checkpoints. A field marked
        ``fingerprint_if_set`` (added after runs were made) is left out at its default, so adding
        it discards no checkpoint either."""
        skip = execution_only_fields()
        unset = {
            f.name
            for f in fields()
            if f.metadata.get("fingerprint_if_set") and getattr(self, f.name) == f.default
        }
        return {k: v for k, v in dataclasses.asdict(self).items() if k not in skip | unset}

    def validate(self, where: str = "hparams") -> None:
        """Every field within the constraints of its metadata."""
        for f in fields():
            problem = _violation(f, getattr(self, f.name))
            if problem:
                raise InputError(f"hparam '{f.name}' {problem}", where)


def without_execution_only(run_slice: dict[str, Any]) -> dict[str, Any]:
    """``run_slice`` without the execution-only hparams it sets: what its run_id and resume
    fingerprint hash, so setting such an option (``keep_checkpoints``) retrains nothing."""
    hp = run_slice.get("hparams")
    if not isinstance(hp, dict):
        return run_slice
    skip = execution_only_fields()
    return {**run_slice, "hparams": {k: v for k, v in hp.items() if k not in skip}}


def execution_only_fields() -> set[str]:
    """Hparams marked ``execution_only``: how a run is executed, not what it computes."""
    return {f.name for f in fields() if f.metadata.get("execution_only")}


# --------------------------------------------------------------------------- field introspection


def fields() -> list[dataclasses.Field]:
    """The hyperparameters: every field of :class:`TrainingArgs` but ``extra``."""
    return [f for f in dataclasses.fields(TrainingArgs) if f.name != "extra"]


def field_type(f: dataclasses.Field) -> tuple[type, bool]:
    """``(base type, nullable)`` of a field, from its annotation (``int | None``: int, True)."""
    hint = typing.get_type_hints(TrainingArgs)[f.name]
    args = typing.get_args(hint) if isinstance(hint, types.UnionType) else (hint,)
    base = [a for a in args if a is not type(None)]
    if len(base) != 1 or base[0] not in _JSON_TYPES:
        raise TypeError(f"TrainingArgs.{f.name}: unsupported annotation {hint}")
    return base[0], len(base) < len(args)


def describe(f: dataclasses.Field) -> str:
    """What a value of the field may be, in words: ``an integer >= 1, or null``."""
    kind, nullable = field_type(f)
    meta = f.metadata
    if "choices" in meta:
        text = "one of " + ", ".join(meta["choices"])
    elif "pattern" in meta:
        text = meta.get("pattern_help") or f"a string matching {meta['pattern']}"
    else:
        text = _NOUNS[kind]
        bounds = [f"{op} {meta[k]}" for k, (_, op) in _BOUNDS.items() if k in meta]
        if bounds:
            text += " " + " and ".join(bounds)
    if kind is float:
        text += " (write 1.0e-5, not 1e-5, which YAML reads as text)"
    if nullable:
        text += ", or null"
    return text


def _violation(f: dataclasses.Field, value: Any) -> str | None:
    """Why ``value`` (already of the field's type) breaks the field's constraints, or None."""
    kind, nullable = field_type(f)
    if value is None:
        return None if nullable else f"must be {describe(f)} (got null)"
    meta = f.metadata
    bad = "choices" in meta and value not in meta["choices"]
    bad |= "pattern" in meta and not re.fullmatch(meta["pattern"], str(value))
    for key, (_, op) in _BOUNDS.items():
        if key in meta:
            bound = meta[key]
            bad |= not {
                ">=": value >= bound,
                ">": value > bound,
                "<=": value <= bound,
                "<": value < bound,
            }[op]
    return f"must be {describe(f)} (got {value!r})" if bad else None


def _coerce(f: dataclasses.Field, value: Any, where: str) -> Any:
    """Convert ``value`` to the field's type (int fields accept integral floats)."""
    if value is None:
        return None
    kind, _ = field_type(f)
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
            if isinstance(value, bool):
                raise ValueError
            return float(value)
        return str(value)
    except (TypeError, ValueError, OverflowError):
        raise InputError(
            f"hparam '{f.name}' must be {describe(f)} (got {value!r})", where
        ) from None


def _type_ok(kind: type, value: Any) -> bool:
    """JSON-schema typing: bools are not numbers; an integral float is an integer."""
    if isinstance(value, bool):
        return kind is bool
    if kind is int:
        return isinstance(value, int) or (isinstance(value, float) and value.is_integer())
    if kind is float:
        return isinstance(value, int | float)
    return isinstance(value, kind)


# --------------------------------------------------------------------------- derived forms


def check_hparams(hparams: dict[str, Any], where: str) -> TrainingArgs:
    """Strict check of one run's hparams (no grid lists): every key known, every value valid.

    Errors name ``where`` (study file, run group, model) and the key.
    """
    known = {f.name: f for f in fields()}
    for key, value in hparams.items():
        if key not in known:
            raise InputError(f"unknown hparam '{key}'; known: {sorted(known)}", where)
        f = known[key]
        kind, nullable = field_type(f)
        if not (value is None and nullable) and not _type_ok(kind, value):
            raise InputError(f"hparam '{key}' must be {describe(f)} (got {value!r})", where)
    return TrainingArgs.from_hparams(hparams, where)


def value_schema(f: dataclasses.Field) -> dict[str, Any]:
    """JSON schema of one value of the field."""
    kind, nullable = field_type(f)
    schema: dict[str, Any] = {
        "type": [_JSON_TYPES[kind], "null"] if nullable else _JSON_TYPES[kind]
    }
    meta = f.metadata
    if "choices" in meta:
        schema["enum"] = [*meta["choices"], *([None] if nullable else [])]
    if "pattern" in meta:
        schema["pattern"] = meta["pattern"]
    for key, (keyword, _) in _BOUNDS.items():
        if key in meta:
            schema[keyword] = meta[key]
    schema["description"] = describe(f)
    return schema


def hparams_schema() -> dict[str, Any]:
    """The study schema's ``$defs/hparams``: per field a value or a list of them (a grid axis)."""
    props = {}
    for f in fields():
        one = value_schema(f)
        props[f.name] = {
            "title": f.metadata["help"],
            "description": f"{describe(f)}; or a list of them (a grid axis)",
            "anyOf": [one, {"type": "array", "items": one, "minItems": 1, "uniqueItems": True}],
        }
    return {"type": "object", "additionalProperties": False, "properties": props}


def _default_text(f: dataclasses.Field) -> str:
    if f.default is None:
        return "null"
    if isinstance(f.default, bool):
        return str(f.default).lower()
    return f"{f.default}"


def markdown_table() -> str:
    """The table of hyperparameters in docs/configuration.md (one row per field)."""
    rows = [
        "| hparam | default | allowed | meaning |",
        "|---|---|---|---|",
    ]
    for f in fields():
        allowed = describe(f).replace(" (write 1.0e-5, not 1e-5, which YAML reads as text)", "")
        allowed = allowed.replace("|", "\\|")
        rows.append(f"| `{f.name}` | `{_default_text(f)}` | {allowed} | {f.metadata['help']} |")
    return "\n".join(rows) + "\n"


def help_text() -> str:
    """Plain-text list of the hyperparameters (``nerbench hparams``, ``nerbench train --help``)."""
    lines = ["hyperparameters (a study's `hparams`, read from run.json):"]
    for f in fields():
        lines.append(f"  {f.name} (default {_default_text(f)}): {f.metadata['help']}")
        lines.append(f"      {describe(f)}")
    return "\n".join(lines)


def main_hparams(argv: list[str]) -> int:
    """``python -m nerbench hparams [--format text|markdown|schema]``."""
    import json

    ap = argparse.ArgumentParser(
        prog="nerbench hparams", description="List the training hyperparameters a study may set."
    )
    ap.add_argument("--format", default="text", choices=("text", "markdown", "schema"))
    a = ap.parse_args(argv)
    if a.format == "markdown":
        sys.stdout.write(markdown_table())
    elif a.format == "schema":
        sys.stdout.write(json.dumps(hparams_schema(), indent=2) + "\n")
    else:
        print(help_text())
    return 0
