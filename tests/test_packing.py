"""Sequence packing (issue #13): packed rows give every feature the logits it gets alone.

Checked on transformers' real modelling code with tiny random models (fp32): encoders (BERT,
RoBERTa with its padding_idx+1 position offset, DeBERTa-v2 with relative positions, GPT-2 causal)
and the bidirectional labeler decoders (Llama, Mistral, Qwen2; eager and SDPA). Each equality
check has a negative twin that packs with the wrong mask (features see each other) or the wrong
positions (not restarted per feature) and must then disagree, so the tests fail when the
block-diagonal mask or the position restart is removed. Then: packed training equals unpacked
training (loss trajectory and dev F1), packed prediction gives the same tags, and a model that
cannot pack falls back and says why in cost.json.
"""

from __future__ import annotations

import pytest
import torch
from transformers import (
    AutoModelForTokenClassification,
    BertConfig,
    DebertaV2Config,
    GPT2Config,
    RobertaConfig,
)

from decoder_fixtures import FAMILIES, build_tiny_token_classifier, tiny_config
from nerbench.io import read_jsonl
from nerbench.training.loop import run_training
from nerbench.training.packing import Packer, pack_support, plan_rows
from test_train import data, job_for, make_run, tiny_bert  # noqa: F401  (fixtures)

ATOL = 1e-4
ROW = 24
LENGTHS = [7, 12, 5, 9, 3, 11]  # packs into 3 rows of 24 with padding tails


def encoder_config(kind: str):
    common = dict(vocab_size=64, num_labels=5, pad_token_id=1)
    size = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64)
    if kind == "bert":
        return BertConfig(max_position_embeddings=64, **size, **common)
    if kind == "roberta":
        return RobertaConfig(max_position_embeddings=70, **size, **common)
    if kind == "deberta-v2":  # v3 style: relative positions only, no absolute embedding
        return DebertaV2Config(
            max_position_embeddings=64,
            **size,
            relative_attention=True,
            position_biased_input=False,
            pos_att_type=["p2c", "c2p"],
            position_buckets=16,
            max_relative_positions=32,
            **common,
        )
    if kind == "deberta-v2-abs":  # v2 style: also absolute position embeddings
        config = encoder_config("deberta-v2")
        config.position_biased_input = True
        return config
    if kind == "gpt2":
        return GPT2Config(n_embd=32, n_layer=2, n_head=4, n_positions=64, **common)
    raise ValueError(kind)


ENCODERS = [
    ("bert", "sdpa"),
    ("bert", "eager"),
    ("roberta", "sdpa"),
    ("deberta-v2", "eager"),
    ("deberta-v2-abs", "eager"),
    ("gpt2", "sdpa"),
    ("gpt2", "eager"),
]


def build_encoder(kind: str, attn: str):
    torch.manual_seed(0)
    config = encoder_config(kind)
    return AutoModelForTokenClassification.from_config(config, attn_implementation=attn).eval()


def features(lengths=LENGTHS, vocab: int = 64, labels: bool = False) -> list[dict]:
    g = torch.Generator().manual_seed(1)
    out = []
    for n in lengths:
        ids = (torch.randint(3, vocab, (n,), generator=g)).tolist()
        f = {"input_ids": ids, "length": n}
        if labels:
            f["labels"] = torch.randint(0, 3, (n,), generator=g).tolist()
        out.append(f)
    return out


def alone(model, packer: Packer, f: dict) -> torch.Tensor:
    ids = torch.tensor([f["input_ids"]])
    kwargs = {}
    if packer.model_type == "gpt2":  # no pad token handling needed: a single unpadded row
        kwargs["position_ids"] = torch.arange(len(f["input_ids"]))[None]
    with torch.no_grad():
        return model(input_ids=ids, attention_mask=torch.ones_like(ids), **kwargs).logits[0]


class MergedMask(Packer):
    """Wrong on purpose: all features of a row in one block (no block-diagonal mask)."""

    def segments(self, lengths, rows):
        return (super().segments(lengths, rows) > 0).long() + 1


class ContinuedPositions(Packer):
    """Wrong on purpose: position ids run on across the row instead of restarting."""

    def collate(self, features):
        packed = super().collate(features)
        ids = packed.tensors["input_ids"]
        packed.tensors["position_ids"] = self.position_offset + torch.arange(ids.shape[1]).repeat(
            ids.shape[0], 1
        )
        return packed


