"""Reader for ``bioc``: BioC XML passages and annotations."""

from __future__ import annotations

from nerbench.data.formats.base import BioSpec, Conversion, Mention, map_type
from nerbench.data.formats.text import _add_segment
from nerbench.io import InputError

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
