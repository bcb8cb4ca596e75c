"""Our scores beside published ones: system-name matching and comparison columns."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from nerbench.categories import ENTITY_CATEGORIES
from nerbench.reporting.render import DASH, Table, _finite, fmt, rank_marks

# Names that denote the same model in different papers (normalised: lowercase alphanumerics).
EQUIVALENT_NAMES = ({"pubmedbert", "biomedbert"},)


def norm(name: str) -> str:
    """Lowercase alphanumerics only: ``"VANER_single"`` → ``"vanersingle"``."""
    return re.sub(r"[^a-z0-9]", "", str(name).lower())


def _name_variants(name: str) -> set[str]:
    n = norm(name)
    out = {n}
    for group in EQUIVALENT_NAMES:
        if n in group:
            out |= group
    return out


def match_system(label: str, candidates: Iterable[str]) -> str | None:
    """The candidate (paper system) whose name is the longest word-boundary prefix of ``label``.

    A label naming a DBR variant ("... w/o DBR", "... + random DBR") only matches a candidate
    naming one too, so a run without DBR is never compared with the paper's DBR system.
    """
    words = [w for w in re.split(r"[\s_\-./()+]+", str(label).lower()) if w]
    prefixes = {norm("".join(words[:i])): i for i in range(1, len(words) + 1)}
    names_dbr = "dbr" in words
    best, best_len = None, 0
    for cand in candidates:
        if ("dbr" in norm(cand)) != names_dbr:
            continue
        for variant in _name_variants(cand):
            n = prefixes.get(variant, 0)
            if n > best_len:
                best, best_len = cand, n
    return best


# --------------------------------------------------------------------------- comparisons


def ordered_datasets(ours, ref) -> tuple[list[str], dict[str, str]]:
    """Dataset columns grouped by category (in the order of
    :data:`~nerbench.categories.ENTITY_CATEGORIES`, others after them), and each dataset's
    category."""
    category: dict[str, str] = {}
    order: list[str] = []
    if ref is not None and "category" in ref.columns:
        for ds, cat in ref.loc[ref["dataset"] != "*", ["dataset", "category"]].itertuples(
            index=False
        ):
            if ds not in category:
                category[ds] = cat
                order.append(ds)
    for ds, types in ours[["dataset", "types"]].drop_duplicates().itertuples(index=False):
        if ds not in category:
            category[ds] = types or "other"
            order.append(ds)
    rank = {c: i for i, c in enumerate(ENTITY_CATEGORIES.names())}
    order.sort(key=lambda d: (rank.get(category[d], len(rank)), category[d]))
    return order, category


def long_scores(summary, col_key: str, metrics: dict[str, str]):
    """Tidy (system, col, metric, mean, sd, n_seeds) from a summary frame."""
    import pandas as pd

    parts = []
    for label, col in metrics.items():
        if f"{col}_mean" not in summary:
            continue
        part = summary[["system", col_key, f"{col}_mean", f"{col}_sd", "n_seeds"]].copy()
        part.columns = ["system", "col", "mean", "sd", "n_seeds"]
        part["metric"] = label
        parts.append(part)
    if not parts:
        return pd.DataFrame(columns=["system", "col", "metric", "mean", "sd", "n_seeds"])
    return pd.concat(parts, ignore_index=True)


@dataclass
class Comparison:
    """Our scores and the paper's for the same (system, column, metric) cells."""

    ours: Any  # DataFrame(system, col, metric, mean, sd, n_seeds)
    paper: Any  # DataFrame(system, col, metric, value) or None
    columns: list[str]
    metrics: list[str]
    mark_metric: str = "F1"
    extra: dict[str, Callable[[str, str, str], str]] = field(default_factory=dict)

    def matches(self) -> dict[str, str | None]:
        names = [] if self.paper is None else list(dict.fromkeys(self.paper["system"]))
        return {s: match_system(s, names) for s in dict.fromkeys(self.ours["system"])}

    def tidy(self):
        """TSV rows: every our cell and every published cell, with Δ where both exist."""
        import pandas as pd

        matches = self.matches()
        ours = self.ours.assign(paper_system=self.ours["system"].map(matches))
        keys = ["system", "paper_system", "col", "metric"]
        if self.paper is None:
            out = ours.assign(paper=float("nan"))
        else:
            paper = self.paper.rename(columns={"system": "paper_system", "value": "paper"})
            pairs = pd.DataFrame({"system": list(matches), "paper_system": list(matches.values())})
            matched = pairs.dropna().merge(paper, on="paper_system")  # a copy per our system
            out = ours.merge(matched, on=keys, how="outer")
            rest = paper[~paper["paper_system"].isin(set(matched["paper_system"]))]
            out = pd.concat([out, rest.assign(system="")], ignore_index=True)
        out["delta"] = out["mean"] - out["paper"]
        cols = [*keys, "mean", "sd", "n_seeds", "paper", "delta"]
        return out.reindex(columns=cols).rename(columns={"mean": "ours_mean", "sd": "ours_sd"})

    def rows(self) -> list[dict[str, Any]]:
        """Display rows: each our system (ours, paper, Δ), then the paper's other systems."""
        ours = {(r.system, r.col, r.metric): r for r in self.ours.itertuples(index=False)}
        paper = {}
        if self.paper is not None:
            paper = {(r.system, r.col, r.metric): r.value for r in self.paper.itertuples()}
        rows: list[dict[str, Any]] = []
        matches = self.matches()
        for system, psys in matches.items():
            for metric in self.metrics:
                cells = {c: ours.get((system, c, metric)) for c in self.columns}
                if not any(cells.values()):
                    continue
                rows.append(
                    {
                        "system": system,
                        "source": "ours",
                        "metric": metric,
                        "values": {c: (r.mean if r else None) for c, r in cells.items()},
                        "sds": {c: (r.sd if r else None) for c, r in cells.items()},
                    }
                )
            if psys is None:
                continue
            deltas = []
            for metric in self.metrics:
                values = {c: paper.get((psys, c, metric)) for c in self.columns}
                if not any(_finite(v) for v in values.values()):
                    continue
                rows.append({"system": psys, "source": "paper", "metric": metric, "values": values})
                diff = {}
                for c in self.columns:
                    r, p = ours.get((system, c, metric)), values[c]
                    diff[c] = r.mean - p if r is not None and _finite(p) else None
                deltas.append({"system": system, "source": "Δ", "metric": metric, "values": diff})
            rows += deltas
        matched = {p for p in matches.values() if p}
        for psys in [] if self.paper is None else dict.fromkeys(self.paper["system"]):
            if psys in matched:
                continue
            for metric in self.metrics:
                values = {c: paper.get((psys, c, metric)) for c in self.columns}
                if any(_finite(v) for v in values.values()):
                    rows.append(
                        {"system": psys, "source": "paper", "metric": metric, "values": values}
                    )
        return rows

    def build(self, name: str, caption: str, headers: dict[str, str] | None = None) -> Table:
        """Display frame with marks over the ``mark_metric`` rows (ours and paper)."""
        import pandas as pd

        headers = headers or {c: c for c in self.columns}
        records, candidates = [], {}
        for i, row in enumerate(self.rows()):
            rec = {"System": row["system"], "Source": row["source"], "Metric": row["metric"]}
            for c in self.columns:
                value = row["values"].get(c)
                sd = row.get("sds", {}).get(c)
                rec[headers[c]] = fmt(value, sd, signed=row["source"] == "Δ")
                if row["metric"] == self.mark_metric and row["source"] != "Δ":
                    candidates.setdefault(headers[c], {})[(i, headers[c])] = value
            for label, func in self.extra.items():
                rec[label] = func(row["system"], row["source"], row["metric"])
            records.append(rec)
        display = pd.DataFrame(records)
        if display.empty:
            display = pd.DataFrame(columns=["System", "Source", "Metric", *headers.values()])
        marks: dict[tuple[int, str], str] = {}
        for cells in candidates.values():
            marks.update(rank_marks(cells))
        return Table(name, caption, self.tidy(), display, marks)


