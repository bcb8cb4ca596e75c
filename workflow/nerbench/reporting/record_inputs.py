"""What a study's results record reads: the study's tables and figures, the Snakemake logs and
benchmark files, the runs' machine facts, the code's commit, the study's plan and planned runs,
interim tables over the runs evaluated so far and the knowledge bases' sizes, gathered into
:class:`RecordInputs` by :func:`collect`. Rendering and writing the record is
:mod:`nerbench.reporting.record`.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nerbench import paths
from nerbench.io import InputError, read_json
from nerbench.reporting.snakemake_log import Sitting, parse_snakemake_log


def read_benchmarks(root: Path) -> dict[str, list[dict[str, float]]]:
    """Snakemake benchmark files under ``root`` by rule: ``benchmarks/<rule>/...tsv`` and the
    run folders' ``benchmarks/train.tsv`` / ``predict_<dataset>.tsv``."""
    found: dict[str, list[dict[str, float]]] = {}
    bench_root = root / paths.BENCHMARK_DIR
    files = [(p.relative_to(bench_root).parts[0], p) for p in sorted(bench_root.rglob("*.tsv"))]
    run_root = root / Path(paths.RUN_DIR).parent
    for p in sorted(run_root.glob("*/benchmarks/*.tsv")):
        files.append(("train" if p.stem == "train" else p.stem.split("_", 1)[0], p))
    for rule, p in files:
        lines = p.read_text(encoding="utf-8").splitlines()
        if len(lines) < 2:
            raise InputError("benchmark file has no data row", p)
        header = lines[0].split("\t")
        for lineno, line in enumerate(lines[1:], 2):
            cells = line.split("\t")
            if len(cells) != len(header):
                raise InputError(f"{len(cells)} cells for {len(header)} columns", p, lineno)
            row = {}
            for k, v in zip(header, cells, strict=True):
                if k != "h:m:s":
                    row[k] = float("nan") if v in ("", "NA", "-") else float(v)
            found.setdefault(rule, []).append(row)
    return found


def run_machine(runs: Sequence[Path]) -> tuple[dict[str, Any], str]:
    """The machine the runs trained on, from their cost.json (``machine``), and where it was
    read; the runs must agree on CPU, flags and library versions (threads may differ). Runs
    trained before cost.json carried it fall back to the machine writing the record, so said."""
    from nerbench.training.runtime import machine_facts

    seen: dict[str, dict[str, Any]] = {}
    for d in runs:
        cost_path = paths.run_file(d, "cost")
        facts = read_json(cost_path).get("machine") if cost_path.is_file() else None
        if facts:
            seen[d.name] = facts
    if not seen:
        return machine_facts(), "the machine writing this record (the runs' cost.json name none)"
    key = ("cpu", "flags", "torch", "transformers", "gpu")
    distinct = {json.dumps({k: f.get(k) for k in key}, sort_keys=True) for f in seen.values()}
    if len(distinct) > 1:
        names = ", ".join(sorted(seen))
        raise InputError(
            f"the runs trained on different machines or libraries ({names}): a record is one "
            "machine's; record them apart"
        )
    first = next(iter(seen.values()))
    threads = sorted({f.get("threads") for f in seen.values()}, key=str)
    source = f"the cost.json of the {len(seen)} of {len(runs)} runs that name it"
    return {**first, "threads": ", ".join(map(str, threads))}, source


def _commit(root: Path) -> str:
    try:
        out = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
        )
        return out.stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def metrics_files(run_dir: Path) -> list[Path]:
    """The run's evaluations (one metrics file per test set)."""
    return sorted(paths.run_file(run_dir, "metrics", dataset="x").parent.glob("*.json"))


def study_runs(root: Path, study: str) -> list[Path]:
    """Run folders of the study (the ``run_id`` column of its aggregate)."""
    import csv

    agg = root / paths.fill(paths.AGGREGATE, study=study)
    if not agg.is_file():
        raise InputError(
            "the study's aggregate is missing (has the study finished? --partial records a "
            "study still running)",
            agg,
        )
    with open(agg, encoding="utf-8", newline="") as f:
        ids = sorted({row["run_id"] for row in csv.DictReader(f, delimiter="\t")})
    return [root / paths.fill(paths.RUN_DIR, run_id=i) for i in ids]


def study_plan(root: Path, study: str) -> Any:
    """The study's plan (config/config.yaml with ``study`` set)."""
    import yaml

    from nerbench.plan.study import load_plan

    config_path = root / "config" / "config.yaml"
    if not config_path.is_file():
        raise InputError("config not found", config_path)
    config = yaml.safe_load(config_path.read_text(encoding="utf-8")) | {"study": study}
    return load_plan(config, root)


