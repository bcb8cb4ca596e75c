"""Entity knowledge base for Dense Bioentities Recognition (VANER section 3.4, step 1).

The KB is a TSV ``name, category, source, id`` built from, in priority order:

1. entities of configured training splits (``results/bio/<dataset>/train.jsonl``),
2. open vocabularies: CTD MEDIC (``ID[|OMIM]||Name|Syn|...``) and BEL namespaces (``.belns``),
3. a licensed UMLS release (``MRCONSO.RRF`` + ``MRSTY.RRF``): English (LAT=ENG), not suppressed
   (SUPPRESS=N), semantic types mapped to categories by ``config/semantic_groups.tsv``.

Names are cleaned (``html.unescape``, whitespace collapsed) and deduplicated per
(normalized name, category), the first source winning; the normalized name is the case-folded
sequence of word/punctuation tokens, so ``beta-catenin`` and ``Beta - catenin`` are one entry.
UMLS content is never logged: logs and stats carry counts only.
"""

from __future__ import annotations

import argparse
import html
import random
import re
import sys
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from nerbench.io import InputError, atomic_path, json_option, read_jsonl, write_json

KB_COLUMNS = ("name", "category", "source", "id")
MRCONSO_COLUMNS = 18
MRSTY_COLUMNS = 6
_TOKEN_RE = re.compile(r"\w+|[^\w\s]")
_WS_RE = re.compile(r"\s+")
_BEL_ESCAPE_RE = re.compile(r"\\(.)")
_TUI_RE = re.compile(r"^T\d{3}$")


@dataclass(frozen=True)
class KBEntry:
    """One KB row."""

    name: str
    category: str
    source: str
    id: str = ""


@dataclass
class KBStats:
    """Counts written beside the KB (never names)."""

    read: Counter = field(default_factory=Counter)  # source -> names read
    kept: Counter = field(default_factory=Counter)  # (category, source) -> names kept
    dropped: Counter = field(default_factory=Counter)  # reason -> names dropped
    umls: dict = field(default_factory=dict)

    def as_dict(self) -> dict:
        by_cat: Counter = Counter()
        by_src: Counter = Counter()
        nested: dict[str, dict[str, int]] = {}
        for (cat, src), n in sorted(self.kept.items()):
            by_cat[cat] += n
            by_src[src] += n
            nested.setdefault(cat, {})[src] = n
        return {
            "total": sum(self.kept.values()),
            "by_category": dict(sorted(by_cat.items())),
            "by_source": dict(sorted(by_src.items())),
            "by_category_source": nested,
            "read": dict(sorted(self.read.items())),
            "dropped": dict(sorted(self.dropped.items())),
            "umls": {k: dict(v) if isinstance(v, Counter) else v for k, v in self.umls.items()},
        }


# --------------------------------------------------------------------------- normalization


def tokenize_name(name: str) -> list[str]:
    """Split a name into word and single-punctuation tokens (the corpora's tokenization).

    Close to, but not, :func:`nerbench.data.formats.base.token_re` (how corpus text is split):
    here a ``\\w`` run keeps underscores inside a word (``C4B_2`` is one token here, three
    there), and combining marks, zero-width joiners and BOMs are neither attached nor skipped.
    It is kept apart on purpose: it defines the KB's dedup keys (:func:`dedup_key`) and the
    words of DBR samples, so switching would change built KBs and samples (7 of the 174,274
    names of the open KB of 2026-12-04 split differently, e.g. ``APOBEC3A_B``).
    :mod:`nerbench.dbr.phrases` matches mined phrases by whitespace tokens without punctuation,
    another concept.
    """
    return _TOKEN_RE.findall(name)


def clean_name(raw: str) -> str:
    """Unescape HTML entities and collapse whitespace (tabs and newlines included)."""
    return _WS_RE.sub(" ", html.unescape(raw)).strip()


def dedup_key(name: str) -> str:
    """Case-folded token sequence: the identity of a name within one category."""
    return " ".join(tokenize_name(name)).casefold()


# --------------------------------------------------------------------------- UMLS


