"""Dense Bioentities Recognition samples (VANER section 3.4, step 4) and Figs 3-4.

For each training sentence: the mined phrases occurring in it -> per phrase at most ``top_k`` KB
hits whose similarity reaches ``min_score`` (the sentence's pool) -> positives (hit category = the
sample's target category) and negatives (every other KB category, UMLS semantic types outside the
four NER categories included where the KB has them); at most ``max_pos`` positives and ``max_neg``
negatives are sampled, shuffled and concatenated into one dense sentence tagged ``B-/I-<type>`` for
positives and ``O`` for negatives. As VANER released it (``min_pos`` 5, the default), every
sentence gets one sample, its positives filled up to ``min_pos`` with random target-category KB
names when retrieval finds fewer.

Variants: ``dbr`` (retrieved entities) and ``random`` (per sample the same numbers of
positives and negatives, drawn uniformly from the KB's target-category and other-category
entries). Multi-type datasets get one target type per sample, drawn with the seeded RNG.
A negative whose normalized name is also a target-category KB name is never used, so one
surface form is never taught as both entity and non-entity.

Output records are canonical sentences plus ``target_type`` (the instruction's entity type), the
entities in sentence order, the size of the sentence's pool and its number of mined phrases
(``dbr-profile`` reads them): ``{"doc_id": "<variant>:<doc>", "sent_id", "tokens", "tags",
"target_type", "entities": [[name, category], ...], "candidates": [positives, negatives],
"phrases": n}``.
"""

from __future__ import annotations

import argparse
import copy
import random
import statistics
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path

from nerbench import defaults
from nerbench.dbr import retrieval as retrieval_mod
from nerbench.dbr.kb import KBEntry, bio_spans, dedup_key, read_kb, tokenize_name
from nerbench.dbr.phrases import PhraseMatcher
from nerbench.dbr.profile import profile_records
from nerbench.dbr.variants import sampled_variants
from nerbench.io import (
    InputError,
    atomic_path,
    json_option,
    read_json,
    read_jsonl,
    write_json,
    write_jsonl,
    write_text,
)

VARIANTS = sampled_variants()
OPEN_VOCABULARIES = defaults.OPEN_VOCABULARIES
KB_DEFAULTS = defaults.KB
SAMPLING_DEFAULTS = defaults.SAMPLING
SECTIONS = defaults.DBR_SECTIONS
# Okabe-Ito colour-blind-safe palette.
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00")


# --------------------------------------------------------------------------- settings


def resolve_settings(study_dbr: dict | None) -> dict:
    """The study's ``dbr`` mapping merged over the defaults; unknown keys are errors."""
    given = copy.deepcopy(study_dbr or {})
    if not isinstance(given, dict):
        raise InputError("study key 'dbr' must be a mapping")
    known = set(SECTIONS) | set(SAMPLING_DEFAULTS)
    unknown = sorted(set(given) - known)
    if unknown:
        raise InputError(f"unknown key(s) {unknown} under 'dbr'; known: {sorted(known)}")
    out = copy.deepcopy(SAMPLING_DEFAULTS)
    out.update({k: v for k, v in given.items() if k in SAMPLING_DEFAULTS})
    for name, section_defaults in SECTIONS.items():
        section = given.get(name) or {}
        if not isinstance(section, dict):
            raise InputError(f"'dbr.{name}' must be a mapping")
        bad = sorted(set(section) - set(section_defaults))
        if bad:
            known_keys = sorted(section_defaults)
            raise InputError(f"unknown key(s) {bad} under 'dbr.{name}'; known: {known_keys}")
        out[name] = {**copy.deepcopy(section_defaults), **section}
    retrieval_mod.embedder_settings(out["embedder"])
    retrieval_mod.index_settings(out["index"])
    for key in ("max_pos", "max_neg", "min_pos", "top_k"):
        if not isinstance(out[key], int) or out[key] < 0:
            raise InputError(f"dbr.{key} must be a non-negative integer")
    return out


def sampling_spec(settings: dict, dataset: str, types: list[str]) -> dict:
    """The slice of settings one DBR job uses."""
    keys = (
        "top_k",
        "min_score",
        "max_pos",
        "max_neg",
        "min_pos",
        "separator",
        "seed",
        "category_of_type",
    )
    return {"dataset": dataset, "types": list(types), **{k: settings[k] for k in keys}}


