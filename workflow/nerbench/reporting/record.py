"""A study's results record: what ran, on which machine, how long each rule took, how much
memory it needed, and the tables and figures that came out.

``python -m nerbench record --study open --out docs/results/open --snakemake-log run.log``
copies the study's Markdown tables and PNG figures (``results/studies/<study>/``) into ``--out``
and writes ``README.md`` there:

* the command (``--command``: a file holding the exact command lines) and the commit;
* the machine: CPU model, cores, memory, the CPU flags that decide the kernels (AVX2, AVX512,
  AVX512-BF16, AMX) and whether bf16 is native, library versions;
* wall time per rule: from Snakemake's benchmark files (``s``, ``max_rss``, ``cpu_time``: every
  rule writes one, see :data:`nerbench.paths.BENCHMARK`) and, for runs whose logs predate those
  files, from the job start/finish stamps of the Snakemake logs (``--snakemake-log``, one per
  sitting; the study's wall time is the sum over sittings);
* training: per run tokens/s, wall time, peak RSS, epochs and best dev F1 (``cost.json``);
* the knowledge base's size per category (``results/kb/<kb>.stats.json``);
* ``--notes``: hand-written analysis (the gap to published numbers, what was slow), put first;
* ``--partial`` (a study still running): the runs trained so far, and interim tables made by the
  study's table code from the runs evaluated so far, labelled as such.

Everything is read from files the workflow wrote; nothing is estimated. A missing table, figure
or log is an error naming the path: a record must not silently lack a part.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
from collections.abc import Iterable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from nerbench import paths
from nerbench.io import InputError, atomic_dir, read_json, write_text
from nerbench.reporting.record_inputs import (
    RecordInputs,
    collect,
    interim_tables,
    kb_rows,
    metrics_files,
)
from nerbench.reporting.snakemake_log import Sitting


def machine_lines(machine: dict[str, Any]) -> list[str]:
    """Markdown lines naming a machine (CPU, flags, threads, GPU, library versions)."""
    flags = ", ".join(f"{k} {'yes' if v else 'no'}" for k, v in machine["flags"].items())
    lines = [
        f"- CPU: {machine['cpu']}, {machine['cores']} cores, {machine['memory_gb']} GiB memory",
        f"- CPU flags: {flags}; native bf16: {'yes' if machine['native_bf16'] else 'no'}",
    ]
    if machine.get("threads") is not None:
        lines.append(f"- threads per training job: {machine['threads']}")
    if machine.get("gpu"):
        lines.append(f"- GPU: {machine['gpu']}")
    lines.append(
        f"- Python {machine['python']}, torch {machine['torch']}, transformers "
        f"{machine['transformers']}, snakemake {machine['snakemake']}, faiss {machine['faiss']}"
    )
    return lines


def _minutes(seconds: float | None) -> str:
    return "–" if seconds is None else f"{seconds / 60:.1f}"


def rule_table(sittings: Sequence[Sitting], bench: dict[str, list[dict[str, float]]]) -> list[str]:
    """Markdown rows per rule: jobs, summed and longest wall time, peak RSS, CPU time."""
    by_rule: dict[str, list[float]] = {}
    unfinished: dict[str, int] = {}
    for s in sittings:
        for j in s.jobs:
            if j.seconds is None:
                unfinished[j.rule] = unfinished.get(j.rule, 0) + 1
            else:
                by_rule.setdefault(j.rule, []).append(j.seconds)

    def wall(rule: str) -> float:
        b = bench.get(rule)
        return sum(r["s"] for r in b) if b else sum(by_rule.get(rule, []))

    rules = sorted(set(by_rule) | set(bench) | set(unfinished), key=lambda r: (-wall(r), r))
    rows = [
        "| rule | jobs | wall, summed (min) | longest job (min) | peak RSS (MB) | CPU time (min) |"
        " source |",
        "|---|---:|---:|---:|---:|---:|---|",
    ]
    for rule in rules:
        b = bench.get(rule, [])
        times = [r["s"] for r in b] if b else by_rule.get(rule, [])
        rss = max((r["max_rss"] for r in b if r["max_rss"] == r["max_rss"]), default=None)
        cpu = [r["cpu_time"] for r in b if r.get("cpu_time", float("nan")) == r.get("cpu_time")]
        source = "benchmark files" if b else "Snakemake log"
        if unfinished.get(rule):
            source += f"; {unfinished[rule]} unfinished job(s) (running or killed) not counted"
        rows.append(
            f"| {rule} | {len(times)} | {_minutes(sum(times))}"
            f" | {_minutes(max(times, default=None))}"
            f" | {'–' if rss is None else f'{rss:,.0f}'} | {_minutes(sum(cpu)) if cpu else '–'}"
            f" | {source} |"
        )
    return rows


def _percent(x: Any) -> str:
    return "–" if x is None else f"{100 * float(x):.2f}"


def test_f1(run_dir: Path) -> str:
    """Exact-match micro F1 (%) of each evaluated test set of a run, ``dataset F1`` joined."""
    from nerbench.reporting.aggregate import exact_f1

    cells = []
    for m in metrics_files(run_dir):
        f1 = exact_f1(read_json(m))
        cells.append(f"{m.stem} {_percent(f1)}")
    return ", ".join(cells) or "–"


def training_rows(run_dirs: Iterable[Path]) -> list[str]:
    """Markdown rows per trained run from its ``cost.json`` (and test F1 where evaluated),
    then the median training rate."""
    rows = [
        "| run | epochs | tokens seen | tokens/s | train wall (min) | dev eval (min) |"
        " peak RSS (MB) | best dev F1 | test exact F1 | dtype |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---|---|",
    ]
    rates: list[float] = []
    for d in sorted(run_dirs):
        cost_path = paths.run_file(d, "cost")
        if not cost_path.is_file():
            raise InputError("run has no cost.json (did it finish?)", cost_path)
        c = read_json(cost_path)
        rates.append(c.get("tokens_per_s", 0))
        rows.append(
            f"| {d.name} | {c.get('epochs_completed')} | {c.get('tokens_seen', 0):,} |"
            f" {c.get('tokens_per_s', 0):,.0f} | {_minutes(c.get('wall_time_s'))} |"
            f" {_minutes(c.get('eval_time_s'))} | {c.get('peak_cpu_rss_mb', 0):,.0f} |"
            f" {_percent(c.get('best_dev_f1'))} | {test_f1(d)} | {c.get('dtype')} |"
        )
    if rates:
        rows += ["", f"Median training rate: {statistics.median(rates):,.0f} real sub-tokens/s."]
    return rows


def sitting_lines(rec: RecordInputs) -> list[str]:
    """The table of sittings and the study's wall time."""
    lines = ["| sitting (Snakemake log) | start | end | wall (min) | jobs finished |"]
    lines += ["|---|---|---|---:|---:|"]
    for s in rec.sittings:
        done = sum(j.end is not None for j in s.jobs)
        lines.append(
            f"| {s.log.name} | {s.start:%Y-%m-%d %H:%M:%S} | {s.end:%H:%M:%S} |"
            f" {_minutes(s.seconds)} | {done} |"
        )
    total = rec.wall_seconds
    if rec.partial:
        lines += [
            "",
            f"Wall time so far: {_minutes(total)} min (to the last log entry of each "
            f"sitting; record written {datetime.now():%Y-%m-%d %H:%M}).",
        ]
    else:
        lines += ["", f"**Study wall time: {_minutes(total)} min** (sum over sittings)."]
    return lines