def read_semantic_groups(path: str | Path) -> dict[str, str]:
    """Read ``tui<TAB>semantic_type<TAB>category`` (comments ``#``) into TUI -> category."""
    mapping: dict[str, str] = {}
    header_seen = False
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            line = line.rstrip("\n")
            if not line.strip() or line.startswith("#"):
                continue
            cells = line.split("\t")
            if not header_seen:
                if cells != ["tui", "semantic_type", "category"]:
                    raise InputError("header must be 'tui, semantic_type, category'", path, lineno)
                header_seen = True
                continue
            if len(cells) != 3 or not _TUI_RE.match(cells[0]) or not cells[2].strip():
                raise InputError("expected 'T###<TAB>name<TAB>category'", path, lineno)
            if cells[0] in mapping:
                raise InputError(f"duplicate TUI {cells[0]}", path, lineno)
            mapping[cells[0]] = cells[2].strip()
    if not mapping:
        raise InputError("no semantic type mappings", path)
    return mapping


def _rrf_fields(line: str, n_columns: int, path: str | Path, lineno: int) -> list[str]:
    """Split one RRF line: ``n_columns`` pipe-delimited fields plus a trailing '|'."""
    cells = line.rstrip("\r\n").split("|")
    if len(cells) != n_columns + 1 or cells[-1] != "":
        raise InputError(
            f"expected {n_columns} pipe-delimited columns and a trailing '|', "
            f"found {len(cells) - 1} delimiters",
            path,
            lineno,
        )
    return cells[:-1]


def read_mrsty(
    path: str | Path, tui_category: dict[str, str], other_groups: bool = False
) -> dict[str, set[str]]:
    """MRSTY.RRF (CUI|TUI|STN|STY|ATUI|CVF|) -> CUI -> categories of its mapped TUIs.

    With ``other_groups``, a concept none of whose TUIs is mapped gets its semantic types' names
    (STY, e.g. ``Spatial Concept``) as categories: DBR negatives outside the NER categories, as
    in VANER's released samples. A concept with a mapped TUI keeps only its NER categories.
    """
    out: dict[str, set[str]] = {}
    other: dict[str, set[str]] = {}
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            cui, tui, _, sty = _rrf_fields(line, MRSTY_COLUMNS, path, lineno)[:4]
            cat = tui_category.get(tui)
            if cat is not None:
                out.setdefault(cui, set()).add(cat)
            elif other_groups and sty:
                other.setdefault(cui, set()).add(sty)
    for cui, stys in other.items():
        out.setdefault(cui, stys)
    return out


def iter_mrconso(
    path: str | Path,
    cui_categories: dict[str, set[str]],
    counts: Counter,
    sabs: Iterable[str] | None = None,
) -> Iterator[KBEntry]:
    """English, non-suppressed MRCONSO.RRF names of mapped concepts, one entry per category.

    Columns: CUI LAT TS LUI STT SUI ISPREF AUI SAUI SCUI SDUI SAB TTY CODE STR SRL SUPPRESS CVF.
    ``counts`` receives row counts per filter outcome (never content).
    """
    keep_sabs = None if sabs is None else set(sabs)
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            cells = _rrf_fields(line, MRCONSO_COLUMNS, path, lineno)
            counts["rows"] += 1
            cui, lat, sab, string, suppress = cells[0], cells[1], cells[11], cells[14], cells[16]
            if lat != "ENG":
                counts["not_english"] += 1
                continue
            if suppress != "N":
                counts["suppressed"] += 1
                continue
            if keep_sabs is not None and sab not in keep_sabs:
                counts["other_source"] += 1
                continue
            cats = cui_categories.get(cui)
            if not cats:
                counts["unmapped_semantic_type"] += 1
                continue
            counts["kept_rows"] += 1
            for cat in sorted(cats):
                yield KBEntry(string, cat, "UMLS", cui)


# --------------------------------------------------------------------------- open vocabularies


_MEDIC_SUFFIX_RE = re.compile(r",\s*(INCLUDED|FORMERLY)\s*$")
_MEDIC_ARTEFACT_RE = re.compile(r"\b(INCLUDED|FORMERLY)\b")


def clean_medic_name(name: str) -> str | None:
    """A MEDIC synonym without OMIM's editorial markers, or None for a garbled one.

    OMIM titles reach MEDIC with trailing ``, INCLUDED`` / ``, FORMERLY`` (the marker is cut),
    and some as several titles run together (``..., X-LINKED, FORMERLY ISLETS OF ..., INCLUDED``):
    a marker left inside the name drops it. Without this, the markers become Disease positives.
    """
    name = _MEDIC_SUFFIX_RE.sub("", name).strip()
    if not name or _MEDIC_ARTEFACT_RE.search(name):
        return None
    return name


