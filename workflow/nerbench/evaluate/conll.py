"""The prediction file: CoNLL blocks, and the ``<pred>.meta.json`` sidecar predict writes.

Prediction files use the project's CoNLL format, one block per sentence::

    # id: <doc_id>/<sent_id>
    token<TAB>gold_tag<TAB>pred_tag
    ...
    <blank line>

The first line of every block is the ``# id:`` comment; every later line of the block is a token
line, so tokens may themselves start with ``#``. Tags are IOB2 with a type (``B-Disease``).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from nerbench import paths
from nerbench.io import InputError, atomic_path

ID_PREFIX = "# id: "
TAG_RE = re.compile(r"O|[BI]-\S+")
FORBIDDEN_CHARS = re.compile(r"[\t\r\n]")


def read_conll_predictions(path: str | os.PathLike) -> list[dict]:
    """Read a prediction file into records ``{"id", "tokens", "gold", "pred"}``.

    A malformed line (missing ``# id:`` comment, wrong field count, bad tag, empty token,
    duplicate id) raises :class:`InputError` naming the file and line.
    """
    return [record for record, _ in read_conll_records(path)]


def read_conll_records(path: str | os.PathLike) -> list[tuple[dict, int]]:
    """Records with the line number of their ``# id:`` comment."""
    if not Path(path).is_file():
        raise InputError("prediction file not found", path)
    records: list[tuple[dict, int]] = []
    seen: set[str] = set()
    current: dict | None = None
    start = 0
    with open(path, encoding="utf-8") as f:
        for lineno, raw in enumerate(f, 1):
            line = raw.rstrip("\n")
            if not line.strip():
                if current is not None:
                    records.append((current, start))
                current = None
            elif current is None:
                current, start = _start_record(line, seen, path, lineno), lineno
            else:
                _add_token_line(current, line, path, lineno)
    if current is not None:
        records.append((current, start))
    return records


def _start_record(line: str, seen: set[str], path: str | os.PathLike, lineno: int) -> dict:
    if not line.startswith(ID_PREFIX) or not line[len(ID_PREFIX) :].strip():
        raise InputError(
            f"expected '{ID_PREFIX}<doc_id>/<sent_id>' to start a sentence", path, lineno
        )
    sent_id = line[len(ID_PREFIX) :].strip()
    if sent_id in seen:
        raise InputError(f"duplicate sentence id '{sent_id}'", path, lineno)
    seen.add(sent_id)
    return {"id": sent_id, "tokens": [], "gold": [], "pred": []}


def _add_token_line(record: dict, line: str, path: str | os.PathLike, lineno: int) -> None:
    fields = line.split("\t")
    if len(fields) != 3:
        raise InputError(
            f"expected 3 tab-separated fields (token, gold, pred), got {len(fields)}", path, lineno
        )
    token, gold, pred = fields
    if not token:
        raise InputError("empty token", path, lineno)
    for name, tag in (("gold", gold), ("pred", pred)):
        if not TAG_RE.fullmatch(tag):
            raise InputError(
                f"invalid {name} tag '{tag}' (expected O, B-<type> or I-<type>)", path, lineno
            )
    record["tokens"].append(token)
    record["gold"].append(gold)
    record["pred"].append(pred)


def write_conll_predictions(path: str | os.PathLike, records: Iterable[Mapping[str, Any]]) -> int:
    """Write records ``{"id", "tokens", "gold", "pred"}`` atomically; return how many.

    ``id`` may be omitted when ``doc_id`` and ``sent_id`` are given (joined with ``/``).
    A record that could not be read back (tab/newline in a token or id, bad tag, length
    mismatch) raises :class:`ValueError` and leaves ``path`` untouched.
    """
    n = 0
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8", newline="\n") as f:
        for n, record in enumerate(records, 1):
            f.write(format_conll_record(record, n))
    return n


def format_conll_record(record: Mapping[str, Any], index: int = 0) -> str:
    """Render one record as a CoNLL block (comment, token lines, blank line)."""
    sent_id = record_id(record)
    tokens, gold, pred = record["tokens"], record["gold"], record["pred"]
    where = f"record {index} ('{sent_id}')"
    if not sent_id or sent_id != sent_id.strip() or FORBIDDEN_CHARS.search(sent_id):
        raise ValueError(f"{where}: id must be non-empty, trimmed, without tabs or newlines")
    if not len(tokens) == len(gold) == len(pred):
        raise ValueError(
            f"{where}: {len(tokens)} tokens, {len(gold)} gold tags, {len(pred)} predicted tags"
        )
    lines = [ID_PREFIX + sent_id]
    for token, g, p in zip(tokens, gold, pred, strict=True):
        if not token or FORBIDDEN_CHARS.search(token):
            raise ValueError(f"{where}: token {token!r} is empty or contains a tab/newline")
        for tag in (g, p):
            if not TAG_RE.fullmatch(tag):
                raise ValueError(f"{where}: invalid tag {tag!r}")
        lines.append(f"{token}\t{g}\t{p}")
    return "\n".join(lines) + "\n\n"


def record_id(record: Mapping[str, Any]) -> str:
    """The record's sentence id: ``id`` or ``doc_id/sent_id``."""
    if "id" in record:
        return str(record["id"])
    return f"{record['doc_id']}/{record['sent_id']}"


# --------------------------------------------------------------------------- sidecar

meta_path = paths.pred_meta  # the sidecar predict writes beside a prediction file


def read_meta(pred_path: str | os.PathLike) -> dict[str, Any] | None:
    """The sidecar ``<pred>.meta.json`` (None if absent); ``sentences`` and
    ``alignment_failures``, when there, must be non-negative integers."""
    sidecar = meta_path(pred_path)
    if not sidecar.is_file():
        return None
    try:
        meta = json.loads(sidecar.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise InputError(f"invalid JSON ({e.msg})", sidecar, e.lineno) from None
    if not isinstance(meta, dict):
        raise InputError("expected a JSON object", sidecar)
    for key in ("sentences", "alignment_failures"):
        value = meta.get(key)
        if key in meta and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
            raise InputError(f"{key} must be a non-negative integer, got {value!r}", sidecar)
    return meta


def read_alignment_failures(pred_path: str | os.PathLike) -> int | None:
    """``alignment_failures`` from the sidecar ``<pred>.meta.json``, or None if absent."""
    meta = read_meta(pred_path)
    return None if meta is None else meta.get("alignment_failures")
