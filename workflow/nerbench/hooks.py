"""What the workflow says when it starts, succeeds or fails (the Snakefile's ``onstart``,
``onsuccess`` and ``onerror`` handlers call :func:`on_start`, :func:`on_success` and
:func:`on_error`).

* start: stops before any job, with one line, when a job that will run needs a tool this
  machine lacks (AutoPhrase's Java, or g++ where its prebuilt binaries do not run); names the
  command that follows the training runs (``nerbench status``).
* success: where the study's tables, figures, metrics table and report are, and the command
  that builds the HTML report.
* error: each failed job's rule, wildcards, log file and that log's last line.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nerbench import paths
from nerbench.status import read_tail, watch_hint


@dataclass
class FailedJob:
    rule: str
    wildcards: dict[str, str] = field(default_factory=dict)
    logs: tuple[str, ...] = ()


def _say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- start


def rules_to_run(workflow: Any) -> set[str]:
    """Names of the rules with jobs this Snakemake invocation will run."""
    return {job.rule.name for job in workflow.dag.needrun_jobs()}


def checks_local_tools(workflow: Any) -> bool:
    """Whether jobs run here with the tools on this PATH (not in conda envs or on a cluster,
    where the environment or the node provides them)."""
    from snakemake.settings.types import DeploymentMethod

    return bool(workflow.local_exec) and (
        DeploymentMethod.CONDA not in workflow.deployment_settings.deployment_method
    )


def on_start(
    workflow: Any,
    study: str,
    autophrase_rules: set[str],
    autophrase_compile: str,
    train_rule: str,
    autophrase_tokenizer: str = "auto",
) -> None:
    """Stop before any job, with one line, if a job that will run needs a tool this machine
    lacks; else name the command that follows the training runs."""
    rules = rules_to_run(workflow)
    if rules & autophrase_rules and checks_local_tools(workflow):
        from nerbench.dbr.autophrase_build import missing_requirement

        problem = missing_requirement(
            paths.AUTOPHRASE_TOOL, autophrase_compile, autophrase_tokenizer
        )
        if problem is not None:
            raise SystemExit(f"error: {problem}")
    if train_rule in rules:
        _say(f"Follow the training runs (another terminal): {watch_hint(study)}")


# --------------------------------------------------------------------------- success


def report_command(study: str) -> str:
    report = paths.fill(paths.REPORT, study=study)
    return f"snakemake --report {report} --config study={study}"


def success_message(study: str) -> str:
    """Where the study's outputs are, and the command that builds its HTML report."""
    rows = []
    for label, template in (("tables", paths.TABLE), ("figures", paths.FIGURE)):
        folder = Path(paths.study_path(template, study)).parent
        names = sorted({p.stem for p in folder.glob("*.*")}) if folder.is_dir() else []
        rows.append((label, f"{folder}/", ", ".join(names) or "none yet"))
    aggregate, report = (paths.fill(t, study=study) for t in (paths.AGGREGATE, paths.REPORT))
    rows.append(("metrics", aggregate, "one row per run and test set"))
    rows.append(("report", report, "build it with the command below"))
    width = max(len(r[1]) for r in rows)
    lines = [f"Finished. Where study '{study}' keeps its results:"]
    lines += [f"  {label:<9}{where:<{width}}  {what}" for label, where, what in rows]
    lines.append(f"  {report_command(study)}")
    return "\n".join(lines)


def on_success(study: str) -> None:
    _say(success_message(study))


# --------------------------------------------------------------------------- error


_ERROR_RE = re.compile(r"^Error in rule (\S+):$")
_LOG_RE = re.compile(r"^\s+log: (.+?) \(check log file\(s\) for error details\)$")
_WILDCARDS_RE = re.compile(r"^\s+wildcards: (.+)$")


def failed_from_log(text: str) -> list[FailedJob]:
    """Failed jobs as Snakemake's log reports them (``Error in rule ...`` blocks)."""
    jobs: list[FailedJob] = []
    for line in text.splitlines():
        if m := _ERROR_RE.match(line):
            jobs.append(FailedJob(m.group(1)))
        elif jobs and (m := _LOG_RE.match(line)):
            jobs[-1].logs = tuple(p.strip() for p in m.group(1).split(","))
        elif jobs and (m := _WILDCARDS_RE.match(line)):
            pairs = (kv.split("=", 1) for kv in m.group(1).split(", ") if "=" in kv)
            jobs[-1].wildcards = dict(pairs)
    return jobs


def failed_jobs(workflow: Any, logfile: str | None) -> list[FailedJob]:
    """The jobs that failed in this invocation: from the scheduler, else from its log."""
    failed = getattr(getattr(workflow, "scheduler", None), "failed", None)
    if failed:
        jobs = []
        for group in failed:
            for job in getattr(group, "jobs", None) or [group]:
                wildcards = {k: str(v) for k, v in dict(job.wildcards_dict).items()}
                jobs.append(FailedJob(job.rule.name, wildcards, tuple(map(str, job.log))))
        return jobs
    return failed_from_log(read_tail(Path(logfile), 1 << 20)) if logfile else []


def last_line(path: str) -> str | None:
    lines = [ln.strip() for ln in re.split(r"[\r\n]+", read_tail(Path(path))) if ln.strip()]
    return lines[-1][:300] if lines else None


def error_message(jobs: list[FailedJob], study: str, train_rule: str) -> str:
    """One entry per failed job: rule, wildcards, log file and the log's last line."""
    if not jobs:
        return "A job failed; see Snakemake's messages above."
    lines = []
    for job in jobs:
        what = ", ".join(f"{k}={v}" for k, v in job.wildcards.items())
        lines.append(f"Failed: rule {job.rule}" + (f" ({what})" if what else ""))
        for log in job.logs:
            tail = last_line(log)
            lines.append(f"  log: {log}" + (f"\n  last line: {tail}" if tail else ""))
        if not job.logs:
            lines.append("  (no log file; see Snakemake's messages above)")
    if any(job.rule == train_rule for job in jobs):
        lines.append(f"Runs of the study: python -m nerbench status --study {study}")
    return "\n".join(lines)


def on_error(workflow: Any, logfile: str | None, study: str, train_rule: str) -> None:
    _say(error_message(failed_jobs(workflow, logfile), study, train_rule))
