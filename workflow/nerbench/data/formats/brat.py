"""Reader for ``brat``: ``.txt``/``.ann`` pairs in a folder or archive."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from nerbench.data.archives import archive_files
from nerbench.data.formats.base import (
    BioSpec,
    Conversion,
    Counters,
    Mention,
    _display,
    decode_utf8,
    map_type,
)
from nerbench.data.formats.text import _add_segment
from nerbench.io import InputError

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
    archive = archive_files(path)
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
