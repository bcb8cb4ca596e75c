"""Corpus statistics: entity spans, length histogram, TSV/Markdown tables beside VANER's counts."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from nerbench.data.convert import main_to_bio
from nerbench.data.stats import entity_spans, main_corpus_stats, parse_vaner, summarize
from nerbench.io import InputError, write_json, write_jsonl

SHARED = Path(__file__).parents[1].parent / "shared" / "data"
FORMATS = Path(__file__).parent / "data" / "formats"


def test_entity_spans_handles_adjacent_and_orphan_entities() -> None:
    tags = ["B-Gene", "I-Gene", "B-Gene", "O", "I-Disease", "I-Disease", "I-Chemical", "B-Gene"]
    assert entity_spans(tags) == [
        ("Gene", 0, 2),
        ("Gene", 2, 3),
        ("Disease", 4, 6),
        ("Chemical", 6, 7),
        ("Gene", 7, 8),
    ]
    assert entity_spans(["O", "O"]) == [] and entity_spans([]) == []


def test_summarize_length_histogram() -> None:
    records = [
        {"tokens": list("abcdefg"), "tags": ["B-D", "I-D", "I-D", "I-D", "O", "B-C", "B-C"]},
        {"tokens": ["x", "y"], "tags": ["B-D", "I-D"]},
        {"tokens": ["z"], "tags": ["O"]},
    ]
    assert summarize(records) == {
        "sentences": 3,
        "tokens": 10,
        "entities": 4,
        "len_1": 2,
        "len_2": 1,
        "len_3plus": 1,
        "share_3plus": 0.25,
        "types": "C,D",
    }
    assert summarize([])["share_3plus"] is None


def test_parse_vaner() -> None:
    assert parse_vaner('{"ncbi": "5432/923/942", "demo": ""}') == {
        "ncbi": {"train": 5432, "devel": 923, "test": 942}
    }
    with pytest.raises(InputError, match="dataset 'ncbi'.*vaner_counts.*'5432/923'"):
        parse_vaner('{"ncbi": "5432/923"}')
    with pytest.raises(InputError, match="--vaner is not valid JSON"):
        parse_vaner("{ncbi}")


def _convert(src: Path, out: Path, spec: dict) -> None:
    argv = ["--spec", json.dumps(spec), "--input", str(src), "--member", "", "--output", str(out)]
    assert main_to_bio([*argv, "--report", str(out.with_name(out.stem + ".report.json"))]) == 0


def _read_tsv(path: Path) -> list[dict]:
    with open(path, encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f, delimiter="\t"))


@pytest.mark.skipif(not SHARED.is_dir(), reason=f"shared corpora not found at {SHARED}")
def test_corpus_stats_on_real_ncbi_and_a_brat_fixture(tmp_path: Path) -> None:
    bio = tmp_path / "results" / "bio"
    ncbi = {"name": "NCBI-disease", "format": "iob-tsv", "tag_map": "Disease:Disease"}
    for split in ("test", "devel"):  # given out of order on purpose
        _convert(
            SHARED / "NCBI-disease" / f"{split}.tsv", bio / "NCBI-disease" / f"{split}.jsonl", ncbi
        )
    craft = {"name": "craft", "format": "brat", "tag_map": "GGP:Gene,Taxon:Species,CHEBI:Chemical,"
             "Disease:Disease,CL:CellType,SO:O"}  # fmt: skip
    _convert(FORMATS / "brat", bio / "craft" / "train.jsonl", craft)
    paths = [str(bio / d / f"{s}.jsonl") for d, s in
             [("NCBI-disease", "test"), ("craft", "train"), ("NCBI-disease", "devel")]]  # fmt: skip
    tsv, md = tmp_path / "tables" / "corpus_stats.tsv", tmp_path / "tables" / "corpus_stats.md"
    vaner = json.dumps({"NCBI-disease": "5432/923/942", "craft": ""})
    assert (
        main_corpus_stats(["--bio", *paths, "--vaner", vaner, "--tsv", str(tsv), "--md", str(md)])
        == 0
    )

    rows = _read_tsv(tsv)
    assert [(r["dataset"], r["split"]) for r in rows] == [
        ("NCBI-disease", "devel"), ("NCBI-disease", "test"), ("craft", "train"),
    ]  # fmt: skip
    test = rows[1]
    assert (test["sentences"], test["vaner_sentences"], test["entities"]) == ("940", "942", "960")
    assert test["share_3plus"] == "0.278" and test["types"] == "Disease"
    n1, n2, n3 = int(test["len_1"]), int(test["len_2"]), int(test["len_3plus"])
    assert n1 + n2 + n3 == 960 and n3 == round(0.278 * 960)
    assert rows[0]["sentences"] == "923" and rows[0]["vaner_sentences"] == "923"
    assert rows[2] == {
        "dataset": "craft", "split": "train", "sentences": "2", "vaner_sentences": "",
        "tokens": "25", "entities": "7", "len_1": "5", "len_2": "2", "len_3plus": "0",
        "share_3plus": "0.000", "types": "CellType,Chemical,Disease,Gene,Species",
        "repairs": "0", "dropped_overlaps": "1", "dropped_discontinuous": "1",
    }  # fmt: skip
    text = md.read_text(encoding="utf-8")
    assert "| NCBI-disease | test | 940 | 942 |" in text and "share ≥3" in text
    assert "| craft | train | 2 | – |" in text


def test_corpus_stats_reports_repairs(tmp_path: Path) -> None:
    bio = tmp_path / "bio" / "demo"
    write_jsonl(bio / "train.jsonl", [{"doc_id": "0", "sent_id": "0.0", "tokens": ["a", "b"],
                                       "tags": ["B-Gene", "I-Gene"]}])  # fmt: skip
    write_json(bio / "train.report.json", {"repairs": 5, "dropped_overlaps": 0,
                                            "dropped_discontinuous": 0})  # fmt: skip
    tsv, md = tmp_path / "s.tsv", tmp_path / "s.md"
    main_corpus_stats(["--bio", str(bio / "train.jsonl"), "--tsv", str(tsv), "--md", str(md)])
    (row,) = _read_tsv(tsv)
    assert (row["repairs"], row["len_2"], row["share_3plus"]) == ("5", "1", "0.000")


def test_corpus_stats_errors_leave_no_tables(tmp_path: Path) -> None:
    bio = tmp_path / "bio" / "demo"
    write_jsonl(bio / "test.jsonl", [{"doc_id": "0", "sent_id": "0.0", "tokens": ["a"],
                                      "tags": ["O"]}])  # fmt: skip
    tsv, md = tmp_path / "out" / "s.tsv", tmp_path / "out" / "s.md"
    base = ["--tsv", str(tsv), "--md", str(md)]
    with pytest.raises(InputError, match=r"test\.report\.json: conversion report not found"):
        main_corpus_stats(["--bio", str(bio / "test.jsonl"), *base])
    with pytest.raises(InputError, match=r"results/bio/<dataset>/<split>\.jsonl"):
        main_corpus_stats(["--bio", str(bio / "final.jsonl"), *base])
    assert not tsv.exists() and not md.exists()
