"""The one decoding rule, and the entities of decoded tags.

Before anything is scored, the tags of every sentence go through :func:`decode_iob2`, whichever
method wrote them (encoder, labeler, generative, or a file from elsewhere): an ``I-T`` that does
not continue an entity of type ``T`` (at the start of a sentence, after ``O`` or after an entity
of another type) is read as ``B-T``, the reading of conlleval.pl, which the labeler's span
decoding and raw-text tagging also use. Methods write their raw tags; the scorer alone decodes
them. Decoded tags are valid IOB2, so an entity is a ``B-T`` followed by its ``I-T`` tags
(:func:`entities`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

from seqeval.scheme import IOB2, Entities

DECODING_RULE = "iob2-conlleval"  # a stray I-T is read as B-T (see the module docstring)
DECODING_RULE_TEXT = "an I-T that continues no entity of type T is read as B-T, as conlleval does"


def decode_iob2(tags: Sequence[str]) -> list[str]:
    """The decoding rule applied to every method's predicted tags before scoring.

    An ``I-T`` that does not continue an entity of type ``T`` becomes ``B-T``; everything else is
    kept. The result is valid IOB2; decoding valid IOB2 changes nothing.
    """
    out: list[str] = []
    prev = "O"
    for tag in tags:
        if tag.startswith("I-") and prev[2:] != tag[2:]:
            tag = "B-" + tag[2:]
        out.append(tag)
        prev = tag
    return out


class Span(NamedTuple):
    """One entity in one sentence: type and token offsets (``end`` exclusive)."""

    type: str
    start: int
    end: int


def entities(sequences: Sequence[Sequence[str]]) -> list[list[Span]]:
    """Entities per sentence of valid IOB2 tags (decoded ones), extracted by seqeval."""
    per_sentence = Entities([list(s) for s in sequences], IOB2).entities
    return [[Span(e.tag, e.start, e.end) for e in ents] for ents in per_sentence]
