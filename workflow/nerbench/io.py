"""Atomic file output, JSON/JSONL helpers and the project's error types.

Atomic writes (:func:`atomic_path`, :func:`atomic_dir`) build the result beside its final path,
give it the modes a plain write would (``0666``/``0777`` less the umask, so ``0644``/``0755`` under
umask 022; nothing is left ``0600``/``0700`` by ``mkstemp``/``mkdtemp`` or by libraries that write
through private temporary files), fsync every file and folder, rename it into place and fsync the
parent folder, so a crash leaves either the old or the new result and never a half-written one.
Every temporary name the project makes for a path is ``.<name>.<tag>.tmp`` beside it
(:func:`temp_path`), so a writer can sweep the leftovers of kills by name (:func:`is_temp_of`).
"""

from __future__ import annotations

import contextlib
import errno
import glob
import json
import os
import re
import shutil
import stat
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any


class InputError(ValueError):
    """Bad user input: names the file (and line) or the config key at fault."""

    def __init__(
        self, message: str, path: str | os.PathLike | None = None, line: int | None = None
    ):
        where = ""
        if path is not None:
            where = f"{path}"
            if line is not None:
                where += f":{line}"
            where += ": "
        super().__init__(where + message)
        self.path = None if path is None else str(path)
        self.line = line


class ResourceError(RuntimeError):
    """A problem of the machine or of the run folder, not of the input (disk full, run folder in
    use by another process, unusable checkpoint): the CLI prints one line and exits with 1."""


class DiskFullError(ResourceError):
    """Writing ``path`` failed because its file system is full (or the quota is exhausted)."""

    def __init__(self, message: str, path: str | os.PathLike):
        super().__init__(message)
        self.path = str(path)


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _shared_mode(mode: int, umask: int) -> int:
    """The mode a plain ``open``/``mkdir`` would give: 0666 (0777 for folders and executables)
    less the umask."""
    full = 0o777 if stat.S_ISDIR(mode) or mode & stat.S_IXUSR else 0o666
    return full & ~umask


