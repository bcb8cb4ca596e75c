"""Dense retrieval of KB entities for mined phrases (VANER section 3.4, step 3).

KB names and query phrases are encoded by one embedder (SapBERT with [CLS] pooling and max
length 25 in the paper; the offline all-MiniLM-L6-v2 with mean pooling stands in), L2-normalized,
and searched by inner product (= cosine) with FAISS: exact ``IndexFlatIP`` for small KBs, IVF or
HNSW for large ones, on GPU when FAISS has one (HNSW stays on CPU).

Commands: ``embed`` (KB names -> ``.npy`` + meta, reused when KB and embedder are unchanged),
``index`` (``.npy`` -> FAISS index file) and ``retrieve`` (phrases -> top-K hits JSONL).
Heavy imports (torch, transformers, faiss) happen inside functions.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib
import math
import shutil
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from nerbench import defaults
from nerbench.dbr.kb import read_kb
from nerbench.dbr.phrases import read_phrases
from nerbench.io import InputError, atomic_path, json_option, read_json, write_json, write_jsonl
from nerbench.methods.staging import hub_revision, staged_dir

EMBEDDER_DEFAULTS = defaults.EMBEDDER
INDEX_DEFAULTS = defaults.INDEX
# Embedder keys that change the vectors (the rest only change speed).
_VECTOR_KEYS = ("source", "revision", "pooling", "max_length")

Log = Callable[[str], None]


def _log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def _settings(given: dict, defaults: dict, key: str) -> dict:
    unknown = sorted(set(given) - set(defaults))
    if unknown:
        raise InputError(f"unknown key(s) {unknown} in {key}; known: {sorted(defaults)}")
    return {**defaults, **given}


def embedder_settings(given: dict) -> dict:
    """``dbr.embedder`` with defaults; pooling must be ``cls`` or ``mean``."""
    s = _settings(given, EMBEDDER_DEFAULTS, "dbr.embedder")
    if s["pooling"] not in ("cls", "mean"):
        raise InputError(f"dbr.embedder.pooling must be 'cls' or 'mean', not '{s['pooling']}'")
    if s["dtype"] not in ("auto", "fp32", "fp16", "bf16"):
        raise InputError(f"dbr.embedder.dtype must be auto|fp32|fp16|bf16, not '{s['dtype']}'")
    return s


def index_settings(given: dict) -> dict:
    """``dbr.index`` with defaults; type is auto | flat | ivf | hnsw."""
    s = _settings(given, INDEX_DEFAULTS, "dbr.index")
    if s["type"] not in ("auto", "flat", "ivf", "hnsw") or s["ann"] not in ("ivf", "hnsw"):
        raise InputError("dbr.index.type must be auto|flat|ivf|hnsw and dbr.index.ann ivf|hnsw")
    return s


# --------------------------------------------------------------------------- embedder


def resolve_model_source(source: str) -> str:
    """A hub id, a local directory, or ``pypkg:<module>`` (weights shipped in a package)."""
    if source.startswith("pypkg:"):
        module = source.split(":", 1)[1]
        try:
            mod = importlib.import_module(module)
        except ImportError:
            msg = f"model package '{module}' is not installed (dbr.embedder.source)"
            raise InputError(msg) from None
        path = mod.get_model_path() if hasattr(mod, "get_model_path") else mod.MODEL_DIR
        return str(path)
    return source


class Embedder:
    """Batched, L2-normalized text embeddings with [CLS] or mean pooling."""

    def __init__(self, settings: dict, device: str | None = None):
        import torch
        from transformers import AutoModel, AutoTokenizer

        self.s = embedder_settings(settings)
        if self.s["threads"]:
            torch.set_num_threads(int(self.s["threads"]))
        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        path = resolve_model_source(self.s["source"])
        kwargs = {"revision": hub_revision(self.s["revision"])} if self.s["revision"] else {}
        staged = staged_dir(self.s["source"], self.s["revision"])
        if staged is not None:  # fetched on the submit host by fetch_model; loaded offline
            path, kwargs = str(staged), {}
        self.tokenizer = AutoTokenizer.from_pretrained(path, **kwargs)
        self.model = AutoModel.from_pretrained(path, **kwargs).to(self.device).eval()
        self.dtype = self._dtype(torch)
        if self.dtype is not torch.float32:
            self.model = self.model.to(self.dtype)

    def _dtype(self, torch: Any) -> Any:
        name = self.s["dtype"]
        if name == "auto":
            name = "fp16" if self.device.startswith("cuda") else "fp32"
        if name != "fp32" and not self.device.startswith("cuda"):
            raise InputError(f"dbr.embedder.dtype '{name}' needs a GPU; use fp32 or auto on CPU")
        return {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}[name]

    def _encode_batch(self, texts: list[str]) -> np.ndarray:
        import torch

        enc = self.tokenizer(
            texts,
            padding=True,
            truncation=True,
            max_length=int(self.s["max_length"]),
            return_tensors="pt",
        ).to(self.device)
        with torch.inference_mode():
            hidden = self.model(**enc).last_hidden_state.float()
        if self.s["pooling"] == "cls":
            pooled = hidden[:, 0]
        else:
            mask = enc["attention_mask"].unsqueeze(-1).float()
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
        pooled = torch.nn.functional.normalize(pooled, dim=-1)
        return pooled.cpu().numpy().astype(np.float32)

    def encode(
        self, texts: Sequence[str], log: Log | None = None, parts: EmbeddingParts | None = None
    ) -> np.ndarray:
        """Embeddings (float32, unit norm) in input order; batches sorted by length.

        With ``parts``, every chunk of :data:`EMBED_CHUNK` texts (in length order) is saved when
        done and chunks saved by a killed earlier attempt are loaded instead of recomputed."""
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        bs = int(self.s["batch_size"])
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        t0, next_report, computed, reused = time.perf_counter(), 0.0, 0, 0
        for chunk_start in range(0, len(order), EMBED_CHUNK):
            chunk = order[chunk_start : chunk_start + EMBED_CHUNK]
            saved = parts.load(chunk_start, len(chunk)) if parts is not None else None
            if saved is not None:
                out[chunk] = saved
                reused += len(chunk)
                continue
            for start in range(0, len(chunk), bs):
                idx = chunk[start : start + bs]
                out[idx] = self._encode_batch([texts[i] for i in idx])
                computed += len(idx)
                elapsed = time.perf_counter() - t0
                if log is not None and elapsed >= next_report:
                    rate = computed / max(elapsed, 1e-9)
                    log(f"encoded {computed + reused}/{len(texts)} ({rate:.0f}/s)")
                    next_report = elapsed + 30.0
            if parts is not None:
                parts.save(chunk_start, out[chunk])
        if reused and log is not None:
            log(f"{reused} of {len(texts)} embeddings came from an interrupted earlier attempt")
        return out

    @property
    def dim(self) -> int:
        return int(self.model.config.hidden_size)


#: texts per saved chunk of an embedding job (a killed job loses at most one chunk)
EMBED_CHUNK = 8192


class EmbeddingParts:
    """Finished chunks of one embedding job, kept in ``<output>.parts/`` until the job is done.

    ``key.json`` holds what the vectors depend on (texts, model, pooling, length, chunk size); a
    folder with another key is discarded. ``chunk-<start>.npy`` holds the vectors of texts
    ``start..`` in length order, written atomically; a chunk of the wrong shape is recomputed."""

    def __init__(self, directory: str | Path, key: dict, dim: int, log: Log = _log):
        self.dir, self.dim = Path(directory), dim
        key = {**key, "chunk": EMBED_CHUNK, "dim": dim}
        key_path = self.dir / "key.json"
        if self.dir.exists():
            try:
                same = read_json(key_path) == key
            except (OSError, ValueError):
                same = False
            if not same:
                log(f"discarding {self.dir}: its chunks belong to other texts or settings")
                shutil.rmtree(self.dir)
        self.dir.mkdir(parents=True, exist_ok=True)
        if not key_path.is_file():
            write_json(key_path, key)

    def _path(self, start: int) -> Path:
        return self.dir / f"chunk-{start:09d}.npy"

    def load(self, start: int, n: int) -> np.ndarray | None:
        path = self._path(start)
        if not path.is_file():
            return None
        try:
            arr = np.load(path)
        except (OSError, ValueError):
            arr = None
        if arr is None or arr.shape != (n, self.dim) or not np.isfinite(arr).all():
            path.unlink(missing_ok=True)
            return None
        return arr

    def save(self, start: int, vectors: np.ndarray) -> None:
        with atomic_path(self._path(start)) as tmp, open(tmp, "wb") as f:
            np.save(f, vectors)

    def remove(self) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)


def texts_sha256(texts: Sequence[str]) -> str:
    h = hashlib.sha256()
    for t in texts:
        h.update(t.encode("utf-8") + b"\n")
    return h.hexdigest()


def vector_spec(settings: dict) -> dict:
    """The embedder settings that determine the vectors (cache identity)."""
    return {k: settings[k] for k in _VECTOR_KEYS}


def load_or_embed(
    texts: Sequence[str], settings: dict, npy: str | Path, log: Log = _log
) -> tuple[np.ndarray, dict]:
    """Embeddings of ``texts`` cached at ``npy`` (meta ``.json``), reused if texts/model match."""
    npy, meta_path = Path(npy), Path(npy).with_suffix(".json")
    settings = embedder_settings(settings)
    key = {"texts_sha256": texts_sha256(texts), "n": len(texts), **vector_spec(settings)}
    if npy.is_file() and meta_path.is_file():
        meta = read_json(meta_path)
        if {k: meta.get(k) for k in key} == key:
            log(f"reusing cached embeddings {npy}")
            return np.load(npy), meta
    t0 = time.perf_counter()
    embedder = Embedder(settings)
    parts = EmbeddingParts(npy.with_name(npy.name + ".parts"), key, embedder.dim, log)
    vectors = embedder.encode(texts, log, parts)
    seconds = time.perf_counter() - t0
    meta = {**key, "dim": embedder.dim, "device": embedder.device, "seconds": round(seconds, 2)}
    meta["texts_per_s"] = round(len(texts) / max(seconds, 1e-9), 1)
    with atomic_path(npy) as tmp, open(tmp, "wb") as f:
        np.save(f, vectors)  # a file object: np.save would append ".npy" to a path
    write_json(meta_path, meta)
    parts.remove()
    log(f"embedded {len(texts)} texts in {seconds:.1f} s on {embedder.device}")
    return vectors, meta


# --------------------------------------------------------------------------- FAISS


def _faiss() -> Any:
    import faiss

    return faiss


def gpu_available(setting: Any = "auto") -> bool:
    """FAISS GPU use: ``auto`` when FAISS sees a GPU, ``true`` requires one, ``false`` never."""
    faiss = _faiss()
    have = hasattr(faiss, "StandardGpuResources") and faiss.get_num_gpus() > 0
    if setting is True and not have:
        raise InputError("dbr.index.gpu is true but FAISS sees no GPU (install faiss-gpu)")
    return have and setting in ("auto", True)


def index_kind(n: int, s: dict) -> str:
    """flat | ivf | hnsw for ``n`` vectors under settings ``s``."""
    if s["type"] != "auto":
        return s["type"]
    return "flat" if n <= int(s["exact_max"]) else s["ann"]


def _nlist(n: int, s: dict) -> int:
    nlist = int(s["nlist"]) if s["nlist"] else int(4 * math.sqrt(n))
    return max(1, min(nlist, n // 39 if n >= 39 else 1))


def build_index(vectors: np.ndarray, settings: dict, log: Log = _log) -> tuple[Any, dict]:
    """A CPU FAISS index over unit vectors (inner product); IVF is trained on GPU if present."""
    faiss = _faiss()
    s = index_settings(settings)
    n, d = vectors.shape
    kind = index_kind(n, s)
    info: dict = {"kind": kind, "n": int(n), "dim": int(d)}
    t0 = time.perf_counter()
    if kind == "flat":
        index = faiss.IndexFlatIP(d)
        index.add(vectors)
    elif kind == "hnsw":
        index = faiss.IndexHNSWFlat(d, int(s["hnsw_m"]), faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = int(s["ef_construction"])
        index.add(vectors)
        info.update(hnsw_m=int(s["hnsw_m"]), ef_construction=int(s["ef_construction"]))
    else:
        nlist = _nlist(n, s)
        index = faiss.IndexIVFFlat(faiss.IndexFlatIP(d), d, nlist, faiss.METRIC_INNER_PRODUCT)
        rng = np.random.default_rng(int(s["seed"]))
        sample = vectors[rng.choice(n, size=min(n, nlist * 256), replace=False)]
        if gpu_available(s["gpu"]):
            res = faiss.StandardGpuResources()
            gpu_index = faiss.index_cpu_to_gpu(res, 0, index)
            gpu_index.train(sample)
            gpu_index.add(vectors)
            index = faiss.index_gpu_to_cpu(gpu_index)
            info["built_on"] = "gpu"
        else:
            index.train(sample)
            index.add(vectors)
        info["nlist"] = nlist
    info["build_seconds"] = round(time.perf_counter() - t0, 2)
    log(f"built {kind} index over {n} vectors in {info['build_seconds']} s")
    return index, info


def prepare_search(index: Any, settings: dict) -> Any:
    """Set nprobe / efSearch and move flat or IVF indexes to the GPU when available."""
    faiss = _faiss()
    s = index_settings(settings)
    if isinstance(index, faiss.IndexHNSWFlat):
        index.hnsw.efSearch = int(s["ef_search"])
        return index
    ivf = faiss.try_extract_index_ivf(index)
    if ivf is not None:
        ivf.nprobe = int(s["nprobe"])
    if gpu_available(s["gpu"]):
        index = faiss.index_cpu_to_gpu(faiss.StandardGpuResources(), 0, index)
        if ivf is not None:
            faiss.GpuParameterSpace().set_index_parameter(index, "nprobe", int(s["nprobe"]))
    return index


def search(index: Any, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Top-``k`` inner-product scores and row ids (``-1`` where fewer were found)."""
    k = min(k, index.ntotal)
    return index.search(np.ascontiguousarray(queries, dtype=np.float32), k)


