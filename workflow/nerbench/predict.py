"""Prediction on test sets (``predict``) and tagging of raw text (``tag``).

``predict`` loads ``<run-dir>/model`` (any method, via ``method.json``), tags every sentence of a
canonical JSONL file -- sentences longer than the model limit in overlapping windows merged so each
gold token gets exactly one tag -- and writes CoNLL (``# id: doc/sent`` then
``token<TAB>gold<TAB>pred``) plus ``infer_cost.json`` and ``<output>.meta.json`` (the method's
facts about the run: sentence count, and generative alignment failures). Inference cost is timed
around the model forward passes only (CUDA synchronised), after one untimed warm-up batch, over
``--timing-repeats`` passes (default 3; fewer once the passes so far took ``--timing-budget-s`` of
forward time, default 60 s, so a large test set is timed by one long pass): ``infer_cost.json``
holds the median forward time, every repeat, their spread ((max - min) / median; ``timing_noisy``
above 20 %; both null after one pass), the job's thread count and the machine's load during the
timing (see :func:`predict_examples`, :class:`MachineLoad`).
``--packing on`` packs windows into rows of ``--pack-length`` (block-diagonal attention, same
tags); ``infer_cost.json`` records ``packing`` (``on``, ``off`` or ``off (<why>)``).

Entity types: a model predicts only its own types. By default predictions are further restricted
to the test set's types (from the run's ``dataset_types`` or, for other datasets, the types in the
file's gold tags): a model trained on chemicals and diseases is not charged for chemicals on a
disease-only test set. ``--all-types`` keeps every predicted type. Gold tags are never changed.

``tag`` turns raw text into entity spans; see :func:`split_sentences` and :func:`tokenize` for the
tokenisation, which mimics the MTL IOB corpora (runs of letters/digits; every other non-space
character is its own token).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from statistics import median
from typing import Any

import torch

from nerbench import defaults, paths
from nerbench.data.formats.base import token_re
from nerbench.hparams import TrainingArgs
from nerbench.io import InputError, write_json, write_text
from nerbench.methods.base import Bundle, Example, ForwardTimer, Method, TagPrediction, load_trained
from nerbench.training.data import read_examples, tag_types
from nerbench.training.runtime import autocast_dtype, device_name, peak_rss_mb, pick_device

DEFAULT_BATCH_SIZE = defaults.PREDICT_BATCH_SIZE
DEFAULT_TIMING_BUDGET_S = defaults.PREDICT_TIMING_BUDGET_S
DEFAULT_TIMING_REPEATS = defaults.PREDICT_TIMING_REPEATS


# --------------------------------------------------------------------------- loading


def load_run_model(
    run_dir: str | Path, device: torch.device, precision: str = "auto"
) -> tuple[Method, Bundle, dict]:
    """Load ``<run_dir>/model``; returns the method, the bundle and ``method.json``."""
    from nerbench.methods.base import read_method_file

    model_dir = paths.run_file(run_dir, "model")
    if not model_dir.is_dir():
        raise InputError("run has no trained model (model/ missing)", run_dir)
    info = read_method_file(model_dir)
    method, bundle = load_trained(model_dir, device)
    bundle.autocast = autocast_dtype(precision, device)
    return method, bundle, info


def allowed_types_for(
    info: dict, dataset: str, examples: Sequence[Example], bundle: Bundle
) -> list[str]:
    """The test set's types (run's ``dataset_types`` or the gold tags) that the model knows."""
    declared = (info.get("dataset_types") or {}).get(dataset)
    test_types = set(declared) if declared else tag_types(examples)
    return sorted(test_types & set(bundle.types))


# --------------------------------------------------------------------------- predict


class MachineLoad:
    """What else ran on the machine while we timed: load average, CPU use of this process and of
    the whole machine (psutil), from :meth:`start` to :meth:`stop`.

    ``other_cpus`` estimates how many CPUs other processes kept busy meanwhile (machine-wide busy
    CPUs minus this process's); ``machine_busy`` flags ``defaults.COST_BUSY_OTHER_CPUS`` or more.
    """

    def __init__(self) -> None:
        self.facts: dict[str, Any] = {}
        self._t0 = self._cpu0 = 0.0

    @staticmethod
    def _load_avg() -> float | None:
        try:
            return round(os.getloadavg()[0], 2)
        except (AttributeError, OSError):
            return None

    def start(self) -> None:
        self.facts["load_avg_1m_start"] = self._load_avg()
        try:
            import psutil

            psutil.cpu_percent(interval=None)  # starts psutil's machine-wide interval
        except ImportError:
            pass
        self._t0, self._cpu0 = time.perf_counter(), time.process_time()

    def stop(self) -> dict[str, Any]:
        wall = max(time.perf_counter() - self._t0, 1e-9)
        own_cpus = (time.process_time() - self._cpu0) / wall  # every thread of this process
        cpu_count = os.cpu_count() or 1
        busy_pct = other = None
        try:
            import psutil

            busy_pct = float(psutil.cpu_percent(interval=None))
            other = max(0.0, busy_pct / 100.0 * cpu_count - own_cpus)
        except ImportError:
            pass
        self.facts |= {
            "load_avg_1m_end": self._load_avg(),
            "cpu_count": cpu_count,
            "cpu_busy_percent": None if busy_pct is None else round(busy_pct, 1),
            "own_cpus": round(own_cpus, 2),
            "other_cpus": None if other is None else round(other, 2),
            "machine_busy": None if other is None else other >= defaults.COST_BUSY_OTHER_CPUS,
        }
        return self.facts


@dataclass
class TimedPredictions:
    """Predictions of one pass and the forward times of every timed pass (seconds)."""

    predictions: list[TagPrediction]
    forward_s: list[float]
    total_s: list[float]
    forward_calls: int
    load: dict[str, Any] = field(default_factory=dict)
    budget_s: float = 0.0

    @property
    def forward_median_s(self) -> float:
        return median(self.forward_s)

    @property
    def spread(self) -> float | None:
        """``(max - min) / median`` of the forward times (0 for no time; None for one pass:
        a single pass says nothing about the spread)."""
        if len(self.forward_s) < 2:
            return None
        mid = self.forward_median_s
        return (max(self.forward_s) - min(self.forward_s)) / mid if mid > 0 else 0.0


def predict_examples(
    method: Method,
    bundle: Bundle,
    examples: Sequence[Example],
    batch_size: int,
    stride: int,
    allowed_types: Sequence[str] | None,
    warmup: bool = True,
    repeats: int = DEFAULT_TIMING_REPEATS,
    budget_s: float = DEFAULT_TIMING_BUDGET_S,
) -> TimedPredictions:
    """Predict all examples once for the tags, and time up to ``repeats`` passes of the forwards:
    no further pass once the passes so far took ``budget_s`` seconds of forward time (0: no limit).

    The tags returned (and written) are those of the first timed pass: the very call made before
    timing had repeats (warm-up batch, then one pass over all examples), so they are unchanged.
    Passes 2..``repeats`` are identical calls over the same batches made only to time the model
    forwards again; their tags are discarded. Repeating whole passes, not each batch back to
    back, spreads the timing over the job's duration so a burst of load shows up as spread.
    """
    if repeats < 1:
        raise ValueError(f"timing repeats must be >= 1, got {repeats}")
    if warmup and examples:
        method.predict(bundle, examples[:batch_size], batch_size=batch_size, stride=stride)
    if bundle.device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(bundle.device)
    load = MachineLoad()
    load.start()
    preds: list[TagPrediction] = []
    forward_s, total_s, calls = [], [], 0
    for r in range(repeats):
        timer = ForwardTimer(bundle.device)
        t0 = time.perf_counter()
        out = method.predict(
            bundle,
            examples,
            batch_size=batch_size,
            stride=stride,
            timer=timer,
            allowed_types=allowed_types,
        )
        total_s.append(time.perf_counter() - t0)
        forward_s.append(timer.seconds)
        if r == 0:
            preds, calls = out, timer.calls
        if budget_s > 0 and sum(forward_s) >= budget_s:
            break
    for ex, p in zip(examples, preds, strict=True):
        if len(p.tags) != len(ex.tokens):
            raise RuntimeError(f"{ex.id}: {len(p.tags)} tags for {len(ex.tokens)} tokens")
    return TimedPredictions(preds, forward_s, total_s, calls, load.stop(), budget_s)


def infer_cost(
    examples: Sequence[Example],
    timing: TimedPredictions,
    bundle: Bundle,
    batch_size: int,
    extra: dict[str, Any],
) -> dict[str, Any]:
    """Content of ``infer_cost.json``; rates use the median forward-pass time only."""
    n_sent = len(examples)
    n_tok = sum(len(ex.tokens) for ex in examples)
    mid = timing.forward_median_s
    fwd = max(mid, 1e-9)
    spread = timing.spread
    gpu_mb = None
    if bundle.device.type == "cuda":
        gpu_mb = round(torch.cuda.max_memory_allocated(bundle.device) / 2**20, 1)
    cpu_mb = round(peak_rss_mb(), 1)
    return {
        "sentences": n_sent,
        "tokens": n_tok,
        "forward_time_s": round(mid, 4),  # median over the timed repeats
        "forward_time_repeats_s": [round(t, 4) for t in timing.forward_s],
        "forward_time_spread": None if spread is None else round(spread, 4),
        "timing_repeats": len(timing.forward_s),
        "timing_budget_s": timing.budget_s,
        "timing_noisy": None if spread is None else spread > defaults.COST_NOISY_SPREAD,
        "forward_calls": timing.forward_calls,
        "total_time_s": round(median(timing.total_s), 4),
        "sentences_per_s": round(n_sent / fwd, 2),
        "tokens_per_s": round(n_tok / fwd, 2),
        "peak_memory_mb": gpu_mb if gpu_mb is not None else cpu_mb,
        "peak_gpu_memory_mb": gpu_mb,
        "peak_cpu_rss_mb": cpu_mb,
        "batch_size": batch_size,
        "device": device_name(bundle.device),
        "dtype": "bf16" if bundle.autocast == torch.bfloat16 else "fp32",
        "threads": torch.get_num_threads(),
        "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
        **timing.load,
        "method": bundle.method,
        "max_length": bundle.max_length,
        **extra,
    }


def _parse_predict_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="nerbench predict", description=__doc__)
    p.add_argument("--run-dir", required=True)
    p.add_argument("--input", required=True, help="canonical JSONL (results/bio/<ds>/test.jsonl)")
    p.add_argument("--dataset", required=True)
    p.add_argument("--output", required=True, help="CoNLL predictions")
    p.add_argument("--cost", required=True, help="infer_cost.json")
    p.add_argument("--batch-size", type=int, default=DEFAULT_BATCH_SIZE)
    p.add_argument("--stride", type=int, default=None, help="window overlap (default: training's)")
    p.add_argument("--device", default="auto")
    p.add_argument("--precision", default="auto", choices=["auto", "fp32", "bf16"])
    p.add_argument("--all-types", action="store_true", help="keep types the test set lacks")
    p.add_argument(
        "--packing",
        default="off",
        choices=["off", "on"],
        help="pack windows into rows with block-diagonal attention (same tags; see "
        "nerbench.training.packing); a model that cannot pack falls back, reason in --cost",
    )
    p.add_argument("--pack-length", type=int, default=None, help="row length; default max_length")
    p.add_argument(
        "--timing-repeats",
        type=int,
        default=DEFAULT_TIMING_REPEATS,
        help="timed passes over the test set (median and spread in --cost); tags come from one",
    )
    p.add_argument(
        "--timing-budget-s",
        type=float,
        default=DEFAULT_TIMING_BUDGET_S,
        help="no further timed pass once the passes so far took this many seconds of forward "
        "time (a large test set is timed once); 0: always --timing-repeats passes",
    )
    a = p.parse_args(argv)
    if a.batch_size < 1:
        p.error("--batch-size must be >= 1")
    if a.timing_repeats < 1:
        p.error("--timing-repeats must be >= 1")
    if a.timing_budget_s < 0:
        p.error("--timing-budget-s must be >= 0")
    if a.pack_length is not None and a.pack_length < 1:
        p.error("--pack-length must be >= 1")
    return a


def set_packing(method: Method, bundle: Bundle, mode: str, pack_length: int | None) -> str:
    """Put a packer into ``bundle.packer`` when ``mode`` is ``on`` and the model packs; returns
    ``on``, ``off`` or ``off (<why>)`` for infer_cost.json."""
    bundle.packer = None
    if mode == "off":
        return "off"
    row = pack_length or bundle.max_length
    if row < bundle.max_length:
        raise InputError(
            f"--pack-length {row} is shorter than the window length {bundle.max_length}"
        )
    got = method.packer(bundle, row)
    if isinstance(got, str):
        print(f"packing off ({got}); length-sorted batches instead", file=sys.stderr)
        return f"off ({got})"
    bundle.packer = got
    return "on"


def main_predict(argv: list[str]) -> int:
    """CLI: predict a test set; writes CoNLL and infer_cost.json (see module docstring)."""
    from nerbench.evaluate.conll import meta_path, write_conll_predictions

    a = _parse_predict_args(argv)
    device = pick_device(a.device)
    method, bundle, info = load_run_model(a.run_dir, device, a.precision)
    packing = set_packing(method, bundle, a.packing, a.pack_length)
    examples = read_examples(a.input, a.dataset)
    stride = a.stride if a.stride is not None else int(info.get("stride", TrainingArgs.stride))
    allowed = None if a.all_types else allowed_types_for(info, a.dataset, examples, bundle)
    dataset_types = tuple(allowed if allowed is not None else bundle.types)
    for ex in examples:  # instruction-prompted methods name the dataset's types
        ex.types = dataset_types
    timing = predict_examples(
        method,
        bundle,
        examples,
        a.batch_size,
        stride,
        allowed,
        repeats=a.timing_repeats,
        budget_s=a.timing_budget_s,
    )
    preds = timing.predictions
    records = [
        {"id": ex.id, "tokens": ex.tokens, "gold": ex.tags, "pred": p.tags}
        for ex, p in zip(examples, preds, strict=True)
    ]
    write_conll_predictions(a.output, records)
    extra = {"dataset": a.dataset, "stride": stride, "types_predicted": allowed}
    extra["packing"] = packing
    meta = method.prediction_meta(preds)
    write_json(meta_path(a.output), meta)
    extra |= {k: v for k, v in meta.items() if k != "sentences"}
    write_json(a.cost, infer_cost(examples, timing, bundle, a.batch_size, extra))
    return 0


# --------------------------------------------------------------------------- tag raw text

_ABBREV = {"al", "fig", "figs", "vs", "dr", "mr", "mrs", "ms", "approx", "ca", "no", "ref", "refs"}


@dataclass
class Token:
    text: str
    start: int
    end: int


def tokenize(text: str, offset: int = 0) -> list[Token]:
    """Words as the corpora were split (:func:`nerbench.data.formats.base.token_re`: runs of
    letters/digits or single other characters, combining marks kept with their base).

    ``"IL-2-induced (p<0.05)."`` -> ``IL - 2 - induced ( p < 0 . 05 ) .``. Offsets index ``text``
    (plus ``offset``).
    """
    return [
        Token(m.group(), m.start() + offset, m.end() + offset) for m in token_re().finditer(text)
    ]


def split_sentences(text: str) -> list[list[Token]]:
    """Sentences of tokens: paragraph breaks (blank lines) always split; ``.``/``!``/``?``
    followed by whitespace split unless the next token starts lower-case or the previous word is
    a common abbreviation (et al., Fig., vs.) or a single letter (initials, e.g., i.e.).
    """
    sentences: list[list[Token]] = []
    for start, end in _paragraphs(text):
        tokens = tokenize(text[start:end], start)
        current: list[Token] = []
        for i, tok in enumerate(tokens):
            current.append(tok)
            if i + 1 == len(tokens) or _ends_sentence(tokens, i):
                sentences.append(current)
                current = []
    return sentences


def _paragraphs(text: str) -> Iterator[tuple[int, int]]:
    """(start, end) of the parts of ``text`` between blank lines."""
    pos = 0
    for m in re.finditer(r"\n[^\S\n]*\n\s*", text):
        yield pos, m.start()
        pos = m.end()
    yield pos, len(text)


def _ends_sentence(tokens: list[Token], i: int) -> bool:
    tok, nxt = tokens[i], tokens[i + 1]
    if tok.text not in ".!?" or nxt.start == tok.end or nxt.text[0].islower():
        return False
    if tok.text == "." and i > 0:
        prev = tokens[i - 1].text
        if prev.lower() in _ABBREV or (len(prev) == 1 and prev.isalpha()):
            return False
    return True


def entity_spans(
    text: str, tokens: Sequence[Token], pred: TagPrediction
) -> Iterator[dict[str, Any]]:
    """Entity spans of one sentence; an ``I-`` tag without a matching ``B-`` opens an entity."""
    start = None
    for i, tag in enumerate([*pred.tags, "O"]):
        inside = start is not None
        if inside and not (tag.startswith("I-") and tag[2:] == pred.tags[start][2:]):
            ent_type = pred.tags[start][2:]
            s, e = tokens[start].start, tokens[i - 1].end
            score = sum(pred.scores[start:i]) / (i - start)
            yield {"text": text[s:e], "start": s, "end": e, "type": ent_type, "score": score}
            start = None
        if tag != "O" and start is None:
            start = i


def tag_text(
    method: Method, bundle: Bundle, text: str, stride: int, batch_size: int = DEFAULT_BATCH_SIZE
) -> tuple[list[list[Token]], list[TagPrediction]]:
    """Split, tokenize and tag ``text``; returns sentences and their predictions."""
    sentences = split_sentences(text)
    examples = [Example(f"text/{i}", [t.text for t in s]) for i, s in enumerate(sentences)]
    preds = method.predict(bundle, examples, batch_size=batch_size, stride=stride)
    return sentences, preds


def _parse_tag_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="nerbench tag", description="Tag raw text with a trained run.")
    p.add_argument("--run-dir", required=True)
    p.add_argument("--input", default="-", help="text file, or - for stdin")
    p.add_argument("--format", default="jsonl", choices=["jsonl", "conll"])
    p.add_argument("--output", default=None, help="output file (default: stdout)")
    p.add_argument("--batch-size", type=int, default=DEFAULT_BATCH_SIZE)
    p.add_argument("--device", default="auto")
    return p.parse_args(argv)


def main_tag(argv: list[str]) -> int:
    """CLI: raw text -> entity spans JSONL ``{text, start, end, type, score}`` or CoNLL."""
    a = _parse_tag_args(argv)
    if a.input == "-":
        text = sys.stdin.read()
    else:
        if not Path(a.input).is_file():
            raise InputError("input text file not found", a.input)
        text = Path(a.input).read_text(encoding="utf-8")
    method, bundle, info = load_run_model(a.run_dir, pick_device(a.device))
    sentences, preds = tag_text(method, bundle, text, int(info.get("stride", 32)), a.batch_size)
    if a.format == "jsonl":
        lines = [
            json.dumps(span, ensure_ascii=False)
            for toks, p in zip(sentences, preds, strict=True)
            for span in entity_spans(text, toks, p)
        ]
        out = "".join(line + "\n" for line in lines)
    else:
        blocks = [
            "".join(f"{t.text}\t{tag}\n" for t, tag in zip(toks, p.tags, strict=True))
            for toks, p in zip(sentences, preds, strict=True)
        ]
        out = "\n".join(blocks) + ("\n" if blocks else "")
    if a.output:
        write_text(a.output, out)
    else:
        sys.stdout.write(out)
    return 0
