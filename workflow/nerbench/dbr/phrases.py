"""Choosing AutoPhrase's output (VANER section 3.4, step 2): which mined phrases DBR keeps.

:func:`select_phrases` filters the phrases :func:`~nerbench.dbr.autophrase_run.mine_phrases`
returns (quality, word count, sentence support; :class:`PhraseMatcher` finds them in sentences),
:func:`write_phrases` / :func:`read_phrases` hold them as ``phrase, quality, kind, n_words,
support`` rows, and :func:`main_autophrase` (``nerbench autophrase``) chains building
(:mod:`nerbench.dbr.autophrase_build`), running (:mod:`nerbench.dbr.autophrase_run`) and choosing
for one dataset.
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

from nerbench import defaults
from nerbench.dbr.autophrase_build import (
    TOKENIZER_ENV,
    _stderr_log,
    ensure_staged,
    resolve_tokenizer,
    source_tree,
    stage_autophrase,
)
from nerbench.dbr.autophrase_run import Phrase, mine_phrases
from nerbench.io import InputError, atomic_path, json_option, read_jsonl

PHRASE_COLUMNS = ("phrase", "quality", "kind", "n_words", "support")
DEFAULTS = defaults.AUTOPHRASE


# --------------------------------------------------------------------------- matching


def _norm_tokens(tokens: Iterable[str]) -> list[tuple[int, str]]:
    """(index, lower-cased token) for tokens holding a letter or digit (punctuation skipped)."""
    return [(i, t.lower()) for i, t in enumerate(tokens) if any(ch.isalnum() for ch in t)]


def phrase_key(phrase: str) -> tuple[str, ...]:
    """Lower-cased word tokens of a phrase, punctuation dropped (the matching identity)."""
    return tuple(t for _, t in _norm_tokens(phrase.split()))


class PhraseMatcher:
    """Find mined phrases in tokenized sentences (case-insensitive, punctuation-transparent)."""

    def __init__(self, phrases: Iterable[str]):
        self.keys: dict[tuple[str, ...], str] = {}
        for p in phrases:
            key = phrase_key(p)
            if key:
                self.keys.setdefault(key, p)
        self.max_len = max((len(k) for k in self.keys), default=0)

    def find(self, tokens: list[str]) -> list[tuple[str, int, int]]:
        """``(phrase, start, end_exclusive)`` over original token indices, every occurrence."""
        norm = _norm_tokens(tokens)
        words = [w for _, w in norm]
        hits = []
        for i in range(len(words)):
            for n in range(1, min(self.max_len, len(words) - i) + 1):
                phrase = self.keys.get(tuple(words[i : i + n]))
                if phrase is not None:
                    hits.append((phrase, norm[i][0], norm[i + n - 1][0] + 1))
        return hits


def sentence_support(phrases: Iterable[str], sentences: Iterable[list[str]]) -> Counter:
    """Number of sentences in which each phrase occurs."""
    matcher = PhraseMatcher(phrases)
    support: Counter = Counter()
    for tokens in sentences:
        support.update({p for p, _, _ in matcher.find(tokens)})
    return support


def select_phrases(
    phrases: list[Phrase], sentences: list[list[str]], settings: dict
) -> tuple[list[Phrase], Counter]:
    """Filter by quality (multi/single thresholds), word count and sentence support.

    Phrases equal after normalization keep the best quality. Returns phrases (best first)
    and counts of drop reasons.
    """
    s = {**DEFAULTS, **settings}
    dropped: Counter = Counter()
    best: dict[tuple[str, ...], Phrase] = {}
    for p in phrases:
        key = phrase_key(p.phrase)
        threshold = s["min_quality_multi"] if len(key) > 1 else s["min_quality_single"]
        joined = "".join(key)
        if len(joined) < 2 or not any(ch.isalpha() for ch in joined):
            dropped["no_word"] += 1
        elif len(key) == 1 and not s["single_words"]:
            dropped["single_word"] += 1
        elif not s["min_words"] <= len(key) <= s["max_words"]:
            dropped["length"] += 1
        elif p.quality < threshold:
            dropped["quality"] += 1
        elif key in best and best[key].quality >= p.quality:
            dropped["duplicate"] += 1
        else:
            best[key] = Phrase(" ".join(key), p.quality, p.kind, len(key))
    support = sentence_support([p.phrase for p in best.values()], sentences)
    kept = []
    for p in best.values():
        if support[p.phrase] < s["min_support"]:
            dropped["support"] += 1
        else:
            kept.append(Phrase(p.phrase, p.quality, p.kind, p.n_words, support[p.phrase]))
    kept.sort(key=lambda p: (-p.quality, p.phrase))
    return kept, dropped


# --------------------------------------------------------------------------- files


def write_corpus(sentences: Iterable[list[str]], path: str | Path) -> int:
    """One sentence per line (tokens joined by spaces): AutoPhrase's document-per-line input."""
    n = 0
    with open(path, "w", encoding="utf-8") as f:
        for tokens in sentences:
            f.write(" ".join(t.replace("\n", " ") for t in tokens) + "\n")
            n += 1
    return n


