"""Running AutoPhrase (VANER section 3.4, step 2) on one corpus: the mined phrases, unfiltered.

:func:`mine_phrases` runs tokenizer (AutoPhrase's Java one or its Python copy,
:mod:`nerbench.dbr.autophrase_tokenizer`, per ``dbr.autophrase.tokenizer``) -> [TreeTagger] ->
``segphrase_train`` -> translation in a private work directory (every file path is passed
explicitly, so concurrent runs never share the tree's ``tmp/``), checking each step's exit
status and output. The tree comes from
:mod:`nerbench.dbr.autophrase_build`; choosing among the phrases is :mod:`nerbench.dbr.phrases`.

POS-guided mode is off by default; the package ships an empty English TreeTagger parameter
file, so enabling it requires ``dbr.autophrase.treetagger_par`` to name a real one.
"""

from __future__ import annotations

import os
import re
import subprocess
import tempfile
import unicodedata
from dataclasses import dataclass
from pathlib import Path

from nerbench import defaults
from nerbench.dbr import autophrase_tokenizer
from nerbench.dbr.autophrase_build import (
    JAVA_TOKENIZER_PARTS,
    TREETAGGER_PARTS,
    AutoPhraseError,
    Log,
    _stderr_log,
    require_parts,
    resolve_tokenizer,
)
from nerbench.io import InputError

_CHUNK_RE = re.compile(r"[^\W\d_]+|\d+")
DEFAULTS = defaults.AUTOPHRASE


@dataclass(frozen=True)
class Phrase:
    """One mined phrase (lower-cased by AutoPhrase's tokenizer)."""

    phrase: str
    quality: float
    kind: str  # "multi" | "single"
    n_words: int = 0
    support: int = 0


def _run(cmd: list[str], step: str, cwd: Path, log: Log) -> None:
    env = {**os.environ, "TERM": "dumb", "LC_ALL": "C.UTF-8"}
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, env=env)
    if proc.stdout.strip():
        log(proc.stdout.rstrip())
    if proc.returncode != 0:
        why = f"signal {-proc.returncode}" if proc.returncode < 0 else f"exit {proc.returncode}"
        raise AutoPhraseError(f"AutoPhrase step '{step}' failed ({why}):\n{proc.stderr[-3000:]}")
    if proc.stderr.strip():
        log(proc.stderr.rstrip()[-3000:])


def _need(path: Path, step: str, nonempty: bool = True) -> Path:
    if not path.is_file() or (nonempty and path.stat().st_size == 0):
        raise AutoPhraseError(f"AutoPhrase step '{step}' produced no {path.name}")
    return path


def _tokenizer(tree: Path) -> list[str]:
    require_parts(tree, JAVA_TOKENIZER_PARTS)
    cp = ":".join(
        str(tree / p)
        for p in (
            ".",
            "tools/tokenizer/lib/*",
            "tools/tokenizer/resources",
            "tools/tokenizer/build",
        )
    )
    return ["java", "-cp", cp, "Tokenizer"]


def _chunks(text: str) -> list[str]:
    folded = unicodedata.normalize("NFKD", text.lower())
    folded = "".join(ch for ch in folded if not unicodedata.combining(ch))
    return _CHUNK_RE.findall(folded)


def prefilter_wordlist(src: Path, dest: Path, vocabulary: set[str]) -> int:
    """Keep lines whose letter/digit runs all occur in the corpus; return the number kept.

    The tokenizer maps out-of-corpus tokens to -1111 and ``segphrase_train`` drops every line
    holding one, so this only saves tokenizing lines that could never be used.
    """
    kept = 0
    with open(src, encoding="utf-8") as fin, open(dest, "w", encoding="utf-8") as fout:
        for line in fin:
            chunks = _chunks(line)
            if chunks and all(c in vocabulary for c in chunks):
                fout.write(line)
                kept += 1
    return kept


def validate_treetagger_par(tree: Path, par: str | None) -> Path:
    """A TreeTagger parameter file that the bundled tagger accepts, else an InputError."""
    key = "dbr.autophrase.treetagger_par"
    require_parts(tree, TREETAGGER_PARTS)
    if not par:
        raise InputError(
            f"POS-guided AutoPhrase needs an English TreeTagger parameter file ({key})"
        )
    path = Path(par)
    if not path.is_file() or path.stat().st_size == 0:
        raise InputError(f"TreeTagger parameter file is missing or empty ({key})", path)
    with tempfile.TemporaryDirectory() as tmp:
        probe = Path(tmp) / "probe.txt"
        probe.write_text("The\ncat\nsat\n.\n", encoding="utf-8")
        tagger = tree / "tools/treetagger/bin/tree-tagger"
        proc = subprocess.run(
            [str(tagger), "-quiet", str(path.resolve()), str(probe)], capture_output=True, text=True
        )
    if proc.returncode != 0 or len(proc.stdout.split()) != 4:
        raise InputError(f"not a TreeTagger parameter file ({key}): {proc.stderr.strip()}", path)
    return path.resolve()


def _pos_tag(tree: Path, work: Path, par: Path, log: Log) -> Path:
    """One POS tag per token of ``raw_tokenized_train.txt`` (as the package's pos_tag.sh)."""
    tokens = work / "pos_tokens.txt"
    with (
        open(_need(work / "raw_tokenized_train.txt", "tokenize"), encoding="utf-8") as fin,
        open(tokens, "w", encoding="utf-8") as fout,
    ):
        for line in fin:
            fout.write("\n".join(line.rstrip("\n").split(" ")) + "\n")
    out = work / "pos_tags_tokenized_train.txt"
    tagger = str(tree / "tools/treetagger/bin/tree-tagger")
    _run([tagger, "-quiet", str(par), str(tokens), str(out)], "treetagger", tree, log)
    return _need(out, "treetagger")


