"""Shared types of the corpus readers: the conversion spec, sentences, mentions, counters."""

from __future__ import annotations

import functools
import re
import sys
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from nerbench.config import parse_tag_map
from nerbench.data.formats.registry import FORMATS
from nerbench.io import InputError

DELIMITERS: dict[str, str | None] = {"tab": "\t", "space": " ", "whitespace": None}
SPEC_KEYS = ("name", "format", "tag_map", "delimiter", "tag_column", "repair_iob")
DROP = "O"  # a tag_map target that drops the source type
DOCSTART = "-DOCSTART-"

TAG_RE = re.compile(r"([BI])-(\S+)")
SENTENCE_END = frozenset(".?!")
ABBREVIATIONS = frozenset(
    "al approx ca cf dr eq fig figs mr ms no prof ref refs resp sp spp ssp subsp st var vs".split()
)


@functools.cache
def token_re() -> re.Pattern[str]:
    """How raw text is split into words, for corpus conversion and ``tag`` alike, as the MTL IOB
    corpora are split: a maximal run of letters and digits, or any single other character (spaces
    and a BOM are none), grapheme-aware -- a combining mark (Unicode category M) stays with the
    character before it and a zero-width joiner joins the next one (emoji sequences), so
    ``cafe`` + U+0301 is one word. Compiled on first use (the mark class comes from the Unicode
    database)."""
    marks = _char_class(
        cp for cp in range(sys.maxunicode + 1) if unicodedata.category(chr(cp)).startswith("M")
    )
    tail = rf"(?:[{marks}]|\u200d[^\s\ufeff])*"
    return re.compile(rf"(?:[^\W_]{tail})+|[^\s\ufeff]{tail}")


def _char_class(code_points: Iterable[int]) -> str:
    """The inside of a regex character class holding ``code_points`` (ascending), as ranges."""
    ranges: list[list[int]] = []
    for cp in code_points:
        if ranges and ranges[-1][1] == cp - 1:
            ranges[-1][1] = cp
        else:
            ranges.append([cp, cp])
    return "".join(rf"\U{a:08x}" + (rf"-\U{b:08x}" if b > a else "") for a, b in ranges)


# --------------------------------------------------------------------------------------------
# Spec, results and counters
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BioSpec:
    """The slice of a datasets.tsv row that one conversion needs."""

    name: str
    format: str
    tag_map: dict[str, str]
    delimiter: str = "tab"
    tag_column: int = -1
    repair_iob: bool = False

    @classmethod
    def from_dict(cls, raw: dict, where: str = "--spec") -> BioSpec:
        """Validate a spec dict; every problem names the config key."""
        if not isinstance(raw, dict):
            raise InputError(f"{where} must be a JSON object")
        unknown = sorted(set(raw) - set(SPEC_KEYS))
        if unknown:
            raise InputError(f"{where} has unknown key(s) {unknown}; allowed: {list(SPEC_KEYS)}")
        for key in ("name", "format", "tag_map"):
            if not isinstance(raw.get(key), str) or not raw[key]:
                raise InputError(f"{where} needs a non-empty string for key '{key}'")
        name = raw["name"]
        if raw["format"] not in FORMATS:
            raise InputError(
                f"{where} key 'format': '{raw['format']}' is not one of {list(FORMATS.names())}"
            )
        delimiter = raw.get("delimiter", "tab")
        if delimiter not in DELIMITERS:
            raise InputError(
                f"{where} key 'delimiter': '{delimiter}' is not one of {list(DELIMITERS)}"
            )
        tag_column = raw.get("tag_column", -1)
        if isinstance(tag_column, bool) or not isinstance(tag_column, int) or tag_column == 0:
            raise InputError(f"{where} key 'tag_column' must be a non-zero integer")
        repair = raw.get("repair_iob", False)
        if not isinstance(repair, bool):
            raise InputError(f"{where} key 'repair_iob' must be true or false")
        tag_map = parse_tag_map(raw["tag_map"], f"{where} key 'tag_map' (dataset '{name}')")
        return cls(name, raw["format"], tag_map, delimiter, tag_column, repair)


@dataclass
class Counters:
    """What a conversion changed or dropped (written to the report)."""

    repairs: int = 0
    dropped_overlaps: int = 0
    dropped_discontinuous: int = 0
    split_tokens: int = 0


@dataclass
class Sentence:
    doc_id: str
    tokens: list[str]
    tags: list[str]


@dataclass
class Conversion:
    """The sentences of one split and the counters of what was changed on the way."""

    sentences: list[Sentence] = field(default_factory=list)
    counters: Counters = field(default_factory=Counters)


@dataclass(frozen=True)
class Mention:
    """A contiguous, typed character span of one text segment (canonical type)."""

    start: int
    end: int
    type: str


# --------------------------------------------------------------------------------------------
# Shared helpers
# --------------------------------------------------------------------------------------------


def decode_utf8(data: bytes, where: str) -> str:
    """Strict UTF-8; a bad byte is an error naming its offset and line."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
        raise InputError(
            f"invalid UTF-8 at byte offset {e.start} (byte 0x{data[e.start]:02x}); "
            "the file must be UTF-8 encoded",
            where,
            line,
        ) from None


def map_type(source: str, spec: BioSpec, where: str, line: int | None) -> str | None:
    """Canonical type of a source type; None when tag_map drops it (maps it to ``O``)."""
    canonical = spec.tag_map.get(source)
    if canonical is None:
        raise InputError(
            f"entity type '{source}' is not in tag_map of dataset '{spec.name}' "
            f"(known: {sorted(spec.tag_map)}); add it to the tag_map column of datasets.tsv "
            f"(map it to {DROP} to drop it)",
            where,
            line,
        )
    return None if canonical == DROP else canonical


def _display(path: str | Path, member: str | None) -> str:
    return f"{path}#{member}" if member else str(path)
