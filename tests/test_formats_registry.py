"""A corpus format is one reader plus one registration line: nothing else has to change.

A throw-away format registered for the duration of a test (``FORMATS.temporary``) must be accepted
in a datasets.tsv row (its schema enum is generated from the registry), refused once it is gone
(naming the file and line), and converted to BIO by the real ``to-bio`` command.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from nerbench.cli import main as cli_main
from nerbench.config import load_datasets, load_schema
from nerbench.data.formats.base import SPEC_KEYS, BioSpec, Conversion, Sentence, map_type
from nerbench.data.formats.registry import FORMATS
from nerbench.io import InputError, read_jsonl

ROOT = Path(__file__).resolve().parents[1]
HEADER = ["name", "format", "tag_map", "train", "devel", "test", "license"]


def read_slash_tagged(text: str, spec: BioSpec, where: str) -> Conversion:
    """Toy format: one sentence per line, ``word/TYPE`` for an entity word, ``word`` otherwise
    (every entity is one word)."""
    result = Conversion()
    for line_no, line in enumerate(text.splitlines(), 1):
        tokens, tags = [], []
        for item in line.split():
            word, _, source_type = item.partition("/")
            canonical = map_type(source_type, spec, where, line_no) if source_type else None
            tokens.append(word)
            tags.append(f"B-{canonical}" if canonical else "O")
        result.sentences.append(Sentence(f"line{line_no}", tokens, tags))
    return result


def write_table(tmp_path: Path, fmt: str) -> Path:
    corpus = tmp_path / "toy.txt"
    corpus.write_text("Aspirin/CHEM treats pain/DIS .\nNothing here\n", encoding="utf-8")
    row = ["toy", fmt, "CHEM:Chemical,DIS:Disease", str(corpus), str(corpus), str(corpus), "CC0"]
    path = tmp_path / "datasets.tsv"
    path.write_text("\t".join(HEADER) + "\n" + "\t".join(row) + "\n", encoding="utf-8")
    return path


def test_unregistered_format_is_refused_naming_file_and_line(tmp_path: Path) -> None:
    path = write_table(tmp_path, "slash-tagged")
    with pytest.raises(InputError, match=r"datasets\.tsv:2: schema violation at key 'format'"):
        load_datasets(path)


def test_a_registered_format_is_validated_and_converted_to_bio(tmp_path: Path) -> None:
    path = write_table(tmp_path, "slash-tagged")
    with FORMATS.temporary("slash-tagged", read_slash_tagged, reads="text"):
        assert "slash-tagged" in load_schema("datasets")["properties"]["format"]["enum"]
        row = load_datasets(path)["toy"]
        spec = {key: row[key] for key in SPEC_KEYS}
        out, report = tmp_path / "bio" / "train.jsonl", tmp_path / "bio" / "report.json"
        argv = ["to-bio", "--spec", json.dumps(spec), "--input", row["train"]]
        assert cli_main([*argv, "--output", str(out), "--report", str(report)]) == 0
    assert read_jsonl(out) == [
        {
            "doc_id": "line1",
            "sent_id": "line1.0",
            "tokens": ["Aspirin", "treats", "pain", "."],
            "tags": ["B-Chemical", "O", "B-Disease", "O"],
        },
        {
            "doc_id": "line2",
            "sent_id": "line2.0",
            "tokens": ["Nothing", "here"],
            "tags": ["O", "O"],
        },
    ]
    assert json.loads(report.read_text())["entities"] == 2
    assert "slash-tagged" not in FORMATS  # the temporary entry is gone
    with pytest.raises(InputError, match="schema violation at key 'format'"):
        load_datasets(path)


def test_schema_format_enum_is_the_registry() -> None:
    assert load_schema("datasets")["properties"]["format"]["enum"] == list(FORMATS.names())
    for name in FORMATS:
        assert callable(FORMATS.load(name)), name
        assert FORMATS.meta(name)["reads"] in ("text", "source"), name


def test_docs_list_exactly_the_registered_formats() -> None:
    doc = (ROOT / "docs" / "configuration.md").read_text(encoding="utf-8")
    m = re.search(r"`format` \(((?:`[a-z-]+`, )*`[a-z-]+`):", doc)
    assert m, "docs/configuration.md lacks the list of formats under 'Add a dataset'"
    assert re.findall(r"`([a-z-]+)`", m.group(1)) == list(FORMATS.names())
