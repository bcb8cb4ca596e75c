"""Corpus readers: one split of a corpus → canonical BIO sentences (JSONL) and a report.

Output record (one JSON object per line of ``results/bio/<dataset>/<split>.jsonl``)::

    {"doc_id": str, "sent_id": str, "tokens": [str, ...], "tags": ["O" | "B-<Type>" | "I-<Type>"]}

``sent_id`` is ``<doc_id>.<k>`` (k counts the sentences of that document id, from 0), unique within
a split. Types are canonical: every source type goes through the dataset's ``tag_map``
(``"SRC:Canonical,..."``); a source type mapped to ``O`` is not kept (its tokens are tagged ``O``);
a source type missing from ``tag_map`` is an error naming the file and line.

Formats (declared in :mod:`nerbench.data.formats.registry`, one reader module each)
---------------------------------------------------------------------------------
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
    chemprot_training_abstracts.tsv`` (see ``nerbench.data.archives.read_source_bytes``).

Rules for the offset formats (pubtator, brat, bioc, chemprot)
-------------------------------------------------------------
1. *Discontinuous mentions* (more than one fragment) cannot be written in BIO: they are dropped
   and counted (``dropped_discontinuous``).
2. *Overlapping mentions*: exact duplicates (same span and type) are merged silently; otherwise
   the longest mention wins (ties: the earliest start, then the first in the file) and every
   mention overlapping a kept one is dropped and counted (``dropped_overlaps``).
3. *Tokenizer*: ``formats.base.token_re()`` = runs of letters/digits (Unicode ``[^\\W_]+``) or
   any other single non-space character, a combining mark kept with the character before it
   (``tag`` splits raw text the same way); so whitespace and each punctuation character separate
   tokens, and character offsets are kept.
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
import sys
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

from nerbench.data.archives import read_source_bytes
from nerbench.data.formats.base import (
    BioSpec,
    Conversion,
    Counters,
    Sentence,
    _display,
    decode_utf8,
)
from nerbench.data.formats.registry import FORMATS
from nerbench.io import InputError, json_option, write_json, write_jsonl

# --------------------------------------------------------------------------------------------
# Conversion entry points
# --------------------------------------------------------------------------------------------


def convert(spec: BioSpec, path: str | Path, member: str | None = None) -> Conversion:
    """Read one split of a corpus with the reader registered for ``spec.format``
    (:data:`~nerbench.data.formats.registry.FORMATS`; ``member`` selects an archive member)."""
    reader = FORMATS.load(spec.format)
    if FORMATS.meta(spec.format)["reads"] == "source":
        return reader(path, member, spec)
    where = _display(path, member)
    return reader(decode_utf8(read_source_bytes(path, member), where), spec, where)


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
    return BioSpec.from_dict(json_option(text, "--spec"))


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