# --------------------------------------------------------------------------- sampling


@dataclass
class KBPools:
    """KB rows per category, and normalized names per category (for negative filtering)."""

    entries: list[KBEntry]
    keys: list[str] = field(default_factory=list)
    rows_by_category: dict[str, list[int]] = field(default_factory=dict)
    keys_by_category: dict[str, set[str]] = field(default_factory=dict)

    @classmethod
    def from_entries(cls, entries: list[KBEntry]) -> KBPools:
        pools = cls(entries, [dedup_key(e.name) for e in entries])
        for i, (e, key) in enumerate(zip(entries, pools.keys, strict=True)):
            pools.rows_by_category.setdefault(e.category, []).append(i)
            pools.keys_by_category.setdefault(e.category, set()).add(key)
        return pools

    def is_negative_for(self, row: int, category: str) -> bool:
        """Another category, and not a name that the KB also lists under ``category``."""
        target_keys = self.keys_by_category.get(category, set())
        return self.entries[row].category != category and self.keys[row] not in target_keys


@dataclass
class Sample:
    """One planned dense sentence: KB rows of its positives and negatives, and the size of
    its sentence's pool (phrases found, usable positive and negative candidates)."""

    source: dict
    target_type: str
    pos: list[int]
    neg: list[int]
    phrases: int = 0
    pool_pos: int = 0
    pool_neg: int = 0


def phrase_hits(hits: list[dict], top_k: int, min_score: float) -> list[dict]:
    """A phrase's kept hits: at most ``top_k`` of the best, each scoring ``min_score`` or more."""
    best = sorted(hits, key=lambda h: -float(h["score"]))
    return [h for h in best if float(h["score"]) >= min_score][:top_k]


def candidates(
    phrases: Iterable[str], hits: dict[str, list[dict]], top_k: int, min_score: float
) -> list[int]:
    """KB rows kept for one sentence's phrases (first-seen order, no repeats): its pool."""
    rows: dict[int, None] = {}
    for phrase in phrases:
        for hit in phrase_hits(hits.get(phrase, []), top_k, min_score):
            rows.setdefault(int(hit["row"]), None)
    return list(rows)


def plan_dbr(
    sentences: list[dict],
    hits: dict[str, list[dict]],
    pools: KBPools,
    spec: dict,
    rng: random.Random,
) -> tuple[list[Sample], dict]:
    """Choose positives and negatives per sentence from its pool of retrieved KB rows.

    The pool keeps per phrase at most ``top_k`` hits scoring ``min_score`` or more; the caps
    ``max_pos`` / ``max_neg`` then sample from it. With ``min_pos`` > 0 (VANER as released)
    every sentence gets a sample: retrieved positives are filled up to ``min(min_pos, max_pos)``
    with random target-category KB rows (counted in ``skipped["filled_pos"]``); with 0,
    sentences without usable candidates are skipped.
    """
    matcher = PhraseMatcher(hits)
    cmap = spec.get("category_of_type") or {}
    fill_to = min(int(spec.get("min_pos", 0)), int(spec["max_pos"]))
    top_k = int(spec.get("top_k", SAMPLING_DEFAULTS["top_k"]))
    min_score = float(spec.get("min_score", SAMPLING_DEFAULTS["min_score"]))
    samples, skipped = [], {"no_candidates": 0, "no_usable_candidates": 0}
    if fill_to:
        skipped = {**skipped, "filled_samples": 0, "filled_pos": 0}
    for rec in sentences:
        target = rng.choice(spec["types"])
        category = cmap.get(target, target)
        phrases = list(dict.fromkeys(p for p, _, _ in matcher.find(rec["tokens"])))
        rows = candidates(phrases, hits, top_k, min_score)
        if not rows and not fill_to:
            skipped["no_candidates"] += 1
            continue
        pos = [r for r in rows if pools.entries[r].category == category]
        neg = [r for r in rows if pools.is_negative_for(r, category)]
        pool = {"phrases": len(phrases), "pool_pos": len(pos), "pool_neg": len(neg)}
        pos = rng.sample(pos, min(len(pos), int(spec["max_pos"])))
        neg = rng.sample(neg, min(len(neg), int(spec["max_neg"])))
        if len(pos) < fill_to:
            extra = fill_positives(pools, category, set(pos), fill_to - len(pos), rng)
            skipped["filled_samples"] += 1
            skipped["filled_pos"] += len(extra)
            pos += extra
        if not pos and not neg:
            skipped["no_usable_candidates"] += 1
            continue
        samples.append(Sample(rec, target, pos, neg, **pool))
    return samples, skipped


