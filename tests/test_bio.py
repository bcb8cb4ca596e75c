"""Corpus readers → canonical BIO: real corpora, hand-written fixtures in the true formats."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest
from seqeval.metrics.sequence_labeling import get_entities

from nerbench.config import load_datasets
from nerbench.data.convert import convert, main_to_bio, to_records
from nerbench.data.formats.base import BioSpec, Counters, Mention
from nerbench.data.formats.text import annotate_text, resolve_overlaps
from nerbench.data.sources import source_of
from nerbench.io import read_json, read_jsonl

FORMATS = Path(__file__).parent / "data" / "formats"
DATASETS = load_datasets(Path(__file__).parents[1] / "config" / "datasets.tsv")
SHARED = Path(__file__).parents[1].parent / "shared" / "data"

# /work/shared/data/README.md: train/devel/test sentences, test entities, test share >= 3 tokens.
REAL_CORPORA = {
    "NCBI-disease": ("Disease:Disease", (5424, 923, 940), 960, 0.278),
    "BC5CDR-disease": ("Disease:Disease", (4560, 4581, 4797), 4424, 0.132),
    "BC5CDR-chem": ("Chemical:Chemical", (4560, 4581, 4797), 5385, 0.070),
    "BC5CDR": ("Chemical:Chemical,Disease:Disease", (4560, 4581, 4797), 9809, 0.098),
    "linnaeus": ("Species:Species", (11935, 4078, 7142), 1433, 0.204),
    "s800": ("LIVB:Species", (5733, 830, 1630), 767, 0.368),
}
needs_shared = pytest.mark.skipif(
    not SHARED.is_dir(), reason=f"shared corpora not found at {SHARED} (CI has ../shared/data)"
)

PUBTATOR_MAP = "Chemical:Chemical,Disease:Disease,Gene:Gene,Species:Species"
BRAT_MAP = "GGP:Gene,Taxon:Species,CHEBI:Chemical,Disease:Disease,CL:CellType,SO:O"
BIORED_MAP = DATASETS["BioRED"]["tag_map"]  # the datasets.tsv row itself


def spec(fmt: str, tag_map: str, **extra) -> BioSpec:
    return BioSpec.from_dict({"name": "fixture", "format": fmt, "tag_map": tag_map, **extra})


def records_of(fmt: str, tag_map: str, path: Path, member: str | None = None, **extra):
    result = convert(spec(fmt, tag_map, **extra), path, member)
    return to_records(result.sentences), result.counters


def pairs(records: list[dict]) -> list[list[tuple[str, str]]]:
    return [list(zip(r["tokens"], r["tags"], strict=True)) for r in records]


# --------------------------------------------------------------------------------------------
# Real corpora: exact figures of /work/shared/data/README.md
# --------------------------------------------------------------------------------------------


@needs_shared
@pytest.mark.parametrize("name", sorted(REAL_CORPORA))
def test_real_corpus_counts_match_readme(name: str) -> None:
    tag_map, sentence_counts, test_entities, test_share3 = REAL_CORPORA[name]
    counts = []
    for split in ("train", "devel", "test"):
        result = convert(spec("iob-tsv", tag_map), SHARED / name / f"{split}.tsv")
        assert result.counters == Counters()  # valid IOB2 already: nothing repaired or dropped
        counts.append(len(result.sentences))
    assert tuple(counts) == sentence_counts
    lengths = [end - start + 1 for s in result.sentences for _, start, end in get_entities(s.tags)]
    assert len(lengths) == test_entities
    assert round(sum(n >= 3 for n in lengths) / len(lengths), 3) == test_share3
    types = {t[2:] for s in result.sentences for t in s.tags if t != "O"}
    assert types == set(tag_map.replace(",", ":").split(":")[1::2])


def test_to_bio_on_a_full_disk_prints_one_line_naming_the_output(tmp_path, capsys) -> None:
    """#27: the full-disk error path every command shares (no traceback, no partial file)."""
    from full_disk import full_tmpfs
    from nerbench.cli import main as cli_main

    src = tmp_path / "train.tsv"
    src.write_text("Famine\tO\ncauses\tO\nscurvy\tB-Disease\n\n" * 50, encoding="utf-8")
    spec_json = json.dumps({"name": "x", "format": "iob-tsv", "tag_map": "Disease:Disease"})
    with full_tmpfs(tmp_path / "disk") as disk:
        out = disk / "bio" / "x" / "train.jsonl"
        argv = ["to-bio", "--spec", spec_json, "--input", str(src), "--output", str(out)]
        assert cli_main([*argv, "--report", str(out.with_name("train.report.json"))]) == 1
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1, err
        assert err.startswith(f"error: writing {out}: No space left on device ("), err
        assert sorted(p.name for p in out.parent.iterdir()) == []  # nothing half-written


