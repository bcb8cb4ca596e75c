"""LoRA / QLoRA plumbing shared by the decoder methods (labeler and generative).

* LoRA adapters on every linear layer of the transformer (``lora_r``, ``lora_alpha``,
  ``lora_dropout``); the task head (``score`` for token classification) is fully trainable and
  saved with the adapter (``modules_to_save``).
* Quantization (hparam ``quantization`` or the ``quantization`` column of models.tsv): ``none``,
  ``4bit`` (NF4, double quantization, bf16 compute) or ``8bit`` via bitsandbytes. The head is kept
  out of quantization (``llm_int8_skip_modules``): a quantized head has integer weights, which
  cannot require gradients. A mode the installed backend cannot run on the device fails at once,
  naming the model and the config key, before any weights are loaded.
* Saved models hold adapters only (plus the head), never a copy of the base weights.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from nerbench.io import InputError
from nerbench.methods.lora_settings import LoraSettings

QUANT_MODES = ("none", "4bit", "8bit")
ADAPTER_WEIGHTS = ("adapter_model.safetensors", "adapter_model.bin")
FULL_WEIGHTS = ("model.safetensors", "pytorch_model.bin", "model.safetensors.index.json")
DTYPES = {"fp32": torch.float32, "float32": torch.float32, "bf16": torch.bfloat16,
          "bfloat16": torch.bfloat16, "fp16": torch.float16, "float16": torch.float16}  # fmt: skip


def hf_token() -> str | None:
    """The Hugging Face token for gated models, from ``$HF_TOKEN`` (never logged)."""
    return os.environ.get("HF_TOKEN") or None


def pretrained_kwargs(source: Any) -> dict[str, Any]:
    """``from_pretrained`` keyword arguments (revision, token) for a ModelSource."""
    try:
        from nerbench.methods.models import pretrained_kwargs as models_kwargs
    except ImportError:  # pragma: no cover - models.py is part of the package
        models_kwargs = None
    if models_kwargs is not None:
        return dict(models_kwargs(source))
    kwargs: dict[str, Any] = {}
    if getattr(source, "revision", None):
        kwargs["revision"] = source.revision
    if hf_token():
        kwargs["token"] = hf_token()
    return kwargs


def model_dtype(name: str | None, device: torch.device, quantization: str) -> torch.dtype:
    """Weight dtype for loading: ``auto`` is bf16 on CUDA with bf16 support, else fp32."""
    if quantization != "none":
        return torch.bfloat16 if device.type == "cuda" else torch.float32
    name = (name or "auto").lower()
    if name in DTYPES:
        return DTYPES[name]
    if device.type == "cuda" and torch.cuda.is_bf16_supported():
        return torch.bfloat16
    return torch.float32


def resolve_quantization(requested: str | None, source: Any) -> str:
    """The quantization mode: the hparam if set, else the model's models.tsv column."""
    where = "hparam 'quantization'" if requested else "models.tsv column 'quantization'"
    mode = (requested or getattr(source, "quantization", None) or "none").lower()
    if mode not in QUANT_MODES:
        raise InputError(
            f"model '{source.model_id}': {where} is '{mode}'; allowed: {', '.join(QUANT_MODES)}"
        )
    return mode


def check_quantization(mode: str, model_id: str, device: torch.device) -> None:
    """Fail now, naming model and config key, if ``mode`` cannot run on ``device``.

    Runs a tiny quantized linear layer on the device: this asks the installed bitsandbytes
    backend itself rather than guessing from version numbers.
    """
    if mode == "none":
        return
    hint = (
        f"model '{model_id}': quantization '{mode}' (hparam 'quantization' or models.tsv column "
        f"'quantization') cannot run on device '{device}'"
    )
    try:
        import bitsandbytes as bnb
    except Exception as e:  # noqa: BLE001 - any import failure means "unsupported"
        raise InputError(f"{hint}: bitsandbytes is not usable ({e}); set quantization: none") from e
    try:
        with torch.no_grad():
            if mode == "4bit":
                layer = bnb.nn.Linear4bit(
                    16, 16, bias=False, compute_dtype=torch.bfloat16, quant_type="nf4"
                )
            else:
                layer = bnb.nn.Linear8bitLt(16, 16, bias=False, has_fp16_weights=False)
            layer = layer.to(device)
            layer(torch.randn(2, 16, device=device))
    except Exception as e:  # noqa: BLE001 - report whatever the backend raised
        raise InputError(
            f"{hint}: bitsandbytes {getattr(bnb, '__version__', '?')} failed a probe "
            f"({type(e).__name__}: {e}); set quantization: none"
        ) from e


