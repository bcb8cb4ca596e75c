"""4-bit training never runs on bitsandbytes' packed CPU weights (issue: CI red on AVX512-BF16).

bitsandbytes 0.50 repacks a ``Linear4bit`` weight in place into an AVX512-BF16 layout on the first
eval-mode forward without grad, *when the CPU has avx512_bf16*. That layout has no autograd path
(LoRA gradients become zero or training raises) and needs ``out_features % 32 == 0``. The project
keeps packing off while a model trains and, so that a run's dev and test scores come from one
kernel, at prediction too (``adapters.use_run_kernel``).

On an AVX2-only CPU bitsandbytes never takes that branch, so these tests exercise the unpacked
path there; they matter on AVX512-BF16/AMX CPUs (CI runs on both kinds), where a dev evaluation
between two training steps used to pack the weights under the optimizer.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from decoder_fixtures import FAMILIES, local_decoder_source, save_tiny_decoder
from nerbench.hparams import TrainingArgs
from nerbench.methods.adapters import cpu_packable, set_cpu_weight_packing
from nerbench.methods.base import Example, get_method, load_trained

bnb = pytest.importorskip("bitsandbytes")
from bitsandbytes.functional import _convert_weight_packed_for_cpu, has_avx512bf16  # noqa: E402

SENT = ["Germline", "mutations", "in", "BRCA1", "cause", "breast", "cancer", "."]
TAGS = ["O", "O", "O", "O", "O", "B-Disease", "I-Disease", "O"]


def cpu_flags() -> set[str]:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return set()
    return {f for line in text.splitlines() if line.startswith("flags") for f in line.split()[2:]}


def example(i: int) -> Example:
    return Example(f"d/{i}", list(SENT), list(TAGS), "NCBI-disease", ("Disease",))


@pytest.fixture(scope="module")
def tiny_dirs(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("tinyq")
    return {f: save_tiny_decoder(root / f, f, tokenizer_kind="byte") for f in FAMILIES}


def load_4bit(path: Path, family: str):
    method = get_method("labeler")
    args = TrainingArgs.from_hparams({"lora_dropout": 0.0, "quantization": "4bit"})
    src = local_decoder_source(path, f"tiny-{family}", quantization="4bit")
    torch.manual_seed(0)
    return method, method.load_for_training(
        src, method.label_list(["Disease"]), args, torch.device("cpu")
    )


def four_bit_layers(model: torch.nn.Module) -> list[torch.nn.Module]:
    layers = [m for m in model.modules() if isinstance(m, bnb.nn.Linear4bit)]
    assert layers, "the model has no 4-bit layers"
    return layers


def assert_never_packed(model: torch.nn.Module) -> None:
    for layer in four_bit_layers(model):
        assert layer.support_avx512bf16_for_cpu is False
        assert not getattr(layer.weight.quant_state, "packing_format_for_cpu", False)


def test_bnb_cpu_probe_agrees_with_proc_cpuinfo():
    """The branch this file guards is taken exactly on CPUs with avx512_bf16."""
    flags = cpu_flags()
    if not flags:
        pytest.skip("no /proc/cpuinfo")
    assert has_avx512bf16() == ("avx512_bf16" in flags)


@pytest.mark.parametrize("family", FAMILIES)
def test_every_lora_tensor_learns_across_a_dev_evaluation(tiny_dirs, family, monkeypatch):
    # Layers come up as on an AVX512-BF16 CPU (bitsandbytes sets the switch in __init__), so
    # the test also fails on AVX2 CPUs if the project stopped switching packing off.
    import bitsandbytes.nn.modules as bnb_modules

    monkeypatch.setattr(bnb_modules, "has_avx512bf16", lambda: True)
    method, bundle = load_4bit(tiny_dirs[family], family)
    model = bundle.model
    assert_never_packed(model)  # after load (the load-time bidirectionality probe ran in eval)
    lora = {n: p for n, p in model.named_parameters() if p.requires_grad and "lora_" in n}
    assert any("lora_B" in n for n in lora) and any("lora_A" in n for n in lora)
    start = {n: p.detach().clone() for n, p in lora.items()}
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-2,
                            weight_decay=0.0)  # fmt: skip
    features = method.encode(bundle, [example(0), example(1)], train=True)
    batch = method.collate(bundle, features)
    no_grad_in_step2 = []
    for step in range(2):
        model.train()
        assert_never_packed(model)  # during training
        method.loss(bundle, batch).backward()
        if step == 1:
            no_grad_in_step2 = [n for n, p in lora.items() if p.grad is None or not p.grad.any()]
        opt.step()
        opt.zero_grad()
        if step == 0:  # a dev evaluation between the steps: eval mode, no grad
            preds = method.predict(bundle, [example(2)], batch_size=2)
            assert len(preds[0].tags) == len(SENT)
            assert_never_packed(model)
    assert no_grad_in_step2 == []
    unchanged = [n for n, p in lora.items() if torch.equal(p.detach(), start[n])]
    assert unchanged == []


def test_dev_evaluation_and_test_prediction_run_one_kernel(tiny_dirs, tmp_path, monkeypatch):
    """#27: test prediction runs the kernel of the run's dev evaluations (packed weights gave
    other probabilities than the unpacked ones the model was selected with)."""
    import bitsandbytes.functional as bf

    method, bundle = load_4bit(tiny_dirs["qwen2"], "qwen2")
    examples = [example(0), example(1)]
    dev = method.predict(bundle, examples, batch_size=2)  # as the training loop's dev evaluation
    method.save(bundle, tmp_path / "q")
    with monkeypatch.context() as m:  # the choice, on any CPU: even where packing could run
        m.setattr(bf, "has_avx512bf16", lambda: True)
        _, loaded = load_trained(tmp_path / "q")
        assert any(cpu_packable(layer) for layer in four_bit_layers(loaded.model))
        assert_never_packed(loaded.model)
    _, loaded = load_trained(tmp_path / "q")
    test = method.predict(loaded, examples, batch_size=2)
    assert_never_packed(loaded.model)  # also after the eval-mode forwards
    for d, t in zip(dev, test, strict=True):
        assert t.tags == d.tags and t.scores == d.scores  # same kernel, same numbers


def test_switch_follows_shape_and_unpacks(monkeypatch):
    """Shape rule and the inverse, without running the AVX512 kernel (works on any CPU)."""
    import bitsandbytes.functional as bf

    fits = bnb.nn.Linear4bit(64, 64, bias=False, compute_dtype=torch.float32, quant_type="nf4")
    odd = bnb.nn.Linear4bit(64, 40, bias=False, compute_dtype=torch.float32, quant_type="nf4")
    model = torch.nn.Sequential(fits, odd).to("cpu")
    monkeypatch.setattr(bf, "has_avx512bf16", lambda: True)
    assert set_cpu_weight_packing(model, allow=True) == 1
    assert fits.support_avx512bf16_for_cpu is True and odd.support_avx512bf16_for_cpu is False
    original = fits.weight.data.clone()
    fits.weight.data, fits.weight.quant_state = _convert_weight_packed_for_cpu(
        fits.weight.data, fits.weight.quant_state
    )
    assert fits.weight.quant_state.packing_format_for_cpu
    assert set_cpu_weight_packing(model, allow=False) == 0
    assert_never_packed(model)
    assert torch.equal(fits.weight.data.view(torch.uint8).reshape(-1),
                       original.view(torch.uint8).reshape(-1))  # fmt: skip
    monkeypatch.setattr(bf, "has_avx512bf16", lambda: False)
    assert set_cpu_weight_packing(model, allow=True) == 0
