"""Bad input gives one clear error naming the file and line (or the config key) and no output."""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from nerbench.config import load_datasets, load_study
from nerbench.data.convert import convert
from nerbench.data.formats.base import BioSpec
from nerbench.io import InputError

ROOT = Path(__file__).parents[1]
FORMATS = Path(__file__).parent / "data" / "formats"
DATASETS_TSV = ROOT / "config" / "datasets.tsv"

GOOD_IOB = "Naloxone\tB-Chemical\nreverses\tO\nhypertension\tB-Disease\n.\tO\n\n"


def run_to_bio(
    tmp_path: Path, data: bytes | None, tag_map: str = "Chemical:Chemical,Disease:Disease", **spec
) -> tuple[subprocess.CompletedProcess, Path, Path]:
    """Run ``python -m nerbench to-bio`` on ``data`` (None: a missing input file)."""
    source = tmp_path / "raw" / "test.tsv"
    if data is not None:
        source.parent.mkdir(parents=True, exist_ok=True)
        source.write_bytes(data)
    out = tmp_path / "results" / "bio" / "demo" / "test.jsonl"
    full_spec = {"name": "demo", "format": "iob-tsv", "tag_map": tag_map, "delimiter": "tab",
                 "tag_column": -1, "repair_iob": False, **spec}  # fmt: skip
    cmd = [sys.executable, "-m", "nerbench", "to-bio", "--spec", json.dumps(full_spec),
           "--input", str(source), "--member", "", "--output", str(out),
           "--report", str(out.with_name("test.report.json"))]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    return proc, source, out


def assert_failed_cleanly(proc: subprocess.CompletedProcess, out: Path, *fragments: str) -> str:
    """Exit status 2, one ``error:`` line holding every fragment, and nothing written."""
    assert proc.returncode == 2, proc.stderr
    message = proc.stderr.strip()
    assert message.startswith("error: ") and "Traceback" not in message, message
    for fragment in fragments:
        assert fragment in message, message
    assert not out.exists() and not out.with_name("test.report.json").exists()
    if out.parent.exists():
        assert list(out.parent.iterdir()) == []  # no temporary files left behind either
    return message


# --------------------------------------------------------------------------------------------
# Through the command line (subprocess)
# --------------------------------------------------------------------------------------------


def test_wrong_column_count(tmp_path: Path) -> None:
    data = b"Naloxone\tB-Chemical\nreverses\tO\textra\n"
    proc, src, out = run_to_bio(tmp_path, data)
    assert_failed_cleanly(proc, out, f"{src}:2:", "wrong column count", "line 1 has 2")


def test_single_column_line(tmp_path: Path) -> None:
    proc, src, out = run_to_bio(tmp_path, b"Naloxone B-Chemical\n")
    assert_failed_cleanly(proc, out, f"{src}:1:", "found 1 column", "'delimiter'")


def test_inside_tag_without_begin(tmp_path: Path) -> None:
    data = b"the\tO\nbreast\tI-Disease\ncancer\tI-Disease\n"
    proc, src, out = run_to_bio(tmp_path, data)
    assert_failed_cleanly(
        proc, out, f"{src}:2:", "invalid IOB2", "'I-Disease'", "follows O", "repair_iob"
    )


def test_inside_tag_of_another_type(tmp_path: Path) -> None:
    data = b"cisplatin\tB-Chemical\nnephrotoxicity\tI-Disease\n"
    proc, src, out = run_to_bio(tmp_path, data)
    assert_failed_cleanly(proc, out, f"{src}:2:", "entity of type 'Chemical'")


def test_bad_utf8(tmp_path: Path) -> None:
    data = GOOD_IOB.encode() + "Na\xefve\tO\n".encode("latin-1")
    proc, src, out = run_to_bio(tmp_path, data)
    offset = len(GOOD_IOB.encode()) + 2
    assert_failed_cleanly(proc, out, f"{src}:6:", f"invalid UTF-8 at byte offset {offset}")


@pytest.mark.parametrize("data", [b"", b"\n\n\r\n"], ids=["empty", "blank-lines"])
def test_empty_split(tmp_path: Path, data: bytes) -> None:
    proc, src, out = run_to_bio(tmp_path, data)
    assert_failed_cleanly(proc, out, str(src), "no sentences")


def test_tag_type_missing_from_tag_map(tmp_path: Path) -> None:
    proc, src, out = run_to_bio(tmp_path, GOOD_IOB.encode(), tag_map="Chemical:Chemical")
    assert_failed_cleanly(proc, out, f"{src}:3:", "'Disease' is not in tag_map", "'demo'")


def test_malformed_tag(tmp_path: Path) -> None:
    proc, src, out = run_to_bio(tmp_path, b"aspirin\tB_Chemical\n")
    assert_failed_cleanly(proc, out, f"{src}:1:", "invalid tag 'B_Chemical'")


def test_missing_input_file(tmp_path: Path) -> None:
    proc, src, out = run_to_bio(tmp_path, None)
    assert_failed_cleanly(proc, out, str(src), "not found")


