"""The fingerprint of a training run's checkpoints: what they depend on, one readable part each
(the run slice, the resolved training arguments, method, labels, the model and the sha256 of every
input file). A resume onto anything else is refused, and the log says which parts changed."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from nerbench.hparams import TrainingArgs, without_execution_only
from nerbench.io import InputError
from nerbench.plan.study import short_hash
from nerbench.training.checkpoint import sha256_file

FINGERPRINT_VERSION = 2  # bump when the checkpoint contents or their meaning change


def fingerprint_parts(
    run: dict[str, Any],
    args: TrainingArgs,
    method: str,
    labels: Sequence[str],
    source: Any,
    train_files: Sequence[str],
    dbr_files: Sequence[str],
    devel_files: Sequence[str],
) -> dict[str, Any]:
    """What a checkpoint depends on, one readable key per part (see :func:`describe_changes`):
    the run slice, the resolved training arguments (defaults included), method, labels, the
    model (:func:`model_signature`) and the content (sha256) of every input file, in order."""
    parts: dict[str, Any] = {
        "format": FINGERPRINT_VERSION,
        "run slice": short_hash(without_execution_only(run), 16),
        "training arguments": short_hash(args.result_defining(), 16),
        "method": method,
        "labels": list(labels),
        "model": model_signature(source),
    }
    for kind, files in (("train", train_files), ("dbr", dbr_files), ("devel", devel_files)):
        for i, f in enumerate(files):
            parts[f"{kind} file {i + 1} {_label(f)}"] = _file_sig(f)
    return parts


def _label(path: str | os.PathLike) -> str:
    p = Path(path)
    return f"{p.parent.name}/{p.name}"


def _file_sig(path: str | os.PathLike) -> str:
    """sha256 of the file's content (streamed; corpora can be ~100 MB)."""
    try:
        return sha256_file(path)
    except FileNotFoundError:
        raise InputError("input file not found", path) from None


MODEL_HASH_LIMIT = 256 * 2**20


def model_signature(source: Any) -> str:
    """Hub models: id, revision, dtype, quantization, max length. Local folders additionally
    every file's name and size and the sha256 of its content -- of all files when the folder
    holds at most 256 MiB (tiny and small models), else of the files under 1 MiB (configs,
    tokenizers); big local weights are then identified by name and size only."""
    desc: dict[str, Any] = {
        k: getattr(source, k, None)
        for k in ("name_or_path", "revision", "dtype", "quantization", "max_length", "local")
    }
    root = Path(source.name_or_path)
    if getattr(source, "local", False) and root.is_dir():
        files = sorted(p for p in root.rglob("*") if p.is_file())
        total = sum(p.stat().st_size for p in files)
        listing = []
        for p in files:
            size = p.stat().st_size
            digest = sha256_file(p) if total <= MODEL_HASH_LIMIT or size < 2**20 else None
            listing.append((p.relative_to(root).as_posix(), size, digest))
        desc["files"] = listing
        desc["name_or_path"] = None  # the same model copied elsewhere is the same model
    return short_hash(desc, 16)


def describe_changes(old: dict[str, Any], new: dict[str, Any]) -> str:
    """A short human list of the fingerprint parts that differ."""
    changed = []
    for key in list(dict.fromkeys([*new, *old])):
        if key not in old:
            changed.append(f"{key} is new")
        elif key not in new:
            changed.append(f"{key} is gone")
        elif old[key] != new[key]:
            if key.startswith(("train file", "dbr file", "devel file")):
                changed.append(f"{key} changed (sha256 {old[key][:12]} -> {new[key][:12]})")
            else:
                changed.append(f"{key} changed")
    return "; ".join(changed) or "fingerprint changed"