def table_lines(rec: RecordInputs, root: Path) -> list[str]:
    """The "Tables" section: the study's tables, and interim ones for a partial record."""
    lines = ["## Tables", ""]
    if not rec.tables:
        lines += ["None yet: the tables are made when every run has been evaluated.", ""]
    if rec.partial:
        interim = interim_tables(root, rec.plan, rec.runs)
        evaluated = sum(bool(metrics_files(d)) for d in rec.runs)
        if interim:
            lines += [
                f"**Interim tables** over the {evaluated} runs evaluated so far (of "
                f"{len(rec.planned or [])}): what the study's tables show from them, made by the "
                "same code; not the study's tables, which need every run.",
                "",
            ]
        for name, text in interim:
            lines += [f"### {name} (interim)", "", text, ""]
    for t in rec.tables:
        lines += [f"### {t.stem}", "", t.read_text(encoding="utf-8").rstrip(), ""]
    return lines


def render_readme(
    rec: RecordInputs, root: Path, command: Path | None = None, notes: Path | None = None
) -> str:
    """The record's README.md (Markdown)."""
    lines = [f"# Results record: study `{rec.study}`", ""]
    if rec.partial:
        lines += [
            f"**Partial: the study had not finished when this record was written; "
            f"{len(rec.runs)} of its {len(rec.planned or [])} runs were trained.** Snakemake "
            "resumes it with the same command.",
            "",
        ]
    if notes is not None:
        if not notes.is_file():
            raise InputError("notes file not found", notes)
        lines += [notes.read_text(encoding="utf-8").rstrip(), ""]
    lines += ["## How it ran", ""]
    if command is not None:
        if not command.is_file():
            raise InputError("command file not found", command)
        lines += ["```", command.read_text(encoding="utf-8").rstrip(), "```", ""]
    lines.append(
        f"Code at the time of writing: commit `{rec.commit}` (the command block says which "
        "commit each sitting started from)."
    )
    lines.append("")
    lines += sitting_lines(rec)
    lines.append("")
    lines += [
        "## Machine",
        "",
        f"Read from {rec.machine_source}.",
        "",
        *machine_lines(rec.machine),
        "",
        "## Wall time and memory per rule",
        "",
        *rule_table(rec.sittings, rec.bench),
        "",
        "## Training runs",
        "",
        *training_rows(rec.runs),
    ]
    kb = kb_rows(root)
    if kb:
        lines += ["", "## Knowledge base", "", *kb]
    lines += ["", *table_lines(rec, root)]
    lines += ["## Figures", ""]
    for fig in rec.figures:
        lines += [f"### {fig.stem}", "", f"![{fig.stem}](figures/{fig.name})", ""]
    return "\n".join(lines) + "\n"


