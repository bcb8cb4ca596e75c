"""AutoPhrase's Java tokenizer in pure Python: the same files, byte for byte, without Java.

Follows ``tools/tokenizer/src/Tokenizer.java`` of the AutoPhrase tree that
:mod:`nerbench.dbr.autophrase_build` stages (PyPI ``autophrase`` 1.7) in the three modes
:mod:`nerbench.dbr.autophrase_run` uses, always with ``-c N`` (case folded):

* ``train`` (``tokenizeText``/``batchMode``, lines 735-823 and 434-480): each line becomes
  token ids (``tokenized_X``), case digits (``case_tokenized_X``: bit 0 first char upper, bit 1
  every char upper, bit 2 ``Double.parseDouble`` accepts the token; ``3`` for punctuation), the
  raw tokens (``raw_tokenized_X``) and ``language.txt``; ids are given in order of first
  occurrence of the lower-cased token; ``saveTokenMapping`` (251-270) writes ``id<TAB>token`` in
  the iteration order of Java's ``ConcurrentHashMap`` (simulated by :class:`_JavaHashOrder`).
* ``test`` (481-500): known tokens to their id, unknown ones to ``-1111``, plus ``raw_X``; the
  text before the last tab of a line is kept as a prefix (lines 782-788, ``String.split`` rules).
* ``translate`` (502-516): every all-digit token below the mapping's size back to its token.

A line's tokens (``lineToTokens(Analyzer, ...)``, 343-389) are the spans of Lucene 5.2's
``StandardTokenizer`` (UAX #29 words, numbers, ideographs; its scanner's DFA is run here from
the tables in ``autophrase_tokenizer_tables.json``, 255-char scan window included) plus every
non-whitespace character (``Character.isWhitespace``) between spans as a one-char token. The
punctuation mapping (193-222) is read from the tree's ``indo_european_punctuation_mapping.txt``.
Java strings are UTF-16; so is the text here (non-BMP characters as surrogate pairs, a lone
surrogate written as ``?`` as Java's UTF-8 writer does).

Differences, by design: Java detects the language (langdetect, randomly seeded) from the first
1000 characters; here the language is always ``EN``. Java's EN, FR, DE, ES, IT, PT and RU
analyzers all tokenize with ``StandardTokenizer``, so output only differs for text Java detects
as JA, CN or AR, or in which it finds no letters at all (then it drops punctuation). With more
than one thread Java gives ids in a nondeterministic order; this equals Java with one thread.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import unicodedata
from collections.abc import Iterator
from pathlib import Path

UNKNOWN_TOKEN = "-1111"
LANGUAGE = "EN"
PUNCTUATION_FILE = "tools/tokenizer/resources/indo_european_punctuation_mapping.txt"
TABLES = Path(__file__).with_name("autophrase_tokenizer_tables.json")
MODES = ("train", "test", "translate")
_TOKEN_ACTIONS = frozenset(range(2, 9))  # StandardTokenizerImpl actions that return a token
_LINE_RE = re.compile(r"\r\n|\r|\n")
_SURROGATE_RE = re.compile("[\ud800-\udfff]")
_NON_BMP_RE = re.compile("[\U00010000-\U0010ffff]")
_JAVA_DOUBLE = re.compile(
    r"[+-]?(?:NaN|Infinity|(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?[fFdD]?"
    r"|0[xX](?:[0-9a-fA-F]+\.?|[0-9a-fA-F]*\.[0-9a-fA-F]+)[pP][+-]?[0-9]+[fFdD]?)"
)
_JAVA_SPACE_CONTROLS = frozenset("\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f")
_NOT_JAVA_SPACE = frozenset("\u00a0\u2007\u202f")


# --------------------------------------------------------------------------- Java string semantics


def _to_utf16(text: str) -> str:
    """``text`` with each non-BMP character as its two surrogates (Java's ``char`` units)."""
    if not _NON_BMP_RE.search(text):
        return text
    return _NON_BMP_RE.sub(
        lambda m: (lambda c: chr(0xD800 + (c >> 10)) + chr(0xDC00 + (c & 0x3FF)))(
            ord(m.group()) - 0x10000
        ),
        text,
    )


def _from_utf16(units: str, lone: str | None = "?") -> str:
    """Pairs back to characters; a lone surrogate becomes ``lone`` (Java's UTF-8 encoder: ``?``)
    or stays (``lone=None``)."""
    if not _SURROGATE_RE.search(units):
        return units
    out, i, n = [], 0, len(units)
    while i < n:
        c = ord(units[i])
        if 0xD800 <= c <= 0xDBFF and i + 1 < n and 0xDC00 <= ord(units[i + 1]) <= 0xDFFF:
            out.append(chr(0x10000 + ((c - 0xD800) << 10) + ord(units[i + 1]) - 0xDC00))
            i += 2
            continue
        out.append(lone if lone is not None and 0xD800 <= c <= 0xDFFF else units[i])
        i += 1
    return "".join(out)


def _java_lower(units: str) -> str:
    """``String.toLowerCase`` by code point; a lone surrogate stays as it is."""
    if not _SURROGATE_RE.search(units):
        return units.lower()
    return _to_utf16(_from_utf16(units, lone=None).lower())


def _java_is_whitespace(ch: str) -> bool:
    """``Character.isWhitespace(char)``: Z* separators but no-break spaces, and 9-13, 28-31."""
    if ch in _JAVA_SPACE_CONTROLS:
        return True
    return unicodedata.category(ch) in ("Zs", "Zl", "Zp") and ch not in _NOT_JAVA_SPACE


def _java_is_upper(ch: str) -> bool:
    """``Character.isUpperCase(char)`` (Lu or Other_Uppercase; a surrogate unit is not)."""
    return not ("\ud800" <= ch <= "\udfff") and ch.isupper()


def _java_is_numeric(token: str) -> int:
    """1 where ``Double.parseDouble`` accepts ``token`` (``isNumeric``, lines 391-398)."""
    trimmed = token.strip("".join(chr(c) for c in range(0x21)))
    return 1 if _JAVA_DOUBLE.fullmatch(trimmed) else 0


def _java_hash(key: str) -> int:
    """``String.hashCode`` over UTF-16 units, as a signed 32-bit int."""
    h = 0
    for ch in key:
        h = (31 * h + ord(ch)) & 0xFFFFFFFF
    return h - (1 << 32) if h >= 1 << 31 else h


def read_java_lines(path: str | Path) -> Iterator[str]:
    """``BufferedReader.readLine`` over a UTF-8 file: lines split at CR, LF or CRLF only."""
    text = Path(path).read_bytes().decode("utf-8", errors="replace")
    lines = _LINE_RE.split(text)
    if lines and lines[-1] == "":
        lines.pop()
    for line in lines:
        yield _to_utf16(line)


def _split_prefix(line: str) -> tuple[str, str]:
    """``line.split("\\t")``: all but the last field (each + tab) and the last field."""
    parts = line.split("\t")
    while len(parts) > 1 and parts[-1] == "":
        parts.pop()
    if parts == [""] and line:
        raise ValueError(f"line of tabs only (the Java tokenizer fails on it): {line!r}")
    return "".join(p + "\t" for p in parts[:-1]), parts[-1]


# --------------------------------------------------------------------------- Lucene's scanner


class _StandardTokenizer:
    """Lucene 5.2 ``StandardTokenizerImpl`` (JFlex DFA) over one line of UTF-16 units."""

    def __init__(self, tables: Path = TABLES):
        t = json.loads(tables.read_text(encoding="utf-8"))

        def unpack(pairs):
            return [v for n, v in pairs for _ in range(n)]

        self.cmap = bytes(unpack(t["cmap"]))
        self.action = unpack(t["action"])
        self.rowmap = unpack(t["rowmap"])
        self.trans = unpack(t["trans"])
        self.attribute = unpack(t["attribute"])
        self.start_state = unpack(t["lexstate"])[0]
        self.buffer = t["buffer_size"]

    def spans(self, s: str) -> list[tuple[int, int]]:
        """(start, end) of each token; the scanner sees at most ``buffer`` units from a start."""
        cmap, rowmap, trans, attribute = self.cmap, self.rowmap, self.trans, self.attribute
        n, pos, out = len(s), 0, []
        while pos < n:
            start = pos
            limit = start + self.buffer
            if limit <= n:
                if "\ud800" <= s[limit - 1] <= "\udbff":  # zzRefill keeps a final high surrogate
                    limit -= 1
            else:
                limit = n
            state = self.start_state
            action = state if attribute[state] & 1 else -1
            marked = i = start
            while i < limit:
                c = ord(s[i])
                i += 1
                if 0xD800 <= c <= 0xDBFF and i < limit and "\udc00" <= s[i] <= "\udfff":
                    c = 0x10000 + ((c - 0xD800) << 10) + ord(s[i]) - 0xDC00
                    i += 1
                nxt = trans[rowmap[state] + cmap[c]]
                if nxt == -1:
                    break
                state = nxt
                attr = attribute[state]
                if attr & 1:
                    action, marked = state, i
                    if attr & 8:
                        break
            if action < 0 or marked == start:
                raise RuntimeError(f"StandardTokenizer DFA matched nothing at {start}")
            if self.action[action] in _TOKEN_ACTIONS:
                out.append((start, marked))
            pos = marked
        return out


def line_tokens(scanner: _StandardTokenizer, line: str) -> list[str]:
    """``lineToTokens(Analyzer, ...)``: the spans and each non-space character between them."""
    tokens, last = [], 0
    for start, end in [*scanner.spans(line), (len(line), len(line))]:
        tokens.extend(ch for ch in line[last:start] if not _java_is_whitespace(ch))
        if end > start:
            tokens.append(line[start:end])
        last = end
    return tokens


# --------------------------------------------------------------------------- token mapping order


class _JavaHashOrder:
    """Iteration order of a ``ConcurrentHashMap`` filled by one thread (JDK 8-25).

    Bins hold keys in their list order; a bin becomes a tree bin at 9 keys once the table has
    64 slots (smaller tables double instead, ``tryPresize``), a tree bin puts new keys first,
    a resize splits each bin keeping the last run of keys and reversing the ones before it.
    """

    def __init__(self) -> None:
        self.table: list[list | None] = []
        self.tree: list[bool] = []
        self.size_ctl = 0
        self.count = 0

    @staticmethod
    def spread(key: str) -> int:
        h = _java_hash(key) & 0xFFFFFFFF
        return (h ^ (h >> 16)) & 0x7FFFFFFF

    def put(self, key: str) -> None:
        """Insert a new key (never one already present)."""
        if not self.table:
            self.table, self.tree, self.size_ctl = [None] * 16, [False] * 16, 12
        h = self.spread(key)
        n = len(self.table)
        i = (n - 1) & h
        bin_ = self.table[i]
        bin_count = 0
        if bin_ is None:
            self.table[i] = [(h, key)]
        elif self.tree[i]:
            bin_.insert(0, (h, key))
            bin_count = 2
        else:
            bin_count = len(bin_)
            bin_.append((h, key))
            if bin_count >= 8:
                self._treeify(i)
        self.count += 1
        while self.count >= self.size_ctl and len(self.table) < 1 << 30:
            self._transfer()

    def _treeify(self, i: int) -> None:
        n = len(self.table)
        if n < 64:
            size = n << 1
            c = 1 << (size + (size >> 1) + 1 - 1).bit_length()
            while not (c <= self.size_ctl or len(self.table) >= 1 << 30):
                self._transfer()
        else:
            self.tree[i] = True

    def _transfer(self) -> None:
        n = len(self.table)
        table, tree = [None] * (2 * n), [False] * (2 * n)
        for i, bin_ in enumerate(self.table):
            if not bin_:
                continue
            if self.tree[i]:
                lo = [e for e in bin_ if not e[0] & n]
                hi = [e for e in bin_ if e[0] & n]
                table[i], table[i + n] = lo or None, hi or None
                tree[i], tree[i + n] = len(lo) > 6, len(hi) > 6
                continue
            run_bit, last_run = bin_[0][0] & n, 0
            for j in range(1, len(bin_)):
                b = bin_[j][0] & n
                if b != run_bit:
                    run_bit, last_run = b, j
            lo = bin_[last_run:] if run_bit == 0 else []
            hi = bin_[last_run:] if run_bit != 0 else []
            for e in bin_[:last_run]:
                (hi if e[0] & n else lo).insert(0, e)
            table[i], table[i + n] = lo or None, hi or None
        self.table, self.tree = table, tree
        self.size_ctl = (n << 1) - (n >> 1)

    def keys(self) -> Iterator[str]:
        for bin_ in self.table:
            for _, key in bin_ or ():
                yield key


# --------------------------------------------------------------------------- the three modes


def read_punctuation(tree: str | Path) -> dict[str, str]:
    """``loadPunctuationMapping``: each ``from<TAB>to`` line maps from and to onto to."""
    mapping: dict[str, str] = {}
    for line in read_java_lines(Path(tree) / PUNCTUATION_FILE):
        src, _, dst = line.partition("\t")
        mapping[src] = dst
        mapping[dst] = dst
    return mapping


def read_mapping(path: str | Path) -> dict[str, int]:
    """``loadTokenMapping``: token -> id from ``id<TAB>token`` lines."""
    token2id: dict[str, int] = {}
    for line in read_java_lines(path):
        sid, _, token = line.partition("\t")
        token2id[token] = int(sid)
    return token2id


def _side_file(target: Path, prefix: str) -> Path:
    return target.with_name(prefix + target.name)


def _writer(path: Path):
    return open(path, "w", encoding="utf-8", newline="\n")


def tokenize(tree: str | Path, mode: str, src: str | Path, dst: str | Path, mapping: str | Path):
    """Run the tokenizer as ``java Tokenizer -m MODE -c N -i SRC -o DST -t MAPPING`` would."""
    if mode not in MODES:
        raise ValueError(f"tokenizer mode must be one of {MODES}, not '{mode}'")
    punct = read_punctuation(tree)
    scanner = _StandardTokenizer()
    dst, mapping = Path(dst), Path(mapping)
    lines = read_java_lines(src)
    if mode == "train":
        _train(lines, dst, mapping, punct, scanner)
    elif mode == "test":
        _test(lines, dst, read_mapping(mapping), punct, scanner)
    else:
        _translate(lines, dst, read_mapping(mapping), scanner)


def _train(lines, dst: Path, mapping: Path, punct, scanner) -> None:
    token2id: dict[str, int] = {}
    order = _JavaHashOrder()
    with (
        _writer(dst) as out,
        _writer(_side_file(dst, "case_")) as case_out,
        _writer(_side_file(dst, "raw_")) as raw_out,
    ):
        dst.with_name("language.txt").write_text(LANGUAGE, encoding="utf-8")
        for line in lines:
            ids, cases, raws = [], [], []
            for token in line_tokens(scanner, line):
                raws.append(punct.get(token, token))
                lower = _java_lower(token)
                if lower in punct:
                    ids.append(punct[lower])
                    cases.append("3")
                    continue
                tid = token2id.get(lower)
                if tid is None:
                    tid = token2id[lower] = len(token2id)
                    order.put(lower)
                ids.append(str(tid))
                first = 1 if _java_is_upper(token[0]) else 0
                every = 1 if all(_java_is_upper(ch) for ch in token) else 0
                cases.append(str((_java_is_numeric(token) << 2) ^ (every << 1) ^ first))
            out.write(_from_utf16(" ".join(ids)) + "\n")
            case_out.write("".join(cases) + "\n")
            raw_out.write(_from_utf16(" ".join(raws)) + "\n")
    with _writer(mapping) as f:
        for key in order.keys():
            f.write(f"{token2id[key]}\t{_from_utf16(key)}\n")


def _test(lines, dst: Path, token2id: dict[str, int], punct, scanner) -> None:
    with _writer(dst) as out, _writer(_side_file(dst, "raw_")) as raw_out:
        for full in lines:
            prefix, line = _split_prefix(full)
            ids, raws = [], []
            for token in line_tokens(scanner, line):
                raws.append(punct.get(token, token))
                lower = _java_lower(token)
                if lower in punct:
                    ids.append(punct[lower])
                else:
                    tid = token2id.get(lower)
                    ids.append(UNKNOWN_TOKEN if tid is None else str(tid))
            out.write(_from_utf16(prefix + " ".join(ids)) + "\n")
            raw_out.write(_from_utf16(" ".join(raws)) + "\n")


def _translate(lines, dst: Path, token2id: dict[str, int], scanner) -> None:
    size = max(token2id.values(), default=-1) + 1
    id2token = {i: t for t, i in token2id.items()}
    with _writer(dst) as out:
        for full in lines:
            prefix, line = _split_prefix(full)
            words = []
            for token in line_tokens(scanner, line):
                if token.isascii() and token.isdigit():
                    value = int(token)
                    if value >= 1 << 31:
                        raise ValueError(f"token id beyond Java's int range: {token}")
                    if value < size:
                        token = id2token.get(value, "null")
                words.append(token)
            out.write(_from_utf16(prefix + " ".join(words)) + "\n")


def main(argv: list[str] | None = None) -> int:
    """Command line mirroring the Java one: ``-m MODE -i IN -o OUT -t MAPPING --tree DIR``."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-m", dest="mode", choices=MODES, required=True)
    ap.add_argument("-i", dest="src", required=True)
    ap.add_argument("-o", dest="dst", required=True)
    ap.add_argument("-t", dest="mapping", required=True)
    ap.add_argument("--tree", required=True, help="the staged AutoPhrase tree")
    a = ap.parse_args(argv)
    tokenize(a.tree, a.mode, a.src, a.dst, a.mapping)
    return 0


if __name__ == "__main__":
    sys.exit(main())
