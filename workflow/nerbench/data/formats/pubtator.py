"""Reader for ``pubtator``: title/abstract lines and tab-separated mentions."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from nerbench.data.formats.base import BioSpec, Conversion, Mention
from nerbench.data.formats.text import _add_segment, checked_mention
from nerbench.io import InputError

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


def read_pubtator(text: str, spec: BioSpec, where: str) -> Conversion:
    """Read PubTator title/abstract documents with their mention annotations."""
    result = Conversion()
    for doc in _pubtator_docs(text, where):
        _add_segment(result, doc.pmid, doc.text, _pubtator_mentions(doc, spec, where), where)
    return result
