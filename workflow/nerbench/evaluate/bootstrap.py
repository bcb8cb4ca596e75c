"""Bootstrap statistics on per-sentence exact-match counts.

:func:`bootstrap_ci` gives a run's confidence intervals (written into its metrics);
:func:`per_sentence_record` and :func:`read_per_sentence` keep and read the per-sentence counts,
from which reporting's paired test between systems runs :func:`paired_bootstrap`.
Every ratio with a zero denominator is 0.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

# Resampled index matrices are built in blocks of about this many cells to bound memory.
_BOOTSTRAP_BLOCK_CELLS = 4_000_000


def _safe_div(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    num, den = num.astype(np.float64), den.astype(np.float64)
    return np.divide(num, den, out=np.zeros_like(num), where=den > 0)


def bootstrap_ci(
    tp: np.ndarray, n_pred: np.ndarray, n_gold: np.ndarray, n_resamples: int, seed: int
) -> dict:
    """95 % percentile-bootstrap CIs of micro P, R, F1, resampling sentences with replacement.

    Each resample draws ``len(tp)`` sentence indices from ``numpy.random.default_rng(seed)`` and
    sums the precomputed per-sentence counts; F1 = 2 TP / (#pred + #gold). Zero division = 0.
    """
    if n_resamples < 1:
        raise ValueError(f"bootstrap must be >= 1, got {n_resamples}")
    out = {"n": int(n_resamples), "seed": int(seed)}
    n = len(tp)
    if n == 0:
        return {**out, "precision_ci": [0.0, 0.0], "recall_ci": [0.0, 0.0], "f1_ci": [0.0, 0.0]}
    rng = np.random.default_rng(seed)
    counts = np.stack([tp, n_pred, n_gold])  # (3, n)
    sums = np.empty((3, n_resamples), dtype=np.int64)
    block = max(1, _BOOTSTRAP_BLOCK_CELLS // n)
    for start in range(0, n_resamples, block):
        stop = min(start + block, n_resamples)
        idx = rng.integers(0, n, size=(stop - start, n))
        sums[:, start:stop] = counts[:, idx].sum(axis=2)
    s_tp, s_pred, s_gold = sums
    stats = {
        "precision_ci": _safe_div(s_tp, s_pred),
        "recall_ci": _safe_div(s_tp, s_gold),
        "f1_ci": _safe_div(2 * s_tp, s_pred + s_gold),
    }
    for key, values in stats.items():
        lo, hi = np.percentile(values, [2.5, 97.5])
        out[key] = [float(lo), float(hi)]
    return out


def per_sentence_record(
    tp: np.ndarray, n_pred: np.ndarray, n_gold: np.ndarray, ids: Sequence[str] | None = None
) -> dict:
    """Per-sentence exact-match counts for paired tests between runs (``metrics["per_sentence"]``).

    ``ids_sha256`` (of the newline-joined sentence ids, in file order) lets a paired test check
    that two runs were scored on the same sentences in the same order.
    """
    out = {"tp": tp.tolist(), "n_pred": n_pred.tolist(), "n_gold": n_gold.tolist()}
    if ids is not None:
        out["ids_sha256"] = hashlib.sha256("\n".join(ids).encode("utf-8")).hexdigest()
    return out


def read_per_sentence(metrics: Mapping[str, Any]) -> tuple[np.ndarray, ...] | None:
    """(tp, n_pred, n_gold) arrays from a metrics JSON; None for files written before they were
    recorded."""
    rec = metrics.get("per_sentence")
    if not isinstance(rec, Mapping) or not all(k in rec for k in ("tp", "n_pred", "n_gold")):
        return None
    return tuple(np.asarray(rec[k], dtype=np.int64) for k in ("tp", "n_pred", "n_gold"))


def paired_bootstrap(
    a: Sequence[tuple[np.ndarray, np.ndarray, np.ndarray]],
    b: Sequence[tuple[np.ndarray, np.ndarray, np.ndarray]],
    n_resamples: int,
    seed: int,
) -> dict:
    """Paired bootstrap of the micro-F1 difference between systems A and B.

    ``a[k]`` and ``b[k]`` are the per-sentence (tp, #pred, #gold) counts of seed pair k, all on
    the same test sentences. Each resample draws one set of sentence indices (with replacement)
    and applies it to every run of both systems; the statistic is the mean over seed pairs of
    F1(A) − F1(B). Returns the observed difference, its 95 % percentile CI and a two-sided
    p-value, 2 · min(P*(Δ ≤ 0), P*(Δ ≥ 0)) over the resamples (capped at 1).
    """
    if not a or len(a) != len(b):
        raise ValueError(f"need the same number (>0) of runs per system, got {len(a)}, {len(b)}")
    n = len(a[0][0])
    if any(len(c) != n for run in (*a, *b) for c in run):
        raise ValueError("paired runs were scored on different numbers of sentences")
    if n_resamples < 1:
        raise ValueError(f"bootstrap must be >= 1, got {n_resamples}")
    runs = np.stack([np.stack(r) for r in (*a, *b)])  # (2k, 3, n)
    k = len(a)

    def delta(sums: np.ndarray) -> np.ndarray:  # sums: (2k, 3, m) -> (m,)
        f1 = _safe_div(2 * sums[:, 0], sums[:, 1] + sums[:, 2])
        return f1[:k].mean(axis=0) - f1[k:].mean(axis=0)

    observed = float(delta(runs.sum(axis=2)[..., None])[0])
    rng = np.random.default_rng(seed)
    deltas = np.empty(n_resamples)
    block = max(1, _BOOTSTRAP_BLOCK_CELLS // max(1, n * 6 * k))
    for start in range(0, n_resamples, block):
        stop = min(start + block, n_resamples)
        idx = rng.integers(0, n, size=(stop - start, n)) if n else np.zeros((stop - start, 0), int)
        deltas[start:stop] = delta(runs[:, :, idx].sum(axis=3))
    lo, hi = np.percentile(deltas, [2.5, 97.5])
    p = min(1.0, 2 * min(float(np.mean(deltas <= 0)), float(np.mean(deltas >= 0))))
    return {
        "delta_f1": observed,
        "ci": [float(lo), float(hi)],
        "p_value": p,
        "n": int(n_resamples),
        "seed": int(seed),
        "pairs": k,
    }
