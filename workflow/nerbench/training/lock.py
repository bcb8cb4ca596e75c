"""One writer per run folder: ``<out-dir>/train.lock``, holding the holder's host and pid.

A trainer takes the lock before it touches the folder (checkpoints, model, logs) and keeps it
until it exits. A second trainer on the same folder -- an orphaned job left by a killed
Snakemake plus a rerun, or two SLURM attempts -- stops with :class:`RunLocked`, which names the
holder. The lock file is created complete (written to a temporary file, then hard-linked into
place, which fails if a lock exists), so a reader never sees it half-written.

A lock left by a process that is gone is *stale* and taken over with a warning:

* same host: the pid does not exist (or is a zombie), or it belongs to another process than the
  one that took the lock (another start time or another boot: the pid was reused);
* another host (pids cannot be checked there): the holder refreshes the lock's mtime every
  :data:`HEARTBEAT_S` seconds while it runs, so a lock not refreshed for :data:`STALE_AFTER_S`
  seconds (10 min) belongs to a dead node or a lost job and is taken over. So that a job requeued
  right after its node died does not fail, a trainer that finds a live-looking lock of another
  host waits up to ``wait_s`` (by default a little longer than that bound) for it to be released
  or to go stale before giving up. While it waits it calls ``check_stop`` at least every
  :data:`STOP_CHECK_S` seconds, so a stop request (the trainer's SIGTERM handler) ends the wait
  at once, not after it (SLURM follows its SIGTERM with a SIGKILL). A node whose clock is more
  than that bound off from the file server's could misjudge a live lock; keep clocks in sync
  (NTP) on clusters.

The hostname is ``socket.gethostname()``; containers that share a hostname but not a pid
namespace would see each other's pids as foreign -- give them distinct hostnames.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from nerbench import paths
from nerbench.io import ResourceError, fsync_dir, temp_path

log = logging.getLogger("nerbench.training.lock")

LOCK_NAME = paths.IN_RUN["lock"]
HEARTBEAT_S = 60.0
STALE_AFTER_S = 600.0
_ATTEMPTS = 8
_POLL_S = 15.0
STOP_CHECK_S = 0.5  # a waiting trainer checks for a stop request at least this often


class RunLocked(ResourceError):
    """Another live trainer holds the run folder."""


def _boot_id() -> str | None:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return None


def _proc_stat(pid: int) -> tuple[str, int] | None:
    """(state, start time in clock ticks since boot) of ``pid`` from /proc, None if unknown."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text[text.rindex(")") + 2 :].split()  # after "pid (comm) "
    return fields[0], int(fields[19])


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by someone else
    st = _proc_stat(pid)
    return not (st and st[0] in ("Z", "X"))  # a zombie is dead: it just was not reaped yet


def holder_info(token: str | None = None) -> dict[str, Any]:
    """What this process writes into the lock."""
    pid = os.getpid()
    st = _proc_stat(pid)
    return {
        "host": socket.gethostname(),
        "pid": pid,
        "start_ticks": st[1] if st else None,
        "boot_id": _boot_id(),
        "started": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "token": token or uuid.uuid4().hex,
    }


def stale_reason(holder: dict[str, Any], mtime: float, now: float | None = None) -> str | None:
    """Why the lock of ``holder`` (last refreshed at ``mtime``) is stale, or None if it is live."""
    now = time.time() if now is None else now
    host, pid = holder.get("host"), holder.get("pid")
    if host != socket.gethostname() or not isinstance(pid, int):
        age = now - mtime
        if age > STALE_AFTER_S:
            return (
                f"held by {host} pid {pid}, not refreshed for {age:.0f} s (> {STALE_AFTER_S:.0f} s)"
            )
        return None
    boot = _boot_id()
    if holder.get("boot_id") and boot and holder["boot_id"] != boot:
        return f"held by pid {pid} before this host rebooted"
    if not _pid_alive(pid):
        return f"held by pid {pid} on this host, which is no longer running"
    st = _proc_stat(pid)
    if holder.get("start_ticks") is not None and st and st[1] != holder["start_ticks"]:
        return f"held by pid {pid} on this host, which now is another process (pid reused)"
    return None