def bnb_config(mode: str, skip_modules: list[str]) -> Any:
    """A ``BitsAndBytesConfig`` for ``mode`` (None for ``none``); ``skip_modules`` stay float."""
    if mode == "none":
        return None
    from transformers import BitsAndBytesConfig

    if mode == "4bit":
        return BitsAndBytesConfig(
            load_in_4bit=True,
            bnb_4bit_quant_type="nf4",
            bnb_4bit_use_double_quant=True,
            bnb_4bit_compute_dtype=torch.bfloat16,
            llm_int8_skip_modules=list(skip_modules),
        )
    return BitsAndBytesConfig(load_in_8bit=True, llm_int8_skip_modules=list(skip_modules))


def load_kwargs(mode: str, device: torch.device, dtype: torch.dtype, skip: list[str]) -> dict:
    """``from_pretrained`` arguments for quantization mode ``mode`` on ``device``."""
    kwargs: dict[str, Any] = {"dtype": dtype}
    if mode != "none":
        kwargs["quantization_config"] = bnb_config(mode, skip)
        kwargs["device_map"] = {"": device}
    return kwargs


def set_cpu_weight_packing(model: torch.nn.Module, allow: bool) -> int:
    """Switch bitsandbytes' packed CPU format for 4-bit layers off (``allow=False``) or on where
    it can run (``allow=True``); return how many layers may pack.

    bitsandbytes 0.50 (``Linear4bit.forward``) repacks a 4-bit weight *in place* into an
    AVX512-BF16 layout on the first eval-mode forward without grad, when the CPU has avx512_bf16.
    That layout has no autograd path and needs ``out_features % 32 == 0``: training on it
    silently zeroes LoRA gradients or raises, and tiny shapes fail an assertion. The switch is
    the module's ``support_avx512bf16_for_cpu`` flag; a weight that is already packed is
    unpacked with bitsandbytes' own inverse. ``allow=True`` packs only layers whose shape the
    packed kernel accepts; non-CPU devices never pack. The workflow keeps packing off everywhere
    (:func:`use_run_kernel`).
    """
    try:
        import bitsandbytes as bnb
        from bitsandbytes.functional import _convert_weight_packed_for_cpu_inverse, has_avx512bf16
    except Exception:  # noqa: BLE001 - no bitsandbytes means no 4-bit layers
        return 0
    native = bool(allow and has_avx512bf16())
    packable = 0
    for module in model.modules():
        if not isinstance(module, bnb.nn.Linear4bit):
            continue
        state = getattr(module.weight, "quant_state", None)
        if not allow and state is not None and getattr(state, "packing_format_for_cpu", False):
            module.weight.data, module.weight.quant_state = _convert_weight_packed_for_cpu_inverse(
                module.weight.data, state
            )
        ok = native and cpu_packable(module) and module.weight.device.type == "cpu"
        module.support_avx512bf16_for_cpu = ok
        packable += ok
    return packable


def use_run_kernel(model: torch.nn.Module) -> None:
    """Put a model's 4-bit layers on the one CPU kernel a run uses for training, dev evaluation
    and test prediction: bitsandbytes' generic 4-bit path (packed format off, and undone).

    Training cannot run on the packed AVX512-BF16 layout (:func:`set_cpu_weight_packing`), so the
    dev evaluations between training steps, which select the model, run the generic kernel;
    test prediction runs it too, so a run's dev and test scores come from one kernel (the packed
    one's probabilities differ by up to 1.5e-3 on the same model and input: a near-tie can flip
    a tag). The base-model loaders call it, for training and for prediction alike.
    """
    set_cpu_weight_packing(model, allow=False)


def cpu_packable(module: torch.nn.Module) -> bool:
    """Whether bitsandbytes' packed CPU kernel accepts this 4-bit layer's shape (N % 32, K even),
    read from ``functional._convert_weight_packed_for_cpu`` (block_n 32)."""
    return module.out_features % 32 == 0 and module.in_features % 2 == 0


def linear_module_names(model: torch.nn.Module, exclude: tuple[str, ...] = ()) -> list[str]:
    """Sorted leaf names of all linear layers (incl. quantized ones) except ``exclude``."""
    names = set()
    for full_name, module in model.named_modules():
        leaf = full_name.rsplit(".", 1)[-1]
        if isinstance(module, torch.nn.Linear) and leaf not in exclude:
            names.add(leaf)
    return sorted(names)


def lora_target_modules(
    requested: str | None, model: torch.nn.Module, exclude: tuple[str, ...] = ()
) -> list[str]:
    """The hparam ``lora_targets`` (comma-separated leaf names), checked against the model's
    linear layers; null = every linear layer but ``exclude`` (:func:`linear_module_names`)."""
    available = linear_module_names(model, exclude)
    if not requested:
        return available
    names = [n for n in requested.split(",") if n]
    missing = sorted(set(names) - set(available))
    if missing:
        raise InputError(
            f"hparam 'lora_targets': the model has no linear layer named {missing}; "
            f"it has {available}"
        )
    return names


