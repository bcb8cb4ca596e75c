"""ChemProt (BioCreative VI) → canonical BIO: release layout, datasets.tsv row, bad input."""

from __future__ import annotations

import io
import json
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from nerbench.config import load_datasets
from nerbench.data.convert import convert, main_to_bio, to_records
from nerbench.data.formats.base import BioSpec
from nerbench.data.formats.chemprot import chemprot_entities_name
from nerbench.data.sources import source_of
from nerbench.io import InputError, read_json, read_jsonl

ROOT = Path(__file__).parents[1]
FIXTURE = Path(__file__).parent / "data" / "formats" / "chemprot" / "chemprot_training"
ABSTRACTS = FIXTURE / "chemprot_training_abstracts.tsv"
ENTITIES = FIXTURE / "chemprot_training_entities.tsv"
ROW = load_datasets(ROOT / "config" / "datasets.tsv")["ChemProt"]
SPLIT_FOLDERS = {
    "train": "chemprot_training",
    "devel": "chemprot_development",
    "test": "chemprot_test_gs",
}

# The fixture through the ChemProt row's own tag_map (CHEMICAL → Chemical, GENE-Y/GENE-N → Gene).
EXPECTED = [
    ("10047461", "10047461.0",
     ["Inhibition", "of", "cyclooxygenase", "-", "2", "by", "celecoxib", "in", "rat", "liver", "."],
     ["O", "O", "B-Gene", "I-Gene", "I-Gene", "O", "B-Chemical", "O", "O", "O", "O"]),
    ("10047461", "10047461.1",
     ["Celecoxib", "is", "a", "selective", "COX", "-", "2", "inhibitor", "."],
     ["B-Chemical", "O", "O", "O", "B-Gene", "I-Gene", "I-Gene", "O", "O"]),
    ("10047461", "10047461.2",
     ["It", "did", "not", "change", "tumor", "necrosis", "factor", "alpha", "levels", "."],
     ["O", "O", "O", "O", "B-Gene", "I-Gene", "I-Gene", "I-Gene", "O", "O"]),
    ("23150485", "23150485.0",
     ["Effects", "of", "aspirin", "on", "platelet", "receptors", "."],
     ["O", "O", "B-Chemical", "O", "B-Gene", "I-Gene", "O"]),
    ("23150485", "23150485.1",
     ["Aspirin", "blocks", "thromboxane", "A2", "synthesis", "."],
     ["B-Chemical", "O", "B-Chemical", "I-Chemical", "O", "O"]),
]  # fmt: skip


def row_spec() -> BioSpec:
    keep = ("name", "format", "tag_map", "delimiter", "tag_column", "repair_iob")
    return BioSpec.from_dict({k: ROW[k] for k in keep})


def as_tuples(records: list[dict]) -> list[tuple]:
    return [(r["doc_id"], r["sent_id"], r["tokens"], r["tags"]) for r in records]


