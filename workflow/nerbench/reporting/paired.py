"""Paired bootstrap tests of DBR ablations (VANER Table 3): F1 with DBR against the same system
without DBR and with random DBR, runs paired by seed, test sentences resampled jointly."""

from __future__ import annotations

from pathlib import Path

from nerbench.dbr.variants import compared_variants
from nerbench.reporting.render import DASH, Table, fmt
from nerbench.reporting.summary import dbr_ablation_rows


def _per_sentence(run_dir: str, dataset: str) -> tuple[tuple, str | None, dict] | None:
    """Per-sentence counts, sentence-id hash and bootstrap settings of one metrics file."""
    import json

    from nerbench.evaluate.bootstrap import read_per_sentence

    path = Path(run_dir) / "metrics" / f"{dataset}.json"
    if not path.is_file():
        return None
    metrics = json.loads(path.read_text(encoding="utf-8"))
    counts = read_per_sentence(metrics)
    if counts is None:
        return None
    return counts, metrics["per_sentence"].get("ids_sha256"), metrics.get("bootstrap") or {}


def paired_tests(df) -> tuple[list[dict], list[str]]:
    """Paired bootstrap of F1(system with DBR) − F1(same system w/o DBR, + random DBR).

    Per dataset, runs of the two variants are paired by seed; test sentences are resampled
    jointly for every run (nerbench.evaluate.bootstrap.paired_bootstrap), with the resample count
    and seed of the evaluation's bootstrap. Returns result rows and notes on pairs that could not
    be tested (metrics written before per-sentence counts were recorded, no common seed).
    """
    from nerbench.evaluate.bootstrap import paired_bootstrap

    results, skipped = [], []
    if "run_dir" not in df.columns:
        return results, ["Paired tests need the aggregate's run_dir column."]
    rows = dbr_ablation_rows(df)
    for (_, dataset), sub in rows.groupby(["base_system", "dataset"], sort=False):
        with_dbr = sub[sub["dbr"] == "dbr"].sort_values("run_id").drop_duplicates("seed")
        if with_dbr.empty:
            continue
        for other in compared_variants():
            against = sub[sub["dbr"] == other].sort_values("run_id").drop_duplicates("seed")
            seeds = sorted(set(with_dbr["seed"]) & set(against["seed"]))
            if against.empty:
                continue
            label = f"{with_dbr['system'].iloc[0]} vs {against['system'].iloc[0]}"
            if not seeds:
                skipped.append(f"{label} on {dataset}: no common seed")
                continue
            a = [_per_sentence(with_dbr.set_index("seed").at[s, "run_dir"], dataset) for s in seeds]
            b = [_per_sentence(against.set_index("seed").at[s, "run_dir"], dataset) for s in seeds]
            if any(x is None for x in a + b):
                skipped.append(f"{label} on {dataset}: metrics without per-sentence counts")
                continue
            if len({x[1] for x in a + b}) > 1:
                skipped.append(f"{label} on {dataset}: runs scored on different sentences")
                continue
            boot = a[0][2]
            res = paired_bootstrap(
                [x[0] for x in a],
                [x[0] for x in b],
                int(boot.get("n", 1000)),
                int(boot.get("seed", 13)),
            )
            results.append(
                {
                    "system": with_dbr["system"].iloc[0],
                    "against": against["system"].iloc[0],
                    "variant": other,
                    "dataset": dataset,
                    **res,
                }
            )
    return results, skipped


def add_paired_tests(table: Table, df, columns: list[str]) -> None:
    """Rows "Δ F1 vs <system>" (points, 95 % CI, p) under the DBR systems of Table 3."""
    import pandas as pd

    results, skipped = paired_tests(df)
    if results:
        by_pair: dict[tuple[str, str], dict[str, dict]] = {}
        for r in results:
            by_pair.setdefault((r["system"], r["against"]), {})[r["dataset"]] = r
        extra = []
        for (system, against), cells in by_pair.items():
            rec = dict.fromkeys(table.display.columns, "")
            rec.update(
                {"System": system, "Source": "paired bootstrap", "Metric": f"ΔF1 vs {against}"}
            )
            for col in columns:
                r = cells.get(col)
                if r is None:
                    rec[col] = DASH if col in rec else ""
                    continue
                lo, hi = (100 * x for x in r["ci"])
                delta = fmt(100 * r["delta_f1"], signed=True)
                rec[col] = f"{delta} [{lo:+.2f}, {hi:+.2f}] p={r['p_value']:.3g}"
            extra.append(rec)
        table.display = pd.concat([table.display, pd.DataFrame(extra)], ignore_index=True)
        data = pd.DataFrame(
            {
                "system": [r["system"] for r in results],
                "col": [r["dataset"] for r in results],
                "metric": [f"paired_delta_f1_vs_{r['variant']}" for r in results],
                "ours_mean": [100 * r["delta_f1"] for r in results],
                "n_seeds": [r["pairs"] for r in results],
                "ci_lo": [100 * r["ci"][0] for r in results],
                "ci_hi": [100 * r["ci"][1] for r in results],
                "p_value": [r["p_value"] for r in results],
                "bootstrap_n": [r["n"] for r in results],
            }
        )
        table.data = pd.concat([table.data, data], ignore_index=True)
        n = results[0]["n"]
        table.notes.append(
            "Paired bootstrap: ΔF1 (points) = mean over seed pairs of F1 with DBR − F1 of the "
            f"other variant, test sentences resampled jointly for all runs ({n} resamples); "
            "[95 % CI], two-sided p."
        )
    table.notes += [f"No paired test: {s}." for s in skipped]