def iter_medic(
    path: str | Path, category: str, source: str = "MEDIC", dropped: Counter | None = None
) -> Iterator[KBEntry]:
    """CTD MEDIC as distributed with BioSyn: ``ID[|OMIM...]||Name|Synonym|...`` per line.

    Names go through :func:`clean_medic_name`; ``dropped["medic_artefact"]`` counts the garbled
    ones left out."""
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            line = line.rstrip("\r\n")
            if not line.strip():
                continue
            if "||" not in line:
                raise InputError("expected 'ID[|OMIM]||Name|Synonym...'", path, lineno)
            ids, names = line.split("||", 1)
            id_parts = [p for p in ids.split("|") if p]
            if not id_parts or not names:
                raise InputError("empty concept id or name list", path, lineno)
            cid = "|".join([f"MESH:{id_parts[0]}"] + [f"OMIM:{p}" for p in id_parts[1:]])
            for raw in names.split("|"):
                name = clean_medic_name(raw) if raw else None
                if name:
                    yield KBEntry(name, category, source, cid)
                elif raw and dropped is not None:
                    dropped["medic_artefact"] += 1


def iter_belns(path: str | Path, category: str, source: str | None = None) -> Iterator[KBEntry]:
    """BEL namespace: header sections, then ``[Values]`` lines ``Name|Flags``.

    ``\\x`` escapes in names (e.g. ``\\{``) are undone; ids are ``<Keyword>:<name>``.
    """
    keyword = None
    in_values = False
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            line = line.rstrip("\r\n")
            if not line.strip():
                continue
            if not in_values:
                if line.startswith("Keyword=") and keyword is None:
                    keyword = line.split("=", 1)[1].strip()
                in_values = line.strip() == "[Values]"
                continue
            if "|" not in line:
                raise InputError("expected 'Name|Flags' after [Values]", path, lineno)
            raw = line.rsplit("|", 1)[0]
            name = _BEL_ESCAPE_RE.sub(r"\1", raw)
            prefix = keyword or Path(path).stem
            yield KBEntry(name, category, source or prefix, f"{prefix}:{name}")
    if not in_values:
        raise InputError("no [Values] section (not a BEL namespace file)", path)


VOCAB_READERS = {"medic": iter_medic, "belns": iter_belns}


def iter_vocabulary(spec: dict, dropped: Counter | None = None) -> Iterator[KBEntry]:
    """Read one configured vocabulary ``{path, format, category[, source]}``."""
    fmt = spec.get("format")
    if fmt not in VOCAB_READERS:
        raise InputError(
            f"unknown vocabulary format '{fmt}' (config key dbr.kb.vocabularies); "
            f"known: {sorted(VOCAB_READERS)}"
        )
    path = Path(spec["path"])
    if not path.is_file():
        raise InputError("vocabulary file not found (config key dbr.kb.vocabularies)", path)
    source = spec.get("source") or (None if fmt == "belns" else fmt.upper())
    if fmt == "medic":
        return iter_medic(path, spec["category"], source, dropped)
    return VOCAB_READERS[fmt](path, spec["category"], source)


# --------------------------------------------------------------------------- training entities


def bio_spans(tags: list[str]) -> list[tuple[int, int, str]]:
    """IOB2 spans ``(start, end_exclusive, type)``; a stray I- starts a new span."""
    spans: list[tuple[int, int, str]] = []
    start, etype = None, None
    for i, tag in enumerate([*tags, "O"]):
        prefix, _, t = tag.partition("-")
        if start is not None and (prefix != "I" or t != etype):
            spans.append((start, i, etype))
            start, etype = None, None
        if prefix == "B" or (prefix == "I" and start is None):
            start, etype = i, t
    return spans


def iter_train_entities(
    path: str | Path, dataset: str, category_of_type: dict[str, str]
) -> Iterator[KBEntry]:
    """Gold entity mentions of one canonical training split, with categories mapped."""
    for rec in read_jsonl(path):
        tokens = rec["tokens"]
        for start, end, etype in bio_spans(rec["tags"]):
            yield KBEntry(
                " ".join(tokens[start:end]), category_of_type.get(etype, etype), dataset, ""
            )


# --------------------------------------------------------------------------- build / read


