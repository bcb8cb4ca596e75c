"""What a DBR sample file holds: ``python -m nerbench dbr-profile FILE...``.

Per file: samples; entities, positives and negatives per sample; the unigram share (entities of
one word); words per sample; the O/B/I shares of the sample words; pool candidates (positive,
negative) per sentence; mined phrases per sentence where the file says.

Two formats are read:

* ours (``nerbench dbr``): each sample's ``tokens``/``tags``, its ``entities`` ([name, category] in
  order), ``candidates`` ([positives, negatives] in its sentence's pool) and ``phrases`` (mined
  phrases found in its sentence); positives are the entities tagged ``B-``. A file of an older
  version without ``entities`` gets the figures its tags give (positives, words, O/B/I) and
  ``None`` for the rest.
* VANER's released ``<cohort>/{train,dev}_df_mix2.jsonl`` (github.com/Eulring/VANER at
  239b273439e38228f45075bb27f577bcbff3d3b4): per sentence ``umls_kg`` = [positive candidates,
  negative candidates], each [name, semantic type], and ``auto_ent`` (AutoPhrase fragments). Its
  dense samples are drawn here as its training code draws them (``utils_vaner.py``,
  ``parse_mt``, lines 20-41): at most 10 of ``umls_kg[0]`` and 5 of ``umls_kg[1]``
  (``random.sample``, lines 30-31), shuffled (line 32), words split on ``' '`` (lines 36-37),
  an entity tagged B/I when ``type_match(type, dtype)`` (lines 9-12, 38), the generator seeded
  with 10 (line 4). ``dtype`` is the cohort's type in ``unllama_train_vaner.py`` lines 43-66.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
from collections import Counter
from pathlib import Path
from typing import Any

from nerbench.dbr.kb import tokenize_name
from nerbench.io import InputError, read_jsonl, write_json

# VANER's cohort -> the entity type its training script asks for (unllama_train_vaner.py
# lines 43-66 at Eulring/VANER 239b273).
VANER_TYPES: dict[str, str] = {
    "BC2GM": "Gene",
    "BC4CHEMD": "Chemical",
    "BC5CDR-chem": "Chemical",
    "BC5CDR-disease": "Disease",
    "JNLPBA": "Gene",
    "linnaeus": "Species",
    "s800": "Species",
    "ncbi": "Disease",
}
VANER_SEED = 10  # utils_vaner.py line 4: random.seed(10)
VANER_MAX_POS, VANER_MAX_NEG = 10, 5  # utils_vaner.py lines 30-31
FIGURES = (
    "samples",
    "entities_per_sample",
    "pos_per_sample",
    "neg_per_sample",
    "unigram_share",
    "words_per_sample",
    "O_share",
    "B_share",
    "I_share",
    "pos_candidates_per_sentence",
    "neg_candidates_per_sentence",
    "phrases_per_sentence",
)


def type_match(t1: str, t2: str) -> bool:
    """VANER's test whether an entity's type is the target type (utils_vaner.py lines 9-12)."""
    return t1.lower() in t2.lower() or t2.lower() in t1.lower()


def vaner_sample(record: dict, dtype: str, rng: random.Random) -> list[tuple[list[str], bool]]:
    """One dense sample as VANER's ``parse_mt`` draws it: (words, positive) per entity."""
    positives, negatives = record["umls_kg"][0], record["umls_kg"][1]
    ents = rng.sample(positives, min(VANER_MAX_POS, len(positives))) + rng.sample(
        negatives, min(VANER_MAX_NEG, len(negatives))
    )
    rng.shuffle(ents)
    return [(str(name).split(" "), type_match(str(etype), dtype)) for name, etype in ents]


def _mean(values: list[float]) -> float | None:
    return round(statistics.fmean(values), 4) if values else None