def enable_gradient_checkpointing(model: torch.nn.Module) -> None:
    """Non-reentrant activation checkpointing (works with frozen embeddings under LoRA)."""
    kwargs = {"use_reentrant": False}
    if hasattr(model, "activation_checkpointing_enable"):  # transformers >= 5
        model.activation_checkpointing_enable(activation_checkpointing_kwargs=kwargs)
    else:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs=kwargs)
    if hasattr(model.config, "use_cache"):
        model.config.use_cache = False


def add_lora(
    model: torch.nn.Module,
    lora: LoraSettings,
    *,
    task_type: str,
    target_modules: list[str],
    modules_to_save: list[str] | None,
    quantized: bool,
    gradient_checkpointing: bool,
) -> torch.nn.Module:
    """Wrap ``model`` with LoRA adapters (or, for ``r == 0``, leave it fully trainable)."""
    if quantized:
        from peft import prepare_model_for_kbit_training

        model = prepare_model_for_kbit_training(
            model,
            use_gradient_checkpointing=gradient_checkpointing,
            gradient_checkpointing_kwargs={"use_reentrant": False},
        )
    elif gradient_checkpointing:
        enable_gradient_checkpointing(model)
    if lora.r == 0:
        if quantized:
            raise InputError("hparam 'lora_r' is 0 (full fine-tuning) but the model is quantized")
        return model
    from peft import LoraConfig, get_peft_model

    config = LoraConfig(
        r=lora.r,
        lora_alpha=lora.alpha,
        lora_dropout=lora.dropout,
        target_modules=target_modules,
        modules_to_save=modules_to_save,
        task_type=task_type,
        bias="none",
    )
    return get_peft_model(model, config)


def is_peft(model: torch.nn.Module) -> bool:
    try:
        from peft import PeftModel
    except ImportError:  # pragma: no cover
        return False
    return isinstance(model, PeftModel)


def save_adapter(model: torch.nn.Module, out_dir: Path) -> None:
    """Save adapter weights (and ``modules_to_save``) only; refuse to write a full model."""
    if not is_peft(model):
        raise TypeError("save_adapter needs a PEFT model")
    out_dir = Path(out_dir)
    model.save_pretrained(out_dir)
    if not any((out_dir / name).is_file() for name in ADAPTER_WEIGHTS):
        raise RuntimeError(f"no adapter weights were written to {out_dir}")
    full = [name for name in FULL_WEIGHTS if (out_dir / name).exists()]
    if full:
        raise RuntimeError(f"{out_dir} unexpectedly holds full model weights: {full}")


def load_adapter(base: torch.nn.Module, adapter_dir: Path, merge: bool) -> torch.nn.Module:
    """Attach a saved adapter to ``base`` for inference; ``merge`` folds it into the weights."""
    from peft import PeftModel

    model = PeftModel.from_pretrained(base, str(adapter_dir), is_trainable=False)
    if merge:
        model = model.merge_and_unload()
    return model.eval()


def save_decoder_bundle(
    bundle: Any, out_dir: Path, method: str, info: dict[str, Any], metadata: dict | None
) -> None:
    """Save a decoder run: the adapter (or the full model when LoRA is off), tokenizer, labels
    and ``method.json`` holding ``metadata``, ``info`` and whether an adapter was saved."""
    from nerbench.methods.base import write_labels, write_method_file

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    adapter = is_peft(bundle.model)
    if adapter:
        save_adapter(bundle.model, out_dir)
    else:
        bundle.model.save_pretrained(out_dir)
    bundle.tokenizer.save_pretrained(out_dir)
    write_labels(out_dir, bundle.labels)
    info = {**info, "adapter": adapter}
    write_method_file(out_dir, method, bundle.max_length, {**(metadata or {}), **info})


def load_decoder_model(
    model_dir: Path, info: dict[str, Any], device: torch.device, load: Any
) -> torch.nn.Module:
    """The model of a run saved by :func:`save_decoder_bundle`: the base model with the saved
    adapter (merged unless the base is quantized), or the saved full model. ``load(source,
    quantization, device)`` builds the base (a causal LM, or the labeler's token classifier)."""
    from nerbench.methods.base import ModelSource

    base = ModelSource(**info["base"])
    if info.get("adapter"):
        model = load(base, base.quantization, device)
        return load_adapter(model, Path(model_dir), merge=base.quantization == "none")
    full = ModelSource(**{**info["base"], "name_or_path": str(model_dir), "local": True})
    return load(full, "none", device)
