"""The gold check: a prediction file must hold exactly the gold test split it was made from.

The prediction must hold every gold sentence of the canonical ``results/bio/<dataset>/test.jsonl``,
in order, with the same id, tokens and gold tags, and the sentence count in ``<pred>.meta.json``
(when present) must match; anything else -- a truncated or edited prediction file, one made from
another version of the test split -- is an :class:`~nerbench.io.InputError` naming the file, the
line and the sentence. The gold tags scored are the gold file's.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from nerbench.evaluate.conll import meta_path
from nerbench.io import InputError


def read_gold(path: str | os.PathLike, dataset: str | None = None) -> list[tuple[dict, int]]:
    """Gold sentences of a canonical JSONL split as (``{"id", "tokens", "tags"}``, line).

    Ids are built as ``predict`` builds them: ``<doc_id>/<sent_id>``, defaulting to
    ``dataset`` (else the parent folder's name) and the line number.
    """
    path = Path(path)
    dataset = dataset or path.parent.name
    if not path.is_file():
        raise InputError("gold file not found", path)
    out: list[tuple[dict, int]] = []
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
            except json.JSONDecodeError as e:
                raise InputError(f"invalid JSON ({e.msg})", path, lineno) from None
            rec = rec if isinstance(rec, dict) else {}
            tokens, tags = rec.get("tokens"), rec.get("tags")
            if not isinstance(tokens, list) or not isinstance(tags, list):
                raise InputError("record has no 'tokens'/'tags' lists", path, lineno)
            if len(tags) != len(tokens):
                raise InputError("record's 'tags' are not one per token", path, lineno)
            sent_id = f"{rec.get('doc_id', dataset)}/{rec.get('sent_id', lineno)}"
            out.append(({"id": sent_id, "tokens": tokens, "tags": tags}, lineno))
    return out


def check_against_gold(
    pred_path: str | os.PathLike,
    records: Sequence[tuple[dict, int]],
    gold_path: str | os.PathLike,
    gold: Sequence[tuple[dict, int]],
) -> None:
    """The prediction holds exactly the gold sentences, in order, with the same ids, tokens and
    gold tags; else an :class:`InputError` naming the prediction file, line and sentence."""
    for i, (g, g_line) in enumerate(gold):
        where = f"sentence {i + 1} ('{g['id']}', {gold_path}:{g_line})"
        if i >= len(records):
            raise InputError(
                f"ends after {len(records)} sentences but the gold test split has {len(gold)}: "
                f"{where} and {len(gold) - i - 1} more are missing (truncated file?)",
                pred_path,
            )
        r, line = records[i]
        if r["id"] != g["id"]:
            raise InputError(f"sentence id '{r['id']}' where the gold has {where}", pred_path, line)
        if len(r["tokens"]) != len(g["tokens"]):
            raise InputError(
                f"{where}: {len(r['tokens'])} tokens, the gold has {len(g['tokens'])}",
                pred_path,
                line,
            )
        for j, (tok, gtok, tag, gtag) in enumerate(
            zip(r["tokens"], g["tokens"], r["gold"], g["tags"], strict=True)
        ):
            if tok != gtok:
                raise InputError(
                    f"{where}: token {j + 1} is {tok!r}, the gold has {gtok!r}",
                    pred_path,
                    line + j + 1,
                )
            if tag != gtag:
                raise InputError(
                    f"{where}: gold tag of token {j + 1} is {tag!r}, the gold file has {gtag!r}",
                    pred_path,
                    line + j + 1,
                )
    if len(records) > len(gold):
        r, line = records[len(gold)]
        raise InputError(
            f"{len(records)} sentences but the gold test split {gold_path} has {len(gold)}: "
            f"sentence '{r['id']}' is not in it",
            pred_path,
            line,
        )


def check_sentence_count(
    pred_path: str | os.PathLike,
    meta: Mapping[str, Any] | None,
    gold_path: str | os.PathLike,
    n_gold: int,
) -> None:
    """The sentence count predict recorded in the sidecar (if any) is the gold split's."""
    if meta is not None and "sentences" in meta and meta["sentences"] != n_gold:
        raise InputError(
            f"predict recorded {meta['sentences']} sentences but the gold test split "
            f"{gold_path} has {n_gold} (prediction made from another test split?)",
            meta_path(pred_path),
        )