def fill_positives(
    pools: KBPools, category: str, taken: set[int], k: int, rng: random.Random
) -> list[int]:
    """Up to ``k`` distinct random KB rows of ``category`` not in ``taken`` (seeded)."""
    pool = pools.rows_by_category.get(category, [])
    drawn = rng.sample(pool, min(len(pool), k + len(taken)))
    return [r for r in drawn if r not in taken][:k]


def randomize(
    samples: list[Sample], pools: KBPools, spec: dict, rng: random.Random
) -> list[Sample]:
    """The ``random`` variant: same target type and counts, rows drawn uniformly from the KB."""
    cmap = spec.get("category_of_type") or {}
    negatives: dict[str, list[int]] = {}
    out = []
    for s in samples:
        category = cmap.get(s.target_type, s.target_type)
        if category not in negatives:
            negatives[category] = [
                r for r in range(len(pools.entries)) if pools.is_negative_for(r, category)
            ]
        positives = pools.rows_by_category.get(category, [])
        if len(s.pos) > len(positives) or len(s.neg) > len(negatives[category]):
            raise InputError(f"KB has too few '{category}' / other entries for random DBR")
        pos = rng.sample(positives, len(s.pos))
        neg = rng.sample(negatives[category], len(s.neg))
        out.append(replace(s, pos=pos, neg=neg))
    return out


def assemble(
    sample: Sample, pools: KBPools, variant: str, rng: random.Random, separator: str | None
) -> dict:
    """Shuffle a sample's entities and concatenate them into one tagged sentence."""
    items = [(r, True) for r in sample.pos] + [(r, False) for r in sample.neg]
    rng.shuffle(items)
    tokens: list[str] = []
    tags: list[str] = []
    entities: list[list[str]] = []
    for k, (row, positive) in enumerate(items):
        if separator and k > 0:
            tokens.append(separator)
            tags.append("O")
        entry = pools.entries[row]
        entities.append([entry.name, entry.category])
        words = tokenize_name(entry.name)
        tokens.extend(words)
        if positive:
            etype = sample.target_type
            tags.extend([f"B-{etype}"] + [f"I-{etype}"] * (len(words) - 1))
        else:
            tags.extend(["O"] * len(words))
    src = sample.source
    return {
        "doc_id": f"{variant}:{src.get('doc_id', '')}",
        "sent_id": str(src.get("sent_id", "")),
        "tokens": tokens,
        "tags": tags,
        "target_type": sample.target_type,
        "entities": entities,
        "candidates": [sample.pool_pos, sample.pool_neg],
        "phrases": sample.phrases,
    }


def build_dbr(
    sentences: list[dict],
    hits: dict[str, list[dict]],
    kb: list[KBEntry],
    spec: dict,
    variant: str,
) -> tuple[list[dict], list[Sample], dict]:
    """Records, planned samples and skip counts for one dataset and variant (seeded)."""
    if variant not in VARIANTS:
        raise InputError(f"unknown DBR variant '{variant}'; known: {list(VARIANTS)}")
    if not spec.get("types"):
        raise InputError(f"dataset '{spec.get('dataset')}' has no entity types for DBR")
    pools = KBPools.from_entries(kb)
    seed = f"{spec['seed']}:{spec.get('dataset', '')}"
    samples, skipped = plan_dbr(sentences, hits, pools, spec, random.Random(seed))
    if variant == "random":
        samples = randomize(samples, pools, spec, random.Random(f"{seed}:random"))
    rng = random.Random(f"{seed}:{variant}:order")
    records = [assemble(s, pools, variant, rng, spec.get("separator")) for s in samples]
    return records, samples, skipped


