"""The method interface: how a model family is trained and used for tagging.

A *method* turns sentences into model features, computes the training loss and predicts one IOB2
tag per token. The generic training loop (:mod:`nerbench.training.loop`) and prediction
(:mod:`nerbench.predict`) only talk to a :class:`Method`; they never look inside the model. The
methods are declared by name in :mod:`nerbench.methods.registry` and imported lazily (one module
each), so a missing optional module never breaks the others; ``docs/methods.md`` describes them.

Contract for implementers (all methods must honour it)
------------------------------------------------------
* **Labels** (:meth:`Method.label_list`): ``["O", "B-T1", "I-T1", "B-T2", ...]`` with types sorted;
  deterministic for a set of types. Stored in ``labels.json`` of the saved model.
* **Loading** (:meth:`Method.load_for_training`): build model + tokenizer from a resolved
  :class:`ModelSource` (use :func:`.models.pretrained_kwargs` for ``from_pretrained``
  arguments; it adds ``revision`` and the HF token without ever logging it). The loop has already
  seeded torch, so random heads are reproducible. Put the model on ``device``.
* **Features** (:meth:`Method.encode`): one :class:`Example` may yield several features (windows:
  never drop a token). Each feature is a dict with at least ``input_ids`` (list[int]) and
  ``length`` (int, number of non-pad model tokens, used for length grouping and tokens/s);
  anything else (``labels``, ``word_ids``, ``attention_mask`` ...) is the method's business.
  Encoding must be deterministic (same input -> same features, same order).
* **Collate** (:meth:`Method.collate`): list of features -> dict of CPU tensors, padded only to the
  longest feature in the batch (dynamic padding). The loop moves tensors to the device and passes
  the dict to :meth:`Method.loss`.
* **Loss** (:meth:`Method.loss`): a scalar tensor; default ``model(**batch).loss``.
* **Prediction** (:meth:`Method.predict`): for each example exactly ``len(tokens)`` tags (valid
  label strings; unknown -> ``"O"``) and per-token scores (probability of the chosen tag, or 1.0
  where the method has no probability). Long inputs use windows with ``stride`` (use
  :func:`word_windows` and :func:`merge_windows`). Only the model's forward passes go inside
  ``with timer:`` (a :class:`ForwardTimer`), so inference cost excludes tokenisation and decoding.
  ``allowed_types``: restrict predicted entities to these types (others become ``"O"``); methods
  with instruction prompts may also use it to choose what to ask for.
* **Packing** (:meth:`Method.packer`, optional): a packer whose ``loss`` equals :meth:`loss`
  on the same features laid out in packed rows; prediction uses :attr:`Bundle.packer` when
  set (see :mod:`nerbench.training.packing`).
* **Mixed precision**: :attr:`Bundle.autocast` is ``torch.bfloat16`` or ``None``; the loop
  and prediction set it. Wrap forward passes in ``with autocast(bundle):``.
* **Method settings**: :attr:`Bundle.extra` holds the method's own settings (special tokens,
  prompt options, LoRA settings ...); only the method reads it.
* **Prediction sidecar** (:meth:`Method.prediction_meta`): a dict written by ``predict`` next to
  the CoNLL file as ``<output>.meta.json`` (a declared output; read by :mod:`nerbench.evaluate`).
* **Saving** (:meth:`Method.save` / :meth:`Method.load_trained`): ``save`` writes a directory
  that ``load_trained`` alone can restore (model + tokenizer + ``labels.json`` + ``method.json``;
  :meth:`Method.save` does this for plain HF models, override for adapters). Use
  :func:`load_trained` to load any saved model: it reads ``method.json`` and dispatches.
* **Checkpoints** are generic: the loop saves :meth:`Method.trainable_state` (parameters with
  ``requires_grad``; LoRA adapters + heads for PEFT models) and restores it with
  :meth:`Method.load_trainable_state`. Override both if the method has trainable state elsewhere.
"""

from __future__ import annotations

import contextlib
from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import torch

from nerbench import defaults
from nerbench.hparams import TrainingArgs
from nerbench.io import InputError, read_json, write_json
from nerbench.methods.registry import METHODS