# --------------------------------------------------------------------------- commands


def _with_threads(settings: dict, threads: int) -> dict:
    return {**settings, "threads": threads} if threads else settings


def main_embed(argv: list[str]) -> int:
    """``nerbench embed --kb KB.tsv --embedder JSON --output X.npy`` (meta: X.json)."""
    ap = argparse.ArgumentParser(prog="nerbench embed", description=main_embed.__doc__)
    ap.add_argument("--kb", required=True)
    ap.add_argument("--embedder", required=True, help="JSON: dbr.embedder")
    ap.add_argument("--threads", type=int, default=0, help="CPU threads (0: dbr.embedder.threads)")
    ap.add_argument("--output", required=True, help=".npy; meta is written beside it as .json")
    args = ap.parse_args(argv)
    embedder = json_option(args.embedder, "--embedder")
    if not args.output.endswith(".npy"):
        raise InputError("--output must end with .npy", args.output)
    names = [e.name for e in read_kb(args.kb)]
    load_or_embed(names, _with_threads(embedder, args.threads), args.output)
    return 0


def main_index(argv: list[str]) -> int:
    """``nerbench index --embeddings X.npy --spec JSON --output X.faiss`` (info: X.faiss.json)."""
    ap = argparse.ArgumentParser(prog="nerbench index", description=main_index.__doc__)
    ap.add_argument("--embeddings", required=True)
    ap.add_argument("--spec", default="{}", help="JSON: dbr.index")
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--output", required=True)
    args = ap.parse_args(argv)
    spec = json_option(args.spec, "--spec")
    faiss = _faiss()
    if args.threads:
        faiss.omp_set_num_threads(args.threads)
    vectors = np.load(args.embeddings)
    meta = read_json(Path(args.embeddings).with_suffix(".json"))
    index, info = build_index(vectors, spec)
    info["embeddings"] = {k: meta[k] for k in ("texts_sha256", "n", *_VECTOR_KEYS)}
    with atomic_path(args.output, suffix=".faiss") as tmp:
        faiss.write_index(index, str(tmp))
    write_json(args.output + ".json", info)
    return 0