def _share(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def _record_format(rec: Any, where: str) -> str:
    if not isinstance(rec, dict):
        raise InputError("a DBR sample must be a JSON object", where)
    if "umls_kg" in rec:
        kg = rec["umls_kg"]
        if not (isinstance(kg, list) and len(kg) >= 2 and all(isinstance(x, list) for x in kg)):
            raise InputError("'umls_kg' must be [positives, negatives, ...] lists", where)
        return "vaner"
    if isinstance(rec.get("tokens"), list) and isinstance(rec.get("tags"), list):
        if len(rec["tokens"]) != len(rec["tags"]):
            raise InputError("'tags' must be one per token", where)
        return "nerbench" if "entities" in rec else "tags-only"
    raise InputError("neither a VANER record ('umls_kg') nor a sample ('tokens', 'tags')", where)


def profile_records(
    records: list[dict], dtype: str | None = None, seed: int = VANER_SEED, where: str = "records"
) -> dict:
    """The figures of :data:`FIGURES` (plus ``format``) for one file's records.

    ``dtype`` (VANER records only) is the target type; ``seed`` seeds VANER's sampling."""
    fmt = None
    for i, rec in enumerate(records, 1):
        f = _record_format(rec, f"{where}:{i}")
        if fmt is not None and f != fmt:
            raise InputError(f"record is in format '{f}', earlier ones in '{fmt}'", where, i)
        fmt = f
    if fmt == "vaner" and not dtype:
        raise InputError("VANER records need the target type (dbr-profile --type)", where)
    rng = random.Random(seed)
    n_pos: list[int] = []
    n_neg: list[int] = []
    words: list[int] = []
    cand_pos: list[int] = []
    cand_neg: list[int] = []
    phrases: list[int] = []
    unigrams = entities = 0
    tags: Counter[str] = Counter()
    for rec in records:
        if fmt == "vaner":
            sample = vaner_sample(rec, str(dtype), rng)
            n_pos.append(sum(pos for _, pos in sample))
            n_neg.append(len(sample) - n_pos[-1])
            entities += len(sample)
            unigrams += sum(len(w) == 1 for w, _ in sample)
            words.append(sum(len(w) for w, _ in sample))
            for w, pos in sample:
                tags.update(["B"] + ["I"] * (len(w) - 1) if pos else ["O"] * len(w))
            cand_pos.append(len(rec["umls_kg"][0]))
            cand_neg.append(len(rec["umls_kg"][1]))
            if isinstance(rec.get("auto_ent"), list):
                phrases.append(len(set(rec["auto_ent"])))
            continue
        rec_tags = [str(t)[:1] for t in rec["tags"]]
        tags.update(rec_tags)
        words.append(len(rec_tags))
        n_pos.append(rec_tags.count("B"))
        if fmt == "nerbench":
            names = [str(e[0]) for e in rec["entities"]]
            n_neg.append(len(names) - n_pos[-1])
            entities += len(names)
            unigrams += sum(len(tokenize_name(n)) == 1 for n in names)
            if isinstance(rec.get("candidates"), list) and len(rec["candidates"]) == 2:
                cand_pos.append(int(rec["candidates"][0]))
                cand_neg.append(int(rec["candidates"][1]))
            if isinstance(rec.get("phrases"), int):
                phrases.append(rec["phrases"])
    n_words = sum(tags.values())
    out: dict[str, Any] = {"format": fmt or "empty", "samples": len(records)}
    out["entities_per_sample"] = (
        _mean([p + n for p, n in zip(n_pos, n_neg, strict=True)]) if n_neg else None
    )
    out["pos_per_sample"] = _mean(n_pos)
    out["neg_per_sample"] = _mean(n_neg)
    out["unigram_share"] = _share(unigrams, entities)
    out["words_per_sample"] = _mean(words)
    for t in "OBI":
        out[f"{t}_share"] = _share(tags[t], n_words)
    out["pos_candidates_per_sentence"] = _mean(cand_pos)
    out["neg_candidates_per_sentence"] = _mean(cand_neg)
    out["phrases_per_sentence"] = _mean(phrases)
    return out


def vaner_type(path: Path) -> str | None:
    """The target type of a VANER file, from its cohort folder or its name's first part."""
    for name in (path.parent.name, path.name.split(".")[0], path.name.split("_")[0]):
        if name in VANER_TYPES:
            return VANER_TYPES[name]
    return None


def profile_file(path: str | Path, dtype: str | None = None, seed: int = VANER_SEED) -> dict:
    """:func:`profile_records` of one JSONL file (VANER's type from its path unless given)."""
    path = Path(path)
    if not path.is_file():
        raise InputError("DBR sample file not found", path)
    records = read_jsonl(path)
    dtype = dtype or vaner_type(path)
    return {"file": str(path), **profile_records(records, dtype, seed, str(path))}


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    return f"{value:g}" if isinstance(value, float) else str(value)


def markdown(profiles: list[dict]) -> str:
    """One row per file, one column per figure."""
    cols = ["file", "format", *FIGURES]
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(_cell(p.get(c)) for c in cols) + " |" for p in profiles]
    return "\n".join(lines) + "\n"


def main_dbr_profile(argv: list[str]) -> int:
    """``nerbench dbr-profile FILE... [--type T] [--seed N] [--json OUT]``: a markdown table."""
    ap = argparse.ArgumentParser(prog="nerbench dbr-profile", description=__doc__.split("\n")[0])
    ap.add_argument("files", nargs="+", help="DBR sample JSONL: ours or VANER's *_df_mix2.jsonl")
    ap.add_argument(
        "--type",
        help="target type of VANER files (default: from the cohort folder or file name, "
        f"{sorted(VANER_TYPES)})",
    )
    ap.add_argument("--seed", type=int, default=VANER_SEED, help="seed of VANER's sampling")
    ap.add_argument("--json", help="also write the profiles as a JSON list here")
    args = ap.parse_args(argv)
    profiles = [profile_file(f, args.type, args.seed) for f in args.files]
    if args.json:
        write_json(args.json, profiles)
    sys.stdout.write(markdown(profiles))
    return 0
