"""Corpus readers: one split of a corpus → canonical BIO sentences (JSONL) and a report.

Output record (one JSON object per line of ``results/bio/<dataset>/<split>.jsonl``)::

    {"doc_id": str, "sent_id": str, "tokens": [str, ...], "tags": ["O" | "B-<Type>" | "I-<Type>"]}

``sent_id`` is ``<doc_id>.<k>`` (k counts the sentences of that document id, from 0), unique within
a split. Types are canonical: every source type goes through the dataset's ``tag_map``
(``"SRC:Canonical,..."``); a source type mapped to ``O`` is not kept (its tokens are tagged ``O``);
a source type missing from ``tag_map`` is an error naming the file and line.

Formats
-------
``iob-tsv``
    One token per line, columns separated by ``delimiter`` (``tab``, ``space`` or ``whitespace`` =
    any run of blanks); the token is column 0 and the tag column ``tag_column`` (negative counts
    from the end). Every token line must have as many columns as the first one. A blank line ends
    a sentence; a line whose first column is ``-DOCSTART-`` starts a new document (doc ids ``0``,
    ``1``, ...). CRLF line ends and a leading UTF-8 BOM are accepted; anything that is not valid
    UTF-8 is an error naming the byte offset and line. Tags must be IOB2: an ``I-X`` that does not
    continue an entity of source type ``X`` is an error, or, with ``repair_iob: true``, becomes
    ``B-X`` and is counted in the report's ``repairs``. IOB1/IOBES are not accepted.
``pubtator``
    ``PMID|t|title`` and ``PMID|a|abstract`` lines, then tab-separated annotation lines
    ``PMID start end mention type [id ...]``; a blank line ends a document. The document text is
    ``title + "\\n" + abstract`` (so abstract offsets start at ``len(title) + 1``, as in PubTator).
    Lines whose second field is not an offset (relations such as ``CID`` or ``Association``) are
    skipped. The mention text must equal the document text at its offsets.
``brat``
    A directory, or a zip/tar archive (``member`` = folder inside it, may be empty), holding
    ``<doc>.txt`` / ``<doc>.ann`` pairs; only ``T`` (text-bound) lines are read, including
    discontinuous spans ``start end;start end``. A ``.txt`` without ``.ann`` has no annotations.
``bioc``
    BioC XML read with the ``bioc`` package; passages (or, for passages without text, their
    sentences) with document-level character offsets; each annotation's ``type`` infon goes
    through ``tag_map``; its location(s) must lie inside one passage and, when the annotation
    carries text, the text must match.

``chemprot``
    The BioCreative VI ChemProt release: an abstracts file (``PMID<TAB>title<TAB>abstract`` per
    line) and the entities file beside it (``PMID<TAB>T<n><TAB>type<TAB>start<TAB>end<TAB>mention``
    per line, types ``CHEMICAL``, ``GENE-Y``, ``GENE-N``). The split source (its ``member``, or the
    path itself) names the abstracts file; the entities file has the same name with its last
    ``abstracts`` replaced by ``entities`` (``chemprot_test_abstracts_gs.tsv`` →
    ``chemprot_test_entities_gs.tsv``). The document text is ``title + "\\n" + abstract`` (the
    release counts one character between title and abstract). Every entity line has exactly six
    fields, names a PMID of the abstracts file and its mention equals the text at its offsets.
    Relation files are not read. In ``ChemProt_Corpus.zip`` each split is a zip inside the zip:
    ``member`` = ``ChemProt_Corpus/chemprot_training.zip/chemprot_training/
    chemprot_training_abstracts.tsv`` (see ``nerbench.corpora.read_source_bytes``).

Rules for the offset formats (pubtator, brat, bioc, chemprot)
-------------------------------------------------------------
1. *Discontinuous mentions* (more than one fragment) cannot be written in BIO: they are dropped
   and counted (``dropped_discontinuous``).
2. *Overlapping mentions*: exact duplicates (same span and type) are merged silently; otherwise
   the longest mention wins (ties: the earliest start, then the first in the file) and every
   mention overlapping a kept one is dropped and counted (``dropped_overlaps``).
3. *Tokenizer*: ``TOKEN_RE`` = runs of letters/digits (Unicode ``[^\\W_]+``) or any other single
   non-space character; so whitespace and each punctuation character separate tokens, and
   character offsets are kept.
4. *Mention boundary inside a token*: the token is split at the boundary so that every kept
   mention covers whole tokens (each split token is counted once in ``split_tokens``).
5. *Sentences*: a newline in the text always ends a sentence; otherwise a sentence ends after
   a ``.``, ``?`` or ``!`` token followed by whitespace and a token starting with an upper-case
   letter, unless the token glued before a ``.`` is a single letter (initials, ``E. coli``) or an
   abbreviation in ``ABBREVIATIONS``. A sentence is never ended inside a kept mention.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import tarfile
import zipfile
from bisect import bisect_left, bisect_right
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from nerbench.config import parse_tag_map
from nerbench.corpora import read_source_bytes
from nerbench.io import InputError, write_json, write_jsonl

FORMATS = ("iob-tsv", "pubtator", "brat", "bioc", "chemprot")
DELIMITERS: dict[str, str | None] = {"tab": "\t", "space": " ", "whitespace": None}
SPEC_KEYS = ("name", "format", "tag_map", "delimiter", "tag_column", "repair_iob")
DROP = "O"  # a tag_map target that drops the source type
DOCSTART = "-DOCSTART-"

TAG_RE = re.compile(r"([BI])-(\S+)")
TOKEN_RE = re.compile(r"[^\W_]+|[^\s\ufeff]")
SENTENCE_END = frozenset(".?!")
ABBREVIATIONS = frozenset(
    "al approx ca cf dr eq fig figs mr ms no prof ref refs resp sp spp ssp subsp st var vs".split()
)


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
            raise InputError(f"{where} key 'format': '{raw['format']}' is not one of {FORMATS}")
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


# --------------------------------------------------------------------------------------------
# IOB / CoNLL TSV
# --------------------------------------------------------------------------------------------


class _IobState:
    """Accumulates tokens of the current sentence and document while reading IOB lines."""

    def __init__(self) -> None:
        self.result = Conversion()
        self.doc = 0
        self.doc_has_sentences = False
        self.tokens: list[str] = []
        self.tags: list[str] = []
        self.prev_type: str | None = None  # source type of the previous token's entity

    def end_sentence(self) -> None:
        if self.tokens:
            self.result.sentences.append(Sentence(str(self.doc), self.tokens, self.tags))
            self.doc_has_sentences = True
        self.tokens, self.tags, self.prev_type = [], [], None

    def end_document(self) -> None:
        self.end_sentence()
        if self.doc_has_sentences:
            self.doc += 1
            self.doc_has_sentences = False


def _split_columns(line: str, delimiter: str) -> list[str]:
    sep = DELIMITERS[delimiter]
    return line.split() if sep is None else line.split(sep)


def _iob2_tag(
    tag: str, state: _IobState, spec: BioSpec, counters: Counters, where: str, line: int
) -> str:
    """Validate one source tag against IOB2 (repairing if allowed) and map it to canonical."""
    if tag == "O":
        state.prev_type = None
        return "O"
    m = TAG_RE.fullmatch(tag)
    if not m:
        raise InputError(
            f"invalid tag '{tag}': expected O, B-<type> or I-<type> (IOB2)", where, line
        )
    prefix, source = m.groups()
    if prefix == "I" and state.prev_type != source:
        if not spec.repair_iob:
            prev = "O" if state.prev_type is None else f"an entity of type '{state.prev_type}'"
            raise InputError(
                f"invalid IOB2: '{tag}' does not continue an entity of type '{source}' "
                f"(it follows {prev}); set repair_iob to true in datasets.tsv to turn it into "
                f"B-{source}",
                where,
                line,
            )
        prefix = "B"
        counters.repairs += 1
    state.prev_type = source
    canonical = map_type(source, spec, where, line)
    return "O" if canonical is None else f"{prefix}-{canonical}"


def read_iob(text: str, spec: BioSpec, where: str) -> Conversion:
    """Read IOB2 token-per-line text (see the module docstring for the exact rules)."""
    state = _IobState()
    counters = state.result.counters
    expected_cols: tuple[int, int] | None = None  # (column count, line that set it)
    if text.startswith("\ufeff"):
        text = text[1:]
    for lineno, raw in enumerate(text.split("\n"), 1):
        line = raw[:-1] if raw.endswith("\r") else raw
        if not line.strip():
            state.end_sentence()
            continue
        cols = _split_columns(line, spec.delimiter)
        if line.split()[0] == DOCSTART:
            state.end_document()
            continue
        if len(cols) < 2:
            raise InputError(
                f"expected token and tag separated by {spec.delimiter} (config key 'delimiter'), "
                f"found {len(cols)} column(s)",
                where,
                lineno,
            )
        if expected_cols is None:
            expected_cols = (len(cols), lineno)
        elif len(cols) != expected_cols[0]:
            raise InputError(
                f"wrong column count: {len(cols)} columns, but line {expected_cols[1]} has "
                f"{expected_cols[0]}",
                where,
                lineno,
            )
        if not -len(cols) <= spec.tag_column < len(cols):
            raise InputError(
                f"tag_column {spec.tag_column} is out of range for {len(cols)} columns "
                "(config key 'tag_column')",
                where,
                lineno,
            )
        if not cols[0]:
            raise InputError("empty token in column 1", where, lineno)
        tag = _iob2_tag(cols[spec.tag_column], state, spec, counters, where, lineno)
        state.tokens.append(cols[0])
        state.tags.append(tag)
    state.end_sentence()
    return state.result


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
    """Token spans by ``TOKEN_RE``, split at every offset in ``cuts`` (sorted) inside a token."""
    spans: list[tuple[int, int]] = []
    for match in TOKEN_RE.finditer(text):
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


# --------------------------------------------------------------------------------------------
# PubTator
# --------------------------------------------------------------------------------------------

_PUBTATOR_TEXT = re.compile(r"([^|\t]+)\|([ta])\|(.*)")


@dataclass
class _PubtatorDoc:
    pmid: str
    title: str | None = None
    abstract: str | None = None
    annotations: list[tuple[int, list[str]]] = field(default_factory=list)

    @property
    def text(self) -> str:
        title = self.title or ""
        return title if self.abstract is None else f"{title}\n{self.abstract}"


def _pubtator_docs(text: str, where: str) -> list[_PubtatorDoc]:
    """Parse PubTator blocks; structural problems name the line."""
    docs: list[_PubtatorDoc] = []
    current: _PubtatorDoc | None = None
    for lineno, raw in enumerate(text.split("\n"), 1):
        line = raw[:-1] if raw.endswith("\r") else raw
        if not line.strip():
            current = None
            continue
        m = _PUBTATOR_TEXT.fullmatch(line)
        if m:
            pmid, kind, body = m.groups()
            if current is None or current.pmid != pmid:
                if current is not None and current.annotations:
                    raise InputError(f"text line for '{pmid}' after annotations", where, lineno)
                current = _PubtatorDoc(pmid)
                docs.append(current)
            if getattr(current, "title" if kind == "t" else "abstract") is not None:
                raise InputError(f"second |{kind}| line for document '{pmid}'", where, lineno)
            if kind == "t":
                current.title = body
            else:
                current.abstract = body
            continue
        cols = line.split("\t")
        if len(cols) == 1:
            raise InputError(
                "unrecognised line: expected PMID|t|title, PMID|a|abstract or a tab-separated "
                "annotation",
                where,
                lineno,
            )
        if current is None:
            raise InputError("annotation line before any PMID|t| line", where, lineno)
        if cols[0] != current.pmid:
            raise InputError(
                f"annotation for '{cols[0]}' inside document '{current.pmid}'", where, lineno
            )
        if not cols[1].isdigit():
            continue  # relation line (CID, Association, ...)
        if len(cols) < 5:
            raise InputError(
                "annotation line needs PMID, start, end, mention, type (tab-separated); "
                f"found {len(cols)} field(s)",
                where,
                lineno,
            )
        current.annotations.append((lineno, cols))
    return docs


def _pubtator_mentions(doc: _PubtatorDoc, spec: BioSpec, where: str) -> list[Mention]:
    text = doc.text
    mentions = []
    for lineno, cols in doc.annotations:
        if not cols[2].isdigit():
            raise InputError(f"end offset '{cols[2]}' is not an integer", where, lineno)
        start, end, mention, source = int(cols[1]), int(cols[2]), cols[3], cols[4]
        found = checked_mention(text, doc.pmid, (start, end, mention, source), spec, where, lineno)
        if found is not None:
            mentions.append(found)
    return mentions


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


def read_pubtator(text: str, spec: BioSpec, where: str) -> Conversion:
    """Read PubTator title/abstract documents with their mention annotations."""
    result = Conversion()
    for doc in _pubtator_docs(text, where):
        _add_segment(result, doc.pmid, doc.text, _pubtator_mentions(doc, spec, where), where)
    return result


# --------------------------------------------------------------------------------------------
# ChemProt (BioCreative VI)
# --------------------------------------------------------------------------------------------

CHEMPROT_ABSTRACT_FIELDS = ("PMID", "title", "abstract")
CHEMPROT_ENTITY_FIELDS = ("PMID", "entity id", "type", "start", "end", "mention")


def chemprot_entities_name(abstracts: str) -> str:
    """The entities file beside a ChemProt abstracts file (same folder, same name pattern)."""
    folder, slash, name = abstracts.rpartition("/")
    i = name.rfind("abstracts")
    if i < 0:
        raise InputError(
            f"chemprot source '{abstracts}' must name the abstracts file "
            "(e.g. chemprot_training_abstracts.tsv); its entities file is found beside it"
        )
    return f"{folder}{slash}{name[:i]}entities{name[i + len('abstracts') :]}"


def _tsv_lines(text: str) -> Iterable[tuple[int, list[str]]]:
    """(line number, tab-separated fields) of the non-blank lines (BOM and CRLF accepted)."""
    if text.startswith("\ufeff"):
        text = text[1:]
    for lineno, raw in enumerate(text.split("\n"), 1):
        line = raw[:-1] if raw.endswith("\r") else raw
        if line.strip():
            yield lineno, line.split("\t")


def _check_fields(cols: list[str], names: tuple[str, ...], what: str, where: str, line: int):
    if len(cols) != len(names):
        raise InputError(
            f"{what} line needs {len(names)} tab-separated fields ({', '.join(names)}); "
            f"found {len(cols)}",
            where,
            line,
        )


def _chemprot_abstracts(text: str, where: str) -> dict[str, str]:
    """PMID → ``title + "\\n" + abstract``, in file order."""
    docs: dict[str, str] = {}
    for lineno, cols in _tsv_lines(text):
        _check_fields(cols, CHEMPROT_ABSTRACT_FIELDS, "abstract", where, lineno)
        pmid, title, abstract = cols
        if not pmid.strip():
            raise InputError("empty PMID", where, lineno)
        if pmid in docs:
            raise InputError(f"second abstract for PMID '{pmid}'", where, lineno)
        docs[pmid] = f"{title}\n{abstract}"
    return docs


def _offset(value: str, name: str, where: str, line: int) -> int:
    if not (value.isascii() and value.isdigit()):
        raise InputError(f"{name} offset '{value}' is not a non-negative integer", where, line)
    return int(value)


def _chemprot_mentions(
    text: str, docs: dict[str, str], spec: BioSpec, where: str, abstracts_where: str
) -> dict[str, list[Mention]]:
    """PMID → the mentions of its entities (canonical types; dropped types left out)."""
    mentions: dict[str, list[Mention]] = {pmid: [] for pmid in docs}
    for lineno, cols in _tsv_lines(text):
        _check_fields(cols, CHEMPROT_ENTITY_FIELDS, "entity", where, lineno)
        pmid, entity_id, source, start_s, end_s, mention = cols
        doc = docs.get(pmid)
        if doc is None:
            raise InputError(
                f"entity '{entity_id}' names PMID '{pmid}', which has no abstract in "
                f"{abstracts_where}",
                where,
                lineno,
            )
        start, end = _offset(start_s, "start", where, lineno), _offset(end_s, "end", where, lineno)
        found = checked_mention(doc, pmid, (start, end, mention, source), spec, where, lineno)
        if found is not None:
            mentions[pmid].append(found)
    return mentions


def read_chemprot(path: str | Path, member: str | None, spec: BioSpec) -> Conversion:
    """Read a ChemProt abstracts file and the entities file beside it (file or archive member)."""
    path = Path(path)
    if member:
        entities_path, entities_member = path, chemprot_entities_name(member)
    else:
        entities_path, entities_member = path.with_name(chemprot_entities_name(path.name)), None
    abstracts_where = _display(path, member)
    entities_where = _display(entities_path, entities_member)
    docs = _chemprot_abstracts(
        decode_utf8(read_source_bytes(path, member), abstracts_where), abstracts_where
    )
    entities = decode_utf8(read_source_bytes(entities_path, entities_member), entities_where)
    mentions = _chemprot_mentions(entities, docs, spec, entities_where, abstracts_where)
    result = Conversion()
    for pmid, text in docs.items():
        _add_segment(result, pmid, text, mentions[pmid], entities_where)
    return result


# --------------------------------------------------------------------------------------------
# BRAT standoff
# --------------------------------------------------------------------------------------------


@dataclass
class _BratDoc:
    doc_id: str
    txt_where: str
    txt: bytes
    ann_where: str
    ann: bytes


def _clean(name: str) -> str:
    """Archive member name without leading ``./`` or ``/``."""
    while name.startswith(("./", "/")):
        name = name[2:] if name.startswith("./") else name[1:]
    return name


def _archive_files(path: Path) -> dict[str, bytes] | None:
    """All regular files of a zip or tar archive by cleaned name; None if not an archive."""
    try:
        if zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as zf:
                return {_clean(i.filename): zf.read(i) for i in zf.infolist() if not i.is_dir()}
        if tarfile.is_tarfile(path):
            files = {}
            with tarfile.open(path) as tf:
                for m in tf.getmembers():
                    f = tf.extractfile(m) if m.isfile() else None
                    if f is not None:
                        files[_clean(m.name)] = f.read()
            return files
    except (zipfile.BadZipFile, tarfile.TarError, EOFError, OSError) as e:
        raise InputError(f"cannot read archive ({e})", path) from None
    return None


def _brat_files(path: Path, member: str | None) -> tuple[dict[str, bytes], str]:
    """Files under ``member`` (relative names) of a directory or archive, and a display prefix."""
    prefix = (member or "").strip("/")
    if path.is_dir():
        root = path / prefix if prefix else path
        if not root.is_dir():
            raise InputError(f"brat folder '{prefix}' not found", path)
        files = {
            p.relative_to(root).as_posix(): p.read_bytes()
            for p in sorted(root.rglob("*"))
            if p.is_file() and p.suffix in (".txt", ".ann")
        }
        return files, str(root)
    if not path.exists():
        raise InputError("input not found", path)
    archive = _archive_files(path)
    if archive is None:
        raise InputError(
            "brat input must be a directory or a zip/tar archive of .txt/.ann pairs", path
        )
    lead = f"{prefix}/" if prefix else ""
    files = {
        name[len(lead) :]: data
        for name, data in archive.items()
        if name.startswith(lead) and name.endswith((".txt", ".ann"))
    }
    return files, _display(path, prefix or None)


def _brat_docs(path: Path, member: str | None) -> list[_BratDoc]:
    files, shown = _brat_files(path, member)
    stems = sorted({name.rsplit(".", 1)[0] for name in files})
    docs = []
    for stem in stems:
        txt_name, ann_name = f"{stem}.txt", f"{stem}.ann"
        if txt_name not in files:
            raise InputError(
                f"annotation file without its text file {txt_name}", f"{shown}/{ann_name}"
            )
        docs.append(
            _BratDoc(
                PurePosixPath(stem).as_posix(),
                f"{shown}/{txt_name}",
                files[txt_name],
                f"{shown}/{ann_name}",
                files.get(ann_name, b""),
            )
        )
    if not docs:
        raise InputError("no .txt/.ann documents found", shown)
    return docs


def _brat_fragments(spans: str, n_chars: int, where: str, line: int) -> list[tuple[int, int]]:
    fragments = []
    for frag in spans.split(";"):
        parts = frag.split()
        if len(parts) != 2 or not all(p.isdigit() for p in parts):
            raise InputError(f"bad span '{frag}': expected 'start end'", where, line)
        start, end = int(parts[0]), int(parts[1])
        if not 0 <= start < end <= n_chars:
            raise InputError(f"span {start}-{end} outside the text ({n_chars} chars)", where, line)
        fragments.append((start, end))
    return fragments


def _brat_mentions(doc: _BratDoc, text: str, spec: BioSpec, counters: Counters) -> list[Mention]:
    where = doc.ann_where
    mentions = []
    for lineno, raw in enumerate(decode_utf8(doc.ann, where).split("\n"), 1):
        line = raw.rstrip("\r")
        if not line.startswith("T"):
            continue  # relations, events, attributes, notes, comments
        cols = line.split("\t")
        if len(cols) < 2 or " " not in cols[1]:
            raise InputError(
                "text-bound line needs 'ID<TAB>Type start end<TAB>text'", where, lineno
            )
        source, spans = cols[1].split(" ", 1)
        fragments = _brat_fragments(spans, len(text), where, lineno)
        if len(fragments) == 1 and len(cols) >= 3:
            start, end = fragments[0]
            if text[start:end] != cols[2]:
                raise InputError(
                    f"mention {cols[2]!r} does not match the text {text[start:end]!r} at "
                    f"{start}-{end}",
                    where,
                    lineno,
                )
        canonical = map_type(source, spec, where, lineno)
        if canonical is None:
            continue
        if len(fragments) > 1:
            counters.dropped_discontinuous += 1
            continue
        mentions.append(Mention(*fragments[0], canonical))
    return mentions


def read_brat(path: str | Path, member: str | None, spec: BioSpec) -> Conversion:
    """Read brat .txt/.ann pairs from a directory or an archive folder."""
    result = Conversion()
    for doc in _brat_docs(Path(path), member):
        text = decode_utf8(doc.txt, doc.txt_where)
        mentions = _brat_mentions(doc, text, spec, result.counters)
        _add_segment(result, doc.doc_id, text, mentions, doc.ann_where)
    return result


# --------------------------------------------------------------------------------------------
# BioC XML
# --------------------------------------------------------------------------------------------


def _bioc_segments(document) -> list[tuple[int, str]]:
    """(offset, text) of each passage, or of its sentences when the passage has no text."""
    segments = []
    for passage in document.passages:
        if passage.text:
            segments.append((passage.offset, passage.text))
        else:
            segments.extend((s.offset, s.text) for s in passage.sentences if s.text)
    return segments


def _bioc_annotations(document) -> list:
    anns = list(document.annotations)
    for passage in document.passages:
        anns.extend(passage.annotations)
        for sentence in passage.sentences:
            anns.extend(sentence.annotations)
    return anns


def _bioc_place(document, ann, segments, where: str) -> tuple[int, int, int]:
    """(segment index, local start, local end) of a single-location annotation."""
    loc = ann.locations[0]
    what = f"document '{document.id}', annotation '{ann.id}'"
    for i, (offset, seg_text) in enumerate(segments):
        if offset <= loc.offset and loc.offset + loc.length <= offset + len(seg_text):
            start, end = loc.offset - offset, loc.offset + loc.length - offset
            if start == end:
                raise InputError(f"{what}: empty location at {loc.offset}", where)
            if ann.text and seg_text[start:end] != ann.text:
                raise InputError(
                    f"{what}: text {ann.text!r} does not match the passage text "
                    f"{seg_text[start:end]!r} at offset {loc.offset}",
                    where,
                )
            return i, start, end
    raise InputError(
        f"{what}: location {loc.offset}+{loc.length} lies outside every passage", where
    )


def _bioc_document(document, spec: BioSpec, result: Conversion, where: str) -> None:
    segments = _bioc_segments(document)
    per_segment: list[list[Mention]] = [[] for _ in segments]
    for ann in _bioc_annotations(document):
        what = f"document '{document.id}', annotation '{ann.id}'"
        source = ann.infons.get("type")
        if not source:
            raise InputError(f"{what} has no 'type' infon", where)
        canonical = map_type(source, spec, f"{where} ({what})", None)
        if canonical is None:
            continue
        if len(ann.locations) != 1:
            if not ann.locations:
                raise InputError(f"{what} has no location", where)
            result.counters.dropped_discontinuous += 1
            continue
        i, start, end = _bioc_place(document, ann, segments, where)
        per_segment[i].append(Mention(start, end, canonical))
    for (_, seg_text), mentions in zip(segments, per_segment, strict=True):
        _add_segment(result, str(document.id), seg_text, mentions, where)


def read_bioc(text: str, spec: BioSpec, where: str) -> Conversion:
    """Read a BioC XML collection (``bioc.biocxml.loads``)."""
    from bioc import biocxml
    from lxml import etree

    try:
        collection = biocxml.loads(text)
    except etree.XMLSyntaxError as e:
        raise InputError(f"invalid XML: {e.msg}", where, e.lineno) from None
    except (TypeError, ValueError, AttributeError) as e:
        raise InputError(f"not a valid BioC collection ({e})", where) from None
    result = Conversion()
    for document in collection.documents:
        _bioc_document(document, spec, result, where)
    return result


# --------------------------------------------------------------------------------------------
# Conversion entry points
# --------------------------------------------------------------------------------------------


def convert(spec: BioSpec, path: str | Path, member: str | None = None) -> Conversion:
    """Read one split of a corpus in ``spec.format`` (``member`` selects an archive member)."""
    if spec.format == "brat":
        return read_brat(path, member, spec)
    if spec.format == "chemprot":
        return read_chemprot(path, member, spec)
    where = _display(path, member)
    text = decode_utf8(read_source_bytes(path, member), where)
    reader = {"iob-tsv": read_iob, "pubtator": read_pubtator, "bioc": read_bioc}[spec.format]
    return reader(text, spec, where)


def to_records(sentences: Iterable[Sentence]) -> list[dict]:
    """Canonical JSONL records with ``sent_id = <doc_id>.<k>``."""
    seen: Counter[str] = Counter()
    records = []
    for s in sentences:
        records.append(
            {
                "doc_id": s.doc_id,
                "sent_id": f"{s.doc_id}.{seen[s.doc_id]}",
                "tokens": s.tokens,
                "tags": s.tags,
            }
        )
        seen[s.doc_id] += 1
    return records


def build_report(dataset: str, split: str, records: list[dict], counters: Counters) -> dict:
    """The report.json written beside each split."""
    return {
        "dataset": dataset,
        "split": split,
        "sentences": len(records),
        "tokens": sum(len(r["tokens"]) for r in records),
        "entities": sum(t.startswith("B-") for r in records for t in r["tags"]),
        "repairs": counters.repairs,
        "dropped_overlaps": counters.dropped_overlaps,
        "dropped_discontinuous": counters.dropped_discontinuous,
        "split_tokens": counters.split_tokens,
    }


def _parse_spec_json(text: str) -> BioSpec:
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as e:
        raise InputError(f"--spec is not valid JSON ({e.msg})") from None
    return BioSpec.from_dict(raw)


def main_to_bio(argv: list[str]) -> int:
    """``nerbench to-bio --spec JSON --input PATH [--member M] --output X.jsonl --report R``."""
    parser = argparse.ArgumentParser(prog="nerbench to-bio", description=main_to_bio.__doc__)
    parser.add_argument("--spec", required=True, help="JSON: name, format, tag_map, delimiter, ...")
    parser.add_argument("--input", required=True, help="source file, archive or brat directory")
    parser.add_argument("--member", default="", help="file (or brat folder) inside the archive")
    parser.add_argument("--output", required=True, help="results/bio/<dataset>/<split>.jsonl")
    parser.add_argument("--report", required=True, help="report JSON written beside the output")
    args = parser.parse_args(argv)
    spec = _parse_spec_json(args.spec)
    member = args.member or None
    result = convert(spec, args.input, member)
    records = to_records(result.sentences)
    if not records:
        raise InputError("no sentences found (empty file or split)", _display(args.input, member))
    split = Path(args.output).name.removesuffix(".jsonl")
    report = build_report(spec.name, split, records, result.counters)
    write_jsonl(args.output, records)
    write_json(args.report, report)
    print(json.dumps(report, sort_keys=True), file=sys.stderr)
    return 0