def retrieve(
    phrases: list[str],
    kb_names: list[str],
    kb_categories: list[str],
    index: Any,
    embedder: Embedder,
    top_k: int,
    log: Log = _log,
) -> list[list[dict]]:
    """Top-``top_k`` KB hits ``{row, name, category, score}`` per phrase."""
    t0 = time.perf_counter()
    queries = embedder.encode(phrases)
    t1 = time.perf_counter()
    scores, ids = search(index, queries, top_k)
    t2 = time.perf_counter()
    log(f"{len(phrases)} queries: encode {t1 - t0:.1f} s, search {t2 - t1:.2f} s")
    out = []
    for row_scores, row_ids in zip(scores, ids, strict=True):
        hits = []
        for score, i in zip(row_scores, row_ids, strict=True):
            if i >= 0:
                hit = {"row": int(i), "name": kb_names[i], "category": kb_categories[i]}
                hits.append({**hit, "score": round(float(score), 5)})
        out.append(hits)
    return out


def _check_index_matches(info: dict, kb_names: list[str], emb: dict, path: str) -> None:
    got = info.get("embeddings", {})
    if got.get("n") != len(kb_names) or got.get("texts_sha256") != texts_sha256(kb_names):
        raise InputError("index was built for another KB; rebuild it", path)
    if {k: got.get(k) for k in _VECTOR_KEYS} != vector_spec(emb):
        raise InputError("index was built with another embedder (dbr.embedder); rebuild it", path)


