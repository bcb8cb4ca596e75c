"""Method ``generative`` (paper 000): a decoder LLM writes one ``token:TAG`` line per token.

* **Prompt** (Alpaca style) lists the label set; the input is the space-joined sentence. The
  target is ``tok1:TAG1\\ntok2:TAG2...`` followed by EOS; the loss covers the response only
  (prompt tokens are labelled -100).
* **Model**: ``AutoModelForCausalLM`` with (Q)LoRA on attention, MLP and ``lm_head``
  (defaults in :mod:`.lora_settings`; 4-bit NF4 when ``quantization: 4bit``), see :mod:`.adapters`.
* **Decoding**: greedy, ``max_new_tokens`` = max(8 per word, estimated answer length) + 16, capped
  by hparam ``max_new_tokens`` (default 1024). Long sentences are split into word windows
  (:func:`nerbench.methods.base.word_windows`) sized so prompt and answer fit ``max_length``.
* **Parsing** (:func:`parse_response`) reads exactly what :func:`build_target` writes: the
  answer is split into lines at ``\n`` only (:data:`LINE_SEP`; never at the other breaks
  ``str.splitlines`` knows, U+0085, U+2028, ..., which a word may hold), and a line
  ``<word>:<tag>`` whose tail after the last colon (:data:`TAG_SEP`; tags hold none) is a tag is
  that pair, the word kept as written (so ``Na+:Cl-:B-Chemical`` is word ``Na+:Cl-`` and
  ``###:O`` is word ``###``): ``parse_response(build_target(words, tags))`` gives back
  ``(words, tags)`` for any words without tab, CR or LF. Other lines are read leniently: blank
  lines are skipped, a line starting with ``###`` (a new section) ends the answer, and the line
  is stripped and split at the first separator, in this order, whose tail is a tag (``O`` or
  ``B-``/``I-``/``E-``/``S-`` + type, any case): the last tab (``token<TAB>TAG``), the last
  colon, the last run of whitespace (``token TAG``). A line without such a tail has no tag
  (``None``); a tag of a type outside the label set is read as ``O``.
* **Alignment** (:func:`align_to_gold`) never guesses. Line *i* of the answer belongs to word
  *i* of the window (the prompt asks for one line per word, in order). A window is aligned
  only if the answer has exactly one line per word, every line has a tag and every line's
  token equals its word after :func:`normalize_token` (Unicode NFKC, surrounding whitespace
  removed; case and inner characters must match). Anything else (a dropped, added, split,
  merged, reordered or changed word, a line without a tag, an answer about another sentence)
  is an *alignment failure*: none of the window's tags is used and its words are predicted
  ``O``, since which line belongs to which word is then unknown (with repeated words even a
  matching prefix can be shifted). An empty window is aligned whatever the answer.
  Overlapping windows: each word takes its tag from the aligned window in which it lies
  farthest from an edge; a word in no aligned window is ``O`` and *unaligned*.
* **Failures are counted**: a sentence with any failed window is an alignment failure.
  :func:`write_prediction_meta` writes ``<pred>.meta.json`` = ``{"alignment_failures": n,
  "unaligned_tokens": k, "sentences": m}`` next to the CoNLL file of each dataset;
  :mod:`nerbench.evaluate` copies ``alignment_failures`` into that dataset's metrics and the
  aggregated ``metrics.tsv`` / ``metrics`` table show it per run and dataset.
* **Tags are written raw**: the predicted tags go to the CoNLL file as aligned; the IOB2
  decoding rule that every method shares is applied by the scorer
  (:func:`nerbench.evaluate.decoding.decode_iob2`), not here.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from nerbench import defaults
from nerbench.evaluate.conll import meta_path
from nerbench.hparams import TrainingArgs
from nerbench.io import InputError, write_json
from nerbench.methods import adapters
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
from nerbench.methods.decoder import load_tokenizer, source_dict
from nerbench.methods.lora_settings import LoraSettings, lora_defaults

IGNORE = -100
DEFAULT_LORA = lora_defaults()["generative"]
DEFAULT_MAX_NEW_TOKENS = 1024
TOKENS_PER_WORD = 8
EXTRA_NEW_TOKENS = 16
HEADER = (
    "Below is an instruction that describes a task, paired with an input that provides further "
    "context. Write a response that appropriately completes the request.\n\n"
)
TAG_LIKE = re.compile(r"^(O|[BIES]-\S+)$", re.IGNORECASE)
LINE_SEP = "\n"  # between the lines of an answer (build_target); the parser splits at it alone
TAG_SEP = ":"  # between a word and its tag; tags hold no colon, so the last one splits a line
SEPARATORS = ("\t", TAG_SEP, None)  # lenient reading, in this order; None = a run of whitespace


# --------------------------------------------------------------------------- prompts


def build_prompt(tokens: Sequence[str], labels: Sequence[str]) -> str:
    """Alpaca-style instruction listing ``labels``; the response starts right after it."""
    instruction = (
        "Tag every token of the input for biomedical named entities with one of these labels: "
        f"{', '.join(labels)}. B- marks the first token of an entity, I- a following token of "
        "the same entity and O a token outside any entity. Write one line per input token, in "
        "order, as token:LABEL."
    )
    sentence = " ".join(tokens)
    return f"{HEADER}### Instruction:\n{instruction}\n\n### Input:\n{sentence}\n\n### Response:\n"


def build_target(tokens: Sequence[str], tags: Sequence[str]) -> str:
    """``token:TAG`` lines, one per token (:func:`parse_response` reads them back exactly)."""
    return LINE_SEP.join(f"{tok}{TAG_SEP}{tag}" for tok, tag in zip(tokens, tags, strict=True))


# --------------------------------------------------------------------------- parsing


def parse_response(text: str, labels: Iterable[str]) -> list[tuple[str, str | None]]:
    """``(token, tag)`` pairs from generated text, one per line (rules: module docstring).

    ``tag`` is None for a line without a tag; tags of unknown types are ``O``.
    """
    known = {label: label for label in labels}
    known.update({label.lower(): label for label in list(known)})
    pairs: list[tuple[str, str | None]] = []
    for raw in text.split(LINE_SEP):
        exact = _target_line(raw.removesuffix("\r"), known)
        if exact is not None:
            pairs.append(exact)
            continue
        line = raw.strip()
        if not line:
            continue
        if line.startswith("###"):
            break
        pairs.append(_parse_line(line, known))
    return pairs


def _tag(tag: str, known: dict[str, str]) -> str:
    return known.get(tag) or known.get(tag.lower()) or "O"


def _target_line(line: str, known: dict[str, str]) -> tuple[str, str] | None:
    """A line exactly as :func:`build_target` writes it (word kept as is), else None."""
    token, sep, tag = line.rpartition(TAG_SEP)
    if sep and token and TAG_LIKE.match(tag):
        return token, _tag(tag, known)
    return None


def _parse_line(line: str, known: dict[str, str]) -> tuple[str, str | None]:
    for sep in SEPARATORS:
        if sep is None:
            parts = line.rsplit(None, 1)
            if len(parts) < 2:
                continue
            token, tag = parts
        else:
            if sep not in line:
                continue
            token, _, tag = line.rpartition(sep)
        token, tag = token.strip(), tag.strip()
        if token and TAG_LIKE.match(tag):
            return token, _tag(tag, known)
    return line, None


def normalize_token(token: str) -> str:
    """The form in which a generated token must equal its gold token: NFKC, stripped."""
    return unicodedata.normalize("NFKC", token).strip()


@dataclass
class Alignment:
    tags: list[str]
    aligned: int  # gold tokens that received a generated tag (all or none)
    total: int
    problem: str | None = None  # why the window failed (None when aligned)

    @property
    def complete(self) -> bool:
        return self.aligned == self.total


def align_to_gold(gold: Sequence[str], pairs: Sequence[tuple[str, str | None]]) -> Alignment:
    """Tags for ``gold`` from generated ``(token, tag)`` pairs, all or nothing (module docstring).

    Returns the generated tags when line *i* has a tag and its token equals ``gold[i]`` after
    :func:`normalize_token` for every *i* and there are no other lines; otherwise all ``O`` with
    ``aligned`` 0 and ``problem`` naming the first mismatch.
    """
    total = len(gold)
    if total == 0:
        return Alignment([], 0, 0)
    problem = None
    if len(pairs) != total:
        problem = f"{len(pairs)} lines for {total} words"
    else:
        for i, (word, (token, tag)) in enumerate(zip(gold, pairs, strict=True)):
            if normalize_token(token) != normalize_token(word):
                problem = f"line {i + 1}: token {token!r} is not word {word!r}"
                break
            if tag is None:
                problem = f"line {i + 1}: no tag"
                break
    if problem is not None:
        return Alignment(["O"] * total, 0, total, problem)
    return Alignment([str(tag) for _, tag in pairs], total, total)


@dataclass
class GenerativePrediction(TagPrediction):
    """A :class:`TagPrediction` with the alignment outcome and the raw generated text."""

    aligned: bool = True
    raw: str = ""
    unaligned: int = 0  # words that got no generated tag (predicted O)


def prediction_meta(predictions: Sequence[TagPrediction]) -> dict[str, int]:
    """``{"alignment_failures": n, "unaligned_tokens": k, "sentences": m}``.

    Predictions without the flag (other methods) count as aligned.
    """
    failures = sum(1 for p in predictions if not getattr(p, "aligned", True))
    unaligned = sum(int(getattr(p, "unaligned", 0)) for p in predictions)
    return {
        "alignment_failures": failures,
        "unaligned_tokens": unaligned,
        "sentences": len(predictions),
    }


def write_prediction_meta(pred_path: str | Path, predictions: Sequence[TagPrediction]) -> Path:
    """Write the alignment sidecar next to ``pred_path`` atomically; return its path."""
    path = meta_path(pred_path)
    write_json(path, prediction_meta(predictions))
    return path


# --------------------------------------------------------------------------- the method


class GenerativeMethod(Method):
    """Decoder that generates ``token:TAG`` lines (see the module docstring)."""

    name = "generative"
    default_lora = DEFAULT_LORA

    # ----------------------------------------------------------------- loading / saving

    def load_for_training(
        self, source: ModelSource, labels: list[str], args: TrainingArgs, device: torch.device
    ) -> Bundle:
        quantization = adapters.resolve_quantization(args.quantization, source)
        lora = LoraSettings.from_args(args, self.default_lora)
        tokenizer = load_tokenizer(source.name_or_path, source)
        model = load_causal_lm(source, quantization, device)
        model = adapters.add_lora(
            model,
            lora,
            task_type="CAUSAL_LM",
            target_modules=adapters.lora_target_modules(args.lora_targets, model),
            modules_to_save=None,
            quantized=quantization != "none",
            gradient_checkpointing=args.gradient_checkpointing,
        )
        extra = {
            "base": source_dict(source, quantization),
            "lora": lora.__dict__ if lora.r else None,
            "max_new_tokens": int(args.max_new_tokens or DEFAULT_MAX_NEW_TOKENS),
        }
        max_length = int(args.max_length or source.max_length)
        return self._bundle(model, tokenizer, labels, max_length, device, extra)

    def _bundle(self, model, tokenizer, labels, max_length, device, extra) -> Bundle:
        if tokenizer.eos_token_id is None:
            raise InputError(f"tokenizer of '{extra['base']['model_id']}' has no EOS token")
        return Bundle(self.name, model, tokenizer, list(labels), int(max_length), device, extra)

    def save(self, bundle: Bundle, out_dir: Path, metadata: dict[str, Any] | None = None) -> None:
        """Adapter (or the full model when ``lora_r`` is 0), tokenizer, labels, method."""
        info = {k: bundle.extra.get(k) for k in ("base", "lora", "max_new_tokens")}
        adapters.save_decoder_bundle(bundle, out_dir, self.name, info, metadata)

    def load_trained(self, model_dir: Path, device: torch.device) -> Bundle:
        model_dir = Path(model_dir)
        info = read_method_file(model_dir)
        labels = read_labels(model_dir)
        tokenizer = load_tokenizer(str(model_dir))
        model = adapters.load_decoder_model(model_dir, info, device, load_causal_lm)
        extra = {k: info.get(k) for k in ("base", "lora", "max_new_tokens")}
        return self._bundle(model.eval(), tokenizer, labels, info["max_length"], device, extra)

    # ----------------------------------------------------------------- features

    def encode(self, bundle: Bundle, examples: Sequence[Example], train: bool) -> list[dict]:
        """Prompt + response features (``train``: response labelled, prompt -100)."""
        features: list[dict] = []
        for i, ex in enumerate(examples):
            tags = self._tags(ex) if train else None
            for win in self.windows(bundle, ex.tokens, stride=0):
                words = ex.tokens[win.start : win.end]
                window_tags = tags[win.start : win.end] if tags is not None else None
                features.append(self._feature(bundle, words, window_tags, i, win))
        return features

    @staticmethod
    def _tags(ex: Example) -> list[str]:
        if ex.tags is None or len(ex.tags) != len(ex.tokens):
            raise InputError(f"sentence '{ex.id}': tags missing or not one per token")
        return list(ex.tags)

    def _feature(
        self, bundle: Bundle, words: Sequence[str], tags: Sequence[str] | None, i: int, win: Window
    ) -> dict:
        tok = bundle.tokenizer
        prompt_ids = tok(build_prompt(words, bundle.labels), add_special_tokens=True)["input_ids"]
        feature: dict[str, Any] = {"example": i, "window": win, "n_words": len(words)}
        if tags is None:
            feature.update(input_ids=list(prompt_ids), length=len(prompt_ids))
            return feature
        answer = tok(build_target(words, tags), add_special_tokens=False)["input_ids"]
        answer = list(answer) + [tok.eos_token_id]
        ids = (list(prompt_ids) + answer)[: bundle.max_length]
        labels = ([IGNORE] * len(prompt_ids) + answer)[: bundle.max_length]
        feature.update(input_ids=ids, labels=labels, length=len(ids))
        return feature

    def windows(
        self,
        bundle: Bundle,
        words: Sequence[str],
        stride: int,
        costs: list[tuple[int, int]] | None = None,
    ) -> list[Window]:
        """Word windows whose prompt plus answer fit ``max_length`` (estimated per word)."""
        if not words:
            return [Window(0, 0)]
        tok = bundle.tokenizer
        overhead = len(tok(build_prompt([], bundle.labels))["input_ids"]) + 1
        budget = bundle.max_length - overhead
        if budget < 1:
            raise InputError(
                f"max_length {bundle.max_length} leaves no room for words after the "
                f"{overhead}-token prompt of method 'generative'"
            )
        costs = costs if costs is not None else self.word_costs(bundle, words)
        return word_windows([a + b for a, b in costs], budget, stride)

    def word_costs(self, bundle: Bundle, words: Sequence[str]) -> list[tuple[int, int]]:
        """Tokens a word adds to the input and to the answer (its line, longest label)."""
        if not words:
            return []
        tok = bundle.tokenizer
        longest = max(bundle.labels, key=len)
        lines = [f"{w}:{longest}\n" for w in words]
        inputs = tok([f" {w}" for w in words], add_special_tokens=False)["input_ids"]
        answers = tok(lines, add_special_tokens=False)["input_ids"]
        return [(len(a), len(b)) for a, b in zip(inputs, answers, strict=True)]

    def collate(self, bundle: Bundle, features: Sequence[dict]) -> dict[str, torch.Tensor]:
        """Right-pad for training; ``labels`` -100 on padding."""
        return pad_features(features, bundle.tokenizer.pad_token_id, side="right")

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
    ) -> list[GenerativePrediction]:
        features = []
        for i, ex in enumerate(examples):
            costs = self.word_costs(bundle, ex.tokens)
            for win in self.windows(bundle, ex.tokens, stride=stride, costs=costs):
                words = ex.tokens[win.start : win.end]
                feature = self._feature(bundle, words, None, i, win)
                feature["answer_estimate"] = sum(a for _, a in costs[win.start : win.end])
                features.append(feature)
        texts = self.generate(bundle, features, batch_size, timer)
        grouped: dict[int, list[tuple[Window, Alignment, str]]] = {}
        for f, text in zip(features, texts, strict=True):
            ex = examples[f["example"]]
            words = ex.tokens[f["window"].start : f["window"].end]
            alignment = align_to_gold(words, parse_response(text, bundle.labels))
            grouped.setdefault(f["example"], []).append((f["window"], alignment, text))
        allowed = None if allowed_types is None else list(allowed_types)
        out = []
        for i, ex in enumerate(examples):
            parts = grouped.get(i, [])
            ok = [(w, a) for w, a, _ in parts if a.complete]
            rows = [[(tag, True) for tag in a.tags] for _, a in ok]
            merged = merge_windows(len(ex.tokens), [w for w, _ in ok], rows, ("O", False))
            tags = restrict_tags([tag for tag, _ in merged], allowed)
            out.append(
                GenerativePrediction(
                    tags=tags,
                    scores=[1.0] * len(tags),
                    aligned=all(a.complete for _, a, _ in parts),
                    raw="\n".join(t for _, _, t in parts),
                    unaligned=sum(1 for _, hit in merged if not hit),
                )
            )
        return out

    def prediction_meta(self, predictions: Sequence[TagPrediction]) -> dict[str, int]:
        """Sidecar content for the predict stage (see :func:`write_prediction_meta`)."""
        return prediction_meta(predictions)

    def max_new_tokens(self, bundle: Bundle, features: Sequence[dict]) -> int:
        """max(8 per word, estimated answer length) + 16, capped by hparam ``max_new_tokens``."""
        words = max(f["n_words"] for f in features)
        estimate = max(features, key=lambda f: f["n_words"]).get("answer_estimate", 0)
        want = max(TOKENS_PER_WORD * words, estimate) + EXTRA_NEW_TOKENS
        return max(1, min(want, int(bundle.extra.get("max_new_tokens") or DEFAULT_MAX_NEW_TOKENS)))

    def generate(
        self, bundle: Bundle, features: list[dict], batch_size: int, timer: ForwardTimer | None
    ) -> list[str]:
        """Greedy generation for each prompt feature (batched by length, left-padded)."""
        from transformers import GenerationConfig

        tok = bundle.tokenizer
        order = sorted(range(len(features)), key=lambda i: -features[i]["length"])
        texts = [""] * len(features)
        timer = timer or ForwardTimer(bundle.device)
        model = bundle.model
        was_training = model.training
        model.eval()
        try:
            for start in range(0, len(order), batch_size):
                idx = order[start : start + batch_size]
                batch_features = [features[i] for i in idx]
                batch = pad_features(batch_features, tok.pad_token_id, side="left")
                batch = {k: v.to(bundle.device) for k, v in batch.items()}
                budgets = [self.max_new_tokens(bundle, [f]) for f in batch_features]
                config = GenerationConfig(
                    max_new_tokens=max(budgets),
                    do_sample=False,
                    num_beams=1,
                    pad_token_id=tok.pad_token_id,
                    eos_token_id=tok.eos_token_id,
                )
                with torch.inference_mode(), autocast(bundle), timer:
                    out = model.generate(**batch, generation_config=config)
                new = out[:, batch["input_ids"].shape[1] :].cpu()
                for row, i in enumerate(idx):  # own budget: independent of batch companions
                    texts[i] = tok.decode(new[row, : budgets[row]], skip_special_tokens=True)
        finally:
            model.train(was_training)
        return texts


def pad_features(features: Sequence[dict], pad_id: int, side: str) -> dict[str, torch.Tensor]:
    """Pad ``input_ids`` (and ``labels`` if present) to the longest feature on ``side``."""
    width = max(f["length"] for f in features)
    ids = torch.full((len(features), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(features), width), dtype=torch.long)
    has_labels = "labels" in features[0]
    labels = torch.full((len(features), width), IGNORE, dtype=torch.long)
    for row, f in enumerate(features):
        n = f["length"]
        cols = slice(0, n) if side == "right" else slice(width - n, width)
        ids[row, cols] = torch.tensor(f["input_ids"])
        mask[row, cols] = 1
        if has_labels:
            labels[row, cols] = torch.tensor(f["labels"])
    batch = {"input_ids": ids, "attention_mask": mask}
    if has_labels:
        batch["labels"] = labels
    return batch


def load_causal_lm(source: ModelSource, quantization: str, device: torch.device) -> Any:
    """``AutoModelForCausalLM`` (optionally quantized) on ``device``."""
    from transformers import AutoModelForCausalLM

    from nerbench.methods.models import load_pretrained

    adapters.check_quantization(quantization, source.model_id, device)
    dtype = adapters.model_dtype(source.dtype, device, quantization)
    model = load_pretrained(
        AutoModelForCausalLM, source, **adapters.load_kwargs(quantization, device, dtype, [])
    )
    if quantization == "none":
        model = model.to(device)
    adapters.use_run_kernel(model)
    return model
