"""Reader for ``chemprot``: BioCreative VI abstracts + entities TSV."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from nerbench.data.archives import read_source_bytes
from nerbench.data.formats.base import BioSpec, Conversion, Mention, _display, decode_utf8
from nerbench.data.formats.text import _add_segment, checked_mention
from nerbench.io import InputError

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