if TYPE_CHECKING:
    from nerbench.training.packing import Packer

LABELS_FILE = "labels.json"
METHOD_FILE = "method.json"


# --------------------------------------------------------------------------- data types


@dataclass
class Example:
    """One sentence to train on or to tag.

    ``tags`` is ``None`` when tagging raw text. ``dataset`` and ``types`` (the dataset's entity
    types) let instruction-prompted methods name the dataset and types in their prompt.
    """

    id: str
    tokens: list[str]
    tags: list[str] | None = None
    dataset: str | None = None
    types: tuple[str, ...] = ()


@dataclass
class ModelSource:
    """A model resolved to something ``from_pretrained`` can load (see :mod:`.models`)."""

    model_id: str
    name_or_path: str
    revision: str | None = None
    family: str = "encoder"
    max_length: int = 512
    dtype: str = "auto"
    quantization: str = "none"
    local: bool = True


@dataclass
class Bundle:
    """A loaded model with everything needed to train or tag with it.

    The method builds it; the loop and prediction set :attr:`autocast` and :attr:`packer`.
    """

    method: str
    model: torch.nn.Module
    tokenizer: Any
    labels: list[str]
    max_length: int
    device: torch.device
    #: the method's own settings (read by the method only)
    extra: dict[str, Any] = field(default_factory=dict)
    #: autocast dtype of forward passes (``torch.bfloat16``), or None for fp32
    autocast: torch.dtype | None = None
    #: packs prediction (and dev evaluation) into rows; None: length-sorted batches
    packer: Packer | None = None

    @property
    def label2id(self) -> dict[str, int]:
        return {label: i for i, label in enumerate(self.labels)}

    @property
    def types(self) -> list[str]:
        return sorted({label[2:] for label in self.labels if label != "O"})


@dataclass
class TagPrediction:
    """Tags (one per input token) and the probability of each chosen tag."""

    tags: list[str]
    scores: list[float]


class ForwardTimer:
    """Accumulates wall time spent inside ``with timer:`` blocks (model forward passes only).

    On CUDA it synchronises before reading the clock so asynchronous kernels are counted.
    ``predict`` gives each timed pass over a test set its own timer and records the median and
    spread over the passes (:func:`nerbench.predict.predict_examples`).
    """

    def __init__(self, device: torch.device | str | None = None):
        self.device = torch.device(device) if device is not None else torch.device("cpu")
        self.seconds = 0.0
        self.calls = 0
        self._start = 0.0

    def _sync(self) -> None:
        if self.device.type == "cuda" and torch.cuda.is_available():
            torch.cuda.synchronize(self.device)

    def __enter__(self) -> ForwardTimer:
        import time

        self._sync()
        self._start = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        import time

        self._sync()
        self.seconds += time.perf_counter() - self._start
        self.calls += 1


def autocast(bundle: Bundle) -> contextlib.AbstractContextManager:
    """``torch.autocast`` to :attr:`Bundle.autocast` on the bundle's device, or a no-op."""
    dtype = bundle.autocast
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=bundle.device.type, dtype=dtype)


# --------------------------------------------------------------------------- windows


@dataclass(frozen=True)
class Window:
    """Words ``[start, end)`` of a sentence that fit one model input."""

    start: int
    end: int


