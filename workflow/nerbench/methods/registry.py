"""The training methods: the one declaration of every ``method`` a model or run group may name.

Each entry is a ``"module:ClassName"`` string naming a :class:`nerbench.methods.base.Method`
subclass, imported on first use only (:func:`nerbench.methods.base.get_method`), so a missing
optional module never breaks the others and this module stays importable without torch. From it
come the ``method`` enums of ``workflow/schemas/models.schema.yaml`` and ``study.schema.yaml``
(injected by :func:`nerbench.config.load_schema`); ``docs/methods.md`` describes each one (a test
keeps the two in step).
"""

from __future__ import annotations

from nerbench.methods.lora_settings import LoraSettings
from nerbench.registry import Registry

METHODS: Registry[str] = Registry("method")

# ``lora``: the method's LoRA settings where the hparams lora_r/lora_alpha/lora_dropout are null
METHODS.add("token-classification", "nerbench.methods.encoder:TokenClassificationMethod")
METHODS.add(
    "labeler",
    "nerbench.methods.labeler:LabelerMethod",
    lora=LoraSettings(r=16, alpha=32, dropout=0.1),
)
METHODS.add(
    "generative",
    "nerbench.methods.generative:GenerativeMethod",
    lora=LoraSettings(r=128, alpha=256, dropout=0.05),
)
