"""Reading corpus archives: a file inside a zip/tar (also inside an archive in the archive), every
file of an archive folder (brat), and safe extraction.

A split's source is a file or ``archive#member`` (:class:`nerbench.data.sources.Source`); the
download stage fetches it (:mod:`nerbench.data.sources`), the corpus readers read it from here.
"""

from __future__ import annotations

import io
import os
import posixpath
import re
import stat
import tarfile
import zipfile
from pathlib import Path, PurePosixPath

from nerbench.io import InputError, atomic_dir

TAR_SUFFIXES = (".tar.gz", ".tgz", ".tar", ".tar.bz2", ".tar.xz")


def _archive_kind(path: str | os.PathLike) -> str | None:
    name = str(path).lower()
    if name.endswith(".zip"):
        return "zip"
    if name.endswith(TAR_SUFFIXES):
        return "tar"
    return None


def _clean_name(name: str) -> str:
    """Archive member name without a leading ``./`` or trailing ``/``."""
    while name.startswith("./"):
        name = name[2:]
    return name.rstrip("/")


def _list_members(path: Path | io.BytesIO, kind: str) -> list[str]:
    if kind == "zip":
        with zipfile.ZipFile(path) as zf:
            return [_clean_name(i.filename) for i in zf.infolist() if not i.is_dir()]
    with _open_tar(path) as tf:
        return [_clean_name(m.name) for m in tf.getmembers() if m.isfile()]


def _open_tar(source: Path | io.BytesIO) -> tarfile.TarFile:
    if isinstance(source, io.BytesIO):
        source.seek(0)
        return tarfile.open(fileobj=source, mode="r:*")
    return tarfile.open(source)


def _member_bytes(source: Path | io.BytesIO, kind: str, wanted: str) -> bytes | None:
    """The bytes of the regular file ``wanted`` (cleaned name) of an archive; None if absent."""
    if kind == "zip":
        with zipfile.ZipFile(source) as zf:
            for info in zf.infolist():
                if not info.is_dir() and _clean_name(info.filename) == wanted:
                    return zf.read(info)
        return None
    with _open_tar(source) as tf:
        for m in tf.getmembers():
            if m.isfile() and _clean_name(m.name) == wanted:
                f = tf.extractfile(m)
                assert f is not None
                return f.read()
    return None


def _read_member(source: Path | io.BytesIO, kind: str, member: str, shown: str) -> bytes:
    """``member`` of an archive, descending into archives inside it (``inner.zip/path``)."""
    wanted = _clean_name(member)
    try:
        data = _member_bytes(source, kind, wanted)
        if data is not None:
            return data
        parts = wanted.split("/")
        for i in range(len(parts) - 1, 0, -1):  # the longest prefix that is an inner archive
            inner = "/".join(parts[:i])
            inner_kind = _archive_kind(inner)
            if inner_kind is None:
                continue
            blob = _member_bytes(source, kind, inner)
            if blob is not None:
                rest = "/".join(parts[i:])
                inner_shown = f"{shown}/{inner}" if "#" in shown else f"{shown}#{inner}"
                return _read_member(io.BytesIO(blob), inner_kind, rest, inner_shown)
        available = _list_members(source, kind)
    except (zipfile.BadZipFile, tarfile.TarError, EOFError, OSError) as e:
        raise InputError(f"cannot read archive ({e})", shown) from None
    listed = ", ".join(available[:20]) + (" ..." if len(available) > 20 else "")
    raise InputError(f"archive has no member '{member}'; available: {listed or '(none)'}", shown)


def read_source_bytes(path: str | os.PathLike, member: str | None = None) -> bytes:
    """The bytes of ``path`` or, with ``member``, of that file inside a zip/tar archive.

    A member path may go through an archive inside the archive: ``inner.zip/dir/file.tsv`` reads
    ``dir/file.tsv`` of the member ``inner.zip`` (at any depth) when no member has that exact name.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError("source file not found", path)
    if not member:
        return path.read_bytes()
    kind = _archive_kind(path)
    if kind is None:
        raise InputError(
            f"member '{member}' requested but file is not a .zip/.tar(.gz|.tgz) archive", path
        )
    return _read_member(path, kind, member, str(path))


def _reading_name(name: str) -> str:
    """An archive member's name for reading (never for extracting): without any leading ``./``
    or ``/``."""
    while name.startswith(("./", "/")):
        name = name[2:] if name.startswith("./") else name[1:]
    return name


def _sniffed_kind(path: Path) -> str | None:
    """``zip`` or ``tar`` by the file's content (whatever its name), else None."""
    if zipfile.is_zipfile(path):
        return "zip"
    if tarfile.is_tarfile(path):
        return "tar"
    return None