def packed_logits(model, packer: Packer, feats: list[dict]) -> list[torch.Tensor]:
    packed = packer.collate(feats)
    assert packed.tensors["input_ids"].shape[1] == ROW  # shape-stable rows
    with torch.no_grad():
        logits = packer.logits(model, packed.tensors)
    return [logits[r, s : s + n] for (r, s), n in zip(packed.slots, packed.lengths, strict=True)]


def max_gap(model, packer: Packer, feats: list[dict]) -> float:
    got = packed_logits(model, packer, feats)
    return max(
        float((g - alone(model, packer, f)).abs().max()) for g, f in zip(got, feats, strict=True)
    )


def check_family(model, decoder: bool, positions_matter: bool = True) -> None:
    assert pack_support(model, ROW, decoder=decoder) is None
    feats = features()
    assert len(plan_rows(LENGTHS, ROW)) < len(LENGTHS)  # several features share a row
    packer = Packer.for_model(model, ROW, pad_id=0)
    packed = packer.collate(feats)
    for (r, s), n in zip(packed.slots, packed.lengths, strict=True):  # positions restart
        expected = packer.position_offset + torch.arange(n)
        assert torch.equal(packed.tensors["position_ids"][r, s : s + n], expected)
    assert max_gap(model, packer, feats) <= ATOL
    fields = vars(packer)
    assert max_gap(model, MergedMask(**fields), feats) > ATOL, "mask is not block-diagonal"
    if positions_matter:
        gap = max_gap(model, ContinuedPositions(**fields), feats)
        assert gap > ATOL, "positions do not restart"


@pytest.mark.parametrize(("kind", "attn"), ENCODERS)
def test_packed_encoder_logits_equal_each_feature_alone(kind, attn):
    model = build_encoder(kind, attn)
    # DeBERTa-v3 style has relative positions only: the position ids cannot change logits
    check_family(model, decoder=False, positions_matter=kind != "deberta-v2")


@pytest.mark.parametrize("attn", ["sdpa", "eager"])
@pytest.mark.parametrize("family", FAMILIES)
def test_packed_labeler_logits_equal_each_feature_alone(family, attn):
    model = build_tiny_token_classifier(family, attn=attn)
    assert model.config.is_causal is False
    # RoPE depends on position differences only, so inside a block-diagonal mask continued
    # positions give the same logits up to rounding; the restart is checked on the ids
    check_family(model, decoder=True, positions_matter=False)


def test_roberta_positions_are_offset_by_padding_idx():
    packer = Packer.for_model(build_encoder("roberta", "sdpa"), ROW, pad_id=1)
    pos = packer.collate(features([3, 2])).tensors["position_ids"][0]
    assert pos[:5].tolist() == [2, 3, 4, 2, 3]  # padding_idx 1 + 1, restarting per feature


def test_rows_may_be_longer_than_the_position_table():
    model = build_encoder("roberta", "sdpa")  # 70 positions - offset 2: windows <= 68
    packer = Packer.for_model(model, 100, pad_id=1)
    feats = features([40, 30])
    packed = packer.collate(feats)
    with torch.no_grad():
        logits = packer.logits(model, packed.tensors)
    for (r, s), n, f in zip(packed.slots, packed.lengths, feats, strict=True):
        assert torch.allclose(logits[r, s : s + n], alone(model, packer, f), atol=ATOL)


def test_families_that_cannot_pack_say_why():
    windowed = AutoModelForTokenClassification.from_config(
        tiny_config("mistral", 64, sliding_window=8)
    )
    assert "sliding window 8" in pack_support(windowed, ROW, decoder=True)
    conv = encoder_config("deberta-v2")
    conv.conv_kernel_size = 3
    assert "convolution" in pack_support(
        AutoModelForTokenClassification.from_config(conv, attn_implementation="eager"),
        ROW,
        decoder=False,
    )
    bert = build_encoder("bert", "sdpa")
    bert.config._attn_implementation = "flash_attention_2"
    assert "flash_attention_2" in pack_support(bert, ROW, decoder=False)
    assert "not verified" in pack_support(build_encoder("bert", "sdpa"), ROW, decoder=True)