def avg_diff(
    comparison: Comparison, anchor_of: Callable[[str, str], tuple[str, str] | None]
) -> Callable[[str, str, str], str]:
    """The papers' "avg. diff." column: mean over datasets of (F1 − anchor F1)."""
    ours = {(r.system, r.col): r.mean for r in comparison.ours.itertuples() if r.metric == "F1"}
    paper = {}
    if comparison.paper is not None:
        paper = {
            (r.system, r.col): r.value for r in comparison.paper.itertuples() if r.metric == "F1"
        }
    published = {}
    if comparison.paper is not None and "avg_diff" in set(comparison.paper["metric"]):
        published = {
            r.system: r.value for r in comparison.paper.itertuples() if r.metric == "avg_diff"
        }

    def cell(system: str, source: str, metric: str) -> str:
        if metric != "F1" or source == "Δ":
            return ""
        if source == "paper":
            return fmt(published.get(system), signed=True) if system in published else DASH
        anchor = anchor_of(system, source)
        if anchor is None:
            return DASH
        a_src, a_sys = anchor
        table = ours if a_src == "ours" else paper
        diffs = [
            ours[(system, c)] - table[(a_sys, c)]
            for c in comparison.columns
            if _finite(ours.get((system, c))) and _finite(table.get((a_sys, c)))
        ]
        return fmt(sum(diffs) / len(diffs), signed=True) if diffs else DASH

    return cell