class RunLock:
    """The lock of one run folder; use as a context manager or call acquire()/release()."""

    def __init__(
        self,
        run_dir: str | os.PathLike,
        heartbeat_s: float = HEARTBEAT_S,
        wait_s: float | None = None,
        check_stop: Callable[[], None] | None = None,
    ):
        self.run_dir = Path(run_dir)
        # called while waiting for another trainer's lock; raises to abandon the wait
        self.check_stop = check_stop
        self.path = self.run_dir / LOCK_NAME
        self.heartbeat_s = heartbeat_s
        # how long to wait for a live-looking lock of another host (None: past the stale bound)
        self.wait_s = STALE_AFTER_S + 2 * heartbeat_s if wait_s is None else wait_s
        self.info = holder_info()
        self.token = self.info["token"]
        self.held = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lost: str | None = None

    # ------------------------------------------------------------- reading

    def _read(self, path: Path) -> tuple[dict[str, Any] | None, float] | None:
        """(content or None if unreadable, mtime) of a lock file; None if it does not exist."""
        try:
            mtime = path.stat().st_mtime
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        except OSError:
            return None, time.time()
        try:
            data = json.loads(text)
        except ValueError:
            return None, mtime
        return (data if isinstance(data, dict) else None), mtime

    def holder(self) -> dict[str, Any] | None:
        found = self._read(self.path)
        return found[0] if found else None

    # ------------------------------------------------------------- acquire / release

    def acquire(self) -> RunLock:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        deadline = time.monotonic() + self.wait_s
        attempts = 0
        while attempts < _ATTEMPTS:
            attempts += 1
            if self._try_create():
                self.held = True
                self._start_heartbeat()
                return self
            found = self._read(self.path)
            if found is None:
                continue  # released meanwhile: try again
            holder, mtime = found
            if holder is None:  # unreadable: written by something else; judge by age only
                holder = {"host": "?", "pid": None}
            reason = stale_reason(holder, mtime)
            if reason is not None:
                self._take_over(holder, reason)
                continue
            left = deadline - time.monotonic()
            if holder.get("host") == socket.gethostname() or left <= 0:
                raise RunLocked(self._held_message(holder))
            log.warning(
                "%s is held by host %s (pid %s), refreshed %.0f s ago; waiting up to %.0f s for "
                "it to be released or to go stale",
                self.path,
                holder.get("host"),
                holder.get("pid"),
                time.time() - mtime,
                left,
            )
            self._wait(min(_POLL_S, max(left, 0.01)))
            attempts = 0  # waiting is not contention
        raise RunLocked(f"{self.path}: could not take the run folder's lock (contended); retry")

    def _wait(self, seconds: float) -> None:
        """Sleep ``seconds``, calling :attr:`check_stop` before and every :data:`STOP_CHECK_S`."""
        end = time.monotonic() + seconds
        while True:
            if self.check_stop is not None:
                self.check_stop()
            left = end - time.monotonic()
            if left <= 0:
                return
            time.sleep(min(left, STOP_CHECK_S))

    def _held_message(self, holder: dict[str, Any]) -> str:
        return (
            f"run folder {self.run_dir} is being trained by pid {holder.get('pid')} on host "
            f"{holder.get('host')} (since {holder.get('started', '?')}; lock {self.path}). "
            f"Wait for it or stop it; if that process is gone, delete {self.path}"
        )

    def _try_create(self) -> bool:
        tmp = temp_path(self.path, self.token)
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(self.info, f)
            f.write("\n")
            f.flush()
            os.fsync(f.fileno())
        try:
            try:
                os.link(tmp, self.path)  # atomic and exclusive, also on NFS
            except FileExistsError:
                return False
            except OSError:  # a file system without hard links: exclusive create instead
                try:
                    fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
                except FileExistsError:
                    return False
                with os.fdopen(fd, "w", encoding="utf-8") as f:
                    json.dump(self.info, f)
                    f.write("\n")
                    f.flush()
                    os.fsync(f.fileno())
        finally:
            tmp.unlink(missing_ok=True)
        fsync_dir(self.run_dir)
        return True

    def _take_over(self, holder: dict[str, Any], reason: str) -> None:
        """Move a stale lock aside (only if it still is the one judged stale)."""
        aside = temp_path(self.path, f"{self.token}.stale")
        try:
            os.rename(self.path, aside)
        except FileNotFoundError:
            return
        moved = self._read(aside)
        if moved is None or (moved[0] or {}).get("token") != holder.get("token"):
            # another trainer replaced the stale lock with its own meanwhile: put it back
            try:
                os.link(aside, self.path)
            except FileExistsError:
                pass
            aside.unlink(missing_ok=True)
            return
        aside.unlink(missing_ok=True)
        log.warning("taking over the stale lock %s: %s", self.path, reason)

    def release(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        if self.held and self._still_ours():
            self.path.unlink(missing_ok=True)
        self.held = False

    def __enter__(self) -> RunLock:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()

    # ------------------------------------------------------------- while held

    def _still_ours(self) -> bool:
        found = self._read(self.path)
        return bool(found and found[0] and found[0].get("token") == self.token)

    def check(self) -> None:
        """Raise :class:`RunLocked` if the lock was taken from us (do not write then)."""
        if self._lost is None and not self._still_ours():
            self._lost = "the lock file was removed or replaced"
        if self._lost is not None:
            holder = self.holder() or {}
            raise RunLocked(
                f"lost the lock of run folder {self.run_dir} ({self._lost}; now held by pid "
                f"{holder.get('pid')} on {holder.get('host')}); stopping without writing"
            )

    def _start_heartbeat(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self._beat, name="run-lock-heartbeat", daemon=True)
        self._thread.start()

    def _beat(self) -> None:
        while not self._stop.wait(self.heartbeat_s):
            if not self._still_ours():
                self._lost = "the lock file was removed or replaced"
                return
            try:
                os.utime(self.path)
            except OSError as e:
                log.warning("cannot refresh the lock %s: %s", self.path, e)