def record_summary(rec: RecordInputs) -> dict[str, Any]:
    """The record's ``record.json``: the row of the records' index."""
    # the headline figure: the first the study lists (any, for a root without the study's config)
    listed = [f.stem for f in rec.figures]
    if rec.plan is not None:
        listed = (rec.plan.study.get("outputs") or {}).get("figures") or listed
    headline = next((f for name in listed for f in rec.figures if f.stem.startswith(name)), None)
    return {
        "study": rec.study,
        "date": f"{max(s.end for s in rec.sittings):%Y-%m-%d}",
        "commit": rec.commit,
        "partial": rec.partial,
        "machine": machine_summary(rec.machine),
        "wall_min": round(rec.wall_seconds / 60, 1),
        "runs": len(rec.runs),
        "headline": f"figures/{headline.name}" if headline else None,
    }


def write_record(out: Path, rec: RecordInputs, readme: str, summary: dict[str, Any]) -> Path:
    """Write the record folder ``out`` atomically (replacing an older one); return README path."""
    with atomic_dir(out) as tmp:
        (tmp / "tables").mkdir()
        (tmp / "figures").mkdir()
        for t in rec.tables:
            shutil.copy2(t, tmp / "tables" / t.name)
        for fig in rec.figures:
            shutil.copy2(fig, tmp / "figures" / fig.name)
        (tmp / "README.md").write_text(readme, encoding="utf-8")
        (tmp / RECORD_SUMMARY).write_text(json.dumps(summary, indent=1) + "\n", encoding="utf-8")
    return out / "README.md"


