"""Sequence packing: several features per row of a fixed length, each attending only to itself.

A batch of features (one training step's ``batch_size`` windows, or a prediction chunk) is laid
out as rows of exactly ``row_length`` positions (first-fit decreasing, :func:`plan_rows`); the
tail of a row is padding. Per row the collate (:meth:`Packer.collate`) builds

* a **block-diagonal attention mask** (a feature's tokens attend to the tokens of the same
  feature only; causal inside the block for causal models such as GPT-2; the padding tail is a
  block of its own, so no query row is fully masked and softmax never sees only ``-inf``);
* **position ids that restart at every feature** (plus ``padding_idx + 1`` for the RoBERTa
  family, which offsets positions so);
* token types: every feature is one segment (type 0), as unpacked, so none are passed.

The examples, labels and loss are the same as unpacked (cross-entropy averaged over the labelled
positions of the batch), so packed and unpacked training are the same hyperparameters and agree
up to float rounding; only the layout changes.

How each family takes the mask (transformers 5.x): BERT, RoBERTa, GPT-2, Llama, Mistral and Qwen2
return a 4D mask unchanged from ``masking_utils._preprocess_mask_arguments`` (boolean for SDPA,
additive float for eager); DeBERTa-v2/v3 builds its own mask from a 3D ``[rows, L, L]`` mask
in the encoder but multiplies the embeddings by the 2D mask, so it gets a small forward of its
own (:meth:`Packer.logits`); its positions are relative, so only the mask matters. Families that
cannot pack correctly -- other attention kernels (flash, flex), DeBERTa with a convolution layer
(mixes neighbouring tokens across features), a sliding window shorter than the row, untested
model types -- get a reason from :func:`pack_support` and the caller falls back to
length-grouped batches. Whether a run packs (``packing: auto``) and compiles its packed step is
the speed policy's (:mod:`nerbench.training.speed`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import torch

IGNORE = -100
ENCODER_TYPES = ("bert", "roberta", "xlm-roberta", "camembert", "deberta-v2", "gpt2")
DECODER_TYPES = ("llama", "mistral", "qwen2", "gpt2")
OFFSET_POSITION_TYPES = ("roberta", "xlm-roberta", "camembert")
CAUSAL_BY_DEFAULT = ("gpt2", "llama", "mistral", "qwen2")
MASK_KERNELS = ("sdpa", "eager")


# --------------------------------------------------------------------------- planning


def plan_rows(lengths: Sequence[int], row_length: int) -> list[list[int]]:
    """Indices of ``lengths`` grouped into rows of total length <= ``row_length``.

    First-fit decreasing (ties by index, so deterministic); a length above ``row_length`` is a
    ``ValueError``.
    """
    too_long = [n for n in lengths if n > row_length]
    if too_long:
        raise ValueError(f"feature of length {max(too_long)} exceeds the row length {row_length}")
    rows: list[list[int]] = []
    free: list[int] = []
    for i in sorted(range(len(lengths)), key=lambda i: (-lengths[i], i)):
        for r, room in enumerate(free):
            if lengths[i] <= room:
                rows[r].append(i)
                free[r] -= lengths[i]
                break
        else:
            rows.append([i])
            free.append(row_length - lengths[i])
    return rows


def padding_fraction(batches: Sequence[Sequence[int]], lengths: Sequence[int]) -> float:
    """Share of computed positions that are padding when each batch pads to its longest."""
    computed = sum(len(b) * max(lengths[i] for i in b) for b in batches if b)
    real = sum(lengths[i] for b in batches for i in b)
    return 1.0 - real / computed if computed else 0.0


# --------------------------------------------------------------------------- support


def _config(model: torch.nn.Module):
    return model.config


def pack_support(model: torch.nn.Module, row_length: int, *, decoder: bool) -> str | None:
    """None if ``model`` packs correctly with rows of ``row_length``, else the reason."""
    config = _config(model)
    kind = getattr(config, "model_type", "?")
    allowed = DECODER_TYPES if decoder else ENCODER_TYPES
    if kind not in allowed:
        return f"model type '{kind}' is not verified for packing (supported: {', '.join(allowed)})"
    attn = getattr(config, "_attn_implementation", None) or "eager"
    if attn not in MASK_KERNELS:
        return f"attention implementation '{attn}' takes no block-diagonal mask"
    if kind == "deberta-v2" and int(getattr(config, "conv_kernel_size", 0) or 0) > 0:
        return "DeBERTa convolution layer mixes neighbouring tokens across packed features"
    window = getattr(config, "sliding_window", None)
    if kind == "qwen2" and not getattr(config, "use_sliding_window", False):
        window = None
    if window is not None and int(window) < row_length:
        return f"sliding window {window} is shorter than the row ({row_length})"
    return None


# --------------------------------------------------------------------------- the packer


@dataclass
class PackedBatch:
    """Model inputs of packed rows and where each feature sits: ``slots[k] = (row, start)``."""

    tensors: dict[str, torch.Tensor]
    slots: list[tuple[int, int]]
    lengths: list[int] = field(default_factory=list)


@dataclass
class Packer:
    """Packs features for one model (see the module docstring)."""

    row_length: int
    pad_id: int
    model_type: str
    causal: bool
    attn: str
    position_offset: int = 0

    @classmethod
    def for_model(cls, model: torch.nn.Module, row_length: int, pad_id: int) -> Packer:
        config = _config(model)
        kind = config.model_type
        causal = kind in CAUSAL_BY_DEFAULT and getattr(config, "is_causal", True) is not False
        offset = (config.pad_token_id or 0) + 1 if kind in OFFSET_POSITION_TYPES else 0
        attn = getattr(config, "_attn_implementation", None) or "eager"
        return cls(row_length, pad_id, kind, causal, attn, offset)

    def segments(self, lengths: Sequence[int], rows: Sequence[Sequence[int]]) -> torch.Tensor:
        """``[rows, L]``: 1.. for the features of each row in order, 0 on the padding tail."""
        seg = torch.zeros((len(rows), self.row_length), dtype=torch.long)
        for r, members in enumerate(rows):
            start = 0
            for s, k in enumerate(members, 1):
                seg[r, start : start + lengths[k]] = s
                start += lengths[k]
        return seg

    def block_mask(self, seg: torch.Tensor) -> torch.Tensor:
        """``[rows, L, L]`` bool: query i may attend to key j (same segment; causal if causal)."""
        allowed = seg[:, :, None] == seg[:, None, :]
        if self.causal:
            allowed &= torch.ones(self.row_length, self.row_length, dtype=torch.bool).tril()
        return allowed

    def collate(self, features: Sequence[dict]) -> PackedBatch:
        """Pack ``features`` (``input_ids``, ``length``, optional ``labels``) into rows."""
        lengths = [int(f["length"]) for f in features]
        rows = plan_rows(lengths, self.row_length)
        n_rows, width = len(rows), self.row_length
        ids = torch.full((n_rows, width), self.pad_id, dtype=torch.long)
        # the padding tail keeps the first position, so rows longer than the position table work
        pos = torch.full((n_rows, width), self.position_offset, dtype=torch.long)
        has_labels = bool(features) and "labels" in features[0]
        labels = torch.full((n_rows, width), IGNORE, dtype=torch.long)
        slots: list[tuple[int, int]] = [(0, 0)] * len(features)
        for r, members in enumerate(rows):
            start = 0
            for k in members:
                n = lengths[k]
                ids[r, start : start + n] = torch.tensor(features[k]["input_ids"])
                pos[r, start : start + n] = self.position_offset + torch.arange(n)
                if has_labels:
                    labels[r, start : start + n] = torch.tensor(features[k]["labels"])
                slots[k] = (r, start)
                start += n
        tensors = {
            "input_ids": ids,
            "position_ids": pos,
            "block_mask": self.block_mask(self.segments(lengths, rows)),
        }
        if has_labels:
            tensors["labels"] = labels
        return PackedBatch(tensors, slots, lengths)

    def _mask(self, block: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
        """The 4D mask in the form the attention kernel expects."""
        block = block[:, None]
        if self.attn == "sdpa":
            return block
        additive = torch.zeros(block.shape, dtype=dtype, device=block.device)
        return additive.masked_fill(~block, torch.finfo(dtype).min)

    def logits(self, model: torch.nn.Module, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """``[rows, L, labels]`` logits of a packed (device-placed) batch."""
        if self.model_type == "deberta-v2":
            return _deberta_logits(model, batch)
        dtype = next(model.parameters()).dtype
        if not dtype.is_floating_point:
            dtype = torch.float32
        return model(
            input_ids=batch["input_ids"],
            position_ids=batch["position_ids"],
            attention_mask=self._mask(batch["block_mask"], dtype),
        ).logits

    def loss(self, model: torch.nn.Module, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """Mean cross-entropy over the labelled positions (as the unpacked models compute it)."""
        logits = self.logits(model, batch)
        labels = batch["labels"]
        keep = labels != IGNORE
        return torch.nn.functional.cross_entropy(logits[keep].float(), labels[keep])

    def probabilities(
        self,
        model: torch.nn.Module,
        features: Sequence[dict],
        batch_size: int,
        device: torch.device,
        forward: Callable[[Callable[[], torch.Tensor]], torch.Tensor],
    ) -> list[torch.Tensor]:
        """Softmax ``[length, labels]`` per feature (CPU), ``batch_size`` features per forward.

        Features are taken longest first (rows fill evenly); ``forward(fn)`` runs ``fn`` inside
        the caller's inference, autocast and timer contexts and returns its result.
        """
        order = sorted(range(len(features)), key=lambda i: -features[i]["length"])
        out: list[torch.Tensor | None] = [None] * len(features)
        for start in range(0, len(order), batch_size):
            idx = order[start : start + batch_size]
            packed = self.collate([features[i] for i in idx])
            batch = {k: v.to(device) for k, v in packed.tensors.items()}
            logits = forward(lambda batch=batch: self.logits(model, batch))
            probs = torch.softmax(logits.float(), dim=-1).cpu()
            for k, i in enumerate(idx):
                r, s = packed.slots[k]
                out[i] = probs[r, s : s + packed.lengths[k]]
        return out  # type: ignore[return-value]


def _deberta_logits(model: torch.nn.Module, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    """DeBERTa-v2/v3 token classification with a 3D mask: embeddings get the 2D token mask
    (it multiplies them), the encoder the ``[rows, L, L]`` block mask."""
    block = batch["block_mask"]
    tokens = block.any(-1).long()
    inner = model.deberta
    emb = inner.embeddings(
        input_ids=batch["input_ids"], position_ids=batch["position_ids"], mask=tokens
    )
    hidden = inner.encoder(emb, block.long(), output_hidden_states=False, return_dict=True)
    if getattr(inner, "z_steps", 0) > 1:
        raise ValueError("DeBERTa with z_steps > 1 is not supported by packing")
    return model.classifier(model.dropout(hidden.last_hidden_state))


def packed_probabilities(bundle, features: Sequence[dict], batch_size: int, timer=None):
    """Softmax ``[length, labels]`` per feature with ``bundle.packer``; model in eval
    mode; only the forward passes run inside ``timer`` (a ``ForwardTimer``)."""
    from nerbench.methods.base import ForwardTimer, autocast

    timer = timer or ForwardTimer(bundle.device)
    model = bundle.model
    was_training = model.training
    model.eval()

    def forward(fn: Callable[[], torch.Tensor]) -> torch.Tensor:
        with torch.inference_mode(), autocast(bundle), timer:
            return fn()

    try:
        packer: Packer = bundle.packer
        return packer.probabilities(model, features, batch_size, bundle.device, forward)
    finally:
        model.train(was_training)