def build_kb(
    sources: Iterable[tuple[str, Iterable[KBEntry]]],
    out_path: str | Path,
    min_chars: int = 2,
    max_chars: int = 100,
    stats: KBStats | None = None,
) -> KBStats:
    """Clean, filter and deduplicate entries from ``sources`` (in priority order) into a TSV.

    Written atomically; returns counts per source/category and per drop reason.
    """
    stats = KBStats() if stats is None else stats
    seen: set[tuple[str, str]] = set()
    with atomic_path(out_path) as tmp, open(tmp, "w", encoding="utf-8", newline="\n") as f:
        f.write("\t".join(KB_COLUMNS) + "\n")
        for label, entries in sources:
            for entry in entries:
                stats.read[label] += 1
                name = clean_name(entry.name)
                if not any(ch.isalnum() for ch in name):
                    stats.dropped["no_alphanumeric"] += 1
                    continue
                if len(name) < min_chars:
                    stats.dropped["too_short"] += 1
                    continue
                if len(name) > max_chars:
                    stats.dropped["too_long"] += 1
                    continue
                key = (dedup_key(name), entry.category)
                if key in seen:
                    stats.dropped["duplicate"] += 1
                    continue
                seen.add(key)
                stats.kept[(entry.category, entry.source)] += 1
                f.write(f"{name}\t{entry.category}\t{entry.source}\t{clean_name(entry.id)}\n")
    return stats


def read_kb(path: str | Path) -> list[KBEntry]:
    """Read a KB TSV written by :func:`build_kb`."""
    entries = []
    with open(path, encoding="utf-8") as f:
        header = f.readline().rstrip("\n").split("\t")
        if tuple(header) != KB_COLUMNS:
            raise InputError(f"KB header must be {'/'.join(KB_COLUMNS)}", path, 1)
        for lineno, line in enumerate(f, 2):
            cells = line.rstrip("\n").split("\t")
            if len(cells) != len(KB_COLUMNS):
                raise InputError(f"expected {len(KB_COLUMNS)} tab-separated cells", path, lineno)
            entries.append(KBEntry(*cells))
    if not entries:
        raise InputError("knowledge base is empty", path)
    return entries


def umls_sources(spec: dict, stats: KBStats, log=print) -> list[tuple[str, Iterator[KBEntry]]]:
    """The UMLS source per ``spec['umls']`` (required | optional | off) and ``spec['umls_dir']``."""
    mode = spec.get("umls", "optional")
    umls_dir = spec.get("umls_dir")
    override = spec.get("umls_override")
    if mode == "off":
        stats.umls = {"used": False, "mode": mode, "reason": "dbr.kb.umls is 'off'"}
        return []
    if not umls_dir:
        if mode == "required" and override != "open":
            raise InputError(
                "dbr.kb.umls is 'required' but config key 'umls_dir' is not set: set umls_dir "
                "(config/config.yaml or --config umls_dir=/path/to/UMLS/META) to a directory "
                "holding MRCONSO.RRF and MRSTY.RRF, or build the KB from the open vocabularies "
                "only with --config umls_override=open (the tables then say so)"
            )
        reason = "config key umls_dir not set"
        if mode == "required":
            reason += "; umls_override=open: open vocabularies instead of the required UMLS"
        log(f"UMLS not used ({reason}): open vocabularies only")
        stats.umls = {"used": False, "mode": mode, "reason": reason}
        if mode == "required":
            stats.umls["override"] = override
        return []
    mrconso, mrsty = Path(umls_dir) / "MRCONSO.RRF", Path(umls_dir) / "MRSTY.RRF"
    for p in (mrconso, mrsty):
        if not p.is_file():
            raise InputError("UMLS file not found (config key umls_dir)", p)
    tui_map = read_semantic_groups(spec["semantic_groups"])
    cui_cats = read_mrsty(mrsty, tui_map, bool(spec.get("umls_other_groups", False)))
    counts: Counter = Counter()
    stats.umls = {"used": True, "mode": mode, "mapped_concepts": len(cui_cats), "mrconso": counts}
    log(f"UMLS: {len(cui_cats)} concepts with a mapped semantic type")
    return [("UMLS", iter_mrconso(mrconso, cui_cats, counts, spec.get("umls_sabs")))]


