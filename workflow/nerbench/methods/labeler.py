"""Method ``labeler`` (VANER, paper 001): a decoder LLM used as a bidirectional sequence labeler.

* **Model**: ``AutoModelForTokenClassification`` of a decoder family (Llama, Mistral, Qwen2, ...)
  with a 3-way head (``O``, ``B``, ``I`` of the *requested* type). The causal mask is removed by
  ``config.is_causal = False`` (transformers' mask factory then builds a bidirectional mask; a
  Mistral sliding window becomes a two-sided window) and the **padding mask is kept**: pads are
  never attended to (VANER's public code passes an all-zero mask, which lets tokens attend to pads;
  we do not copy that). Every load runs a probe that fails loudly if attention is still causal.
* **Instructions** are VANER's own (template ``vaner``, the default), read from its released
  code, github.com/Eulring/VANER ``utils_vaner.py`` function ``parse_mt`` (``token1``,
  ``token2``) at commit ``8289c169d38acd90dd6f0a55bd02eeb356b1f71f``, unchanged at HEAD
  ``239b273439e38228f45075bb27f577bcbff3d3b4``:
  ``If any <Type> entity is mentioned in the <dataset> input, extract it. ##input: `` and the
  type-only form ``If any <Type> entity is mentioned in the input, extract it. ##input: ``,
  each followed directly by the sentence. The paper (Eqs. 1 and 6) says what an instruction
  holds: dataset name and type, or the type alone for DBR samples (section 3.4), VANER_adapt
  (4.2.3) and the unseen CRAFT corpus (4.6); it does not give the wording (its Fig. 1 is an
  image), so the wording is the code's. Where the two disagree we follow the paper: the code's
  CRAFT evaluation (``unllama_eval_vaner.py``) passes dataset names (``craft_chemicals``,
  ``test_craft_genes``, ``craft_species``), the paper says none was given; here every dataset
  the model was not trained on gets the type-only form. Spelling as in the code: the type as
  the dataset's type (``Gene``, ``Chemical``, ``Disease``, ``Species``; a ``_`` becomes a space,
  e.g. ``cell line``, a type VANER does not have), the dataset as VANER's cohort name
  (:data:`VANER_DATASET_NAMES`: ``NCBI-disease`` -> ``ncbi``, ``JNLPBA-gene`` -> ``JNLPBA``,
  the other six alike), a ``-demo`` suffix stripped. The code puts the instruction in place of
  the first word of a pre-split sentence (``is_split_into_words``); here ``instruction + "
  ".join(words)`` is tokenised as one text. Hparam ``instruction: type`` (VANER_adapt), DBR
  samples, raw text and datasets unseen in training get the type-only form.
  **This template changes what a labeler run trains on**: runs trained before it became the
  default used the wording kept as template ``recognize`` (``### Instruction: Recognize <Type>
  entities in the <Dataset> dataset.\n### Input: `` / ``### Instruction: Recognize <Type>
  entities.\n### Input: ``, dataset names unchanged), chosen with hparam ``prompt_template:
  recognize``. A saved model whose ``method.json`` names no template was trained with
  ``recognize`` and is queried with it.
* **Labels**: prompt tokens get -100; the first sub-token of each sentence word carries B/I/O of
  the requested type, other sub-tokens -100. A sentence of a multi-type dataset (BC5CDR, JNLPBA)
  yields one sample per type.
* **Merging types** at prediction: each type is asked for separately; entity spans of all types
  are ranked by their mean tag probability and accepted greedily, so where spans of different
  types overlap the more probable one wins and the result is a valid multi-type IOB2 sequence.
  An ``I`` without a preceding entity starts a new one (conlleval convention).
* **Training data mixture** (hparam ``mixture_sampling``): ``concat`` (default) or
  ``temperature:<T>``, which resamples each dataset to a share proportional to ``size**(1/T)``
  (same total size, seeded by the run seed). DBR samples are passed through unchanged.
* **PEFT**: LoRA (defaults in :mod:`.lora_settings`) on all linear layers, head trainable,
  optional 4-/8-bit quantization and gradient checkpointing (:mod:`.adapters`). Saved
  models hold the adapter and head only; ``method.json`` names the base model.

DBR samples are recognised by ``dataset`` ``None`` or ``dbr:<name>``, or by the record ids that
:mod:`nerbench.dbr.samples`
writes (``dbr:<doc>/...``, ``random:<doc>/...``). Each asks for one type: the
sample's only declared type, else the only type in its tags (see :func:`dbr_types`).
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import torch

from nerbench import defaults
from nerbench.hparams import TrainingArgs
from nerbench.io import InputError
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
from nerbench.methods.prompts import (
    DEFAULT_TEMPLATE,
    LEGACY_TEMPLATE,
    Prompted,
    build_instruction,
    check_instruction_mode,
    check_prompt_template,
    dbr_types,
    display_dataset,
    fit_length,
    is_dbr,
    prompt_dataset,
    tokenize_prompted,
    type_labels,
)
from nerbench.training.packing import Packer, pack_support, packed_probabilities

IGNORE = -100
BIO = ("O", "B", "I")
HEAD_MODULES = ["score", "classifier"]
DEFAULT_LORA = lora_defaults()["labeler"]
DEFAULT_ATTN = "sdpa"


# --------------------------------------------------------------------------- mixture sampling


def parse_mixture(spec: str | None) -> float | None:
    """``concat``/None -> None; ``temperature:<T>`` -> T (> 0)."""
    if spec in (None, "", "concat"):
        return None
    head, _, value = str(spec).partition(":")
    try:
        temperature = float(value)
    except ValueError:
        temperature = -1.0
    if head != "temperature" or not temperature > 0 or math.isinf(temperature):
        raise InputError(
            f"hparam 'mixture_sampling' is '{spec}'; allowed: 'concat' or 'temperature:<T>' "
            "with T > 0"
        )
    return temperature


def mixture_counts(sizes: dict[str, int], temperature: float) -> dict[str, int]:
    """Samples per dataset: shares proportional to ``size**(1/T)``, total = sum of sizes."""
    total = sum(sizes.values())
    weights = {k: n ** (1.0 / temperature) for k, n in sizes.items() if n > 0}
    norm = sum(weights.values())
    counts = {k: int(round(total * w / norm)) for k, w in weights.items()}
    return {k: max(1, c) for k, c in counts.items()}


def mixture_sample(examples: Sequence[Example], spec: str | None, seed: int) -> list[Example]:
    """Resample training examples per dataset (see :func:`mixture_counts`); deterministic.

    A dataset drawn fewer times than its size gets a random subset; more times, all of it plus
    random repeats. DBR samples are kept as they are, after the dataset samples.
    """
    temperature = parse_mixture(spec)
    regular = [ex for ex in examples if not is_dbr(ex)]
    dbr = [ex for ex in examples if is_dbr(ex)]
    groups: dict[str, list[Example]] = {}
    for ex in regular:
        groups.setdefault(str(ex.dataset), []).append(ex)
    if temperature is None or len(groups) < 2:
        return list(examples)
    rng = random.Random(seed)
    counts = mixture_counts({k: len(v) for k, v in groups.items()}, temperature)
    out: list[Example] = []
    for name in sorted(groups):
        pool, want = groups[name], counts[name]
        if want <= len(pool):
            picks = sorted(rng.sample(range(len(pool)), want))
        else:
            picks = list(range(len(pool))) + rng.choices(range(len(pool)), k=want - len(pool))
        out.extend(pool[i] for i in picks)
    rng.shuffle(out)
    return out + dbr


# --------------------------------------------------------------------------- merging types


@dataclass(frozen=True)
class Span:
    start: int
    end: int  # exclusive
    type: str
    score: float


def bio_spans(tag_ids: Sequence[int], probs: Sequence[Sequence[float]], entity_type: str) -> list:
    """Entity spans of one type from B/I/O ids; score = mean probability of the chosen tags.

    An ``I`` that follows ``O`` (or starts the sentence) opens a new entity.
    """
    spans: list[Span] = []
    start = None
    for i, tag in enumerate([*tag_ids, 0]):
        if start is not None and tag != 2:
            chosen = [probs[k][tag_ids[k]] for k in range(start, i)]
            spans.append(Span(start, i, entity_type, sum(chosen) / len(chosen)))
            start = None
        if tag == 1 or (tag == 2 and start is None):
            start = i
    return spans


def merge_types(
    n_words: int, per_type: dict[str, list[list[float]]]
) -> tuple[list[str], list[float]]:
    """Merge per-type B/I/O probabilities into one multi-type IOB2 sequence.

    ``per_type[t][i]`` = ``[P(O), P(B), P(I)]`` of word ``i`` when asked for type ``t``. Spans of
    all types are accepted greedily by descending score (ties: earlier start, then type name);
    a span overlapping an accepted one is dropped. Scores: the span's mean probability for
    entity words, the smallest ``P(O)`` over the types asked for other words.
    """
    spans: list[Span] = []
    for t, probs in per_type.items():
        tag_ids = [max(range(3), key=lambda k, row=row: row[k]) for row in probs]
        spans.extend(bio_spans(tag_ids, probs, t))
    spans.sort(key=lambda s: (-s.score, s.start, s.type))
    tags = ["O"] * n_words
    scores = [min((p[i][0] for p in per_type.values()), default=1.0) for i in range(n_words)]
    taken = [False] * n_words
    for s in spans:
        if any(taken[s.start : s.end]):
            continue
        for i in range(s.start, s.end):
            taken[i] = True
            tags[i] = ("B-" if i == s.start else "I-") + s.type
            scores[i] = s.score
    return tags, scores


# --------------------------------------------------------------------------- attention


def make_bidirectional(model: torch.nn.Module) -> None:
    """Remove the causal mask: ``config.is_causal = False`` (+ attention modules' flags)."""
    for module in model.modules():
        config = getattr(module, "config", None)
        if config is not None and hasattr(config, "to_dict"):
            config.is_causal = False
        if hasattr(module, "is_causal") and isinstance(module.is_causal, bool):
            module.is_causal = False


@torch.no_grad()
def is_bidirectional(model: torch.nn.Module, device: torch.device | None = None) -> bool:
    """Probe: does changing the last of 4 tokens change the first token's logits?"""
    device = device or next(model.parameters()).device
    vocab = int(model.config.vocab_size)
    ids = torch.tensor([[3, 4, 5, 6]], device=device) % vocab
    changed = ids.clone()
    changed[0, -1] = (changed[0, -1] + 1) % vocab
    mask = torch.ones_like(ids)
    was_training = model.training
    model.eval()
    try:
        a = model(input_ids=ids, attention_mask=mask).logits[0, 0].float()
        b = model(input_ids=changed, attention_mask=mask).logits[0, 0].float()
    finally:
        model.train(was_training)
    return not torch.equal(a, b)


def assert_bidirectional(model: torch.nn.Module, model_id: str) -> None:
    if not is_bidirectional(model):
        raise InputError(
            f"model '{model_id}': attention is still causal after setting config.is_causal=False "
            f"(model type '{getattr(model.config, 'model_type', '?')}', attention implementation "
            f"'{getattr(model.config, '_attn_implementation', '?')}'); use a Llama-, Mistral- or "
            "Qwen2-family model or hparam attn_implementation: sdpa|eager"
        )


def load_labeler_base(
    source: ModelSource, quantization: str, device: torch.device, attn: str = DEFAULT_ATTN
) -> torch.nn.Module:
    """The decoder as a bidirectional 3-label token classifier (fresh head), on ``device``."""
    from transformers import AutoConfig, AutoModelForTokenClassification

    from nerbench.methods.models import load_pretrained

    adapters.check_quantization(quantization, source.model_id, device)
    config = load_pretrained(
        AutoConfig,
        source,
        num_labels=len(BIO),
        id2label=dict(enumerate(BIO)),
        label2id={t: i for i, t in enumerate(BIO)},
    )
    config.is_causal = False
    dtype = adapters.model_dtype(source.dtype, device, quantization)
    model = load_pretrained(
        AutoModelForTokenClassification,
        source,
        config=config,
        attn_implementation=attn,
        **adapters.load_kwargs(quantization, device, dtype, HEAD_MODULES),
    )
    if quantization == "none":
        model = model.to(device)
    adapters.use_run_kernel(model)  # before the eval-mode probe below
    make_bidirectional(model)
    assert_bidirectional(model, source.model_id)
    return model


# --------------------------------------------------------------------------- the method


class LabelerMethod(Method):
    """VANER bidirectional labeler (see the module docstring)."""

    name = "labeler"
    default_lora = DEFAULT_LORA

    # ----------------------------------------------------------------- loading / saving

    def load_for_training(
        self, source: ModelSource, labels: list[str], args: TrainingArgs, device: torch.device
    ) -> Bundle:
        from nerbench.methods.encoder import effective_max_length

        mode = check_instruction_mode(args.instruction)
        template = check_prompt_template(args.extra.get("prompt_template"))
        parse_mixture(args.mixture_sampling)
        quantization = adapters.resolve_quantization(args.quantization, source)
        lora = LoraSettings.from_args(args, self.default_lora)
        attn = args.attn_implementation or DEFAULT_ATTN
        tokenizer = load_tokenizer(source.name_or_path, source)
        model = load_labeler_base(source, quantization, device, attn)
        model = adapters.add_lora(
            model,
            lora,
            task_type="TOKEN_CLS",
            target_modules=adapters.lora_target_modules(
                args.lora_targets, model, tuple(HEAD_MODULES)
            ),
            modules_to_save=[h for h in HEAD_MODULES if hasattr(model, h)],
            quantized=quantization != "none",
            gradient_checkpointing=args.gradient_checkpointing,
        )
        max_length = effective_max_length(
            args.max_length or source.max_length, tokenizer, model.config
        )
        extra = {
            "instruction": mode,
            "prompt_template": template,
            "mixture_sampling": args.mixture_sampling or "concat",
            "base": source_dict(source, quantization),
            "lora": lora.__dict__ if lora.r else None,
            "attn_implementation": attn,
            "train_datasets": None,
        }
        return self._bundle(model, tokenizer, labels, max_length, device, extra)

    def _bundle(self, model, tokenizer, labels, max_length, device, extra) -> Bundle:
        return Bundle(
            method=self.name,
            model=model,
            tokenizer=tokenizer,
            labels=list(labels),
            max_length=int(max_length),
            device=device,
            extra=extra,
        )

    def save(self, bundle: Bundle, out_dir: Path, metadata: dict[str, Any] | None = None) -> None:
        """Adapter + head (or the full model when ``lora_r`` is 0), tokenizer, labels, method."""
        keys = ("instruction", "prompt_template", "mixture_sampling", "base", "lora")
        keys += ("attn_implementation",)
        info = {k: bundle.extra.get(k) for k in keys}
        info["prompt_datasets"] = bundle.extra.get("train_datasets")
        adapters.save_decoder_bundle(bundle, out_dir, self.name, info, metadata)

    def load_trained(self, model_dir: Path, device: torch.device) -> Bundle:
        model_dir = Path(model_dir)
        info = read_method_file(model_dir)
        labels = read_labels(model_dir)
        base = ModelSource(**info["base"])
        attn = info.get("attn_implementation") or DEFAULT_ATTN
        tokenizer = load_tokenizer(str(model_dir))
        model = adapters.load_decoder_model(
            model_dir, info, device, partial(load_labeler_base, attn=attn)
        )
        make_bidirectional(model)
        assert_bidirectional(model, base.model_id)
        extra = {k: info.get(k) for k in ("instruction", "base", "lora")}
        extra.update(
            prompt_template=check_prompt_template(info.get("prompt_template") or LEGACY_TEMPLATE),
            attn_implementation=attn,
            train_datasets=info.get("prompt_datasets"),
        )
        return self._bundle(model.eval(), tokenizer, labels, info["max_length"], device, extra)

    # ----------------------------------------------------------------- features

    def encode(self, bundle: Bundle, examples: Sequence[Example], train: bool) -> list[dict]:
        """One feature per (example, entity type, window); training applies mixture sampling."""
        if train:
            seed = int(bundle.extra.get("seed", torch.initial_seed())) % (2**32)
            examples = mixture_sample(examples, bundle.extra.get("mixture_sampling"), seed)
            names = {display_dataset(ex.dataset) for ex in examples if not is_dbr(ex)}
            known = set(bundle.extra.get("train_datasets") or []) | names
            bundle.extra["train_datasets"] = sorted(n for n in known if n)
        queries = [
            (i, t)
            for i, ex in enumerate(examples)
            for t in (dbr_types(ex) if train and is_dbr(ex) else self._types(bundle, ex, None))
        ]
        return self.encode_queries(bundle, examples, queries, stride=0, with_labels=train)

    def _types(self, bundle: Bundle, example: Example, allowed: Iterable[str] | None) -> list[str]:
        types = list(example.types) or bundle.types
        if allowed is not None:
            allowed = set(allowed)
            types = [t for t in types if t in allowed]
        return sorted(set(types))

    def encode_queries(
        self,
        bundle: Bundle,
        examples: Sequence[Example],
        queries: Sequence[tuple[int, str]],
        stride: int,
        with_labels: bool,
    ) -> list[dict]:
        """Features for each (example index, type) query, split into windows where too long.

        Each feature: ``input_ids``, ``labels`` (if ``with_labels``), ``word_index`` (position
        of each window word's first sub-token, -1 if it has none), ``example``, ``type``,
        ``window``, ``length``.
        """
        mode = bundle.extra.get("instruction") or "dataset"
        template = bundle.extra.get("prompt_template") or DEFAULT_TEMPLATE
        known = bundle.extra.get("train_datasets")
        prompts = [
            build_instruction(t, prompt_dataset(examples[i], mode, known), template)
            for i, t in queries
        ]
        sentences = [examples[i].tokens for i, _ in queries]
        encoded = tokenize_prompted(bundle.tokenizer, prompts, sentences)
        features: list[dict] = []
        for (i, t), prompt, enc in zip(queries, prompts, encoded, strict=True):
            ex = examples[i]
            labels = self._labels(ex, t) if with_labels else None
            n = len(ex.tokens)
            if len(enc.ids) <= bundle.max_length or n == 0:
                windows, pieces = [Window(0, n)], [enc]
            else:
                lengths = enc.word_lengths(n)
                budget = bundle.max_length - (len(enc.ids) - sum(lengths))
                if budget < 1:
                    raise InputError(
                        f"max_length {bundle.max_length} leaves no room for words after the "
                        f"instruction ({len(enc.ids) - sum(lengths)} tokens)"
                    )
                windows = word_windows([max(1, x) for x in lengths], budget, stride)
                pieces = tokenize_prompted(
                    bundle.tokenizer, [prompt] * len(windows),
                    [ex.tokens[w.start : w.end] for w in windows],
                )  # fmt: skip
            for win, piece in zip(windows, pieces, strict=True):
                piece = fit_length(piece, bundle.max_length)
                features.append(_feature(piece, win, labels, i, t))
        return features

    @staticmethod
    def _labels(ex: Example, entity_type: str) -> list[int]:
        if ex.tags is None or len(ex.tags) != len(ex.tokens):
            raise InputError(f"sentence '{ex.id}': tags missing or not one per token")
        return type_labels(ex.tags, entity_type)

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
        allowed = None if allowed_types is None else list(allowed_types)
        queries = [
            (i, t) for i, ex in enumerate(examples) for t in self._types(bundle, ex, allowed)
        ]
        features = self.encode_queries(bundle, examples, queries, stride, with_labels=False)
        probs = self.word_probabilities(bundle, features, batch_size, timer)
        grouped: dict[tuple[int, str], tuple[list[Window], list[list]]] = {}
        for f, p in zip(features, probs, strict=True):
            windows, rows = grouped.setdefault((f["example"], f["type"]), ([], []))
            windows.append(f["window"])
            rows.append(p)
        out = []
        for i, ex in enumerate(examples):
            per_type = {}
            for t in self._types(bundle, ex, allowed):
                windows, rows = grouped.get((i, t), ([], []))
                per_type[t] = merge_windows(len(ex.tokens), windows, rows, [1.0, 0.0, 0.0])
            tags, scores = merge_types(len(ex.tokens), per_type)
            out.append(TagPrediction(tags=restrict_tags(tags, allowed), scores=scores))
        return out

    def packer(self, bundle: Bundle, row_length: int) -> Packer | str:
        reason = pack_support(bundle.model, row_length, decoder=True)
        return reason or Packer.for_model(bundle.model, row_length, bundle.tokenizer.pad_token_id)

    def word_probabilities(
        self, bundle: Bundle, features: list[dict], batch_size: int, timer: ForwardTimer | None
    ) -> list[list[list[float]]]:
        """``[P(O), P(B), P(I)]`` of each window word of each feature (batched by length, or
        packed rows when ``bundle.packer`` is set)."""
        if bundle.packer is not None:
            probs = packed_probabilities(bundle, features, batch_size, timer)
            return [
                [p[k].tolist() if k >= 0 else [1.0, 0.0, 0.0] for k in f["word_index"]]
                for p, f in zip(probs, features, strict=True)
            ]
        order = sorted(range(len(features)), key=lambda i: -features[i]["length"])
        result: list[list[list[float]]] = [[] for _ in features]
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
                    result[i] = [
                        probs[row, k].tolist() if k >= 0 else [1.0, 0.0, 0.0]
                        for k in features[i]["word_index"]
                    ]
        finally:
            model.train(was_training)
        return result


def _feature(
    enc: Prompted, win: Window, labels: list[int] | None, example_index: int, entity_type: str
) -> dict:
    n = win.end - win.start
    first = enc.first_positions(n)
    feature = {
        "input_ids": enc.ids,
        "word_index": first,
        "example": example_index,
        "type": entity_type,
        "window": win,
        "length": len(enc.ids),
    }
    if labels is not None:
        token_labels = [IGNORE] * len(enc.ids)
        for j, k in enumerate(first):
            if k >= 0:
                token_labels[k] = labels[win.start + j]
        feature["labels"] = token_labels
    return feature