def main_retrieve(argv: list[str]) -> int:
    """``nerbench retrieve --kb KB --index I --phrases P.tsv --embedder J --output R.jsonl``."""
    ap = argparse.ArgumentParser(prog="nerbench retrieve", description=main_retrieve.__doc__)
    ap.add_argument("--kb", required=True)
    ap.add_argument("--index", required=True)
    ap.add_argument("--phrases", required=True)
    ap.add_argument("--embedder", required=True, help="JSON: dbr.embedder")
    ap.add_argument("--spec", default="{}", help="JSON: dbr.index (search parameters)")
    ap.add_argument(
        "--top-k", type=int, default=defaults.SAMPLING["top_k"], help="hits per phrase (dbr.top_k)"
    )
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--output", required=True)
    args = ap.parse_args(argv)
    embedder = json_option(args.embedder, "--embedder")
    spec = json_option(args.spec, "--spec")
    faiss = _faiss()
    if args.threads:
        faiss.omp_set_num_threads(args.threads)
    kb = read_kb(args.kb)
    names, cats = [e.name for e in kb], [e.category for e in kb]
    emb = embedder_settings(_with_threads(embedder, args.threads))
    _check_index_matches(read_json(args.index + ".json"), names, emb, args.index)
    index = prepare_search(faiss.read_index(args.index), spec)
    phrases = read_phrases(args.phrases)
    hits = retrieve([p.phrase for p in phrases], names, cats, index, Embedder(emb), args.top_k)
    records = (
        {"phrase": p.phrase, "quality": p.quality, "support": p.support, "hits": h}
        for p, h in zip(phrases, hits, strict=True)
    )
    n = write_jsonl(args.output, records)
    _log(f"wrote top-{args.top_k} hits for {n} phrases")
    return 0