@needs_shared
def test_cli_on_real_split_writes_jsonl_and_report(tmp_path: Path) -> None:
    out = tmp_path / "results" / "bio" / "NCBI-disease" / "test.jsonl"
    report = out.with_name("test.report.json")
    spec_json = json.dumps(
        {"name": "NCBI-disease", "format": "iob-tsv", "tag_map": "Disease:Disease",
         "delimiter": "tab", "tag_column": -1, "repair_iob": False}
    )  # fmt: skip
    src = SHARED / "NCBI-disease" / "test.tsv"
    argv = ["--spec", spec_json, "--input", str(src), "--member", "", "--output", str(out)]
    assert main_to_bio([*argv, "--report", str(report)]) == 0
    records = read_jsonl(out)
    assert len(records) == 940
    assert records[0]["sent_id"] == "0.0" and records[-1]["sent_id"] == "0.939"
    assert all(len(r["tokens"]) == len(r["tags"]) for r in records)
    assert read_json(report) == {
        "dataset": "NCBI-disease",
        "split": "test",
        "sentences": 940,
        "tokens": sum(len(r["tokens"]) for r in records),
        "entities": 960,
        "repairs": 0,
        "dropped_overlaps": 0,
        "dropped_discontinuous": 0,
        "split_tokens": 0,
    }
    # the tokens are the file's first column, unchanged and in order
    tokens = [ln.split("\t")[0] for ln in src.read_text().splitlines() if ln.strip()]
    assert [t for r in records for t in r["tokens"]] == tokens
    assert sorted(p.name for p in out.parent.iterdir()) == ["test.jsonl", "test.report.json"]


# --------------------------------------------------------------------------------------------
# IOB / CoNLL
# --------------------------------------------------------------------------------------------


def test_conll_fixture_docstart_crlf_space_delimited_unicode() -> None:
    records, counters = records_of(
        "iob-tsv", "GP:Gene,DS:Disease,OG:Species", FORMATS / "conll_docstart.txt",
        delimiter="space",
    )  # fmt: skip
    assert [(r["doc_id"], r["sent_id"]) for r in records] == [
        ("0", "0.0"),
        ("1", "1.0"),
        ("1", "1.1"),
    ]
    assert pairs(records)[0] == [
        ("β-catenin", "B-Gene"), ("binds", "O"), ("TCF4", "B-Gene"), ("in", "O"),
        ("human", "B-Species"), ("colon", "B-Disease"), ("cancer", "I-Disease"), (".", "O"),
    ]  # fmt: skip
    assert records[2]["tokens"] == ["No", "tumours", "formed", "."]
    assert records[2]["tags"] == ["O", "B-Disease", "O", "O"]
    assert counters == Counters()


def test_tag_column_counts_from_either_end(tmp_path: Path) -> None:
    path = tmp_path / "four.tsv"
    path.write_text("IL-2\tNN\tB-GENE\tx\nbinds\tVBZ\tO\tx\n\n", encoding="utf-8")
    for column in (2, -2):
        records, _ = records_of("iob-tsv", "GENE:Gene", path, tag_column=column)
        assert records[0]["tags"] == ["B-Gene", "O"]


def test_whitespace_delimiter_accepts_runs_of_blanks(tmp_path: Path) -> None:
    path = tmp_path / "ws.txt"
    path.write_text("Otitis \t B-DS\nmedia\t\tI-DS\nis   O\n", encoding="utf-8")
    records, _ = records_of("iob-tsv", "DS:Disease", path, delimiter="whitespace")
    assert pairs(records) == [[("Otitis", "B-Disease"), ("media", "I-Disease"), ("is", "O")]]


