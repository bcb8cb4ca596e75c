"""Corpus statistics of the canonical BIO splits, beside VANER's Table 2 sentence counts.

Per dataset and split: sentences, tokens, entities, the entity-length histogram (1, 2, ≥3
tokens), the share of entities of ≥3 tokens, the entity types present, and what the conversion
changed (IOB2 repairs, dropped overlapping / discontinuous mentions, from the report.json beside
each split). Written as TSV and Markdown, atomically.
"""

from __future__ import annotations

import argparse
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

from nerbench.config import SPLITS
from nerbench.io import InputError, json_option, read_json, read_jsonl, write_text

COLUMNS = (
    "dataset",
    "split",
    "sentences",
    "vaner_sentences",
    "tokens",
    "entities",
    "len_1",
    "len_2",
    "len_3plus",
    "share_3plus",
    "types",
    "repairs",
    "dropped_overlaps",
    "dropped_discontinuous",
)
REPORT_KEYS = ("repairs", "dropped_overlaps", "dropped_discontinuous")


def entity_spans(tags: list[str]) -> list[tuple[str, int, int]]:
    """(type, start, end) of each entity of an IOB2 tag sequence (an orphan I- starts one)."""
    spans: list[tuple[str, int, int]] = []
    current: tuple[str, int] | None = None
    for i, tag in enumerate([*tags, "O"]):
        prefix, _, typ = tag.partition("-")
        if current is not None and (prefix != "I" or typ != current[0]):
            spans.append((current[0], current[1], i))
            current = None
        if prefix == "B" or (prefix == "I" and current is None):
            current = (typ, i)
    return spans


def summarize(records: Iterable[dict]) -> dict:
    """Sentence, token and entity counts and the entity-length histogram of one split."""
    sentences = tokens = 0
    lengths: Counter[int] = Counter()
    types: Counter[str] = Counter()
    for rec in records:
        sentences += 1
        tokens += len(rec["tokens"])
        for typ, start, end in entity_spans(rec["tags"]):
            lengths[min(end - start, 3)] += 1
            types[typ] += 1
    entities = sum(lengths.values())
    return {
        "sentences": sentences,
        "tokens": tokens,
        "entities": entities,
        "len_1": lengths[1],
        "len_2": lengths[2],
        "len_3plus": lengths[3],
        "share_3plus": lengths[3] / entities if entities else None,
        "types": ",".join(sorted(types)),
    }


def dataset_split(path: Path) -> tuple[str, str]:
    """(dataset, split) of ``results/bio/<dataset>/<split>.jsonl``."""
    split = path.name.removesuffix(".jsonl")
    if path.suffix != ".jsonl" or split not in SPLITS:
        raise InputError(
            f"expected a path results/bio/<dataset>/<split>.jsonl with split in {SPLITS}", path
        )
    return path.parent.name, split


def parse_vaner(text: str) -> dict[str, dict[str, int]]:
    """``{"dataset": "tr/dev/test" or ""}`` → per dataset, sentence counts by split."""
    raw = json_option(text, "--vaner")
    out: dict[str, dict[str, int]] = {}
    for name, counts in raw.items():
        if counts in ("", None):
            continue
        parts = str(counts).split("/")
        if len(parts) != len(SPLITS) or not all(p.isdigit() for p in parts):
            raise InputError(
                f"--vaner: dataset '{name}' (datasets.tsv column vaner_counts) has '{counts}'; "
                "expected train/devel/test sentence counts such as 5432/923/942"
            )
        out[name] = dict(zip(SPLITS, map(int, parts), strict=True))
    return out


def split_row(path: Path, vaner: dict[str, dict[str, int]]) -> dict:
    """One table row: the split's summary, its conversion report and VANER's count."""
    dataset, split = dataset_split(path)
    report_path = path.with_name(f"{split}.report.json")
    if not report_path.is_file():
        raise InputError("conversion report not found (written by to-bio)", report_path)
    report = read_json(report_path)
    missing = [k for k in REPORT_KEYS if k not in report]
    if missing:
        raise InputError(f"report lacks key(s) {missing}", report_path)
    records = read_jsonl(path)
    for i, rec in enumerate(records, 1):
        if len(rec.get("tokens", [])) != len(rec.get("tags", [None])):
            raise InputError(f"record {i} has different numbers of tokens and tags", path)
    row = {"dataset": dataset, "split": split, **summarize(records)}
    row.update({k: report[k] for k in REPORT_KEYS})
    row["vaner_sentences"] = vaner.get(dataset, {}).get(split)
    return row


def collect_rows(paths: Iterable[str | Path], vaner: dict[str, dict[str, int]]) -> list[dict]:
    """Rows for every split, datasets in order of first appearance, splits in SPLITS order."""
    rows = [split_row(Path(p), vaner) for p in paths]
    first = {}
    for r in rows:
        first.setdefault(r["dataset"], len(first))
    return sorted(rows, key=lambda r: (first[r["dataset"]], SPLITS.index(r["split"])))


def _cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.3f}"
    return str(value)


def to_tsv(rows: list[dict]) -> str:
    lines = ["\t".join(COLUMNS)]
    lines += ["\t".join(_cell(r[c]) for c in COLUMNS) for r in rows]
    return "\n".join(lines) + "\n"


def to_markdown(rows: list[dict]) -> str:
    header = [
        "dataset",
        "split",
        "sentences",
        "VANER sentences",
        "tokens",
        "entities",
        "1 tok",
        "2 tok",
        "≥3 tok",
        "share ≥3",
        "types",
        "IOB repairs",
        "dropped overlaps",
        "dropped discontinuous",
    ]
    numeric = set(COLUMNS) - {"dataset", "split", "types"}
    align = ["---:" if c in numeric else "---" for c in COLUMNS]
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join(align) + " |"]
    lines += ["| " + " | ".join(_cell(r[c]) or "–" for c in COLUMNS) + " |" for r in rows]
    note = (
        "\nVANER sentences: Table 2 of the VANER paper (their BioBERT-distributed splits); "
        "entity lengths are counted in tokens of the canonical BIO files.\n"
    )
    return "\n".join(lines) + "\n" + note


def main_corpus_stats(argv: list[str]) -> int:
    """``nerbench corpus-stats --bio A/train.jsonl ... --vaner JSON --tsv OUT --md OUT``."""
    parser = argparse.ArgumentParser(
        prog="nerbench corpus-stats", description=main_corpus_stats.__doc__
    )
    parser.add_argument("--bio", nargs="+", required=True, help="results/bio/<ds>/<split>.jsonl")
    parser.add_argument("--vaner", default="{}", help='JSON {dataset: "train/devel/test" or ""}')
    parser.add_argument("--tsv", required=True)
    parser.add_argument("--md", required=True)
    args = parser.parse_args(argv)
    rows = collect_rows(args.bio, parse_vaner(args.vaner))
    write_text(args.tsv, to_tsv(rows))
    write_text(args.md, to_markdown(rows))
    return 0
