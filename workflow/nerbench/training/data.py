"""Training data: canonical JSONL splits to examples, length-grouped epoch batches."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from nerbench.io import (
    InputError,
)
from nerbench.methods.base import Example

# --------------------------------------------------------------------------- data


def dataset_name(path: str | os.PathLike) -> str:
    """Dataset of a canonical file: the parent directory (``results/bio/<dataset>/train.jsonl``)."""
    return Path(path).parent.name


def read_examples(
    path: str | os.PathLike,
    dataset: str | None = None,
    types: Sequence[str] = (),
    limit: int | None = None,
) -> list[Example]:
    """Read canonical sentence records into :class:`Example` objects (at most ``limit``).

    A record without ``tokens``/``tags`` or with a tag count different from the token count is
    an :class:`InputError` naming the file and line.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError("sentence file not found", path)
    dataset = dataset or dataset_name(path)
    out: list[Example] = []
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            if limit is not None and len(out) >= limit:
                break
            if not line.strip():
                continue
            rec = _parse_record(line, path, lineno)
            ex_id = f"{rec.get('doc_id', dataset)}/{rec.get('sent_id', lineno)}"
            ex_dataset, ex_types = dataset, tuple(types)
            if rec.get("target_type"):  # a DBR sample: type-only instruction for its target type
                ex_dataset, ex_types = f"dbr:{dataset}", (str(rec["target_type"]),)
            out.append(Example(ex_id, list(rec["tokens"]), list(rec["tags"]), ex_dataset, ex_types))
    return out


def _parse_record(line: str, path: Path, lineno: int) -> dict:
    import json

    try:
        rec = json.loads(line)
    except json.JSONDecodeError as e:
        raise InputError(f"invalid JSON ({e.msg})", path, lineno) from None
    if not isinstance(rec, dict) or not isinstance(rec.get("tokens"), list):
        raise InputError("record has no 'tokens' list", path, lineno)
    if not isinstance(rec.get("tags"), list) or len(rec["tags"]) != len(rec["tokens"]):
        raise InputError("record's 'tags' are missing or not one per token", path, lineno)
    return rec


def tag_types(examples: Sequence[Example]) -> set[str]:
    """Entity types occurring in the examples' tags."""
    return {t[2:] for ex in examples for t in (ex.tags or []) if t != "O"}


def epoch_batches(
    lengths: Sequence[int], batch_size: int, seed: int, epoch: int, mega_mult: int = 50
) -> list[list[int]]:
    """Length-grouped batches for one epoch; a pure function of (lengths, seed, epoch).

    Shuffle, cut into mega-batches of ``batch_size * mega_mult``, sort each by length
    (descending) and cut into batches, then shuffle the batch order; the batch holding the
    longest feature goes first so memory problems show up at step one (as HF's
    ``LengthGroupedSampler``).
    """
    rng = np.random.default_rng([seed, epoch])
    perm = rng.permutation(len(lengths)).tolist()
    mega = batch_size * max(1, mega_mult)
    batches: list[list[int]] = []
    for start in range(0, len(perm), mega):
        chunk = sorted(perm[start : start + mega], key=lambda i: -lengths[i])
        batches += [chunk[i : i + batch_size] for i in range(0, len(chunk), batch_size)]
    order = rng.permutation(len(batches)).tolist()
    batches = [batches[i] for i in order]
    if batches:
        longest = max(range(len(batches)), key=lambda b: max(lengths[i] for i in batches[b]))
        batches[0], batches[longest] = batches[longest], batches[0]
    return batches