def archive_files(path: str | os.PathLike) -> dict[str, bytes] | None:
    """Every regular file of a zip or tar archive (told by its content) by member name, without
    a leading ``./`` or ``/``; None when ``path`` is no archive. A broken archive is an
    :class:`InputError` naming it."""
    path = Path(path)
    try:
        kind = _sniffed_kind(path)
        if kind == "zip":
            with zipfile.ZipFile(path) as zf:
                return {
                    _reading_name(i.filename): zf.read(i) for i in zf.infolist() if not i.is_dir()
                }
        if kind == "tar":
            files = {}
            with tarfile.open(path) as tf:
                for m in tf.getmembers():
                    f = tf.extractfile(m) if m.isfile() else None
                    if f is not None:
                        files[_reading_name(m.name)] = f.read()
            return files
    except (zipfile.BadZipFile, tarfile.TarError, EOFError, OSError) as e:
        raise InputError(f"cannot read archive ({e})", path) from None
    return None


def _unsafe_name(name: str) -> str | None:
    """Why ``name`` may not be extracted, or None when it stays inside the destination."""
    if name.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", name):
        return "absolute path"
    if "\\" in name:
        return "backslash in path"
    if ".." in PurePosixPath(name).parts:
        return "'..' in path"
    return None


def _escapes(base_dir: str, target: str) -> bool:
    """Whether ``target`` (relative to ``base_dir`` inside the archive root) leaves the root."""
    if target.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", target):
        return True
    resolved = posixpath.normpath(posixpath.join(base_dir, target))
    return resolved == ".." or resolved.startswith("../")


def _check_tar_member(m: tarfile.TarInfo, links: set[str]) -> str | None:
    name = _clean_name(m.name)
    reason = _unsafe_name(name)
    if reason:
        return reason
    parents = PurePosixPath(name).parents
    if any(str(p) in links for p in parents):
        return "path goes through a link in the archive"
    if m.issym() and _escapes(posixpath.dirname(name), m.linkname):
        return f"symlink to '{m.linkname}' points outside the destination"
    if m.islnk() and _escapes("", _clean_name(m.linkname)):
        return f"hardlink to '{m.linkname}' points outside the destination"
    if not (m.isfile() or m.isdir() or m.issym() or m.islnk()):
        return "special file (device, FIFO)"
    return None


def _check_zip_member(zf: zipfile.ZipFile, info: zipfile.ZipInfo) -> str | None:
    name = _clean_name(info.filename)
    reason = _unsafe_name(name)
    if reason:
        return reason
    if stat.S_ISLNK(info.external_attr >> 16):
        target = zf.read(info).decode("utf-8", "replace")
        if _escapes(posixpath.dirname(name), target):
            return f"symlink to '{target}' points outside the destination"
    return None


def safe_extract(archive: str | os.PathLike, dest_dir: str | os.PathLike) -> list[str]:
    """Extract a zip/tar archive into ``dest_dir`` atomically; return the extracted file names.

    Every member is checked before anything is written: absolute paths, ``..`` components, paths
    through links, and symlinks or hardlinks pointing outside ``dest_dir`` are refused with an
    :class:`InputError` naming the member. Extraction goes into a temporary directory that replaces
    ``dest_dir`` only on success.
    """
    archive = Path(archive)
    kind = _archive_kind(archive)
    if kind is None:
        raise InputError("not a .zip/.tar(.gz|.tgz) archive", archive)
    try:
        if kind == "zip":
            with zipfile.ZipFile(archive) as zf:
                for info in zf.infolist():
                    reason = _check_zip_member(zf, info)
                    if reason:
                        raise InputError(f"unsafe member '{info.filename}': {reason}", archive)
                with atomic_dir(dest_dir) as tmp:
                    zf.extractall(tmp)
        else:
            with tarfile.open(archive) as tf:
                members = tf.getmembers()
                links: set[str] = set()
                for m in members:
                    reason = _check_tar_member(m, links)
                    if reason:
                        raise InputError(f"unsafe member '{m.name}': {reason}", archive)
                    if m.issym() or m.islnk():
                        links.add(_clean_name(m.name))
                with atomic_dir(dest_dir) as tmp:
                    tf.extractall(tmp, members=members, filter="data")
    except tarfile.FilterError as e:
        raise InputError(f"unsafe member: {e}", archive) from None
    except (zipfile.BadZipFile, tarfile.TarError, EOFError) as e:
        raise InputError(f"cannot read archive ({e})", archive) from None
    return sorted(_list_members(archive, kind))
