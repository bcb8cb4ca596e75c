"""AutoPhrase staging and mining on real text, phrase matching and filtering."""

from __future__ import annotations

import filecmp
import json
import os
import shutil
from pathlib import Path

import pytest

from nerbench.dbr.autophrase_build import STAGE_MARKER, binary_runs, stage_autophrase
from nerbench.dbr.autophrase_run import Phrase, mine_phrases, validate_treetagger_par
from nerbench.dbr.phrases import (
    PhraseMatcher,
    main_autophrase,
    read_phrases,
    select_phrases,
    write_corpus,
    write_phrases,
)
from nerbench.io import InputError

ROOT = Path(__file__).resolve().parents[1]
DEMO_NCBI = ROOT / "resources/corpora/demo/NCBI-disease/train.tsv"


def read_iob(path: Path) -> list[dict]:
    """Canonical records from a token<TAB>tag file (blank line between sentences)."""
    records, tokens, tags = [], [], []
    for line in [*path.read_text(encoding="utf-8").splitlines(), ""]:
        if line.strip():
            token, tag = line.split("\t")
            tokens.append(token)
            tags.append(tag)
        elif tokens:
            records.append(
                {"doc_id": str(len(records)), "sent_id": "0", "tokens": tokens, "tags": tags}
            )
            tokens, tags = [], []
    return records


@pytest.fixture(scope="module")
def tool(tmp_path_factory) -> Path:
    """AutoPhrase staged once for this module (prebuilt binaries if they run)."""
    dest = tmp_path_factory.mktemp("tools") / "AutoPhrase"
    stage_autophrase(dest, "auto")
    return dest


@pytest.fixture(scope="module")
def ncbi() -> list[dict]:
    return read_iob(DEMO_NCBI)


# --------------------------------------------------------------------------- matching / filtering


def test_matcher_is_case_insensitive_and_punctuation_transparent():
    matcher = PhraseMatcher(["beta catenin", "adenomatous polyposis coli", "apc"])
    tokens = ["Beta", "-", "catenin", "binds", "APC", "(", "adenomatous", "polyposis", "coli", ")"]
    assert matcher.find(tokens) == [
        ("beta catenin", 0, 3),
        ("apc", 4, 5),
        ("adenomatous polyposis coli", 6, 9),
    ]
    assert matcher.find(["beta", "cells"]) == []


def test_select_phrases_thresholds_length_support_and_duplicates():
    sentences = [["Ovarian", "cancer", "and", "BRCA1", "."], ["ovarian", "cancer", "again"]]
    mined = [
        Phrase("ovarian cancer", 0.9, "multi", 2),
        Phrase("ovarian - cancer", 0.7, "multi", 3),  # same words: duplicate
        Phrase("and brca1", 0.2, "multi", 2),  # below multi-word threshold
        Phrase("brca1", 0.85, "single", 1),
        Phrase("again", 0.5, "single", 1),  # below single-word threshold
        Phrase("breast cancer", 0.95, "multi", 2),  # never occurs
        Phrase("n =", 0.9, "multi", 2),  # one letter once punctuation is dropped
        Phrase("( 3 )", 0.9, "multi", 2),  # no letters
    ]
    kept, dropped = select_phrases(mined, sentences, {})
    assert [(p.phrase, p.support) for p in kept] == [("ovarian cancer", 2), ("brca1", 1)]
    assert dropped == {"duplicate": 1, "quality": 2, "support": 1, "no_word": 2}
    kept, _ = select_phrases(mined, sentences, {"single_words": False, "min_support": 2})
    assert [p.phrase for p in kept] == ["ovarian cancer"]


