"""The Python copy of AutoPhrase's Java tokenizer writes the Java tokenizer's files, byte for byte.

``tests/data/autophrase_tokenizer`` holds a crafted text (hyphens, apostrophes, decimals and
thousands, ``x:y``, Double.parseDouble look-alikes such as ``NaN``/``1e5``/``2d``/``0x1p3``,
no-break and figure spaces, NEL, Greek final sigma, dotted I, emoji and other non-BMP letters,
CJK/kana/hangul/Thai, 255-char scanner windows, tabs, CR/CRLF, no final newline) and what the
Java tokenizer (AutoPhrase 1.7, ``-c N -thread 1``) wrote for it in train, test and translate
mode, so that CI without Java still checks the Python tokenizer.
"""

from __future__ import annotations

import filecmp
import shutil
import subprocess
from pathlib import Path

import pytest

from nerbench.dbr import autophrase_tokenizer as apt
from nerbench.dbr.autophrase_build import missing_requirement, package_dir, resolve_tokenizer

DATA = Path(__file__).resolve().parent / "data/autophrase_tokenizer"
JAVA = shutil.which("java")
TRAIN_FILES = {
    "tokenized.txt": "tokenized.txt",
    "case_tokenized.txt": "case_tokenized.txt",
    "raw_tokenized.txt": "raw_tokenized.txt",
    "token_mapping.txt": "token_mapping.txt",
}


def _python_run(out: Path) -> None:
    """All three modes with the Python tokenizer into ``out`` (names as the Java run's)."""
    tree = package_dir()
    out.mkdir(parents=True, exist_ok=True)
    mapping = out / "token_mapping.txt"
    apt.tokenize(tree, "train", DATA / "train_input.txt", out / "tokenized.txt", mapping)
    apt.tokenize(tree, "test", DATA / "test_input.txt", out / "test_tokenized.txt", mapping)
    apt.tokenize(tree, "translate", DATA / "translate_input.txt", out / "translated.txt", mapping)


def _java_run(out: Path) -> None:
    tree = package_dir()
    tok = tree / "tools/tokenizer"
    cp = ":".join(str(p) for p in (tree, tok / "lib/*", tok / "resources", tok / "build"))
    out.mkdir(parents=True, exist_ok=True)
    mapping = str(out / "token_mapping.txt")
    runs = (
        ("train", "train_input.txt", "tokenized.txt"),
        ("test", "test_input.txt", "test_tokenized.txt"),
        ("translate", "translate_input.txt", "translated.txt"),
    )
    for mode, src, dst in runs:
        cmd = ["java", "-cp", cp, "Tokenizer", "-m", mode, "-i", str(DATA / src)]
        cmd += ["-o", str(out / dst), "-t", mapping, "-c", "N", "-thread", "1"]
        subprocess.run(cmd, check=True, capture_output=True)


def test_python_tokenizer_writes_the_recorded_java_files(tmp_path):
    _python_run(tmp_path)
    expected = {
        "tokenized.txt": "tokenized.txt",
        "case_tokenized.txt": "case_tokenized.txt",
        "raw_tokenized.txt": "raw_tokenized.txt",
        "token_mapping.txt": "token_mapping.txt",
        "test_tokenized.txt": "test_tokenized.txt",
        "raw_test_tokenized.txt": "test_raw.txt",
        "translated.txt": "translated.txt",
    }
    for got, want in expected.items():
        assert (tmp_path / got).read_bytes() == (DATA / want).read_bytes(), got
    assert (tmp_path / "language.txt").read_text(encoding="utf-8") == "EN"


@pytest.mark.skipif(JAVA is None, reason="no java on PATH")
def test_python_tokenizer_equals_java_on_crafted_text(tmp_path):
    _java_run(tmp_path / "java")
    _python_run(tmp_path / "python")
    names = sorted(p.name for p in (tmp_path / "java").iterdir() if p.name != "language.txt")
    assert len(names) == 7
    for name in names:
        assert filecmp.cmp(tmp_path / "java" / name, tmp_path / "python" / name, shallow=False), (
            name
        )


def test_tricky_tokens():
    scanner = apt._StandardTokenizer()
    line = apt._to_utf16("IL-2 don't p<0.05, 1,000.5 e.g. x:y \u00a0a\U0001f600b " + "c" * 300)
    tokens = apt.line_tokens(scanner, line)
    assert tokens[:12] == [
        "IL",
        "-",
        "2",
        "don't",
        "p",
        "<",
        "0.05",
        ",",
        "1,000.5",
        "e.g",
        ".",
        "x:y",
    ]
    assert tokens[12:16] == ["\u00a0", "a", "\ud83d", "\ude00"]  # Java: no-break space is a token
    assert tokens[16:] == ["b", "c" * 255, "c" * 45]  # Lucene's 255-char scan window
    assert [apt._java_is_numeric(t) for t in ("NaN", "1e5", "2d", "0x1p3", "1.", "e5", "1e")] == [
        1,
        1,
        1,
        1,
        1,
        0,
        0,
    ]


def test_hash_order_matches_java_for_colliding_keys():
    """``Aa`` and ``BB`` share a Java hash: the order comes from the bins, not insertion."""
    order = apt._JavaHashOrder()
    for key in ["zeta", "BB", "Aa", "alpha", *(f"k{i}" for i in range(40))]:
        order.put(key)
    keys = list(order.keys())
    assert sorted(keys) == sorted(["zeta", "BB", "Aa", "alpha", *(f"k{i}" for i in range(40))])
    assert keys.index("BB") + 1 == keys.index("Aa")
    assert len(order.table) == 64


def test_tokenizer_setting_and_preflight(tmp_path, monkeypatch):
    with pytest.raises(Exception, match="auto\\|java\\|python"):
        resolve_tokenizer("perl")
    monkeypatch.setenv("PATH", str(tmp_path))
    assert resolve_tokenizer("auto") == "python"
    assert resolve_tokenizer("java") == "java"
    assert "java" in missing_requirement(tmp_path, "never", "java")
    assert not (missing_requirement(tmp_path, "never", "python") or "").startswith("AutoPhrase (")
