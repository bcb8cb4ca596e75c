"""A real single-node SLURM cluster on 127.0.0.1 for tests (munged, slurmctld, slurmd).

Needs the Debian packages slurm-wlm and munge (``.ci/install_system_deps.sh``) and root,
because slurmd
launches jobs and the config must live at ``/etc/slurm/slurm.conf``: the executor plugin's job
step strips ``SLURM_CONF`` from the environment. An existing slurm.conf / gres.conf is backed up
and restored; every daemon started here is stopped by :meth:`LocalSlurm.stop`.

Accounting is off (no slurmdbd): job status comes from squeue (``MinJobAge`` keeps finished jobs
visible for 10 minutes), and every finished job is written to a jobcomp text file, which tests
read to prove that work went through SLURM. The node advertises one GPU as a count-only GRES (no
device file), so ``--gpus=1`` requests are scheduled exactly as on a GPU cluster while the job
itself runs on the CPU.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

BINARIES = ("munged", "slurmctld", "slurmd", "sbatch", "squeue", "scontrol", "sinfo")
ETC = Path("/etc/slurm")
MANAGED_CONFS = ("slurm.conf", "gres.conf")
PARTITION = "nerbench"


def missing_requirements() -> str | None:
    """Why a local SLURM cannot be started here, or None when it can."""
    missing = [b for b in BINARIES if shutil.which(b) is None]
    if missing:
        missing_list = ", ".join(missing)
        return f"SLURM/munge not installed ({missing_list} missing): run .ci/install_system_deps.sh"
    if os.geteuid() != 0:
        return "a local SLURM needs root (slurmd launches jobs; config goes to /etc/slurm)"
    return None


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _real_memory_mb() -> int:
    out = subprocess.run(["slurmd", "-C"], capture_output=True, text=True, check=True).stdout
    m = re.search(r"RealMemory=(\d+)", out)
    return max(int(m.group(1)) - 512, 1024) if m else 4096


@dataclass
class LocalSlurm:
    """Configure, start and stop a one-node cluster whose state lives under ``root``."""

    root: Path
    gpus: int = 1
    min_job_age_s: int = 600
    procs: list[subprocess.Popen] = field(default_factory=list)
    backups: dict[str, bytes | None] = field(default_factory=dict)
    start_seconds: float = 0.0  # how long start() took

    @property
    def jobcomp(self) -> Path:
        return self.root / "jobcomp.txt"

    @property
    def ctld_log(self) -> Path:
        return self.root / "log" / "slurmctld.log"

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.pop("SLURM_CONF", None)
        return env

    # ------------------------------------------------------------------ configuration

    def slurm_conf(self) -> str:
        r = self.root
        cpus = os.cpu_count() or 1
        gres = f" Gres=gpu:{self.gpus}" if self.gpus else ""
        return "\n".join(
            [
                "# written by tests/slurm/slurm_harness.py; restored afterwards",
                "ClusterName=nerbench-test",
                "SlurmctldHost=localhost(127.0.0.1)",
                f"SlurmctldPort={_free_port()}",
                f"SlurmdPort={_free_port()}",
                "SlurmUser=root",
                "SlurmdUser=root",
                "AuthType=auth/munge",
                "CredType=cred/munge",
                f"AuthInfo=socket={r / 'munge' / 'munge.socket'}",
                f"StateSaveLocation={r / 'state'}",
                f"SlurmdSpoolDir={r / 'spool'}",
                f"SlurmctldPidFile={r / 'run' / 'slurmctld.pid'}",
                f"SlurmdPidFile={r / 'run' / 'slurmd.pid'}",
                f"SlurmctldLogFile={self.ctld_log}",
                f"SlurmdLogFile={r / 'log' / 'slurmd.log'}",
                "SlurmctldDebug=info",
                "SlurmdDebug=info",
                "ProctrackType=proctrack/linuxproc",
                "TaskPlugin=task/none",
                "SelectType=select/cons_tres",
                "SelectTypeParameters=CR_Core",
                "SchedulerType=sched/backfill",
                "MpiDefault=none",
                "SwitchType=switch/none",
                "ReturnToService=2",
                f"MinJobAge={self.min_job_age_s}",
                "KillWait=5",
                "InactiveLimit=0",
                "SlurmdTimeout=300",
                "AccountingStorageType=accounting_storage/none",
                "JobAcctGatherType=jobacct_gather/none",
                "JobCompType=jobcomp/filetxt",
                f"JobCompLoc={self.jobcomp}",
                "GresTypes=gpu",
                f"NodeName=localhost NodeAddr=127.0.0.1 CPUs={cpus} "
                f"RealMemory={_real_memory_mb()}{gres} State=UNKNOWN",
                f"PartitionName={PARTITION} Nodes=localhost Default=YES MaxTime=INFINITE State=UP",
                "",
            ]
        )

    def gres_conf(self) -> str:
        return (
            f"NodeName=localhost Name=gpu File=/dev/null Count={self.gpus}\n" if self.gpus else ""
        )

    def _install_confs(self) -> None:
        ETC.mkdir(parents=True, exist_ok=True)
        for name in MANAGED_CONFS:
            path = ETC / name
            self.backups[name] = path.read_bytes() if path.exists() else None
        (ETC / "slurm.conf").write_text(self.slurm_conf())
        (ETC / "gres.conf").write_text(self.gres_conf())

    def _restore_confs(self) -> None:
        for name, content in self.backups.items():
            path = ETC / name
            if content is None:
                path.unlink(missing_ok=True)
            else:
                path.write_bytes(content)
        self.backups.clear()

    # ------------------------------------------------------------------ daemons

    def _spawn(self, args: list[str], log_name: str) -> subprocess.Popen:
        log = open(self.root / "log" / log_name, "ab")  # noqa: SIM115 (closed with the process)
        proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, env=self.env())
        log.close()
        self.procs.append(proc)
        return proc

    def _start_munge(self) -> None:
        mdir = self.root / "munge"
        mdir.mkdir(mode=0o700)
        key = mdir / "munge.key"
        key.write_bytes(os.urandom(1024))
        key.chmod(0o400)
        self._spawn(
            [
                "munged",
                "--foreground",
                "--force",
                f"--socket={mdir / 'munge.socket'}",
                f"--key-file={key}",
                f"--pid-file={mdir / 'munged.pid'}",
                f"--seed-file={mdir / 'munged.seed'}",
                f"--log-file={mdir / 'munged.log'}",
            ],
            "munged.out",
        )
        self._wait(lambda: (mdir / "munge.socket").exists(), 10, "munged socket")

    def _wait(self, ready, timeout_s: float, what: str) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            for proc in self.procs:
                if proc.poll() is not None:
                    raise RuntimeError(
                        f"{proc.args[0]} exited ({proc.returncode}); see {self.root}/log"
                    )
            if ready():
                return
            time.sleep(0.2)
        raise RuntimeError(f"timed out after {timeout_s} s waiting for {what}; see {self.root}/log")

    def _node_state(self) -> str:
        res = subprocess.run(
            ["sinfo", "-h", "-N", "-o", "%T"], capture_output=True, text=True, env=self.env()
        )
        return res.stdout.strip() if res.returncode == 0 else ""

    def start(self) -> LocalSlurm:
        """Write the config and start munged, slurmctld (-c: clean state) and slurmd."""
        started = time.monotonic()
        for sub in ("state", "spool", "run", "log"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        self._install_confs()
        try:
            self._start_munge()
            self._spawn(["slurmctld", "-D", "-c", "-i"], "slurmctld.out")
            self._spawn(["slurmd", "-D", "-N", "localhost"], "slurmd.out")
            self._wait(lambda: self._node_state() in ("idle", "mixed"), 60, "node localhost idle")
        except BaseException:
            self.stop()
            raise
        self.start_seconds = time.monotonic() - started
        return self

    def stop(self) -> None:
        """Stop every daemon started here (SIGTERM, then SIGKILL) and restore /etc/slurm."""
        for proc in reversed(self.procs):
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in reversed(self.procs):
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)
        self.procs.clear()
        self._restore_confs()

    # ------------------------------------------------------------------ inspection

    def finished_jobs(self) -> list[dict[str, str]]:
        """Jobs recorded by jobcomp/filetxt (one ``key=value ...`` line per finished job)."""
        if not self.jobcomp.is_file():
            return []
        return [
            dict(re.findall(r"(\w+)=(\S*)", line))
            for line in self.jobcomp.read_text().splitlines()
            if line.strip()
        ]