def zip_bytes(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


def make_release(path: Path, abstracts: bytes | None = None, entities: bytes | None = None) -> Path:
    """A ChemProt_Corpus.zip laid out like the release: one zip per split inside ChemProt_Corpus/.

    Every split holds the fixture (``abstracts``/``entities`` replace the training files), with
    the ``__MACOSX`` resource-fork entries the release zip carries.
    """
    abstracts = ABSTRACTS.read_bytes() if abstracts is None else abstracts
    entities = ENTITIES.read_bytes() if entities is None else entities
    outer: dict[str, bytes] = {}
    for folder in SPLIT_FOLDERS.values():
        abs_name = Path(source_of(ROW, _split_of(folder)).member or "").name
        inner = zip_bytes(
            {
                f"{folder}/{abs_name}": abstracts,
                f"{folder}/{chemprot_entities_name(abs_name)}": entities,
                f"{folder}/{abs_name.replace('abstracts', 'relations')}": b"",
                f"{folder}/Readme.pdf": b"%PDF-1.4",
            }
        )
        outer[f"ChemProt_Corpus/{folder}.zip"] = inner
        outer[f"__MACOSX/ChemProt_Corpus/._{folder}.zip"] = b"\x00\x05\x16\x07"
    path.write_bytes(zip_bytes(outer))
    return path


def _split_of(folder: str) -> str:
    return next(split for split, f in SPLIT_FOLDERS.items() if f == folder)


# --------------------------------------------------------------------------------------------
# Reading the real layout
# --------------------------------------------------------------------------------------------


def test_fixture_exact_tokens_and_tags() -> None:
    result = convert(row_spec(), ABSTRACTS)
    assert as_tuples(to_records(result.sentences)) == EXPECTED
    assert (result.counters.dropped_overlaps, result.counters.split_tokens) == (0, 0)


def test_row_points_into_the_nested_release_zip() -> None:
    assert ROW["format"] == "chemprot"
    assert ROW["types"] == ["Chemical", "Gene"]
    assert "Krallinger et al. 2017" in ROW["citation"] and "BioCreative VI" in ROW["citation"]
    sources = {split: source_of(ROW, split) for split in SPLIT_FOLDERS}
    assert {s.url for s in sources.values()} == {
        "https://biocreative.bioinformatics.udel.edu/media/store/files/2017/ChemProt_Corpus.zip"
    }
    assert {s.filename for s in sources.values()} == {"ChemProt_Corpus.zip"}
    assert {s.sha256 for s in sources.values()} == {""}
    members = {split: s.member for split, s in sources.items()}
    assert members == {
        "train": "ChemProt_Corpus/chemprot_training.zip/chemprot_training/"
        "chemprot_training_abstracts.tsv",
        "devel": "ChemProt_Corpus/chemprot_development.zip/chemprot_development/"
        "chemprot_development_abstracts.tsv",
        "test": "ChemProt_Corpus/chemprot_test_gs.zip/chemprot_test_gs/"
        "chemprot_test_abstracts_gs.tsv",
    }
    entities = {split: chemprot_entities_name(m) for split, m in members.items()}
    assert entities["train"].endswith("/chemprot_training/chemprot_training_entities.tsv")
    assert entities["devel"].endswith("/chemprot_development/chemprot_development_entities.tsv")
    assert entities["test"].endswith("/chemprot_test_gs/chemprot_test_entities_gs.tsv")


def test_each_split_of_the_release_zip_reads_through_its_row_member(tmp_path: Path) -> None:
    release = make_release(tmp_path / "ChemProt_Corpus.zip")
    for split in SPLIT_FOLDERS:
        result = convert(row_spec(), release, source_of(ROW, split).member)
        assert as_tuples(to_records(result.sentences)) == EXPECTED, split


def test_cli_converts_the_release_zip(tmp_path: Path) -> None:
    release = make_release(tmp_path / "ChemProt_Corpus.zip")
    out = tmp_path / "results" / "bio" / "ChemProt" / "test.jsonl"
    keep = ("name", "format", "tag_map", "delimiter", "tag_column", "repair_iob")
    cmd = [sys.executable, "-m", "nerbench", "to-bio", "--spec",
           json.dumps({k: ROW[k] for k in keep}), "--input", str(release),
           f"--member={source_of(ROW, 'test').member}", "--output", str(out),
           "--report", str(out.with_name("test.report.json"))]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert as_tuples(read_jsonl(out)) == EXPECTED
    report = read_json(out.with_name("test.report.json"))
    assert (report["dataset"], report["split"]) == ("ChemProt", "test")
    assert (report["sentences"], report["entities"], report["dropped_overlaps"]) == (5, 9, 0)


def test_crlf_and_bom_are_accepted(tmp_path: Path) -> None:
    folder = copy_fixture(tmp_path)
    for name in ("chemprot_training_abstracts.tsv", "chemprot_training_entities.tsv"):
        p = folder / name
        p.write_bytes(b"\xef\xbb\xbf" + p.read_bytes().replace(b"\n", b"\r\n"))
    result = convert(row_spec(), folder / "chemprot_training_abstracts.tsv")
    assert as_tuples(to_records(result.sentences)) == EXPECTED


def test_overlapping_entities_follow_the_offset_format_rule(tmp_path: Path) -> None:
    """Rule 2 of nerbench.data.convert: duplicates merge silently, else the longest mention wins."""
    extra = (
        "10047461\tT6\tGENE-Y\t118\t139\ttumor necrosis factor\n"  # inside T5: dropped, counted
        "10047461\tT7\tCHEMICAL\t34\t43\tcelecoxib\n"  # duplicate of T1: merged, not counted
    )
    folder = copy_fixture(tmp_path, entities_extra=extra)
    result = convert(row_spec(), folder / "chemprot_training_abstracts.tsv")
    assert as_tuples(to_records(result.sentences)) == EXPECTED
    assert result.counters.dropped_overlaps == 1


# --------------------------------------------------------------------------------------------
# Bad input: one clear error naming the file and line, and no output
# --------------------------------------------------------------------------------------------


def copy_fixture(
    tmp_path: Path,
    entities: str | None = None,
    abstracts: str | None = None,
    entities_extra: str = "",
) -> Path:
    folder = tmp_path / "chemprot_training"
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(ABSTRACTS, folder)
    shutil.copy(ENTITIES, folder)
    if abstracts is not None:
        (folder / ABSTRACTS.name).write_text(abstracts, encoding="utf-8")
    ent = ENTITIES.read_text(encoding="utf-8") if entities is None else entities
    (folder / ENTITIES.name).write_text(ent + entities_extra, encoding="utf-8")
    return folder


def fixture_lines(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines()


def to_bio_fails(tmp_path: Path, source: Path, member: str = "") -> str:
    """Run the to-bio entry point; it must raise InputError and write nothing."""
    out = tmp_path / "results" / "bio" / "ChemProt" / "train.jsonl"
    keep = ("name", "format", "tag_map", "delimiter", "tag_column", "repair_iob")
    argv = ["--spec", json.dumps({k: ROW[k] for k in keep}), "--input", str(source),
            f"--member={member}", "--output", str(out),
            "--report", str(out.with_name("train.report.json"))]  # fmt: skip
    with pytest.raises(InputError) as info:
        main_to_bio(argv)
    assert not out.parent.exists() or list(out.parent.iterdir()) == []
    return str(info.value)


def test_mention_not_matching_the_text(tmp_path: Path) -> None:
    lines = fixture_lines(ENTITIES)
    lines[2] = lines[2].replace("\tCelecoxib", "\tCelecoxibs")
    folder = copy_fixture(tmp_path, entities="\n".join(lines) + "\n")
    message = to_bio_fails(tmp_path, folder / ABSTRACTS.name)
    assert message.startswith(f"{folder / ENTITIES.name}:3: mention 'Celecoxibs' does not match")
    assert "'Celecoxib' at 58-67 of document '10047461'" in message


def test_offsets_shifted_by_one_do_not_match(tmp_path: Path) -> None:
    """Offsets counted as if title and abstract were joined without a character between."""
    lines = fixture_lines(ENTITIES)
    lines[2] = "10047461\tT3\tCHEMICAL\t57\t66\tCelecoxib"
    folder = copy_fixture(tmp_path, entities="\n".join(lines) + "\n")
    message = to_bio_fails(tmp_path, folder / ABSTRACTS.name)
    expected = f"{ENTITIES.name}:3: mention 'Celecoxib' does not match the text '\\nCelecoxi'"
    assert expected in message


def test_entity_line_with_wrong_field_count(tmp_path: Path) -> None:
    lines = fixture_lines(ENTITIES)
    lines[1] = lines[1].rsplit("\t", 1)[0]  # mention column missing
    folder = copy_fixture(tmp_path, entities="\n".join(lines) + "\n")
    message = to_bio_fails(tmp_path, folder / ABSTRACTS.name)
    assert message == (
        f"{folder / ENTITIES.name}:2: entity line needs 6 tab-separated fields (PMID, entity id, "
        "type, start, end, mention); found 5"
    )


def test_entity_for_unknown_pmid(tmp_path: Path) -> None:
    folder = copy_fixture(tmp_path, entities_extra="99999999\tT1\tCHEMICAL\t0\t5\tXxxxx\n")
    message = to_bio_fails(tmp_path, folder / ABSTRACTS.name)
    assert message == (
        f"{folder / ENTITIES.name}:10: entity 'T1' names PMID '99999999', which has no abstract "
        f"in {folder / ABSTRACTS.name}"
    )


def test_abstract_line_with_wrong_field_count(tmp_path: Path) -> None:
    lines = fixture_lines(ABSTRACTS)
    lines[1] = lines[1].replace("\t", " ", 1)
    folder = copy_fixture(tmp_path, abstracts="\n".join(lines) + "\n")
    message = to_bio_fails(tmp_path, folder / ABSTRACTS.name)
    assert message.startswith(f"{folder / ABSTRACTS.name}:2: abstract line needs 3 tab-separated")
    assert message.endswith("found 2")


@pytest.mark.parametrize(
    ("line", "match"),
    [
        ("10047461\tT9\tCHEMICAL\t140\t999\tx", "offsets 140-999 outside document '10047461'"),
        ("10047461\tT9\tCHEMICAL\t-1\t4\tx", "start offset '-1' is not a non-negative integer"),
        ("10047461\tT9\tCHEMICAL\t5\t5\tx", "offsets 5-5 outside document"),
        ("10047461\tT9\tPROTEIN\t0\t10\tInhibition", "entity type 'PROTEIN' is not in tag_map"),
    ],
)
def test_bad_entity_values(tmp_path: Path, line: str, match: str) -> None:
    folder = copy_fixture(tmp_path, entities_extra=line + "\n")
    message = to_bio_fails(tmp_path, folder / ABSTRACTS.name)
    assert message.startswith(f"{folder / ENTITIES.name}:10: ") and match in message, message


def test_duplicate_abstract(tmp_path: Path) -> None:
    lines = fixture_lines(ABSTRACTS)
    folder = copy_fixture(tmp_path, abstracts="\n".join([*lines, lines[0]]) + "\n")
    message = to_bio_fails(tmp_path, folder / ABSTRACTS.name)
    assert message == f"{folder / ABSTRACTS.name}:3: second abstract for PMID '10047461'"


def test_missing_entities_file_names_it(tmp_path: Path) -> None:
    folder = copy_fixture(tmp_path)
    (folder / ENTITIES.name).unlink()
    message = to_bio_fails(tmp_path, folder / ABSTRACTS.name)
    assert message == f"{folder / ENTITIES.name}: source file not found"


def test_missing_entities_member_of_the_release_zip(tmp_path: Path) -> None:
    release = tmp_path / "ChemProt_Corpus.zip"
    inner = zip_bytes({"chemprot_training/chemprot_training_abstracts.tsv": ABSTRACTS.read_bytes()})
    release.write_bytes(zip_bytes({"ChemProt_Corpus/chemprot_training.zip": inner}))
    message = to_bio_fails(tmp_path, release, source_of(ROW, "train").member or "")
    assert message.startswith(
        f"{release}#ChemProt_Corpus/chemprot_training.zip: archive has no member "
        "'chemprot_training/chemprot_training_entities.tsv'; available: "
        "chemprot_training/chemprot_training_abstracts.tsv"
    )


def test_source_that_is_not_an_abstracts_file(tmp_path: Path) -> None:
    folder = copy_fixture(tmp_path)
    message = to_bio_fails(tmp_path, folder / ENTITIES.name.replace("entities", "relations"))
    assert "must name the abstracts file" in message


def test_cli_error_exit_status_and_no_output(tmp_path: Path) -> None:
    folder = copy_fixture(tmp_path, entities_extra="99999999\tT1\tCHEMICAL\t0\t5\tXxxxx\n")
    out = tmp_path / "results" / "bio" / "ChemProt" / "train.jsonl"
    keep = ("name", "format", "tag_map", "delimiter", "tag_column", "repair_iob")
    cmd = [sys.executable, "-m", "nerbench", "to-bio", "--spec",
           json.dumps({k: ROW[k] for k in keep}), "--input", str(folder / ABSTRACTS.name),
           "--member=", "--output", str(out),
           "--report", str(out.with_name("train.report.json"))]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2, proc.stderr
    message = proc.stderr.strip()
    assert message.startswith(f"error: {folder / ENTITIES.name}:10: entity 'T1' names PMID")
    assert "Traceback" not in message
    assert not out.parent.exists() or list(out.parent.iterdir()) == []
