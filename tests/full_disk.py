"""A full file system for tests: a small tmpfs mounted on a folder and filled to the last byte
(needs root and a ``mount`` command; the test is skipped elsewhere)."""

from __future__ import annotations

import contextlib
import errno
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest


@contextlib.contextmanager
def full_tmpfs(folder: Path, size: str = "64k") -> Iterator[Path]:
    """Mount a ``size`` tmpfs on ``folder``, fill it (``folder/filler``), yield it, unmount."""
    folder.mkdir(parents=True, exist_ok=True)
    try:
        mounted = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)],
            capture_output=True,
        )
    except FileNotFoundError:
        pytest.skip("no mount command")
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.decode().strip()}")
    try:
        try:
            with open(folder / "filler", "wb") as f:
                while True:
                    f.write(b"\0" * 4096)
                    f.flush()
        except OSError as e:
            assert e.errno == errno.ENOSPC, e
        yield folder
    finally:
        subprocess.run(["umount", str(folder)], check=False)