def test_phrase_table_roundtrip_and_bad_header(tmp_path):
    path = tmp_path / "p.tsv"
    phrases = [Phrase("ovarian cancer", 0.9, "multi", 2, 5)]
    write_phrases(path, phrases)
    assert read_phrases(path) == phrases
    path.write_text("phrase\tscore\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"p.tsv:1"):
        read_phrases(path)


# --------------------------------------------------------------------------- the real tool


def test_staged_tool_runs_and_is_recorded(tool):
    meta = json.loads((tool / STAGE_MARKER).read_text(encoding="utf-8"))
    assert meta["binaries"] in ("prebuilt", "compiled") and meta["version"] == "1.7"
    assert binary_runs(tool / "bin/segphrase_train")
    assert (tool / "data/EN/wiki_quality.txt").stat().st_size > 1_000_000
    assert not (tool / "data/JA").exists() and not (tool / "tmp").exists()
    assert not binary_runs(tool / "data/EN/stopwords.txt")


def test_autophrase_mines_scored_phrases_from_real_text(tool, ncbi, tmp_path):
    """400 real NCBI-disease training sentences: known disease phrases rank high."""
    corpus = tmp_path / "corpus.txt"
    write_corpus([r["tokens"] for r in ncbi], corpus)
    before = {p: p.stat().st_mtime_ns for p in tool.rglob("*") if p.is_file()}
    mined = mine_phrases(tool, corpus, tmp_path / "work", {"min_sup": 3})
    quality = {p.phrase: p.quality for p in mined}
    assert quality["adenomatous polyposis coli"] > 0.9
    assert quality["ovarian cancer"] > 0.8
    assert all(0.0 <= p.quality <= 1.0 for p in mined)
    assert {p.kind for p in mined} == {"multi", "single"}
    after = {p: p.stat().st_mtime_ns for p in tool.rglob("*") if p.is_file()}
    assert after == before  # nothing written into the shared tree


def test_main_autophrase_writes_filtered_table(tool, ncbi, tmp_path, monkeypatch, capsys):
    """The Snakefile passes dbr.autophrase.tokenizer in the environment (TOKENIZER_ENV), which
    the command honours: here python, even where Java is on PATH."""
    from nerbench.dbr.autophrase_build import TOKENIZER_ENV

    monkeypatch.setenv(TOKENIZER_ENV, "python")
    bio = tmp_path / "train.jsonl"
    bio.write_text("".join(json.dumps(r) + "\n" for r in ncbi), encoding="utf-8")
    out = tmp_path / "phrases" / "ncbi.tsv"
    spec = json.dumps({"min_sup": 3, "min_quality_single": 0.7})
    args = ["--tool-dir", str(tool), "--input", str(bio), "--output", str(out), "--spec", spec]
    assert main_autophrase(args) == 0
    phrases = read_phrases(out)
    assert phrases and all(p.support >= 1 for p in phrases)
    assert all(p.quality >= (0.3 if p.n_words > 1 else 0.7) for p in phrases)
    assert any(p.phrase == "familial adenomatous polyposis" for p in phrases)
    assert any(p.kind == "single" for p in phrases)
    assert sorted(os.listdir(out.parent)) == ["ncbi.tsv"]  # private work dir removed
    assert "tokenizer python" in capsys.readouterr().err


def test_the_tokenizer_setting_is_not_part_of_the_autophrase_rule():
    """Both tokenizers write the same files: a change of the setting must rerun nothing, so it
    reaches the job through the environment, never the rule's command or params (Snakemake's
    code and params triggers would rerun the phrases and every DBR run after them)."""
    text = (ROOT / "workflow" / "rules" / "phrases.smk").read_text(encoding="utf-8")
    rule = text[text.index("rule autophrase:") :]
    assert "tokenizer" not in rule
    common = (ROOT / "workflow" / "rules" / "common.smk").read_text(encoding="utf-8")
    assert 'os.environ[TOKENIZER_ENV] = DBR.settings["autophrase"]["tokenizer"]' in common


def test_main_autophrase_rejects_unknown_settings(tool, tmp_path):
    args = ["--tool-dir", str(tool), "--input", "x", "--output", str(tmp_path / "o.tsv")]
    with pytest.raises(InputError, match="dbr.autophrase"):
        main_autophrase([*args, "--spec", json.dumps({"min_quality": 0.5})])


def test_pos_mode_refuses_missing_empty_or_invalid_parameter_file(tool, tmp_path):
    with pytest.raises(InputError, match="treetagger_par"):
        validate_treetagger_par(tool, None)
    empty = tool / "tools/treetagger/lib/english-utf8.par"  # shipped empty by the package
    assert empty.stat().st_size == 0
    with pytest.raises(InputError, match="missing or empty"):
        validate_treetagger_par(tool, str(empty))
    bogus = tmp_path / "english.par"
    bogus.write_bytes(b"not a parameter file\n" * 10)
    with pytest.raises(InputError, match="not a TreeTagger parameter file"):
        validate_treetagger_par(tool, str(bogus))
    corpus = tmp_path / "c.txt"
    corpus.write_text("a b c\n", encoding="utf-8")
    with pytest.raises(InputError, match="treetagger_par"):
        mine_phrases(tool, corpus, tmp_path / "w", {"pos_tagging": True, "treetagger_par": ""})


def test_missing_java_names_what_to_install(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(InputError, match="'java' not found.*install"):
        stage_autophrase(tmp_path / "AutoPhrase", tokenizer="java")
    assert not (tmp_path / "AutoPhrase").exists()


def test_mining_without_java_uses_the_python_tokenizer(tool, ncbi, tmp_path, monkeypatch):
    """Java hidden from PATH: tokenizer auto resolves to python; where Java exists, its run
    gives the same files (token ids, mapping, mined phrases) byte for byte."""
    corpus = tmp_path / "corpus.txt"
    write_corpus([r["tokens"] for r in ncbi], corpus)
    java = shutil.which("java")
    with monkeypatch.context() as m:
        m.setenv("PATH", str(tmp_path / "empty"))
        logged = []
        mined = mine_phrases(tool, corpus, tmp_path / "python", {"min_sup": 3}, logged.append)
    assert "tokenizer: python (dbr.autophrase.tokenizer: auto)" in logged
    assert {p.phrase: p.quality for p in mined}["adenomatous polyposis coli"] > 0.9
    if java is None:
        return
    mine_phrases(tool, corpus, tmp_path / "java", {"min_sup": 3, "tokenizer": "java"})
    names = ["tokenized_train.txt", "token_mapping.txt", "AutoPhrase_multi-words.txt"]
    names += ["AutoPhrase_unigrams.txt", "tokenized_quality.txt", "case_tokenized_train.txt"]
    for name in names:
        assert filecmp.cmp(tmp_path / "java" / name, tmp_path / "python" / name, False), name


@pytest.mark.slow
def test_compiling_from_bundled_sources(tmp_path):
    meta = stage_autophrase(tmp_path / "AutoPhrase", "always")
    assert meta["binaries"] == "compiled"
    assert binary_runs(tmp_path / "AutoPhrase/bin/segphrase_train")


def test_default_filter_keeps_unigrams_as_vaner_released():
    """AutoPhrase's unigram qualities top out near 0.70 on a full training split (NCBI-disease):
    the defaults must keep such unigrams; VANER's released fragments are about half unigrams."""
    sentences = [["BRCA1", "mutations", "in", "ovarian", "cancer"]]
    mined = [
        Phrase("brca1", 0.65, "single", 1),
        Phrase("mutations", 0.62, "single", 1),
        Phrase("ovarian cancer", 0.35, "multi", 2),
    ]
    kept, _ = select_phrases(mined, sentences, {})
    assert sorted(p.phrase for p in kept) == ["brca1", "mutations", "ovarian cancer"]