# --------------------------------------------------------------------------- stats and figures


def _mean(values: Iterable[float]) -> float:
    values = list(values)
    return round(statistics.fmean(values), 4) if values else 0.0


def dbr_stats(
    sentences: list[dict], records: list[dict], samples: list[Sample], skipped: dict, spec: dict
) -> dict:
    """Figure 3/4 numbers (entities and tokens per input sentence and per DBR sample), the pool
    per sampled sentence and the samples' profile (:func:`nerbench.dbr.profile.profile_records`)."""
    used = [s.source for s in samples]
    return {
        "dataset": spec.get("dataset"),
        "types": spec["types"],
        "input_sentences": len(sentences),
        "samples": len(records),
        "skipped": skipped,
        "dataset_entities_per_sentence": _mean(len(bio_spans(r["tags"])) for r in sentences),
        "dataset_entities_per_used_sentence": _mean(len(bio_spans(r["tags"])) for r in used),
        "pos_per_sample": _mean(len(s.pos) for s in samples),
        "neg_per_sample": _mean(len(s.neg) for s in samples),
        "entities_per_sample": _mean(len(s.pos) + len(s.neg) for s in samples),
        "tokens_per_sample": _mean(len(r["tokens"]) for r in records),
        "input_tokens_per_sentence": _mean(len(r["tokens"]) for r in sentences),
        "input_tokens_per_used_sentence": _mean(len(r["tokens"]) for r in used),
        "settings": {
            k: spec.get(k) for k in ("top_k", "min_score", "max_pos", "max_neg", "min_pos", "seed")
        },
        # the pool the caps sample from: per phrase at most top_k hits scoring min_score or more
        "pool": {
            "top_k": spec.get("top_k"),
            "min_score": spec.get("min_score"),
            "phrases_per_sentence": _mean(s.phrases for s in samples),
            "candidates_per_sentence": _mean(s.pool_pos + s.pool_neg for s in samples),
            "pos_candidates_per_sentence": _mean(s.pool_pos for s in samples),
            "neg_candidates_per_sentence": _mean(s.pool_neg for s in samples),
        },
        "profile": profile_records(records),
    }


def _bars(ax, labels: list[str], series: dict[str, list[float]], ylabel: str) -> None:
    n = len(series)
    width = 0.8 / max(n, 1)
    hatches = ("", "//", "..", "xx")
    for k, (name, values) in enumerate(series.items()):
        xs = [i + (k - (n - 1) / 2) * width for i in range(len(labels))]
        style = {"color": PALETTE[k % len(PALETTE)], "hatch": hatches[k % len(hatches)]}
        ax.bar(xs, values, width, label=name, edgecolor="black", linewidth=0.5, **style)
    ax.set_xticks(range(len(labels)))
    ax.set_xticklabels(labels, rotation=30, ha="right")
    ax.set_ylabel(ylabel)
    ax.legend(frameon=False, loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=n, fontsize=8)
    ax.spines[["top", "right"]].set_visible(False)


def _save_figure(prefix: str, labels: list[str], series: dict[str, list[float]], ylabel: str):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(max(5.5, 1.1 * len(labels) + 2), 3.4))
    _bars(ax, labels, series, ylabel)
    fig.tight_layout()
    for ext, meta in (("png", {"Software": None}), ("pdf", {"CreationDate": None})):
        with atomic_path(f"{prefix}.{ext}", suffix=f".{ext}") as tmp:
            fig.savefig(tmp, format=ext, dpi=200, metadata=meta, bbox_inches="tight")
    plt.close(fig)
    rows = ["dataset\t" + "\t".join(series)]
    for i, label in enumerate(labels):
        rows.append(label + "".join(f"\t{values[i]:g}" for values in series.values()))
    write_text(f"{prefix}.tsv", "\n".join(rows) + "\n")


