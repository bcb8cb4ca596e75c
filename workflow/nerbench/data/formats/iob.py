"""Reader for ``iob-tsv``: token/tag columns, one blank line between sentences."""

from __future__ import annotations

from nerbench.data.formats.base import (
    DELIMITERS,
    DOCSTART,
    TAG_RE,
    BioSpec,
    Conversion,
    Counters,
    Sentence,
    map_type,
)
from nerbench.io import InputError

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
