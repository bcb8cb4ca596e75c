"""The VANER labeler's attention: bidirectional, padding-masked, for Llama, Mistral and Qwen2.

Claims checked here on transformers' real modelling code (tiny random models, eager and sdpa):
* ``config.is_causal = False`` makes attention bidirectional: a later token changes an earlier
  token's logits (and does not in the causal model);
* the padding mask is kept: right or left padding does not change real tokens' logits, and it
  would if the mask were dropped (``attention_mask=None`` or all ones);
* setting only the per-layer ``self_attn.is_causal = False`` stays causal once a padding mask is
  passed (why the labeler sets the config flag);
* Mistral's sliding window stays a window, now two-sided;
* bidirectionality survives save/reload and a LoRA merge.
"""

from __future__ import annotations

import pytest
import torch
from transformers import AutoModelForTokenClassification

from decoder_fixtures import FAMILIES, build_tiny_token_classifier, tiny_config
from nerbench.io import InputError
from nerbench.methods.labeler import assert_bidirectional, is_bidirectional, make_bidirectional

IMPLS = ("eager", "sdpa")
ATOL = 1e-5
SEQ_A = [5, 9, 17, 23, 8, 31]
SEQ_B = [12, 7, 44, 19, 25, 6, 38, 11, 29]
PAD = 0


def logits(model, ids: list[list[int]], mask=None, position_ids=None) -> torch.Tensor:
    kwargs = {"attention_mask": mask} if mask is not None else {}
    if position_ids is not None:
        kwargs["position_ids"] = position_ids
    with torch.no_grad():
        return model(input_ids=torch.tensor(ids), **kwargs).logits


def pad_batch(seqs: list[list[int]], side: str) -> tuple[list[list[int]], torch.Tensor]:
    """Pad ``seqs`` to equal length on ``side``; return ids and the 0/1 padding mask."""
    width = max(len(s) for s in seqs)
    ids, mask = [], []
    for s in seqs:
        pad = [PAD] * (width - len(s))
        ids.append(s + pad if side == "right" else pad + s)
        ones, zeros = [1] * len(s), [0] * len(pad)
        mask.append(ones + zeros if side == "right" else zeros + ones)
    return ids, torch.tensor(mask)


def positions(mask: torch.Tensor) -> torch.Tensor:
    """Position ids that count real tokens only (as generation does for left padding)."""
    return (mask.cumsum(-1) - 1).clamp(min=0)


def real_rows(batch_logits: torch.Tensor, row: int, n: int, side: str) -> torch.Tensor:
    return batch_logits[row, :n] if side == "right" else batch_logits[row, -n:]


def padded_logits_of_a(model, side: str, mask_mode: str = "keep") -> torch.Tensor:
    """Logits of SEQ_A's real tokens inside a padded batch with SEQ_B.

    ``mask_mode``: ``keep`` passes the padding mask; ``none`` passes no mask and ``ones`` an
    all-ones mask -- what dropping the padding mask (VANER's public code) amounts to.
    """
    ids, mask = pad_batch([SEQ_A, SEQ_B], side)
    pos = positions(mask)
    if mask_mode == "none":
        out = logits(model, ids, None, pos)
    elif mask_mode == "ones":
        out = logits(model, ids, torch.ones_like(mask), pos)
    else:
        out = logits(model, ids, mask, pos)
    return real_rows(out, 0, len(SEQ_A), side)


@pytest.fixture(scope="module")
def models() -> dict[tuple[str, str, bool], torch.nn.Module]:
    """Tiny random token classifiers: (family, attention impl, causal) -> model (same seed)."""
    return {
        (fam, impl, causal): build_tiny_token_classifier(fam, attn=impl, causal=causal)
        for fam in FAMILIES
        for impl in IMPLS
        for causal in (False, True)
    }


def first_token_changes(model, seq: list[int], mask: bool = True) -> bool:
    changed = list(seq)
    changed[-1] = changed[-1] + 1
    m = torch.ones(1, len(seq), dtype=torch.long) if mask else None
    a, b = logits(model, [seq], m), logits(model, [changed], m)
    return not torch.equal(a[0, 0], b[0, 0])


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("family", FAMILIES)
def test_later_token_changes_earlier_logits_only_when_bidirectional(models, family, impl):
    bidir, causal = models[(family, impl, False)], models[(family, impl, True)]
    for with_mask in (True, False):
        assert first_token_changes(bidir, SEQ_A, with_mask)
        assert not first_token_changes(causal, SEQ_A, with_mask)
    # ... also inside a padded batch (the mask path, not the no-mask shortcut)
    ids, mask = pad_batch([SEQ_A, SEQ_B], "right")
    ids2 = [list(r) for r in ids]
    ids2[0][len(SEQ_A) - 1] += 1
    for model, should_change in ((bidir, True), (causal, False)):
        a, b = logits(model, ids, mask), logits(model, ids2, mask)
        assert (not torch.equal(a[0, 0], b[0, 0])) is should_change
    assert is_bidirectional(bidir) and not is_bidirectional(causal)