def test_repair_turns_orphan_inside_tags_into_begin_and_counts(tmp_path: Path) -> None:
    path = tmp_path / "orphan.tsv"
    rows = ["the\tO", "breast\tI-Disease", "cancer\tI-Disease", "and\tO", "CFTR\tB-Gene",
            "defect\tI-Disease"]  # fmt: skip
    path.write_text("\n".join(rows) + "\n\nNaCl\tI-Chemical\n", encoding="utf-8")
    tag_map = "Disease:Disease,Gene:Gene,Chemical:Chemical"
    records, counters = records_of("iob-tsv", tag_map, path, repair_iob=True)
    assert records[0]["tags"] == ["O", "B-Disease", "I-Disease", "O", "B-Gene", "B-Disease"]
    assert records[1]["tags"] == ["B-Chemical"]  # I- at a sentence start does not continue
    assert counters.repairs == 3


def test_two_source_types_merged_keep_their_boundary_and_dropped_types_become_o(
    tmp_path: Path,
) -> None:
    path = tmp_path / "craft.tsv"
    rows = ["alphaA\tB-PR", "crystallin\tI-PR", "Pax6\tB-EntrezGene", "gene\tB-SO", "mice\tB-Taxon"]
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    records, _ = records_of("iob-tsv", "PR:Gene,EntrezGene:Gene,SO:O,Taxon:Species", path)
    assert records[0]["tags"] == ["B-Gene", "I-Gene", "B-Gene", "O", "B-Species"]


def test_iob_inside_a_zip_member(tmp_path: Path) -> None:
    archive = tmp_path / "corpus.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.write(FORMATS / "conll_docstart.txt", "corpus/IOB/test.txt")
    records, _ = records_of(
        "iob-tsv", "GP:Gene,DS:Disease,OG:Species", archive, "corpus/IOB/test.txt",
        delimiter="space",
    )  # fmt: skip
    assert len(records) == 3 and records[1]["tokens"][0] == "Mice"


# --------------------------------------------------------------------------------------------
# PubTator
# --------------------------------------------------------------------------------------------


def test_pubtator_fixture_two_documents() -> None:
    records, counters = records_of("pubtator", PUBTATOR_MAP, FORMATS / "pubtator_2docs.txt")
    assert [r["sent_id"] for r in records] == [
        "1001.0", "1001.1", "1001.2", "1002.0", "1002.1", "1002.2", "1002.3", "1002.4",
    ]  # fmt: skip
    p = pairs(records)
    assert p[0] == [
        ("Naloxone", "B-Chemical"), ("reverses", "O"), ("the", "O"), ("antihypertensive", "O"),
        ("effect", "O"), ("of", "O"), ("clonidine", "B-Chemical"), (".", "O"),
    ]  # fmt: skip
    assert records[1]["tags"][4] == "B-Disease" and records[1]["tokens"][4] == "hypertensive"
    # "E. coli": no sentence break after a single-letter token; the mention spans 3 tokens
    assert p[2][:4] == [("E", "B-Species"), (".", "I-Species"), ("coli", "I-Species"), ("was", "O")]
    # "TNF" inside "TNFalpha" splits the token; nested "disease" loses to "Crohn's disease"
    assert p[3] == [
        ("TNF", "B-Gene"), ("alpha", "O"), ("levels", "O"), ("in", "O"), ("patients", "O"),
        ("with", "O"), ("Crohn", "B-Disease"), ("'", "I-Disease"), ("s", "I-Disease"),
        ("disease", "I-Disease"), (".", "O"),
    ]  # fmt: skip
    assert records[4]["tokens"] == ["Serum", "TNF", "alpha", "was", "measured", "."]
    assert records[5]["tokens"][-1] == "?" and records[6]["tokens"] == ["Yes", "!"]
    assert p[7][-2:] == [("infliximab", "B-Chemical"), (".", "O")]
    assert counters == Counters(dropped_overlaps=1, split_tokens=2)


# --------------------------------------------------------------------------------------------
# BRAT
# --------------------------------------------------------------------------------------------

BRAT_EXPECTED = [
    [
        ("Mutations", "O"), ("in", "O"), ("the", "O"), ("BRCA1", "B-Gene"), ("and", "O"),
        ("BRCA2", "B-Gene"), ("genes", "O"), ("increase", "O"), ("breast", "O"), ("and", "O"),
        ("ovarian", "B-Disease"), ("cancer", "I-Disease"), ("risk", "O"), ("in", "O"),
        ("women", "B-Species"), (".", "O"),
    ],
    [
        ("Human", "B-Species"), ("and", "O"), ("mouse", "B-CellType"), ("cells", "I-CellType"),
        ("were", "O"), ("treated", "O"), ("with", "O"), ("tamoxifen", "B-Chemical"), (".", "O"),
    ],
]  # fmt: skip