def test_spec_with_bad_format_value_names_the_key(tmp_path: Path) -> None:
    proc, _, out = run_to_bio(tmp_path, GOOD_IOB.encode(), format="conll")
    assert_failed_cleanly(proc, out, "--spec key 'format'", "'conll'")


def test_tag_column_out_of_range(tmp_path: Path) -> None:
    proc, src, out = run_to_bio(tmp_path, GOOD_IOB.encode(), tag_column=-3)
    assert_failed_cleanly(proc, out, f"{src}:1:", "tag_column -3", "'tag_column'")


# --------------------------------------------------------------------------------------------
# Offset formats (in process: same InputError the CLI prints)
# --------------------------------------------------------------------------------------------


def _convert(fmt: str, tag_map: str, path: Path, member: str | None = None) -> None:
    convert(BioSpec.from_dict({"name": "x", "format": fmt, "tag_map": tag_map}), path, member)


def test_pubtator_mention_text_mismatch(tmp_path: Path) -> None:
    path = tmp_path / "bad.pubtator"
    text = (FORMATS / "pubtator_2docs.txt").read_text(encoding="utf-8")
    path.write_text(text.replace("1001\t0\t8\tNaloxone", "1001\t1\t9\tNaloxone"), encoding="utf-8")
    with pytest.raises(InputError, match=r"bad\.pubtator:3: mention 'Naloxone' does not match"):
        _convert("pubtator", "Chemical:Chemical,Disease:Disease,Species:Species", path)


def test_pubtator_unknown_type(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"pubtator_2docs\.txt:8: entity type 'Species'"):
        _convert("pubtator", "Chemical:Chemical,Disease:Disease", FORMATS / "pubtator_2docs.txt")


def test_brat_span_outside_text(tmp_path: Path) -> None:
    (tmp_path / "d.txt").write_text("BRCA1 mutations\n", encoding="utf-8")
    (tmp_path / "d.ann").write_text("T1\tGGP 0 5\tBRCA1\nT2\tGGP 6 99\tx\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"d\.ann:2: span 6-99 outside the text"):
        _convert("brat", "GGP:Gene", tmp_path)


def test_brat_archive_without_documents(tmp_path: Path) -> None:
    archive = tmp_path / "corpus.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("corpus/README", "nothing here")
    with pytest.raises(InputError, match=r"corpus\.zip#corpus: no \.txt/\.ann documents"):
        _convert("brat", "GGP:Gene", archive, "corpus")


def test_bioc_malformed_xml(tmp_path: Path) -> None:
    path = tmp_path / "broken.xml"
    text = (FORMATS / "bioc_2passages.xml").read_text(encoding="utf-8")
    path.write_text(text.replace("</passage>", "</pasage>", 1), encoding="utf-8")
    with pytest.raises(InputError, match=r"broken\.xml:\d+: invalid XML"):
        _convert("bioc", "GeneOrGeneProduct:Gene", path)


def test_bioc_unknown_infon_type_names_document_and_annotation() -> None:
    with pytest.raises(InputError, match=r"document '2000', annotation 'T1'.*'SequenceVariant'"):
        _convert("bioc", "GeneOrGeneProduct:Gene", FORMATS / "bioc_2passages.xml")


# --------------------------------------------------------------------------------------------
# Configuration tables and studies
# --------------------------------------------------------------------------------------------


def _table_with(tmp_path: Path, edit) -> Path:
    lines = DATASETS_TSV.read_text(encoding="utf-8").splitlines()
    path = tmp_path / "datasets.tsv"
    path.write_text("\n".join(edit(lines)) + "\n", encoding="utf-8")
    return path


def test_datasets_table_duplicate_name(tmp_path: Path) -> None:
    path = _table_with(tmp_path, lambda lines: [*lines[:3], lines[1]])
    name = DATASETS_TSV.read_text(encoding="utf-8").splitlines()[1].split("\t")[0]
    with pytest.raises(InputError, match=rf"datasets\.tsv:4: duplicate name '{name}'"):
        load_datasets(path)


def test_datasets_table_bad_format_value(tmp_path: Path) -> None:
    def bad_format(lines: list[str]) -> list[str]:
        cells = lines[1].split("\t")
        cells[1] = "conll"
        return [lines[0], "\t".join(cells)]

    path = _table_with(tmp_path, bad_format)
    with pytest.raises(InputError, match=r"datasets\.tsv:2: schema violation at key 'format'"):
        load_datasets(path)


def test_datasets_table_unknown_column(tmp_path: Path) -> None:
    path = _table_with(tmp_path, lambda lines: [f"{ln}\tx" for ln in lines[:2]])
    with pytest.raises(InputError, match=r"datasets\.tsv:1: unknown column\(s\) \['x'\]"):
        load_datasets(path)


def test_unknown_study_names_the_config_key(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"unknown study 'nope' \(config key 'study'\)"):
        load_study("nope", ROOT / "config" / "studies")
