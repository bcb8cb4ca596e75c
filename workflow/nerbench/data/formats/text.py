"""Character offsets to tokens and sentences: mention checks, overlaps, tokenisation, IOB2."""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Iterable

from nerbench.data.formats.base import (
    ABBREVIATIONS,
    SENTENCE_END,
    BioSpec,
    Conversion,
    Counters,
    Mention,
    Sentence,
    map_type,
    token_re,
)
from nerbench.io import InputError

# --------------------------------------------------------------------------------------------
# Offset-annotated text → tokens, sentences and tags
# --------------------------------------------------------------------------------------------


def resolve_overlaps(mentions: Iterable[Mention], counters: Counters) -> list[Mention]:
    """Keep the longest of overlapping mentions (ties: earliest start, then first given)."""
    unique = list(dict.fromkeys(mentions))
    order = sorted(
        range(len(unique)), key=lambda i: (unique[i].start - unique[i].end, unique[i].start, i)
    )
    kept: list[Mention] = []
    for i in order:
        m = unique[i]
        if any(m.start < k.end and k.start < m.end for k in kept):
            counters.dropped_overlaps += 1
        else:
            kept.append(m)
    return sorted(kept, key=lambda m: m.start)


def tokenize(text: str, cuts: list[int], counters: Counters) -> list[tuple[int, int]]:
    """Token spans by :func:`~nerbench.data.formats.base.token_re`, split at every offset in
    ``cuts`` (sorted) inside a token."""
    spans: list[tuple[int, int]] = []
    for match in token_re().finditer(text):
        start, end = match.span()
        i = bisect_right(cuts, start)
        inner = []
        while i < len(cuts) and cuts[i] < end:
            inner.append(cuts[i])
            i += 1
        if inner:
            counters.split_tokens += 1
        for a, b in zip([start, *inner], [*inner, end], strict=True):
            spans.append((a, b))
    return spans


def _ends_sentence(text: str, spans: list[tuple[int, int]], i: int) -> bool:
    """Whether the sentence rule (module docstring, rule 5) ends a sentence after token i."""
    start, end = spans[i]
    next_start = spans[i + 1][0]
    gap = text[end:next_start]
    if "\n" in gap:
        return True
    if text[start:end] not in SENTENCE_END or not gap or not text[next_start].isupper():
        return False
    if text[start:end] == "." and i > 0 and spans[i - 1][1] == start:
        before = text[spans[i - 1][0] : spans[i - 1][1]]
        if (len(before) == 1 and before.isalpha()) or before.lower() in ABBREVIATIONS:
            return False
    return True


def annotate_text(
    text: str, mentions: list[Mention], counters: Counters, where: str
) -> list[tuple[list[str], list[str]]]:
    """Tokenize, sentence-split and BIO-tag one text segment with its (contiguous) mentions."""
    kept = resolve_overlaps(mentions, counters)
    cuts = sorted({p for m in kept for p in (m.start, m.end)})
    spans = tokenize(text, cuts, counters)
    starts = [s for s, _ in spans]
    tags = ["O"] * len(spans)
    owner = [-1] * len(spans)
    for idx, m in enumerate(kept):
        first, last = bisect_left(starts, m.start), bisect_left(starts, m.end)
        if first == last:
            raise InputError(
                f"mention {m.start}-{m.end} ({m.type}, text {text[m.start : m.end]!r}) "
                "covers no token",
                where,
            )
        for k in range(first, last):
            tags[k] = ("B-" if k == first else "I-") + m.type
            owner[k] = idx
    out: list[tuple[list[str], list[str]]] = []
    begin = 0
    for i in range(len(spans)):
        last_token = i == len(spans) - 1
        inside = not last_token and owner[i] != -1 and owner[i] == owner[i + 1]
        if last_token or (not inside and _ends_sentence(text, spans, i)):
            out.append(([text[s:e] for s, e in spans[begin : i + 1]], tags[begin : i + 1]))
            begin = i + 1
    return out


def _add_segment(
    result: Conversion, doc_id: str, text: str, mentions: list[Mention], where: str
) -> None:
    for tokens, tags in annotate_text(text, mentions, result.counters, where):
        result.sentences.append(Sentence(doc_id, tokens, tags))


def checked_mention(
    text: str,
    doc_id: str,
    annotation: tuple[int, int, str, str],
    spec: BioSpec,
    where: str,
    lineno: int,
) -> Mention | None:
    """The ``(start, end, mention, source type)`` annotation of document ``doc_id`` as a
    :class:`Mention` after checking its offsets and text; None when its type is dropped."""
    start, end, mention, source = annotation
    if not 0 <= start < end <= len(text):
        raise InputError(
            f"offsets {start}-{end} outside document '{doc_id}' ({len(text)} chars)", where, lineno
        )
    if text[start:end] != mention:
        raise InputError(
            f"mention {mention!r} does not match the text {text[start:end]!r} at {start}-{end} "
            f"of document '{doc_id}'",
            where,
            lineno,
        )
    canonical = map_type(source, spec, where, lineno)
    return None if canonical is None else Mention(start, end, canonical)