def test_brat_fixture_discontinuous_and_overlap() -> None:
    records, counters = records_of("brat", BRAT_MAP, FORMATS / "brat")
    assert pairs(records) == BRAT_EXPECTED
    assert [r["sent_id"] for r in records] == ["PMC0001.0", "PMC0001.1"]
    # "breast ... cancer" is discontinuous; "mouse" (Taxon) overlaps the longer "mouse cells" (CL)
    assert counters == Counters(dropped_overlaps=1, dropped_discontinuous=1)


@pytest.mark.parametrize("kind", ["zip", "tar.gz"])
def test_brat_from_archive_folder(tmp_path: Path, kind: str) -> None:
    archive = tmp_path / f"craft.{kind}"
    names = ["PMC0001.txt", "PMC0001.ann"]
    if kind == "zip":
        with zipfile.ZipFile(archive, "w") as zf:
            for n in names:
                zf.write(FORMATS / "brat" / n, f"craft/train/{n}")
            zf.writestr("craft/README", "not a document")
    else:
        with tarfile.open(archive, "w:gz") as tf:
            for n in names:
                tf.add(FORMATS / "brat" / n, f"./craft/train/{n}")
    records, counters = records_of("brat", BRAT_MAP, archive, "craft/train")
    assert pairs(records) == BRAT_EXPECTED
    assert counters.dropped_discontinuous == 1


def test_brat_text_without_ann_has_no_entities(tmp_path: Path) -> None:
    shutil.copy(FORMATS / "brat" / "PMC0001.txt", tmp_path / "doc.txt")
    records, _ = records_of("brat", BRAT_MAP, tmp_path)
    assert len(records) == 2 and all(t == "O" for r in records for t in r["tags"])


# --------------------------------------------------------------------------------------------
# BioC XML
# --------------------------------------------------------------------------------------------


def test_bioc_fixture_biored_types() -> None:
    records, counters = records_of("bioc", BIORED_MAP, FORMATS / "bioc_2passages.xml")
    assert [r["sent_id"] for r in records] == ["2000.0", "2000.1", "2000.2"]
    p = pairs(records)
    assert p[0] == [
        ("A", "O"), ("novel", "O"), ("CFTR", "B-Gene"), ("mutation", "O"),
        ("c", "B-SequenceVariant"), (".", "I-SequenceVariant"), ("1521", "I-SequenceVariant"),
        ("_", "I-SequenceVariant"), ("1523delCTT", "I-SequenceVariant"), ("in", "O"), ("a", "O"),
        ("cystic", "B-Disease"), ("fibrosis", "I-Disease"), ("patient", "O"), (".", "O"),
    ]  # fmt: skip
    assert p[1] == [
        ("We", "O"), ("studied", "O"), ("HeLa", "B-CellLine"), ("cells", "O"), ("from", "O"),
        ("humans", "B-Species"), ("treated", "O"), ("with", "O"), ("ivacaftor", "B-Chemical"),
        (".", "O"),
    ]  # fmt: skip
    assert p[2] == [
        ("The", "O"), ("F508del", "B-SequenceVariant"), ("variant", "O"), ("reduced", "O"),
        ("chloride", "B-Chemical"), ("transport", "O"), (".", "O"),
    ]  # fmt: skip
    assert counters == Counters(dropped_discontinuous=1)  # "HeLa" + "cells" in two locations


# --------------------------------------------------------------------------------------------
# Shared offset rules
# --------------------------------------------------------------------------------------------


def _tag(text: str, mentions: list[Mention]) -> list[list[tuple[str, str]]]:
    return [list(zip(t, g, strict=True)) for t, g in annotate_text(text, mentions, Counters(), "x")]


def test_offset_text_keeps_combining_marks_with_their_base() -> None:
    """The corpus tokenizer is the one ``tag`` uses: a combining accent is no token of its own."""
    text = "Cafe\u0301 au lait syndrome."
    start = text.index("Cafe")
    mention = Mention(start, start + len("Cafe\u0301 au lait syndrome"), "Disease")
    assert _tag(text, [mention]) == [
        [("Cafe\u0301", "B-Disease"), ("au", "I-Disease"), ("lait", "I-Disease"),
         ("syndrome", "I-Disease"), (".", "O")],
    ]  # fmt: skip


