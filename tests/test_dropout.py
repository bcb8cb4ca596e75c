"""The vector dropout sampler: the same masks' distribution as nn.Dropout, reproducible from
torch's seed, swapped in by the training loop on CPU only."""

from __future__ import annotations

import math

import pytest
import torch

from nerbench.training import dropout as vd


def _out_and_grad(module: torch.nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    x = x.clone().requires_grad_(True)
    out = module(x)
    out.sum().backward()
    return out.detach(), x.grad


@pytest.mark.parametrize("p", [0.1, 0.5, 0.05])
def test_keep_rate_and_scale_match_nn_dropout(p):
    torch.manual_seed(0)
    x = torch.rand(1000, 1000) + 1.0  # no zeros: a zero output means dropped
    module = vd.VectorDropout(p).train()
    out, grad = _out_and_grad(module, x)
    kept = out != 0
    keep = 1 - p
    sigma = math.sqrt(keep * p / x.numel())
    assert abs(kept.float().mean().item() - keep) < 5 * sigma
    torch.testing.assert_close(out[kept], x[kept] / keep)
    # gradient: 1 / keep where kept, 0 where dropped (as native_dropout's backward)
    torch.testing.assert_close(grad, kept.float() / keep)


def test_masks_follow_torch_seed():
    x = torch.ones(64, 512)
    module = vd.VectorDropout(0.3).train()
    torch.manual_seed(7)
    a = module(x)
    torch.manual_seed(7)
    b = module(x)
    c = module(x)  # the generator moved on
    assert torch.equal(a, b)
    assert not torch.equal(b, c)
    mask = vd.keep_mask(torch.Size([2, 1 << 15]), 0.5, seed=3)
    assert torch.equal(mask, vd.keep_mask(torch.Size([2, 1 << 15]), 0.5, seed=3))
    assert not torch.equal(mask, vd.keep_mask(torch.Size([2, 1 << 15]), 0.5, seed=4))
    assert not torch.equal(mask[0], mask[1])  # one stream, not a repeated row


def test_mask_words_and_threshold():
    # an odd element count takes the first half of the last raw draw: a prefix of the stream
    assert torch.equal(
        vd.keep_mask(torch.Size([7]), 0.5, 9), vd.keep_mask(torch.Size([8]), 0.5, 9)[:7]
    )
    assert vd.keep_threshold(0.5) == 2**31 and vd.keep_threshold(0.9) == round(0.9 * 2**32)
    assert bool(vd.keep_mask(torch.Size([999]), 1.0, 1).all())
    assert not bool(vd.keep_mask(torch.Size([999]), 0.0, 1).any())
    with pytest.raises(ValueError, match="keep probability"):
        vd.keep_threshold(1.5)


def test_eval_mode_zero_p_and_one_p():
    x = torch.randn(8, 16)
    assert vd.VectorDropout(0.1).eval()(x) is x
    assert torch.equal(vd.VectorDropout(0.0).train()(x), x)
    assert torch.count_nonzero(vd.VectorDropout(1.0).train()(x)) == 0


def test_swap_keeps_p_and_reaches_peft_and_attention_modules():
    from transformers import BertConfig, BertForTokenClassification

    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=50,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        hidden_dropout_prob=0.2,
        attention_probs_dropout_prob=0.3,
        num_labels=3,
    )
    model = BertForTokenClassification(config).train()
    before = sorted(m.p for m in model.modules() if isinstance(m, torch.nn.Dropout))
    swapped = vd.use_vector_dropout(model)
    after = [m for m in model.modules() if isinstance(m, torch.nn.Dropout)]
    assert swapped == len(after) == len(before)
    assert all(type(m) is vd.VectorDropout for m in after)
    assert sorted(m.p for m in after) == before
    ids = torch.randint(0, 50, (2, 12))
    torch.manual_seed(1)
    first = model(input_ids=ids).logits
    torch.manual_seed(1)
    assert torch.equal(first, model(input_ids=ids).logits)
    model.eval()
    assert torch.equal(model(input_ids=ids).logits, model(input_ids=ids).logits)