def _fsync(path: str | os.PathLike) -> None:
    """fsync a file or a folder (folders: where the OS and file system support it)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    except OSError as e:
        if not (os.path.isdir(path) and e.errno in (errno.EINVAL, errno.ENOTSUP, errno.EBADF)):
            raise
    finally:
        os.close(fd)


def _finalize_tree(root: Path, umask: int) -> None:
    """Give every file and folder under ``root`` (and ``root``) its plain-write mode and fsync it,
    children before their folder."""
    if root.is_symlink():
        return
    if root.is_dir():
        for dirpath, dirnames, filenames in os.walk(root, topdown=False):
            for name in filenames + dirnames:
                child = os.path.join(dirpath, name)
                st = os.lstat(child)
                if stat.S_ISLNK(st.st_mode):
                    continue
                os.chmod(child, _shared_mode(st.st_mode, umask))
                if stat.S_ISREG(st.st_mode):
                    _fsync(child)
            _fsync(dirpath)
    os.chmod(root, _shared_mode(os.lstat(root).st_mode, umask))
    _fsync(root)


def fsync_dir(path: str | os.PathLike) -> None:
    """Make a rename or deletion in folder ``path`` durable."""
    _fsync(path)


TEMP_SUFFIX = ".tmp"


def temp_prefix(path: str | os.PathLike) -> str:
    """The start of every temporary name made for ``path``: ``.<name>.``."""
    return f".{Path(path).name}."


def temp_path(path: str | os.PathLike, tag: str) -> Path:
    """A temporary name for ``path``, beside it: ``.<name>.<tag>.tmp``."""
    return Path(path).with_name(f"{temp_prefix(path)}{tag}{TEMP_SUFFIX}")


def is_temp_of(leftover: str | os.PathLike, path: str | os.PathLike) -> bool:
    """Whether ``leftover`` has a temporary name made for ``path`` (:func:`temp_path`, and the
    temporaries of :func:`atomic_path` and :func:`atomic_dir`)."""
    name = Path(leftover).name
    return name.startswith(temp_prefix(path)) and name.endswith(TEMP_SUFFIX)


def leftover_temps(path: str | os.PathLike, suffix: str = "") -> list[Path]:
    """Temporaries that :func:`atomic_path` (with ``suffix``) or :func:`atomic_dir` made for
    ``path`` and that exist now: after a kill, the leftovers of an earlier write. Matched
    exactly (``.<name>.`` + tempfile's 8 random characters + ``suffix`` [+ ``.old``] + ``.tmp``),
    so the temporaries of ``<name>.meta.json`` are not those of ``<name>``."""
    path = Path(path)
    if not path.parent.is_dir():
        return []
    exact = re.compile(
        re.escape(temp_prefix(path))
        + r"[a-z0-9_]{8}"
        + re.escape(suffix)
        + r"(\.old)?"
        + re.escape(TEMP_SUFFIX)
    )
    pattern = f"{glob.escape(temp_prefix(path))}*{TEMP_SUFFIX}"
    return sorted(p for p in path.parent.glob(pattern) if exact.fullmatch(p.name))


def _remove_leftovers(leftovers: Iterable[Path]) -> None:
    """Remove temporaries an earlier, killed write of the same path left (files or folders)."""
    for p in leftovers:
        if p.is_dir() and not p.is_symlink():
            shutil.rmtree(p, ignore_errors=True)
        else:
            p.unlink(missing_ok=True)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, suffix: str = "") -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` only on success.

    On any exception the temporary file (or directory) is removed and ``path`` is untouched; a
    full disk is a :class:`DiskFullError` naming ``path`` (:func:`explain_disk_full`).
    On success the file gets the mode of a plain write and is fsynced (file, then folder), and
    the temporaries that earlier, killed writes of ``path`` left beside it are removed.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    leftovers = leftover_temps(path, suffix)
    prefix, suffix = temp_prefix(path), suffix + TEMP_SUFFIX
    fd, tmp = tempfile.mkstemp(prefix=prefix, suffix=suffix, dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    umask = _current_umask()
    os.chmod(tmp_path, 0o666 & ~umask)  # mkstemp makes 0600; outputs are shared files
    try:
        with explain_disk_full(path):
            yield tmp_path
            _finalize_tree(tmp_path, umask)
            os.replace(tmp_path, path)
            fsync_dir(path.parent)
        _remove_leftovers(leftovers)
    except BaseException:
        if tmp_path.is_dir():
            shutil.rmtree(tmp_path, ignore_errors=True)
        else:
            tmp_path.unlink(missing_ok=True)
        raise


@contextlib.contextmanager
def atomic_dir(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary directory beside ``path``; it replaces ``path`` only on success.

    The temporary folder is ``.<name>.<random>.tmp``; a previous ``path`` is first renamed to
    ``.<name>.<random>.old.tmp`` and removed after the swap (a kill in between leaves only such
    ``.tmp`` leftovers, removed by the next successful write of ``path``). A full disk is a
    :class:`DiskFullError` naming ``path``.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    leftovers = leftover_temps(path)
    tmp_path = Path(tempfile.mkdtemp(prefix=temp_prefix(path), suffix=TEMP_SUFFIX, dir=path.parent))
    try:
        with explain_disk_full(path):
            yield tmp_path
            _finalize_tree(tmp_path, _current_umask())
            old = None
            if path.exists():
                old = Path(f"{tmp_path.with_suffix('')}.old{TEMP_SUFFIX}")
                os.replace(path, old)
            os.replace(tmp_path, path)
            fsync_dir(path.parent)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
        _remove_leftovers(leftovers)
    except BaseException:
        shutil.rmtree(tmp_path, ignore_errors=True)
        raise


# --------------------------------------------------------------------------- full disks

_DISK_FULL_ERRNOS = (errno.ENOSPC, errno.EDQUOT)
# What writers that do not raise OSError say on a full disk: torch's zip writer ("unexpected pos
# 4800 vs 4694", "file write failed") and safetensors (Rust io::Error "StorageFull", os error 28).
_DISK_FULL_MARKERS = (
    "No space left on device",
    "Disk quota exceeded",
    "StorageFull",
    "os error 28",
    "unexpected pos",
    "file write failed",
)


def free_space(path: str | os.PathLike) -> tuple[int, int]:
    """(free, total) bytes of the file system holding ``path`` (or its nearest existing parent)."""
    p = Path(path).absolute()
    while not p.exists() and p != p.parent:
        p = p.parent
    usage = shutil.disk_usage(p)
    return usage.free, usage.total


def human_bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    raise AssertionError("unreachable")


def disk_full_errno(exc: BaseException) -> int | None:
    """ENOSPC/EDQUOT if ``exc`` (or an exception it was raised from) reports a full disk; 0 when
    only its message says so (writers that raise RuntimeError); None otherwise."""
    seen: set[int] = set()
    e: BaseException | None = exc
    while e is not None and id(e) not in seen:
        seen.add(id(e))
        if isinstance(e, OSError) and e.errno in _DISK_FULL_ERRNOS:
            return e.errno
        if any(m in str(e) for m in _DISK_FULL_MARKERS):
            return errno.EDQUOT if "quota" in str(e).lower() else 0
        e = e.__cause__ or e.__context__
    return None


def disk_full_error(
    exc: BaseException, path: str | os.PathLike | None = None, what: str = "writing"
) -> DiskFullError | None:
    """The :class:`DiskFullError` that ``exc`` amounts to (None if it is no full disk): names
    ``path`` (else the file the error names, else none: the working directory's file system)
    and the free space left on its file system. Every command reports a full disk through it
    (:func:`explain_disk_full`, atomic writes, the CLI's dispatcher)."""
    if isinstance(exc, DiskFullError):
        return exc
    code = disk_full_errno(exc)
    if code is None:
        return None
    if path is None:
        path = _named_file(exc)
    reason = os.strerror(code) if code else "write failed, the disk is probably full"
    detail = (str(exc).strip().splitlines() or [""])[-1][:200]
    free, total = free_space(path if path is not None else ".")
    where = "on its file system" if path is not None else "in the working directory"
    subject = f"{what} {path}" if path is not None else what
    return DiskFullError(
        f"{subject}: {reason} ({human_bytes(free)} free of {human_bytes(total)} {where}; "
        f"{type(exc).__name__}: {detail})",
        path if path is not None else ".",
    )


def _named_file(exc: BaseException) -> str | None:
    """The file an OSError in ``exc``'s chain names, if any."""
    seen: set[int] = set()
    e: BaseException | None = exc
    while e is not None and id(e) not in seen:
        seen.add(id(e))
        if isinstance(e, OSError) and e.filename:
            return os.fsdecode(e.filename)
        e = e.__cause__ or e.__context__
    return None


@contextlib.contextmanager
def explain_disk_full(path: str | os.PathLike, what: str = "writing") -> Iterator[None]:
    """Turn a full-disk failure inside the block into a :class:`DiskFullError` naming ``path``
    and the free space left on its file system; other errors pass unchanged."""
    try:
        yield
    except DiskFullError:
        raise
    except Exception as e:
        full = disk_full_error(e, path, what)
        if full is None:
            raise
        raise full from e


def write_text(path: str | os.PathLike, text: str) -> None:
    """Write UTF-8 text atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_json(path: str | os.PathLike, obj: Any) -> None:
    """Write JSON atomically (sorted keys, indented, trailing newline)."""
    write_text(path, json.dumps(obj, indent=2, sort_keys=True, ensure_ascii=False) + "\n")


def read_json(path: str | os.PathLike) -> Any:
    with open(path, encoding="utf-8") as f:
        return json.load(f)


_JSON_KINDS = {dict: "object", list: "array", str: "string"}


def json_option(text: str, option: str, kind: type | None = dict) -> Any:
    """Parse the JSON value given to a command-line option such as ``--spec``.

    Malformed JSON, or a value that is not a ``kind`` (a JSON object by default), is an
    :class:`InputError` naming the option, the JSON error and where in the text it is.
    """
    try:
        value = json.loads(text)
    except json.JSONDecodeError as e:
        raise InputError(
            f"{option} is not valid JSON ({e.msg} at line {e.lineno} column {e.colno})"
        ) from None
    if kind is not None and not isinstance(value, kind):
        got = "null" if value is None else _JSON_KINDS.get(type(value), type(value).__name__)
        raise InputError(f"{option} must be a JSON {_JSON_KINDS[kind]}, not {got}")
    return value


def write_jsonl(path: str | os.PathLike, records: Iterable[dict]) -> int:
    """Write one JSON object per line atomically; return the number of records."""
    n = 0
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8") as f:
        for rec in records:
            f.write(json.dumps(rec, ensure_ascii=False) + "\n")
            n += 1
    return n


def read_jsonl(path: str | os.PathLike) -> list[dict]:
    """Read a JSONL file; a malformed line is an :class:`InputError` naming file and line."""
    out = []
    with open(path, encoding="utf-8") as f:
        for i, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError as e:
                raise InputError(f"invalid JSON ({e.msg})", path, i) from None
    return out


def append_jsonl(path: str | os.PathLike, record: dict) -> None:
    """Append one record and flush to disk (used for training logs that survive a kill)."""
    with open(path, "a", encoding="utf-8") as f:
        f.write(json.dumps(record, ensure_ascii=False) + "\n")
        f.flush()
        os.fsync(f.fileno())
