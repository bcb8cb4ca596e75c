"""Fused LoRA layers compute PEFT's sum (forward and gradients) and fall back to PEFT where
they cannot; the class swap leaves parameters, state-dict keys, merging and saving alone."""

from __future__ import annotations

import copy

import pytest
import torch
from peft import LoraConfig, get_peft_model
from peft.tuners.lora.layer import Linear as LoraLinear

from decoder_fixtures import build_tiny_token_classifier
from nerbench.training.fused_lora import FusedLoraLinear, fuse_lora

TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]


def lora_model(**config) -> torch.nn.Module:
    base = build_tiny_token_classifier("llama", vocab_size=97, seed=1)
    cfg = dict(r=4, lora_alpha=12, lora_dropout=0.0, target_modules=TARGETS, bias="none")
    model = get_peft_model(base, LoraConfig(task_type="TOKEN_CLS", **{**cfg, **config}))
    torch.manual_seed(2)
    for module in model.modules():  # PEFT starts lora_B at zero: no update to compare
        if isinstance(module, LoraLinear):
            for b in module.lora_B.values():
                torch.nn.init.normal_(b.weight, std=0.5)
    return model.train()


def out_and_grads(model: torch.nn.Module, seed: int = 5):
    torch.manual_seed(seed)
    ids = torch.randint(0, 97, (3, 11))
    mask = torch.ones_like(ids)
    mask[1, 7:] = 0
    logits = model(input_ids=ids, attention_mask=mask).logits
    (logits * torch.linspace(-1, 1, logits.shape[-1])).sum().backward()
    grads = {n: p.grad.clone() for n, p in model.named_parameters() if p.requires_grad}
    return logits.detach(), grads


@pytest.mark.parametrize("dropout", [0.0, 0.2])
def test_fused_forward_and_gradients_match_peft(dropout):
    peft_model = lora_model(lora_dropout=dropout)
    fused = copy.deepcopy(peft_model)
    keys = list(fused.state_dict())
    assert fuse_lora(fused) == 7 * 2  # every targeted projection of both layers
    assert list(fused.state_dict()) == keys  # parameters and their names untouched
    logits, grads = out_and_grads(peft_model)
    logits_f, grads_f = out_and_grads(fused)  # same seed: the same dropout masks
    assert any(g.abs().sum() > 0 for n, g in grads.items() if "lora_B" in n)
    torch.testing.assert_close(logits_f, logits, rtol=1e-5, atol=1e-5)
    assert grads_f.keys() == grads.keys()
    for name, grad in grads.items():  # fp32 rounding, relative to the gradient's scale
        atol = 1e-4 * float(grad.abs().max())
        torch.testing.assert_close(grads_f[name], grad, rtol=1e-4, atol=atol, msg=name)


def test_disabled_merged_and_variant_layers_run_peft_forward():
    model = lora_model()
    fuse_lora(model)
    ids = torch.randint(0, 97, (2, 9))
    model.eval()
    with torch.no_grad():
        adapted = model(input_ids=ids).logits
        with model.disable_adapter():
            base = model(input_ids=ids).logits
        model.merge_adapter()  # PEFT's merge reads the unchanged scaling
        merged = model(input_ids=ids).logits
        model.unmerge_adapter()
    assert not torch.allclose(adapted, base, atol=1e-3)
    torch.testing.assert_close(merged, adapted, rtol=1e-4, atol=1e-4)
    dora = lora_model(use_dora=True)
    fuse_lora(dora)
    layer = next(m for m in dora.modules() if isinstance(m, FusedLoraLinear))
    assert layer._fusable_adapter((), {}) is None  # a variant: PEFT's forward


def test_fused_under_cpu_bf16_autocast():
    peft_model = lora_model().eval()
    fused = copy.deepcopy(peft_model)
    fuse_lora(fused)
    ids = torch.randint(0, 97, (2, 9))
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        a = peft_model(input_ids=ids).logits
        b = fused(input_ids=ids).logits
    assert b.dtype == a.dtype
    torch.testing.assert_close(b.float(), a.float(), rtol=0.05, atol=0.05)