def test_sentence_rule_abbreviations_and_mentions() -> None:
    text = "See Fig. S2 and Smith et al. Results differ. Tris. HCl was used. Done!"
    tris = text.index("Tris")
    sentences = _tag(text, [Mention(tris, tris + len("Tris. HCl"), "Chemical")])
    assert [" ".join(tok for tok, _ in s) for s in sentences] == [
        "See Fig . S2 and Smith et al . Results differ .",
        "Tris . HCl was used .",  # no break inside the mention "Tris. HCl"
        "Done !",
    ]
    assert [tag for _, tag in sentences[1][:3]] == ["B-Chemical", "I-Chemical", "I-Chemical"]


def test_newline_always_ends_a_sentence() -> None:
    assert len(_tag("Title without period\nbody text here", [])) == 2


def test_overlap_tie_keeps_the_earliest() -> None:
    counters = Counters()
    kept = resolve_overlaps(
        [Mention(4, 10, "Gene"), Mention(0, 6, "Chemical"), Mention(0, 6, "Chemical")], counters
    )
    assert kept == [Mention(0, 6, "Chemical")]
    assert counters.dropped_overlaps == 1  # the exact duplicate is merged, not counted


def test_cli_subprocess_preserves_unicode(tmp_path: Path) -> None:
    out = tmp_path / "bio" / "epmc" / "train.jsonl"
    spec_json = json.dumps(
        {"name": "epmc", "format": "iob-tsv", "tag_map": "GP:Gene,DS:Disease,OG:Species",
         "delimiter": "space", "tag_column": -1, "repair_iob": False}
    )  # fmt: skip
    cmd = [sys.executable, "-m", "nerbench", "to-bio", "--spec", spec_json, "--input",
           str(FORMATS / "conll_docstart.txt"), "--member", "", "--output", str(out),
           "--report", str(out.with_name("train.report.json"))]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert '"β-catenin"' in out.read_text(encoding="utf-8")
    report = read_json(out.with_name("train.report.json"))
    assert (report["split"], report["sentences"], report["entities"]) == ("train", 3, 8)


# --------------------------------------------------------------------------------------------
# The datasets.tsv rows of these corpora
# --------------------------------------------------------------------------------------------


def test_biored_row_reads_bioc_members_of_the_release_zip() -> None:
    row = DATASETS["BioRED"]
    assert row["format"] == "bioc"
    members = {split: source_of(row, split).member for split in ("train", "devel", "test")}
    assert members == {
        "train": "BioRED/Train.BioC.XML",
        "devel": "BioRED/Dev.BioC.XML",
        "test": "BioRED/Test.BioC.XML",
    }
    assert row["types"] == ["CellLine", "Chemical", "Disease", "Gene", "SequenceVariant", "Species"]


def test_craft_row_keeps_gene_species_chemical(tmp_path: Path) -> None:
    # first sentences of MTL-Bioinformatics-2016 data/CRAFT-IOB/test.tsv
    path = tmp_path / "craft.tsv"
    path.write_text(
        "mouse\tB-GGP\nalphaA\tI-GGP\ngene\tB-SO\nin\tO\nmice\tB-Taxon\nfiber\tO\n"
        "cells\tB-CL\nand\tO\nnucleic\tB-CHEBI\nacid\tI-CHEBI\nin\tO\nnuclei\tB-GO\n",
        encoding="utf-8",
    )
    records, _ = records_of("iob-tsv", DATASETS["CRAFT"]["tag_map"], path)
    assert records[0]["tags"] == [
        "B-Gene", "I-Gene", "O", "O", "B-Species", "O", "O", "O", "B-Chemical", "I-Chemical",
        "O", "O",
    ]  # fmt: skip


def test_europepmc_row_maps_gp_ds_og() -> None:
    records, _ = records_of(
        "iob-tsv", DATASETS["EuropePMC"]["tag_map"], FORMATS / "conll_docstart.txt",
        delimiter="space",
    )  # fmt: skip
    assert {t[2:] for r in records for t in r["tags"] if t != "O"} == {"Gene", "Disease", "Species"}


@needs_shared
def test_s800_row_pins_the_shared_files() -> None:
    row = DATASETS["s800"]
    assert row["tag_map"] == "LIVB:Species" and row["vaner_counts"] == "5743/831/1630"
    for split in ("train", "devel", "test"):
        src = source_of(row, split)
        assert src.path == f"resources/corpora/s800/{split}.tsv"
        digest = hashlib.sha256((SHARED / "s800" / f"{split}.tsv").read_bytes()).hexdigest()
        assert src.sha256 == digest
