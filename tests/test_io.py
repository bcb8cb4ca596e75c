"""Atomic writes: plain-write modes (umask respected), fsync, no leftovers; full-disk errors."""

from __future__ import annotations

import errno
import os
import stat

import pytest

from nerbench import io as nio
from nerbench.io import DiskFullError, atomic_dir, atomic_path, explain_disk_full, write_json


@pytest.fixture
def umask():
    """Set a umask for the test, restore the old one afterwards."""
    old = os.umask(0o022)
    try:
        yield lambda mask: os.umask(mask)
    finally:
        os.umask(old)


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.mark.parametrize("mask", [0o022, 0o027, 0o002], ids=["022", "027", "002"])
def test_atomic_results_get_the_modes_of_a_plain_write(tmp_path, umask, mask):
    umask(mask)
    write_json(tmp_path / "a.json", {"x": 1})
    with atomic_dir(tmp_path / "model") as tmp:
        (tmp / "sub").mkdir(mode=0o700)
        (tmp / "sub" / "w.bin").write_bytes(b"x")
        (tmp / "model.safetensors").write_bytes(b"w")
        os.chmod(tmp / "model.safetensors", 0o600)  # as safetensors writes it
        (tmp / "run.sh").write_text("#!/bin/sh\n")
        os.chmod(tmp / "run.sh", 0o700)
    with atomic_path(tmp_path / "b.txt") as tmp:
        tmp.write_text("b")
    assert mode(tmp_path / "a.json") == mode(tmp_path / "b.txt") == 0o666 & ~mask
    assert mode(tmp_path / "model") == mode(tmp_path / "model" / "sub") == 0o777 & ~mask
    assert mode(tmp_path / "model" / "model.safetensors") == 0o666 & ~mask
    assert mode(tmp_path / "model" / "sub" / "w.bin") == 0o666 & ~mask
    assert mode(tmp_path / "model" / "run.sh") == 0o777 & ~mask
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.json", "b.txt", "model"]


def test_atomic_writes_fsync_files_and_folders_before_and_after_the_rename(tmp_path, monkeypatch):
    synced: list[str] = []
    real_fsync = os.fsync

    def spy(fd):
        synced.append(os.readlink(f"/proc/self/fd/{fd}"))
        return real_fsync(fd)

    monkeypatch.setattr(os, "fsync", spy)
    with atomic_dir(tmp_path / "model") as tmp:
        (tmp / "w.bin").write_bytes(b"x")
    names = [os.path.basename(p) for p in synced]
    assert names[0] == "w.bin" and names[1].startswith(".model.")  # file, then its folder
    assert synced[-1] == str(tmp_path)  # the parent, after the rename
    synced.clear()
    write_json(tmp_path / "a.json", {})
    assert os.path.basename(synced[0]).startswith(".a.json.") and synced[-1] == str(tmp_path)


def test_atomic_dir_replaces_an_existing_folder_without_leftovers(tmp_path):
    with atomic_dir(tmp_path / "m") as tmp:
        (tmp / "old").write_text("1")
    with atomic_dir(tmp_path / "m") as tmp:
        (tmp / "new").write_text("2")
    assert [p.name for p in tmp_path.iterdir()] == ["m"]
    assert [p.name for p in (tmp_path / "m").iterdir()] == ["new"]


@pytest.mark.parametrize(
    "exc",
    [
        OSError(errno.ENOSPC, "No space left on device"),
        RuntimeError("[enforce fail at inline_container.cc:664] . unexpected pos 4800 vs 4694"),
        RuntimeError("PytorchStreamWriter failed writing file data/0: file write failed"),
    ],
)
def test_explain_disk_full_names_the_path_and_the_free_space(tmp_path, monkeypatch, exc):
    monkeypatch.setattr(nio, "free_space", lambda path: (4694, 65536))
    target = tmp_path / "checkpoints" / "step-0000001"
    with pytest.raises(DiskFullError) as info:
        with explain_disk_full(target, "saving checkpoint"):
            raise exc
    message = str(info.value)
    assert message.startswith(f"saving checkpoint {target}: ")
    assert "4.6 KiB free of 64.0 KiB" in message
    if isinstance(exc, OSError):
        assert "No space left on device" in message
    assert info.value.path == str(target)
    with pytest.raises(ValueError, match="other"), explain_disk_full(target):
        raise ValueError("other")  # anything else passes unchanged


def test_a_write_removes_what_killed_writes_of_the_same_path_left(tmp_path):
    """A kill -9 inside atomic_path leaves `.<name>.<random>.tmp` beside the output (pred/,
    metrics/): the next successful write of that path removes it; a failed write removes none,
    and temporaries of other paths stay."""
    out = tmp_path / "metrics" / "NCBI-disease.json"
    out.parent.mkdir()
    killed_file = nio.temp_path(out, "k1x2ab_9")  # what mkstemp leaves
    killed_file.write_text("{partial")
    killed_dir = out.parent / f".{out.name}.zz9abcde.old.tmp"  # atomic_dir's swap, killed
    killed_dir.mkdir()
    other = nio.temp_path(out.parent / "NCBI-disease.json.meta.json", "a1b2c3d4")  # another's
    other.write_text("x")
    lock_aside = nio.temp_path(out, "token123.stale")  # not atomic_path's: left alone
    lock_aside.write_text("x")
    assert nio.leftover_temps(out) == sorted([killed_file, killed_dir])
    with pytest.raises(RuntimeError), atomic_path(out) as tmp:
        tmp.write_text("{}")
        raise RuntimeError("killed before the rename")
    assert killed_file.exists() and killed_dir.exists() and not out.exists()
    write_json(out, {"f1": 0.8})
    assert not killed_file.exists() and not killed_dir.exists() and other.exists()
    names = sorted(p.name for p in out.parent.iterdir())
    assert names == sorted([out.name, other.name, lock_aside.name])
    # a folder output likewise
    folder = tmp_path / "best"
    left = nio.temp_path(folder, "q7rstuvw")
    left.mkdir()
    with atomic_dir(folder) as tmp:
        (tmp / "a").write_text("1")
    assert not left.exists() and (folder / "a").read_text() == "1"