def test_packed_loss_equals_unpacked_loss():
    model = build_encoder("bert", "sdpa")
    feats = features(labels=True)
    packer = Packer.for_model(model, ROW, pad_id=0)
    from nerbench.methods.base import right_pad

    batch = right_pad(feats, 0)
    with torch.no_grad():
        unpacked = model(**batch).loss
        packed = packer.loss(model, packer.collate(feats).tensors)
    assert abs(float(packed) - float(unpacked)) < 1e-5


# --------------------------------------------------------------------------- the loop


def train_log(cost_dir):
    return read_jsonl(cost_dir / "train_log.jsonl")


def no_dropout(monkeypatch) -> None:
    """Dropout draws depend on the tensor layout; without it packed == unpacked up to rounding."""
    from nerbench.methods.encoder import TokenClassificationMethod

    load = TokenClassificationMethod.load_for_training

    def load_without_dropout(self, *args, **kwargs):
        bundle = load(self, *args, **kwargs)
        for module in bundle.model.modules():
            if isinstance(module, torch.nn.Dropout):
                module.p = 0.0
        return bundle

    monkeypatch.setattr(TokenClassificationMethod, "load_for_training", load_without_dropout)


def test_packed_training_matches_unpacked_and_predicts_the_same_tags(
    tiny_bert,  # noqa: F811
    data,  # noqa: F811
    tmp_path,
    monkeypatch,
):
    no_dropout(monkeypatch)
    base = dict(epochs=3, batch_size=8, learning_rate=5e-3)
    plain = run_training(job_for(make_run(**base), data, tiny_bert, tmp_path / "plain"))
    packed_job = job_for(make_run(**base, packing="on", pack_length=64), data, tiny_bert, tmp_path)
    packed = run_training(packed_job)
    assert plain["packing"] == "off" and packed["packing"] == "on"
    assert packed["pack_length"] == 64
    assert packed["padding_fraction_epoch1"] < plain["padding_fraction_epoch1"] + 0.5
    assert packed["steps"] == plain["steps"] and packed["tokens_seen"] == plain["tokens_seen"]
    a = [r for r in train_log(tmp_path / "plain") if r["event"] == "train"]
    b = [r for r in train_log(tmp_path) if r["event"] == "train"]
    assert [r["step"] for r in a] == [r["step"] for r in b]
    for x, y in zip(a, b, strict=True):
        assert abs(x["loss"] - y["loss"]) <= 1e-4 * max(1.0, abs(x["loss"]))
    assert abs(packed["best_dev_f1"] - plain["best_dev_f1"]) <= 0.02

    # prediction with the trained model: packed and unpacked give the same tags
    from nerbench.methods.base import load_trained
    from nerbench.training.data import read_examples

    method, bundle = load_trained(tmp_path / "model")
    dev = read_examples(data["devel"])
    unpacked_tags = [p.tags for p in method.predict(bundle, dev, batch_size=4, stride=4)]
    bundle.packer = method.packer(bundle, 64)
    assert isinstance(bundle.packer, Packer)
    packed_tags = [p.tags for p in method.predict(bundle, dev, batch_size=4, stride=4)]
    assert packed_tags == unpacked_tags

    # the predict CLI: --packing on writes the same CoNLL and records packing in infer_cost
    from nerbench.io import read_json
    from nerbench.predict import main_predict

    outputs = {}
    for mode in ("off", "on"):
        out, cost = tmp_path / f"pred-{mode}.conll", tmp_path / f"cost-{mode}.json"
        argv = ["--run-dir", str(tmp_path), "--input", str(data["devel"])]
        argv += ["--dataset", "NCBI-disease", "--output", str(out), "--cost", str(cost)]
        argv += ["--batch-size", "4", "--timing-repeats", "1", "--packing", mode]
        assert main_predict(argv) == 0
        assert read_json(cost)["packing"] == mode
        outputs[mode] = out.read_text()
    assert outputs["on"] == outputs["off"]


