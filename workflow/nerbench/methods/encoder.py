"""Encoder method ``token-classification``: a BERT-family encoder with a linear tag head.

* Labels sit on the first sub-token of each word; other sub-tokens and special tokens get -100.
* Sentences longer than the model limit are split into windows of whole words
  (:func:`.base.word_windows`): disjoint in training (no token dropped), overlapping by
  ``stride`` sub-tokens in prediction, merged so each word gets the tag of the window in which it
  is nearest the centre (:func:`.base.merge_windows`).
* A word the tokenizer turns into nothing (e.g. a lone control character) is represented by the
  unknown token so it still receives a tag.
* Prediction batches windows sorted by length (little padding) and restores the input order;
  with packing (hparam ``packing``) it packs them into rows (:mod:`nerbench.training.packing`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

from nerbench import defaults
from nerbench.hparams import TrainingArgs
from nerbench.io import InputError
from nerbench.methods.base import (
    Bundle,
    Example,
    ForwardTimer,
    Method,
    ModelSource,
    TagPrediction,
    Window,
    autocast,
    merge_windows,
    read_labels,
    read_method_file,
    restrict_tags,
    word_windows,
)
from nerbench.methods.models import load_pretrained
from nerbench.training.packing import Packer, pack_support, packed_probabilities

IGNORE = -100
OFFSET_POSITION_MODELS = ("roberta", "xlm-roberta", "camembert", "longformer")
#: byte-level BPE tokenizers that need ``add_prefix_space`` for pre-split words
PREFIX_SPACE_MODELS = ("roberta", "gpt2", "longformer", "bart")


@dataclass
class SpecialTokens:
    """Ids the tokenizer puts before and after a single sequence (e.g. [CLS] ... [SEP])."""

    prefix: list[int]
    suffix: list[int]

    @classmethod
    def of(cls, tokenizer) -> SpecialTokens:
        enc = tokenizer(["x"], is_split_into_words=True, add_special_tokens=True)
        ids, word_ids = enc["input_ids"], enc.word_ids()
        first = word_ids.index(0)
        last = len(word_ids) - 1 - word_ids[::-1].index(0)
        return cls(prefix=list(ids[:first]), suffix=list(ids[last + 1 :]))

    def __len__(self) -> int:
        return len(self.prefix) + len(self.suffix)


def effective_max_length(requested: int, tokenizer, config) -> int:
    """``requested`` capped by the tokenizer's and the position embeddings' limits."""
    limits = [requested]
    tok_max = getattr(tokenizer, "model_max_length", None)
    if isinstance(tok_max, int) and 0 < tok_max < 100_000:
        limits.append(tok_max)
    positions = getattr(config, "max_position_embeddings", None)
    if isinstance(positions, int) and positions > 0:
        # RoBERTa-style models offset positions by padding_idx + 1
        offset = 0
        if getattr(config, "model_type", "") in OFFSET_POSITION_MODELS:
            offset = (config.pad_token_id or 0) + 1
        limits.append(positions - offset)
    return min(limits)


def word_pieces(tokenizer, sentences: Sequence[Sequence[str]]) -> list[list[list[int]]]:
    """Sub-token ids of every word of every sentence (no special tokens; empty words -> [UNK])."""
    out: list[list[list[int]]] = [[] for _ in sentences]
    todo = [i for i, s in enumerate(sentences) if len(s) > 0]
    if not todo:
        return out
    enc = tokenizer(
        [list(sentences[i]) for i in todo], is_split_into_words=True, add_special_tokens=False
    )
    unk = tokenizer.unk_token_id if tokenizer.unk_token_id is not None else 0
    for row, i in enumerate(todo):
        pieces: list[list[int]] = [[] for _ in sentences[i]]
        for tok_id, w in zip(enc["input_ids"][row], enc.word_ids(row), strict=True):
            if w is not None:
                pieces[w].append(tok_id)
        out[i] = [p if p else [unk] for p in pieces]
    return out


class TokenClassificationMethod(Method):
    """``AutoModelForTokenClassification`` with first-sub-token labels (see module docstring)."""

    name = "token-classification"

    # ----------------------------------------------------------------- loading / saving

    def load_for_training(
        self, source: ModelSource, labels: list[str], args: TrainingArgs, device: torch.device
    ) -> Bundle:
        from transformers import AutoConfig, AutoModelForTokenClassification, AutoTokenizer

        config = load_pretrained(AutoConfig, source)
        tok_kwargs = {"add_prefix_space": True} if config.model_type in PREFIX_SPACE_MODELS else {}
        tokenizer = load_pretrained(AutoTokenizer, source, **tok_kwargs)
        if tokenizer.pad_token_id is None and tokenizer.eos_token is not None:
            tokenizer.pad_token = tokenizer.eos_token  # GPT-2 style: no pad token of its own
        model = load_pretrained(
            AutoModelForTokenClassification,
            source,
            num_labels=len(labels),
            id2label=dict(enumerate(labels)),
            label2id={label: i for i, label in enumerate(labels)},
            pad_token_id=tokenizer.pad_token_id,
        )
        max_length = effective_max_length(
            args.max_length or source.max_length, tokenizer, model.config
        )
        return self._bundle(model, tokenizer, labels, max_length, device)

    def load_trained(self, model_dir: Path, device: torch.device) -> Bundle:
        from transformers import AutoModelForTokenClassification, AutoTokenizer

        info = read_method_file(model_dir)
        labels = read_labels(model_dir)
        tokenizer = AutoTokenizer.from_pretrained(model_dir)
        model = AutoModelForTokenClassification.from_pretrained(model_dir)
        if model.config.num_labels != len(labels):
            raise InputError(
                f"model has {model.config.num_labels} labels but labels.json lists {len(labels)}",
                model_dir,
            )
        return self._bundle(model, tokenizer, labels, int(info["max_length"]), device)

    def _bundle(self, model, tokenizer, labels, max_length, device) -> Bundle:
        if tokenizer.pad_token_id is None:
            raise InputError(f"tokenizer of {model.name_or_path} has no padding token")
        special = SpecialTokens.of(tokenizer)
        if max_length <= len(special):
            raise InputError(f"max_length {max_length} leaves no room for words")
        return Bundle(
            method=self.name,
            model=model.to(device),
            tokenizer=tokenizer,
            labels=list(labels),
            max_length=max_length,
            device=device,
            extra={"special": special},
        )

    # ----------------------------------------------------------------- features

    def encode(self, bundle: Bundle, examples: Sequence[Example], train: bool) -> list[dict]:
        """Training: disjoint windows with labels. Prediction: use :meth:`encode_windows`."""
        return self.encode_windows(bundle, examples, stride=0, with_labels=train)

    def encode_windows(
        self, bundle: Bundle, examples: Sequence[Example], stride: int, with_labels: bool
    ) -> list[dict]:
        """Features for each window of each example, in example order.

        Each feature: ``input_ids``, ``labels`` (if ``with_labels``), ``word_index`` (position of
        each word's first sub-token in ``input_ids``), ``example``, ``window``, ``length``.
        """
        special: SpecialTokens = bundle.extra["special"]
        budget = bundle.max_length - len(special)
        label2id = bundle.label2id
        pieces_all = word_pieces(bundle.tokenizer, [ex.tokens for ex in examples])
        features: list[dict] = []
        for ex_i, (ex, pieces) in enumerate(zip(examples, pieces_all, strict=True)):
            label_ids = self._label_ids(ex, label2id) if with_labels else None
            for win in word_windows([len(p) for p in pieces], budget, stride):
                features.append(_window_feature(pieces, win, budget, special, label_ids, ex_i))
        return features

    @staticmethod
    def _label_ids(ex: Example, label2id: dict[str, int]) -> list[int]:
        if ex.tags is None or len(ex.tags) != len(ex.tokens):
            raise InputError(f"sentence '{ex.id}': tags missing or not one per token")
        unknown = sorted({t for t in ex.tags if t not in label2id})
        if unknown:
            raise InputError(
                f"sentence '{ex.id}' (dataset {ex.dataset}) has tags {unknown} outside the "
                f"label set {sorted(label2id)}; check dataset_types of the run"
            )
        return [label2id[t] for t in ex.tags]

    # ----------------------------------------------------------------- prediction

    def predict(
        self,
        bundle: Bundle,
        examples: Sequence[Example],
        *,
        batch_size: int = defaults.PREDICT_BATCH_SIZE,
        stride: int = TrainingArgs.stride,
        timer: ForwardTimer | None = None,
        allowed_types: Iterable[str] | None = None,
    ) -> list[TagPrediction]:
        features = self.encode_windows(bundle, examples, stride=stride, with_labels=False)
        probs = self.window_probabilities(bundle, features, batch_size, timer)
        per_example: list[tuple[list[Window], list[torch.Tensor]]] = [([], []) for _ in examples]
        for f, p in zip(features, probs, strict=True):
            per_example[f["example"]][0].append(f["window"])
            per_example[f["example"]][1].append(p)
        allowed = None if allowed_types is None else list(allowed_types)
        out = []
        for ex, (windows, window_probs) in zip(examples, per_example, strict=True):
            rows = merge_windows(len(ex.tokens), windows, [list(p) for p in window_probs], None)
            out.append(self._decode(bundle, rows, allowed))
        return out

    def packer(self, bundle: Bundle, row_length: int) -> Packer | str:
        reason = pack_support(bundle.model, row_length, decoder=False)
        return reason or Packer.for_model(bundle.model, row_length, bundle.tokenizer.pad_token_id)

    def window_probabilities(
        self, bundle: Bundle, features: list[dict], batch_size: int, timer: ForwardTimer | None
    ) -> list[torch.Tensor]:
        """Softmax label probabilities ``[n_words, n_labels]`` of each feature's words (packed
        rows when ``bundle.packer`` is set)."""
        if bundle.packer is not None:
            probs = packed_probabilities(bundle, features, batch_size, timer)
            return [p[f["word_index"]] for p, f in zip(probs, features, strict=True)]
        order = sorted(range(len(features)), key=lambda i: -features[i]["length"])
        result: list[torch.Tensor | None] = [None] * len(features)
        timer = timer or ForwardTimer(bundle.device)
        model = bundle.model
        was_training = model.training
        model.eval()
        try:
            for start in range(0, len(order), batch_size):
                idx = order[start : start + batch_size]
                batch = self.collate(bundle, [features[i] for i in idx])
                batch = {k: v.to(bundle.device) for k, v in batch.items()}
                with torch.inference_mode(), autocast(bundle), timer:
                    logits = model(**batch).logits
                probs = torch.softmax(logits.float(), dim=-1).cpu()
                for row, i in enumerate(idx):
                    result[i] = probs[row, features[i]["word_index"]]
        finally:
            model.train(was_training)
        return result  # type: ignore[return-value]

    def _decode(
        self, bundle: Bundle, rows: list[torch.Tensor | None], allowed: list[str] | None
    ) -> TagPrediction:
        tags, scores = [], []
        for row in rows:
            if row is None:  # not reachable: every word is in a window
                tags.append("O")
                scores.append(0.0)
                continue
            k = int(row.argmax())
            tags.append(bundle.labels[k])
            scores.append(float(row[k]))
        restricted = restrict_tags(tags, allowed)
        o = bundle.label2id["O"]
        for i, (before, after) in enumerate(zip(tags, restricted, strict=True)):
            if before != after:
                scores[i] = float(rows[i][o])  # type: ignore[index]
        return TagPrediction(tags=restricted, scores=scores)


def _window_feature(
    pieces: list[list[int]],
    win: Window,
    budget: int,
    special: SpecialTokens,
    label_ids: list[int] | None,
    example_index: int,
) -> dict:
    """One model input for words ``win.start:win.end``; over-long words are truncated."""
    ids = list(special.prefix)
    labels = [IGNORE] * len(ids)
    word_index = []
    for w in range(win.start, win.end):
        piece = pieces[w][: max(1, budget - (len(ids) - len(special.prefix)))]
        word_index.append(len(ids))
        ids.extend(piece)
        if label_ids is not None:
            labels.append(label_ids[w])
            labels.extend([IGNORE] * (len(piece) - 1))
    ids.extend(special.suffix)
    feature = {
        "input_ids": ids,
        "word_index": word_index,
        "example": example_index,
        "window": win,
        "length": len(ids),
    }
    if label_ids is not None:
        feature["labels"] = labels + [IGNORE] * len(special.suffix)
    return feature