def write_figures(stats: list[dict], fig3: str, fig4: str) -> None:
    """VANER Fig 3 (entities per sample) and Fig 4 (tokens per sample) as PNG, PDF and TSV."""
    labels = [s["dataset"] for s in stats]
    _save_figure(
        fig3,
        labels,
        {
            "dataset (gold, per sentence)": [s["dataset_entities_per_sentence"] for s in stats],
            "DBR positives": [s["pos_per_sample"] for s in stats],
            "DBR negatives": [s["neg_per_sample"] for s in stats],
        },
        "mean entities per sample",
    )
    _save_figure(
        fig4,
        labels,
        {
            "DBR sample": [s["tokens_per_sample"] for s in stats],
            "input sentence": [s["input_tokens_per_used_sentence"] for s in stats],
        },
        "mean tokens per sample",
    )


# --------------------------------------------------------------------------- commands


def kb_record(kb_path: str | Path, kb_stats: dict) -> dict:
    """What a DBR sample set records of its KB: name, counts per category and source, UMLS."""
    from nerbench.dbr.kb import kb_composition

    umls = kb_stats.get("umls") or {}
    return {
        "name": Path(kb_path).stem,
        "total": kb_stats.get("total"),
        "by_category": kb_stats.get("by_category"),
        "by_source": kb_stats.get("by_source"),
        "umls": bool(umls.get("used")),
        "umls_mode": umls.get("mode"),
        "umls_override": umls.get("override"),
        "composition": kb_composition(kb_stats),
    }


def read_hits(path: str | Path) -> dict[str, list[dict]]:
    """Retrieval JSONL -> phrase -> hits."""
    out = {}
    for i, rec in enumerate(read_jsonl(path), 1):
        if "phrase" not in rec or "hits" not in rec:
            raise InputError("retrieval record needs 'phrase' and 'hits'", path, i)
        out[rec["phrase"]] = rec["hits"]
    return out


def main_dbr(argv: list[str]) -> int:
    """``nerbench dbr --bio B --retrieval R --kb KB --variant V --spec J --output O --stats S``."""
    ap = argparse.ArgumentParser(prog="nerbench dbr", description=main_dbr.__doc__)
    ap.add_argument("--bio", required=True, help="canonical train split (JSONL)")
    ap.add_argument("--retrieval", required=True, help="top-K hits per phrase (JSONL)")
    ap.add_argument("--kb", required=True)
    ap.add_argument("--kb-stats", help="the KB's stats JSON: its composition joins the stats")
    ap.add_argument("--variant", required=True, choices=VARIANTS)
    ap.add_argument("--spec", required=True, help="JSON: dataset, types and dbr sampling keys")
    ap.add_argument("--output", required=True)
    ap.add_argument("--stats", required=True)
    args = ap.parse_args(argv)
    spec = json_option(args.spec, "--spec")
    sentences = read_jsonl(args.bio)
    kb = read_kb(args.kb)
    hits = read_hits(args.retrieval)
    for phrase_hits in hits.values():
        if any(h["row"] >= len(kb) for h in phrase_hits):
            raise InputError("hits point past the end of the KB: rerun retrieval", args.retrieval)
    records, samples, skipped = build_dbr(sentences, hits, kb, spec, args.variant)
    stats = dbr_stats(sentences, records, samples, skipped, spec)
    stats["variant"] = args.variant
    if args.kb_stats:
        stats["kb"] = kb_record(args.kb, read_json(args.kb_stats))
    write_jsonl(args.output, records)
    write_json(args.stats, stats)
    print(
        f"{args.variant}: {len(records)} samples from {len(sentences)} sentences; "
        f"pos/sample {stats['pos_per_sample']}, neg/sample {stats['neg_per_sample']}",
        file=sys.stderr,
    )
    return 0


def main_dbr_stats(argv: list[str]) -> int:
    """``nerbench dbr-stats --stats S.json ... --fig3 PREFIX --fig4 PREFIX``."""
    ap = argparse.ArgumentParser(prog="nerbench dbr-stats", description=main_dbr_stats.__doc__)
    ap.add_argument("--stats", nargs="+", required=True, help="<variant>.stats.json per dataset")
    ap.add_argument("--fig3", required=True, help="output prefix (.png, .pdf, .tsv)")
    ap.add_argument("--fig4", required=True, help="output prefix (.png, .pdf, .tsv)")
    args = ap.parse_args(argv)
    stats = [read_json(p) for p in args.stats]
    write_figures(stats, args.fig3, args.fig4)
    return 0
