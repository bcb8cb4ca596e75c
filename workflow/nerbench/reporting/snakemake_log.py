"""Job times from a Snakemake log: each job's rule, wildcards, start and finish stamps, and the
first and last stamp of the invocation (a "sitting")."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from nerbench.io import InputError

_STAMP = re.compile(r"^\[(\w{3} \w{3} +\d+ \d\d:\d\d:\d\d \d{4})\]$")
_RULE = re.compile(r"^(?:local)?rule (\w+):$")
_JOBID = re.compile(r"^\s+jobid: (\d+)$")
_WILDCARDS = re.compile(r"^\s+wildcards: (.*)$")
_FINISHED = re.compile(r"^Finished jobid: (\d+)")


@dataclass
class JobTime:
    """One job of a Snakemake log: rule, wildcards, start and finish (None if it never ended)."""

    rule: str
    wildcards: str
    start: datetime
    end: datetime | None

    @property
    def seconds(self) -> float | None:
        return None if self.end is None else (self.end - self.start).total_seconds()


@dataclass
class Sitting:
    """One Snakemake invocation: its log, first and last time stamp, and its jobs."""

    log: Path
    start: datetime
    end: datetime
    jobs: list[JobTime]

    @property
    def seconds(self) -> float:
        return (self.end - self.start).total_seconds()


def parse_snakemake_log(path: Path) -> Sitting:
    """Jobs of one Snakemake log (``[stamp]`` / ``rule X:`` / ``jobid: N`` / ``Finished jobid``)."""
    if not path.is_file():
        raise InputError("Snakemake log not found", path)
    now: datetime | None = None
    first: datetime | None = None
    pending: str | None = None
    last_job: int | None = None
    jobs: dict[int, JobTime] = {}
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            line = line.rstrip("\n")
            if m := _STAMP.match(line):
                now = datetime.strptime(m.group(1), "%a %b %d %H:%M:%S %Y")
                first = first or now
            elif m := _RULE.match(line):
                pending = m.group(1)
            elif (m := _JOBID.match(line)) and pending and now is not None:
                last_job = int(m.group(1))
                jobs[last_job] = JobTime(pending, "", now, None)
                pending = None
            elif (m := _WILDCARDS.match(line)) and last_job is not None:
                jobs[last_job].wildcards = m.group(1)
            elif (m := _FINISHED.match(line)) and now is not None:
                job = jobs.get(int(m.group(1)))
                if job is not None:
                    job.end = now
    if first is None or now is None:
        raise InputError("no time stamps: not a Snakemake log", path)
    return Sitting(path, first, now, list(jobs.values()))