def build_record(
    root: Path,
    study: str,
    out: Path,
    logs: Sequence[Path],
    command: Path | None = None,
    notes: Path | None = None,
    partial: bool = False,
    commit: str | None = None,
) -> Path:
    """Write the record folder ``out`` (atomically, replacing an older one); return README path.

    ``commit``: the code's commit where ``root`` is no git checkout of it (a copied tree);
    default ``git rev-parse`` in ``root``.

    ``partial``: the study is still running; the record holds the runs trained so far, the
    rule times so far and whatever tables and figures exist, and says so at the top."""
    rec = collect(root, study, logs, partial, commit)
    readme = render_readme(rec, root, command, notes)
    return write_record(out, rec, readme, record_summary(rec))


#: each record folder's summary, from which the index of all records is made
RECORD_SUMMARY = "record.json"


def machine_summary(machine: dict[str, Any]) -> str:
    """One line: CPU, the kernel flags it has, cores, threads per job and GPU."""
    have = [
        k
        for k, v in machine["flags"].items()
        if v and k in ("avx2", "avx512f", "avx512_bf16", "amx_bf16")
    ]
    text = f"{machine['cpu']} ({', '.join(have) or 'no AVX2'}), {machine['cores']} cores"
    if machine.get("threads") is not None:
        text += f", {machine['threads']} thread(s) per job"
    if machine.get("gpu"):
        text += f", GPU {machine['gpu']}"
    return text


def write_index(results_dir: Path) -> Path:
    """``<results_dir>/README.md``: one row per record folder holding a record.json (study,
    date, commit, machine with CPU flags, wall time, headline figure), newest first."""
    rows = []
    for summary_path in sorted(results_dir.glob(f"*/{RECORD_SUMMARY}")):
        rec = read_json(summary_path)
        folder = summary_path.parent.name
        fig = rec.get("headline")
        partial = " (partial)" if rec.get("partial") else ""
        rows.append(
            (
                rec["date"],
                f"| [`{rec['study']}`]({folder}/README.md){partial}"
                f" | {rec['date']} | `{rec['commit']}` | {rec['machine']} | {rec['wall_min']:.1f}"
                f" | {rec['runs']} | {f'[{Path(fig).stem}]({folder}/{fig})' if fig else '–'} |",
            )
        )
    lines = [
        "# Results records",
        "",
        "Every full-size study run recorded in this repository, one row per record (made by",
        "`python -m nerbench record`, which rewrites this index; do not edit it by hand). Each",
        "record's README holds the tables, the figures, the exact command, the wall time per rule",
        "and the machine, read from the jobs that ran.",
        "",
        "| study | date | commit | machine (CPU flags) | wall (min) | runs | headline figure |",
        "|---|---|---|---|---:|---:|---|",
        *(row for _, row in sorted(rows, key=lambda r: r[0], reverse=True)),
    ]
    index = results_dir / "README.md"
    write_text(index, "\n".join(lines) + "\n")
    return index


def main_record(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="nerbench record", description=__doc__.split("\n\n")[0])
    p.add_argument("--study", required=True)
    p.add_argument("--out", required=True, help="record folder, e.g. docs/results/<study>")
    p.add_argument("--root", default=".", help="project root the study ran in")
    p.add_argument(
        "--snakemake-log", nargs="+", required=True, help="the Snakemake log of each sitting"
    )
    p.add_argument("--command", help="file with the exact command lines")
    p.add_argument("--notes", help="Markdown with the analysis, put first")
    p.add_argument(
        "--partial", action="store_true", help="the study is still running: record what is done"
    )
    p.add_argument("--commit", help="the code's commit, where --root is not a git checkout of it")
    a = p.parse_args(argv)
    readme = build_record(
        Path(a.root),
        a.study,
        Path(a.out),
        [Path(x) for x in a.snakemake_log],
        Path(a.command) if a.command else None,
        Path(a.notes) if a.notes else None,
        a.partial,
        a.commit,
    )
    print(readme)
    print(write_index(Path(a.out).parent))
    return 0