def cap_source(
    entries: Iterable[KBEntry], cap: int, seed: str, stats: KBStats
) -> Iterator[KBEntry]:
    """A seeded uniform sample of at most ``cap`` entries (reservoir), in original order."""
    rng = random.Random(seed)
    reservoir: list[tuple[int, KBEntry]] = []
    n = 0
    for n, entry in enumerate(entries, 1):
        if len(reservoir) < cap:
            reservoir.append((n, entry))
        else:
            j = rng.randrange(n)
            if j < cap:
                reservoir[j] = (n, entry)
    stats.dropped["over_source_cap"] += max(0, n - cap)
    yield from (e for _, e in sorted(reservoir, key=lambda t: t[0]))


def kb_sources(spec: dict, bio_paths: list[str], stats: KBStats, log=print) -> list:
    """All sources in priority order: training entities, vocabularies, UMLS.

    ``spec['max_per_source']`` (if set) caps each vocabulary and UMLS by a seeded sample;
    training entities are never capped.
    """
    names = list(spec.get("train_datasets") or [])
    if len(names) != len(bio_paths):
        raise InputError(
            f"{len(bio_paths)} --bio files for {len(names)} datasets in dbr.kb.train_datasets"
        )
    cmap = spec.get("category_of_type") or {}
    sources: list = []
    for name, path in zip(names, bio_paths, strict=True):
        if Path(path).parent.name != name:
            raise InputError(f"training split does not belong to dataset '{name}'", path)
        sources.append((name, iter_train_entities(path, name, cmap)))
    external = [
        (voc.get("source") or Path(voc["path"]).name, iter_vocabulary(voc, stats.dropped))
        for voc in spec.get("vocabularies") or []
    ]
    external += umls_sources(spec, stats, log)
    cap = spec.get("max_per_source")
    if cap:
        seed = str(spec.get("seed", 13))
        external = [(lab, cap_source(it, int(cap), f"{seed}:{lab}", stats)) for lab, it in external]
    return sources + external


MAX_LISTED_CATEGORIES = 6


def kb_composition(stats: dict) -> str:
    """One line saying what a KB holds, from its stats: names per category, sources, UMLS.

    E.g. ``169,883 names (Chemical 40,310; Disease 33,640; Gene 95,933); sources: MEDIC 67,330,
    chebi 40,310, ...; no UMLS (config key umls_dir not set)``.
    """
    by_cat = stats.get("by_category") or {}
    largest = sorted(by_cat, key=lambda c: (-by_cat[c], c))[:MAX_LISTED_CATEGORIES]
    cats = "; ".join(f"{c} {by_cat[c]:,}" for c in sorted(largest))
    rest = [c for c in by_cat if c not in largest]
    if rest:  # UMLS semantic types outside the NER categories (umls_other_groups)
        cats += f"; {len(rest)} other categories {sum(by_cat[c] for c in rest):,}"
    srcs = ", ".join(f"{s} {n:,}" for s, n in (stats.get("by_source") or {}).items())
    umls = stats.get("umls") or {}
    if umls.get("used"):
        umls_text = "with UMLS"
    else:
        umls_text = f"no UMLS ({umls.get('reason', 'not configured')})"
        if umls.get("mode") == "required":
            umls_text = f"OPEN VOCABULARIES INSTEAD OF THE REQUIRED UMLS ({umls.get('reason')})"
    return f"{stats.get('total', 0):,} names ({cats}); sources: {srcs}; {umls_text}"


def main_kb(argv: list[str]) -> int:
    """``nerbench kb --spec JSON [--bio TRAIN.jsonl ...] --output KB.tsv --stats S.json``."""
    ap = argparse.ArgumentParser(prog="nerbench kb", description=main_kb.__doc__)
    ap.add_argument("--spec", required=True, help="JSON: the resolved dbr.kb slice + umls_dir")
    ap.add_argument(
        "--bio", action="extend", nargs="+", default=[], help="train splits, train_datasets order"
    )
    ap.add_argument("--output", required=True)
    ap.add_argument("--stats", required=True)
    args = ap.parse_args(argv)
    spec = json_option(args.spec, "--spec")

    def log(msg: str) -> None:
        print(msg, file=sys.stderr, flush=True)

    stats = KBStats()
    sources = kb_sources(spec, args.bio, stats, log)
    build_kb(sources, args.output, spec.get("min_chars", 2), spec.get("max_chars", 100), stats)
    summary = stats.as_dict()
    log(f"KB: {summary['total']} entries; by category {summary['by_category']}")
    log(f"by source {summary['by_source']}; dropped {summary['dropped']}")
    summary["composition"] = kb_composition(summary)
    write_json(args.stats, summary)
    return 0