@pytest.mark.parametrize("side", ["right", "left"])
@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("family", FAMILIES)
def test_padding_does_not_change_real_tokens(models, family, impl, side):
    model = models[(family, impl, False)]
    alone = logits(model, [SEQ_A])[0]
    assert torch.allclose(padded_logits_of_a(model, side), alone, atol=ATOL)
    # the longer sequence of the batch is unaffected as well
    ids, mask = pad_batch([SEQ_A, SEQ_B], side)
    b_in_batch = real_rows(logits(model, ids, mask, positions(mask)), 1, len(SEQ_B), side)
    assert torch.allclose(b_in_batch, logits(model, [SEQ_B])[0], atol=ATOL)


@pytest.mark.parametrize("mask_mode", ["none", "ones"])
@pytest.mark.parametrize("side", ["right", "left"])
@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("family", FAMILIES)
def test_dropping_the_padding_mask_breaks_invariance(models, family, impl, side, mask_mode):
    """The invariance test above can fail: without the mask, pads leak into real tokens."""
    model = models[(family, impl, False)]
    alone = logits(model, [SEQ_A])[0]
    leaked = padded_logits_of_a(model, side, mask_mode)
    assert not torch.allclose(leaked, alone, atol=ATOL)
    assert (leaked - alone).abs().max() > 100 * ATOL


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("family", FAMILIES)
def test_per_layer_flag_alone_stays_causal_with_padding_mask(family, impl):
    model = build_tiny_token_classifier(family, attn=impl, causal=True)
    for module in model.modules():
        if hasattr(module, "is_causal") and isinstance(module.is_causal, bool):
            module.is_causal = False
    ids, mask = pad_batch([SEQ_A, SEQ_B], "right")
    ids2 = [list(r) for r in ids]
    ids2[0][len(SEQ_A) - 1] += 1
    a, b = logits(model, ids, mask), logits(model, ids2, mask)
    assert torch.equal(a[0, 0], b[0, 0])  # still causal: the earlier token did not see it
    make_bidirectional(model)  # the config flag is what the mask factory reads
    a, b = logits(model, ids, mask), logits(model, ids2, mask)
    assert not torch.equal(a[0, 0], b[0, 0])


@pytest.mark.parametrize("impl", IMPLS)
def test_mistral_sliding_window_is_two_sided(impl):
    window, n = 2, 12
    config = tiny_config("mistral", 64, attn=impl, sliding_window=window)
    config.is_causal = False
    torch.manual_seed(0)
    model = AutoModelForTokenClassification.from_config(config, attn_implementation=impl).eval()
    seq = list(range(4, 4 + n))
    base = logits(model, [seq])[0]

    def influence(j: int) -> torch.Tensor:
        changed = list(seq)
        changed[j] += 20
        return (logits(model, [changed])[0] - base).abs().amax(-1) > 0

    reach = config.num_hidden_layers * window  # receptive field after all layers
    first, last = influence(0), influence(n - 1)
    assert last[0].item() is False and first[n - 1].item() is False  # beyond the window
    assert influence(1)[0].item() and influence(n - 2)[n - 1].item()  # both directions
    assert first[: reach + 1].all() and not first[reach + 1 :].any()
    assert last[n - 1 - reach :].all() and not last[: n - 1 - reach].any()


@pytest.mark.parametrize("family", FAMILIES)
def test_bidirectional_survives_save_reload_and_lora_merge(tmp_path, family):
    from peft import LoraConfig, get_peft_model

    model = build_tiny_token_classifier(family, attn="sdpa")
    model.save_pretrained(tmp_path / "m")
    reloaded = AutoModelForTokenClassification.from_pretrained(tmp_path / "m").eval()
    assert reloaded.config.is_causal is False
    assert torch.allclose(logits(reloaded, [SEQ_A]), logits(model, [SEQ_A]), atol=ATOL)
    assert is_bidirectional(reloaded)
    lora = LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"], task_type="TOKEN_CLS")
    peft_model = get_peft_model(reloaded, lora)
    for name, p in peft_model.named_parameters():
        if "lora_B" in name:
            torch.nn.init.normal_(p)  # make the adapter non-trivial
    peft_model.eval()
    with_adapter = logits(peft_model, [SEQ_A])
    merged = peft_model.merge_and_unload().eval()
    assert torch.allclose(logits(merged, [SEQ_A]), with_adapter, atol=1e-4)
    assert is_bidirectional(merged)
    assert torch.allclose(padded_logits_of_a(merged, "right"), with_adapter[0], atol=1e-4)


def test_assert_bidirectional_rejects_a_causal_model():
    causal = build_tiny_token_classifier("llama", causal=True)
    with pytest.raises(InputError, match="still causal"):
        assert_bidirectional(causal, "tiny-llama")
    assert_bidirectional(build_tiny_token_classifier("llama"), "tiny-llama")