def _read_translated(path: Path, kind: str) -> list[Phrase]:
    out = []
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            line = line.rstrip("\n")
            if not line:
                continue
            score, sep, text = line.partition("\t")
            try:
                quality = float(score)
            except ValueError:
                raise AutoPhraseError(f"{path}:{lineno}: unreadable AutoPhrase output") from None
            if sep and text.strip():
                out.append(Phrase(text.strip(), quality, kind, len(text.split())))
    return out


def _tokenize(tree: Path, mode: str, src: Path, dst: Path, work: Path, s: dict, log: Log) -> Path:
    """Tokenize in ``mode`` (train | test | translate) with the run's mapping: the Java
    tokenizer, or its Python copy where ``s["tokenizer"]`` is ``python``."""
    mapping = work / "token_mapping.txt"
    step = f"tokenize ({mode}) {src.name}"
    if s["tokenizer"] == "python":
        try:
            autophrase_tokenizer.tokenize(tree, mode, src, dst, mapping)
        except (OSError, ValueError, RuntimeError) as e:
            raise AutoPhraseError(f"AutoPhrase step '{step}' failed (python tokenizer): {e}") from e
    else:
        threads = str(max(1, int(s["threads"])))
        cmd = [*_tokenizer(tree), "-m", mode, "-i", str(src), "-o", str(dst), "-t", str(mapping)]
        _run([*cmd, "-c", "N", "-thread", threads], step, tree, log)
    return _need(dst, step, nonempty=mode == "train")


def _tokenize_wordlists(tree: Path, work: Path, corpus: Path, s: dict, log: Log):
    """Tokenize the English stopwords and Wikipedia phrase lists with the corpus's mapping."""
    vocabulary = set(_chunks(corpus.read_text(encoding="utf-8")))
    lists = {"stopwords": "stopwords.txt", "all": "wiki_all.txt", "quality": "wiki_quality.txt"}
    for key, name in lists.items():
        src = tree / "data/EN" / name
        if s["prefilter_wiki"] and key != "stopwords":
            kept = prefilter_wordlist(src, work / f"raw_{name}", vocabulary)
            log(f"{name}: {kept} lines with only in-corpus words")
            src = work / f"raw_{name}"
        _tokenize(tree, "test", src, work / f"tokenized_{key}.txt", work, s, log)


def _train_command(tree: Path, work: Path, s: dict, threads: str) -> list[str]:
    args = {
        "--thread": threads,
        "--train_file": work / "tokenized_train.txt",
        "--train_capital_file": work / "case_tokenized_train.txt",
        "--stopwords_file": work / "tokenized_stopwords.txt",
        "--all_file": work / "tokenized_all.txt",
        "--quality_file": work / "tokenized_quality.txt",
        "--tmp": work,
        "--label_method": "DPDN",
        "--max_positives": -1,
        "--min_sup": int(s["min_sup"]),
        "--max_len": int(s["max_words"]),
    }
    return [str(tree / "bin/segphrase_train")] + [str(x) for kv in args.items() for x in kv]


def mine_phrases(
    tree: str | Path,
    corpus: str | Path,
    work: str | Path,
    settings: dict,
    log: Log = _stderr_log,
) -> list[Phrase]:
    """Run AutoPhrase on ``corpus`` (one document per line) with files under ``work``.

    Returns every multi-word and single-word phrase with its quality (unfiltered).
    """
    tree, work, corpus = Path(tree).resolve(), Path(work).resolve(), Path(corpus).resolve()
    s = {**DEFAULTS, **settings}
    s["tokenizer"] = resolve_tokenizer(s["tokenizer"], tree)
    asked = settings.get("tokenizer", DEFAULTS["tokenizer"])
    log(f"tokenizer: {s['tokenizer']} (dbr.autophrase.tokenizer: {asked})")
    threads = str(max(1, int(s["threads"])))
    work.mkdir(parents=True, exist_ok=True)
    par = validate_treetagger_par(tree, s["treetagger_par"]) if s["pos_tagging"] else None

    _tokenize(tree, "train", corpus, work / "tokenized_train.txt", work, s, log)
    language = _need(work / "language.txt", "tokenize").read_text(encoding="utf-8").strip()
    if language != "EN":
        log(f"warning: tokenizer detected language '{language}', using the English word lists")
    _tokenize_wordlists(tree, work, corpus, s, log)

    cmd = _train_command(tree, work, s, threads)
    if par is not None:
        pos = _pos_tag(tree, work, par, log)
        cmd += ["--pos_tag", "--pos_tags_file", str(pos)]
        cmd += ["--pos_prune", str(tree / "data/BAD_POS_TAGS.txt")]
    _run(cmd, "segphrase_train", tree, log)

    phrases: list[Phrase] = []
    for kind, name in (("multi", "multi-words"), ("single", "unigrams")):
        src = _need(work / f"final_quality_{name}.txt", "segphrase_train", nonempty=False)
        dst = _tokenize(tree, "translate", src, work / f"AutoPhrase_{name}.txt", work, s, log)
        got = _read_translated(dst, kind)
        n_in = sum(1 for line in open(src, encoding="utf-8") if line.strip())
        if len(got) != n_in:
            raise AutoPhraseError(f"translate {name}: {n_in} phrases in, {len(got)} out")
        phrases.extend(got)
    if not phrases:
        raise AutoPhraseError(
            "AutoPhrase found no phrases: too little text or dbr.autophrase.min_sup too high"
        )
    return phrases