def word_windows(word_lengths: Sequence[int], budget: int, stride: int = 0) -> list[Window]:
    """Split a sentence into windows of whole words of at most ``budget`` sub-tokens.

    ``word_lengths[i]`` is the number of sub-tokens of word ``i`` (count a word with none as 1).
    Consecutive windows overlap by at least ``stride`` sub-tokens where possible (``stride=0``:
    disjoint windows, for training). A single word longer than ``budget`` gets its own window;
    the method must truncate its sub-tokens (only the first one carries the label). Every word is
    in at least one window; an empty sentence has no windows.
    """
    if budget < 1:
        raise ValueError(f"window budget must be >= 1, got {budget}")
    n = len(word_lengths)
    lengths = [max(1, x) for x in word_lengths]
    if sum(lengths) <= budget:
        return [Window(0, n)] if n else []
    stride = min(stride, budget // 2)
    windows: list[Window] = []
    start = 0
    while start < n:
        end, used = start, 0
        while end < n and (used + lengths[end] <= budget or end == start):
            used += lengths[end]
            end += 1
        windows.append(Window(start, end))
        if end >= n:
            break
        # next window starts far enough back to overlap by >= stride sub-tokens, but advances
        nxt, overlap = end, 0
        while nxt - 1 > start and overlap < stride:
            nxt -= 1
            overlap += lengths[nxt]
        # ... and still has room for the first new word (so every window makes progress)
        while nxt < end and sum(lengths[nxt : end + 1]) > budget:
            nxt += 1
        start = max(nxt, start + 1)
    return windows


def merge_windows(
    n_words: int, windows: Sequence[Window], window_preds: Sequence[Sequence[Any]], default: Any
) -> list[Any]:
    """Merge per-window predictions so every word gets exactly one value.

    ``window_preds[k][j]`` is the prediction for word ``windows[k].start + j``. Where windows
    overlap, the window in which the word is farthest from an edge (nearest the centre) wins;
    ties go to the earlier window. Words covered by no window get ``default``.
    """
    best: list[Any] = [default] * n_words
    best_margin = [-1] * n_words
    for win, preds in zip(windows, window_preds, strict=True):
        if len(preds) != win.end - win.start:
            raise ValueError(f"window {win} has {len(preds)} predictions")
        for j, pred in enumerate(preds):
            i = win.start + j
            margin = min(i - win.start, win.end - 1 - i)
            if margin > best_margin[i]:
                best[i], best_margin[i] = pred, margin
    return best


# --------------------------------------------------------------------------- labels


def bio_labels(types: Iterable[str]) -> list[str]:
    """``["O", "B-A", "I-A", "B-B", "I-B", ...]`` for the sorted unique ``types``."""
    out = ["O"]
    for t in sorted(set(types)):
        out += [f"B-{t}", f"I-{t}"]
    return out


def restrict_tags(tags: list[str], allowed_types: Iterable[str] | None) -> list[str]:
    """Replace tags whose type is not in ``allowed_types`` with ``"O"`` (None = keep all)."""
    if allowed_types is None:
        return list(tags)
    allowed = set(allowed_types)
    return [t if t == "O" or t[2:] in allowed else "O" for t in tags]


# --------------------------------------------------------------------------- the interface


def right_pad(features: Sequence[dict], pad_id: int) -> dict[str, torch.Tensor]:
    """Pad features (``input_ids``, ``length``, optional ``labels``) on the right."""
    width = max(f["length"] for f in features)
    ids = torch.full((len(features), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(features), width), dtype=torch.long)
    has_labels = "labels" in features[0]
    labels = torch.full((len(features), width), -100, dtype=torch.long)
    for row, f in enumerate(features):
        n = f["length"]
        ids[row, :n] = torch.tensor(f["input_ids"])
        mask[row, :n] = 1
        if has_labels:
            labels[row, :n] = torch.tensor(f["labels"])
    batch = {"input_ids": ids, "attention_mask": mask}
    if has_labels:
        batch["labels"] = labels
    return batch


class Method(ABC):
    """Base class of all methods; see the module docstring for the contract."""

    name: ClassVar[str]

    def label_list(self, types: Iterable[str]) -> list[str]:
        """Label strings for the union of the training datasets' types (deterministic)."""
        return bio_labels(types)

    @abstractmethod
    def load_for_training(
        self, source: ModelSource, labels: list[str], args: TrainingArgs, device: torch.device
    ) -> Bundle:
        """Build model + tokenizer with a fresh head for ``labels``, on ``device``."""

    @abstractmethod
    def load_trained(self, model_dir: Path, device: torch.device) -> Bundle:
        """Load a directory written by :meth:`save`."""

    @abstractmethod
    def encode(self, bundle: Bundle, examples: Sequence[Example], train: bool) -> list[dict]:
        """Features for ``examples`` (``train=True``: with labels; long inputs split to windows)."""

    def collate(self, bundle: Bundle, features: Sequence[dict]) -> dict[str, torch.Tensor]:
        """Right-pad a batch to its longest feature: ``input_ids``, ``attention_mask`` and, when
        present, ``labels`` (-100 on padding); CPU tensors. Methods may override."""
        return right_pad(features, bundle.tokenizer.pad_token_id)

    def loss(self, bundle: Bundle, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """Training loss of one (already device-placed) batch."""
        return bundle.model(**batch).loss

    def packer(self, bundle: Bundle, row_length: int) -> Any:
        """A :class:`nerbench.training.packing.Packer` for the bundle's model, or why it cannot
        pack (a string). Methods whose loss is per-token classification override this."""
        return f"method '{self.name}' does not pack"

    @abstractmethod
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
        """One :class:`TagPrediction` per example, ``len(tokens)`` tags each."""

    def prediction_meta(self, predictions: Sequence[TagPrediction]) -> dict[str, Any]:
        """Facts about a prediction run, written by ``predict`` as ``<output>.meta.json``:
        ``{"sentences": m}``, plus ``"alignment_failures"`` (sentences) and
        ``"unaligned_tokens"`` for generative."""
        return {"sentences": len(predictions)}

    def save(self, bundle: Bundle, out_dir: Path, metadata: dict[str, Any] | None = None) -> None:
        """Write model, tokenizer, ``labels.json`` and ``method.json`` into ``out_dir``."""
        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        bundle.model.save_pretrained(out_dir)
        bundle.tokenizer.save_pretrained(out_dir)
        write_labels(out_dir, bundle.labels)
        write_method_file(out_dir, self.name, bundle.max_length, metadata)

    def trainable_state(self, bundle: Bundle) -> dict[str, torch.Tensor]:
        """Tensors that training changes (checkpointed by the loop), on CPU."""
        return {
            n: p.detach().to("cpu", copy=True)
            for n, p in bundle.model.named_parameters()
            if p.requires_grad
        }

    def load_trainable_state(self, bundle: Bundle, state: dict[str, torch.Tensor]) -> None:
        """Restore what :meth:`trainable_state` returned."""
        params = dict(bundle.model.named_parameters())
        missing = [n for n in state if n not in params]
        if missing:
            raise ValueError(f"checkpoint has parameters the model lacks: {missing[:5]}")
        with torch.no_grad():
            for n, t in state.items():
                params[n].copy_(t.to(params[n].device, params[n].dtype))


# --------------------------------------------------------------------------- registry


def get_method(name: str) -> Method:
    """Instantiate the method registered as ``name`` (imports its module now)."""
    if name not in METHODS:
        raise InputError(f"unknown method '{name}'; known: {sorted(METHODS)}")
    module_name = METHODS[name].partition(":")[0]
    try:
        method_class = METHODS.load(name)
    except ModuleNotFoundError as e:
        if e.name == module_name:
            raise InputError(f"method '{name}' is not available ({module_name} missing)") from e
        raise
    return method_class()


def write_labels(model_dir: Path, labels: list[str]) -> None:
    write_json(Path(model_dir) / LABELS_FILE, {"labels": list(labels)})


def read_labels(model_dir: Path) -> list[str]:
    path = Path(model_dir) / LABELS_FILE
    if not path.is_file():
        raise InputError(f"no {LABELS_FILE} in saved model directory", model_dir)
    return list(read_json(path)["labels"])


def write_method_file(
    model_dir: Path, method: str, max_length: int, metadata: dict[str, Any] | None = None
) -> None:
    info = {"method": method, "max_length": int(max_length), **(metadata or {})}
    write_json(Path(model_dir) / METHOD_FILE, info)


def read_method_file(model_dir: Path) -> dict[str, Any]:
    path = Path(model_dir) / METHOD_FILE
    if not path.is_file():
        raise InputError(f"not a saved nerbench model (no {METHOD_FILE})", model_dir)
    return read_json(path)


def load_trained(
    model_dir: str | Path, device: torch.device | str = "cpu"
) -> tuple[Method, Bundle]:
    """Load any model saved by :meth:`Method.save`; returns the method and the bundle."""
    model_dir = Path(model_dir)
    info = read_method_file(model_dir)
    method = get_method(info["method"])
    return method, method.load_trained(model_dir, torch.device(device))