def test_fallback_is_logged_and_recorded(
    tiny_bert,  # noqa: F811
    data,  # noqa: F811
    tmp_path,
    caplog,
    monkeypatch,
):
    job = job_for(make_run(packing="auto"), data, tiny_bert, tmp_path / "auto")
    cost = run_training(job)
    assert cost["packing"].startswith("off (auto: length-grouped batches pad only")
    assert cost["pack_length"] is None

    # a model that cannot pack (here: a sliding window shorter than the row) trains unpacked
    from nerbench.methods.encoder import TokenClassificationMethod

    load = TokenClassificationMethod.load_for_training

    def windowed(self, *args, **kwargs):
        bundle = load(self, *args, **kwargs)
        bundle.model.config.sliding_window = 4  # BERT ignores it; pack_support must not
        return bundle

    monkeypatch.setattr(TokenClassificationMethod, "load_for_training", windowed)
    with caplog.at_level("WARNING", logger="nerbench.training.loop"):
        cost = run_training(job_for(make_run(packing="on"), data, tiny_bert, tmp_path / "fb"))
    assert cost["packing"] == "off (sliding window 4 is shorter than the row (32))"
    assert "packing off (sliding window 4" in caplog.text
    monkeypatch.undo()
    assert cost["compile"] == "off" and cost["compile_time_s"] is None
    job = job_for(make_run(packing="on", pack_length=8), data, tiny_bert, tmp_path / "short")
    with pytest.raises(Exception, match="pack_length"):
        run_training(job)


# --------------------------------------------------------------------------- the labeler method

SENTS = [
    (["Germline", "mutations", "in", "BRCA1", "cause", "breast", "cancer", "."], "Disease"),
    (["Cisplatin", "induced", "nephrotoxicity", "in", "rats", "."], "Chemical"),
    (["The", "zebrafish", "was", "studied", "."], "Species"),
    (["Na+:Cl-", "solution", "(", "0", "%", ")", "."], "Chemical"),
]


def labeler_examples():
    from nerbench.methods.base import Example

    out = []
    for i, (tokens, t) in enumerate(SENTS):
        tags = ["O"] * len(tokens)
        tags[1] = f"B-{t}"
        out.append(Example(f"d/{i}", tokens, tags, "NCBI-disease", (t,)))
    return out


@pytest.mark.parametrize("family", ["llama", "qwen2"])
def test_labeler_method_packs_loss_gradients_and_prediction(family, tmp_path):
    from decoder_fixtures import save_tiny_decoder
    from nerbench.hparams import TrainingArgs
    from nerbench.methods.base import ModelSource, get_method

    path = save_tiny_decoder(tmp_path / family, family)
    method = get_method("labeler")
    src = ModelSource(f"tiny-{family}", str(path), family="decoder", max_length=48, dtype="fp32")
    args = TrainingArgs.from_hparams({"lora_dropout": 0.0})
    torch.manual_seed(0)
    labels = method.label_list(["Chemical", "Disease", "Species"])
    bundle = method.load_for_training(src, labels, args, torch.device("cpu"))
    packer = method.packer(bundle, 96)
    assert isinstance(packer, Packer) and not packer.causal  # the labeler is bidirectional
    examples = labeler_examples()
    feats = method.encode(bundle, examples, train=True)
    bundle.model.eval()  # no dropout anywhere: packed and unpacked see the same function

    def loss_and_grads(packed: bool):
        bundle.model.zero_grad(set_to_none=True)
        if packed:
            loss = packer.loss(bundle.model, packer.collate(feats).tensors)
        else:
            loss = method.loss(bundle, method.collate(bundle, feats))
        loss.backward()
        params = bundle.model.named_parameters()
        grads = {n: p.grad.clone() for n, p in params if p.grad is not None}
        return float(loss), grads

    loss_a, grads_a = loss_and_grads(False)
    loss_b, grads_b = loss_and_grads(True)
    assert abs(loss_a - loss_b) < 1e-5
    assert grads_a.keys() == grads_b.keys() and grads_a
    for n in grads_a:
        assert torch.allclose(grads_a[n], grads_b[n], atol=1e-5, rtol=1e-4), n
    bundle.model.zero_grad(set_to_none=True)

    plain = method.predict(bundle, examples, batch_size=3)
    bundle.packer = packer
    packed = method.predict(bundle, examples, batch_size=3)
    for a, b in zip(plain, packed, strict=True):
        assert a.tags == b.tags
        assert a.scores == pytest.approx(b.scores, abs=1e-5)


def test_plan_rows_first_fit_decreasing():
    assert plan_rows([7, 12, 5, 9, 3, 11], 24) == [[1, 5], [3, 0, 2, 4]]
    with pytest.raises(ValueError, match="exceeds the row length"):
        plan_rows([30], 24)