def write_phrases(path: str | Path, phrases: list[Phrase]) -> None:
    """Write the phrase TSV atomically."""
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8") as f:
        f.write("\t".join(PHRASE_COLUMNS) + "\n")
        for p in phrases:
            f.write(f"{p.phrase}\t{p.quality:.6f}\t{p.kind}\t{p.n_words}\t{p.support}\n")


def read_phrases(path: str | Path) -> list[Phrase]:
    """Read a phrase TSV written by :func:`write_phrases`."""
    out = []
    with open(path, encoding="utf-8") as f:
        if tuple(f.readline().rstrip("\n").split("\t")) != PHRASE_COLUMNS:
            raise InputError(f"phrase table header must be {'/'.join(PHRASE_COLUMNS)}", path, 1)
        for lineno, line in enumerate(f, 2):
            cells = line.rstrip("\n").split("\t")
            try:
                quality, n_words, support = float(cells[1]), int(cells[3]), int(cells[4])
            except (IndexError, ValueError):
                raise InputError("malformed phrase row", path, lineno) from None
            out.append(Phrase(cells[0], quality, cells[2], n_words, support))
    return out


def main_autophrase(argv: list[str]) -> int:
    """``nerbench autophrase --tool-dir DIR [--stage-only | --input BIO --output TSV --spec J]``."""
    ap = argparse.ArgumentParser(prog="nerbench autophrase", description=main_autophrase.__doc__)
    ap.add_argument("--tool-dir", required=True, help="staged AutoPhrase tree (created if absent)")
    ap.add_argument("--stage-only", action="store_true", help="stage the tool and exit")
    ap.add_argument("--compile", default=None, help="auto | always | never (overrides --spec)")
    ap.add_argument(
        "--tokenizer",
        default=os.environ.get(TOKENIZER_ENV),
        help=f"auto | java | python (default: ${TOKENIZER_ENV}, else --spec, else auto)",
    )
    ap.add_argument("--input", help="canonical train split (JSONL)")
    ap.add_argument("--output", help="phrase TSV")
    ap.add_argument("--spec", default="{}", help="JSON: the resolved dbr.autophrase settings")
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--keep-workdir", action="store_true", help="keep AutoPhrase's files (debug)")
    args = ap.parse_args(argv)
    settings = {**DEFAULTS, **json_option(args.spec, "--spec")}
    unknown = sorted(set(settings) - set(DEFAULTS))
    if unknown:
        raise InputError(
            f"unknown key(s) {unknown} under dbr.autophrase; known: {sorted(DEFAULTS)}"
        )
    if args.threads is not None:
        settings["threads"] = args.threads
    if args.tokenizer is not None:
        settings["tokenizer"] = args.tokenizer
    settings["tokenizer"] = resolve_tokenizer(settings["tokenizer"], source_tree(args.tool_dir))
    compile_mode = args.compile or settings["compile"]
    if args.stage_only:
        stage_autophrase(args.tool_dir, compile_mode, tokenizer=settings["tokenizer"])
        return 0
    if not args.input or not args.output:
        raise InputError("--input and --output are required unless --stage-only")
    tree = ensure_staged(args.tool_dir, compile_mode, tokenizer=settings["tokenizer"])
    sentences = [rec["tokens"] for rec in read_jsonl(args.input)]
    if not sentences:
        raise InputError("no sentences", args.input)
    out = Path(args.output)
    out.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{out.stem}.autophrase.", dir=out.parent))
    try:
        corpus = work / "corpus.txt"
        write_corpus(sentences, corpus)
        mined = mine_phrases(tree, corpus, work, settings)
        kept, dropped = select_phrases(mined, sentences, settings)
    finally:
        if not args.keep_workdir:
            shutil.rmtree(work, ignore_errors=True)
    write_phrases(out, kept)
    n_multi = sum(p.kind == "multi" for p in kept)
    _stderr_log(
        f"{len(sentences)} sentences: {len(mined)} phrases mined, {len(kept)} kept "
        f"({n_multi} multi-word); dropped {dict(dropped)}; tokenizer {settings['tokenizer']}"
    )
    return 0