def planned_runs(root: Path, plan: Any) -> list[Path]:
    """Run folders the study plans, trained or not."""
    return [root / paths.fill(paths.RUN_DIR, run_id=i) for i in sorted(plan.runs)]


def interim_tables(root: Path, plan: Any, runs: Sequence[Path]) -> list[tuple[str, str]]:
    """(name, Markdown) of the study's tables over the runs evaluated so far, for a study still
    running; a table that cannot be made from them yet gives the reason instead."""
    from nerbench.reporting.aggregate import aggregate
    from nerbench.reporting.outputs import TABLES, table_names
    from nerbench.reporting.render import render_markdown
    from nerbench.reporting.summary import load_reference
    from nerbench.reporting.tables import build_table

    metrics = [m for d in runs for m in metrics_files(d)]
    if not metrics:
        return []
    df = aggregate(metrics, plan.run_groups)
    out = []
    for name in (plan.study.get("outputs") or {}).get("tables") or []:
        if name not in table_names():  # corpus_stats: not a table of runs
            continue
        ref_file = TABLES[name].reference
        try:
            ref = None
            if ref_file:
                ref = load_reference(
                    root / paths.reference_file(ref_file), list(TABLES[name].reference_columns)
                )
            out.append((name, render_markdown(build_table(name, df, ref)).rstrip()))
        except InputError as e:
            out.append((name, f"Not made yet: {e}"))
    return out


def kb_rows(root: Path) -> list[str]:
    """One line per knowledge base built: names per category and in total."""
    out = []
    for stats_path in sorted((root / Path(paths.KB_STATS).parent).glob("*.stats.json")):
        stats = read_json(stats_path)
        cats = stats.get("by_category", {})
        parts = ", ".join(f"{k} {v:,}" for k, v in sorted(cats.items()))
        name = stats_path.name.removesuffix(".stats.json")
        out.append(f"- `{name}`: {sum(cats.values()):,} names ({parts})")
    return out


@dataclass
class RecordInputs:
    """What a record is made of, read from the files the workflow wrote (:func:`collect`)."""

    study: str
    tables: list[Path]  # the study's Markdown tables
    figures: list[Path]  # the study's PNG figures
    sittings: list[Sitting]  # one per Snakemake log
    bench: dict[str, list[dict[str, float]]]  # benchmark files by rule
    plan: Any  # the study's plan; None for a root without the study's config
    runs: list[Path]  # run folders recorded (trained so far, if partial)
    planned: list[Path] | None  # run folders the study plans (partial records only)
    machine: dict[str, Any]
    machine_source: str
    commit: str
    partial: bool

    @property
    def wall_seconds(self) -> float:
        """The study's wall time: the sum over its sittings."""
        return sum(s.seconds for s in self.sittings)


def collect(
    root: Path, study: str, logs: Sequence[Path], partial: bool, commit: str | None
) -> RecordInputs:
    """Find the study's tables and figures, parse the Snakemake logs, read the benchmarks, the
    plan and the runs' machine (see :func:`nerbench.reporting.record.build_record` for
    ``partial`` and ``commit``)."""
    study_dir = root / paths.fill(paths.STUDY_DIR, study=study)
    tables = sorted((study_dir / "tables").glob("*.md"))
    figures = sorted((study_dir / "figures").glob("*.png"))
    if not tables and not partial:
        raise InputError("the study has no Markdown tables", study_dir / "tables")
    sittings = [parse_snakemake_log(Path(p)) for p in logs]
    if not sittings:
        raise InputError("give the Snakemake log of each sitting (--snakemake-log)")
    bench = read_benchmarks(root)
    # the study's plan, where the root has its config (a record needs it when partial)
    plan = (
        study_plan(root, study) if partial or (root / "config" / "config.yaml").is_file() else None
    )
    planned = None
    if partial:
        planned = planned_runs(root, plan)
        runs = [d for d in planned if paths.run_file(d, "cost").is_file()]
    else:
        runs = study_runs(root, study)
    machine, machine_source = run_machine(runs)
    return RecordInputs(
        study=study,
        tables=tables,
        figures=figures,
        sittings=sittings,
        bench=bench,
        plan=plan,
        runs=runs,
        planned=planned,
        machine=machine,
        machine_source=machine_source,
        commit=commit or _commit(root),
        partial=partial,
    )
