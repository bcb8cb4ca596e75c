"""Corpus sources: where each split of a dataset comes from, and the download stage."""

from __future__ import annotations

import argparse
import base64
import hashlib
import http.client
import io
import logging
import os
import posixpath
import re
import stat
import sys
import tarfile
import time
import urllib.error
import urllib.request
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from urllib.parse import unquote, urlparse, urlsplit, urlunsplit

from nerbench.io import InputError, atomic_dir, atomic_path, json_option

REMOTE_SCHEMES = ("http", "https", "file")


@dataclass(frozen=True)
class Source:
    """One split's source: a remote URL (downloaded into resources/) or a project-relative path.

    ``member`` selects a file inside an archive (``URL#path/in/archive``); the path may go
    through an archive inside the archive (``URL#inner.zip/path/in/inner``).
    """

    url: str | None
    path: str | None
    member: str | None
    sha256: str

    @property
    def is_remote(self) -> bool:
        return self.url is not None

    @property
    def filename(self) -> str:
        """Local file name of a remote source (the URL's last path component)."""
        assert self.url is not None
        name = posixpath.basename(urlparse(self.url).path)
        if not name:
            raise InputError(f"URL has no file name: {self.url}")
        return name


def local_file(src: Source, root: str | os.PathLike = ".") -> Path | None:
    """The file a source is read from without the network: a project path (relative to
    ``root``) or the file of a ``file://`` URL; None for a network URL."""
    if src.url is None:
        return Path(root) / str(src.path)
    if urlparse(src.url).scheme == "file":
        return Path(urllib.request.url2pathname(urlparse(src.url).path))
    return None


def source_of(row: dict, split: str) -> Source:
    """Parse the ``<split>`` column of a datasets.tsv row into a :class:`Source`."""
    spec = row[split]
    location, _, member = spec.partition("#")
    sha = row.get(f"sha256_{split}", "") or ""
    if urlparse(location).scheme in REMOTE_SCHEMES:
        return Source(url=location, path=None, member=member or None, sha256=sha)
    return Source(url=None, path=location, member=member or None, sha256=sha)


# --------------------------------------------------------------------------------------------
# Download stage
# --------------------------------------------------------------------------------------------

log = logging.getLogger(__name__)

CHUNK_BYTES = 1 << 16
MAX_BACKOFF_S = 60.0
SPEC_KEYS = {"url", "sha256", "timeout_s", "retries", "backoff_s"}
RETRYABLE_HTTP = {408, 425, 429}
USER_AGENT = "nerbench-download/0.1"

ProgressFn = Callable[[int, "int | None", float], None]


class DownloadError(InputError):
    """A download that failed for good: names the (credential-free) URL and the cause."""


class _TransientError(Exception):
    """A failure worth another attempt (connection error, timeout, 5xx, truncated body)."""


def redact_url(url: str) -> str:
    """The URL without any ``user:password@`` part, for messages and logs."""
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = host if parts.port is None else f"{host}:{parts.port}"
    return urlunsplit(parts._replace(netloc=netloc))


def _request(url: str) -> urllib.request.Request:
    """A request for ``url``; credentials in the URL become a Basic ``Authorization`` header."""
    parts = urlsplit(url)
    request = urllib.request.Request(redact_url(url), headers={"User-Agent": USER_AGENT})
    if parts.username is not None:
        user = unquote(parts.username)
        password = unquote(parts.password or "")
        token = base64.b64encode(f"{user}:{password}".encode()).decode("ascii")
        # Unredirected: the credentials are not forwarded to another host on a redirect.
        request.add_unredirected_header("Authorization", f"Basic {token}")
    return request


def _check_sha256(sha256: str) -> str:
    sha = sha256.strip().lower()
    if sha and not re.fullmatch(r"[0-9a-f]{64}", sha):
        raise InputError(f"sha256 '{sha256}' is not a 64-digit hexadecimal checksum")
    return sha


def _content_length(response) -> int | None:
    value = response.headers.get("Content-Length")
    if value is None:
        return None
    try:
        return int(value)
    except ValueError:
        return None


def _stream_to(
    url: str, tmp: Path, timeout_s: float, progress: ProgressFn | None
) -> tuple[str, bool]:
    """Fetch ``url`` into ``tmp``; return (sha256, whether the body length was verified).

    Raises :class:`_TransientError` for failures worth retrying, :class:`DownloadError` otherwise.
    """
    shown = redact_url(url)
    digest = hashlib.sha256()
    try:
        with urllib.request.urlopen(_request(url), timeout=timeout_s) as response:
            expected = _content_length(response)
            received = 0
            start = time.monotonic()
            with open(tmp, "wb") as out:
                while chunk := response.read(CHUNK_BYTES):
                    out.write(chunk)
                    digest.update(chunk)
                    received += len(chunk)
                    if progress is not None:
                        progress(received, expected, time.monotonic() - start)
                out.flush()
                os.fsync(out.fileno())
    except urllib.error.HTTPError as e:
        e.close()
        if e.code >= 500 or e.code in RETRYABLE_HTTP:
            raise _TransientError(f"HTTP {e.code} {e.reason}") from None
        raise DownloadError(f"download of {shown} failed: HTTP {e.code} {e.reason}") from None
    except urllib.error.URLError as e:
        if isinstance(e.reason, FileNotFoundError | PermissionError | IsADirectoryError):
            raise DownloadError(f"download of {shown} failed: {e.reason}") from None
        raise _TransientError(f"cannot connect: {e.reason}") from None
    except (http.client.HTTPException, OSError) as e:  # timeouts, resets, IncompleteRead
        raise _TransientError(f"{type(e).__name__}: {e}") from None
    if expected is not None and received != expected:
        raise _TransientError(f"truncated body: got {received} of {expected} bytes")
    return digest.hexdigest(), expected is not None


def download(
    url: str,
    dest: str | os.PathLike,
    sha256: str = "",
    timeout_s: float = 60,
    retries: int = 4,
    backoff_s: float = 2.0,
    progress: ProgressFn | None = None,
) -> str:
    """Download ``url`` (http, https or file) to ``dest`` atomically; return its sha256.

    The body is streamed into a temporary file beside ``dest`` and hashed on the way. Connection
    errors, timeouts, HTTP 5xx/408/429 and bodies shorter than their Content-Length are retried up
    to ``retries`` times, waiting ``backoff_s * 2**k`` seconds (capped at 60 s); other HTTP errors
    fail at once. A checksum mismatch after a complete (length-verified) transfer fails at once; it
    is retried like a transient error only when the server sent no Content-Length. An empty
    ``sha256`` logs the computed checksum as a warning so that it can be pinned. On failure
    :class:`DownloadError` is raised, no temporary file remains and ``dest`` is not written.
    """
    expected_sha = _check_sha256(sha256)
    if retries < 0 or timeout_s <= 0 or backoff_s < 0:
        raise InputError(
            f"need retries >= 0, timeout_s > 0, backoff_s >= 0 "
            f"(got {retries}, {timeout_s}, {backoff_s})"
        )
    dest = Path(dest)
    shown = redact_url(url)
    if urlsplit(url).scheme not in REMOTE_SCHEMES:
        raise DownloadError(f"unsupported URL scheme in {shown}; use one of {REMOTE_SCHEMES}")
    attempts = retries + 1
    for attempt in range(1, attempts + 1):
        try:
            with atomic_path(dest, suffix=".part") as tmp:
                actual, complete = _stream_to(url, tmp, timeout_s, progress)
                if expected_sha and actual != expected_sha:
                    message = (
                        f"checksum mismatch for {shown}: expected sha256 {expected_sha}, "
                        f"got {actual}"
                    )
                    if complete or attempt == attempts:
                        raise DownloadError(message)
                    raise _TransientError(message)
        except OSError as e:  # the destination itself: no write permission, not a directory, ...
            raise DownloadError(f"cannot write {dest} for {shown}: {e}") from None
        except _TransientError as e:
            if attempt == attempts:
                raise DownloadError(
                    f"download of {shown} failed after {attempts} attempt(s): {e}"
                ) from None
            wait = min(backoff_s * 2 ** (attempt - 1), MAX_BACKOFF_S)
            log.warning(
                "attempt %d/%d for %s failed: %s; retrying in %.1f s",
                attempt,
                attempts,
                shown,
                e,
                wait,
            )
            time.sleep(wait)
            continue
        if not expected_sha:
            log.warning("no sha256 pinned for %s; downloaded file has sha256 %s", shown, actual)
        return actual
    raise AssertionError("unreachable")


# The workflow hands download.mirror to its download jobs (local rules) in this environment
# variable rather than in the rule's params: the bytes are sha256-checked either way, so pointing
# at another mirror must not rerun downloads (and everything after them) that are already done.
MIRROR_ENV = "NERBENCH_DOWNLOAD_MIRROR"


def check_mirror(mirror: object) -> dict[str, str]:
    """``download.mirror`` checked: URL prefix -> replacement prefix (``None`` = no mirror).

    Both sides must be non-empty strings starting with a scheme the download stage supports;
    errors name ``download.mirror``.
    """
    if mirror is None:
        return {}
    if not isinstance(mirror, dict):
        raise InputError(
            f"download.mirror must be a mapping of URL prefixes to replacement prefixes, "
            f"not {type(mirror).__name__}"
        )
    for prefix, target in mirror.items():
        for what, value in (("prefix", prefix), (f"replacement of prefix {prefix!r}", target)):
            if not isinstance(value, str) or not value:
                raise InputError(
                    f"download.mirror: {what} must be a non-empty string, got {value!r}"
                )
            if urlsplit(value).scheme not in REMOTE_SCHEMES:
                raise InputError(
                    f"download.mirror: {what} {redact_url(value)!r} must start with one of "
                    f"{', '.join(s + '://' for s in REMOTE_SCHEMES)}"
                )
    return dict(mirror)


def apply_mirror(url: str, mirror: dict[str, str]) -> str:
    """``url`` with its longest matching ``download.mirror`` prefix replaced (unchanged if none)."""
    matches = [prefix for prefix in mirror if url.startswith(prefix)]
    if not matches:
        return url
    prefix = max(matches, key=len)
    return mirror[prefix] + url[len(prefix) :]


class _ProgressPrinter:
    """Prints ``bytes, MB/s`` lines to stderr at most every ``every_s`` seconds and at the end."""

    def __init__(self, every_s: float = 2.0) -> None:
        self.every_s = every_s
        self.last = -every_s

    def __call__(self, received: int, total: int | None, elapsed: float) -> None:
        done = total is not None and received >= total
        if elapsed - self.last < self.every_s and not done:
            return
        self.last = elapsed
        rate = received / 1e6 / max(elapsed, 1e-9)
        of = f" of {total}" if total is not None else ""
        print(f"downloaded {received}{of} bytes, {rate:.2f} MB/s", file=sys.stderr, flush=True)


def _parse_spec(text: str) -> dict:
    spec = json_option(text, "--spec")
    unknown = sorted(set(spec) - SPEC_KEYS)
    if unknown:
        raise InputError(f"--spec has unknown key(s) {unknown}; allowed: {sorted(SPEC_KEYS)}")
    if not isinstance(spec.get("url"), str) or not spec["url"]:
        raise InputError("--spec needs a non-empty 'url'")
    return spec


def main_download(argv: list[str]) -> int:
    """``python -m nerbench download --spec JSON --output PATH [--mirror JSON]``."""
    parser = argparse.ArgumentParser(prog="nerbench download", description=main_download.__doc__)
    parser.add_argument("--spec", required=True, help="JSON: url, sha256, timeout_s, retries, ...")
    parser.add_argument("--output", required=True, help="destination file")
    parser.add_argument(
        "--mirror",
        default=os.environ.get(MIRROR_ENV, "{}"),
        help=f"JSON: download.mirror (URL prefix -> replacement prefix; longest prefix wins); "
        f"default: ${MIRROR_ENV}",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s: %(message)s", stream=sys.stderr)
    spec = _parse_spec(args.spec)
    mirror = check_mirror(json_option(args.mirror, "--mirror (download.mirror)", None))
    try:
        options = {k: float(spec[k]) for k in ("timeout_s", "backoff_s") if k in spec}
        if "retries" in spec:
            options["retries"] = int(spec["retries"])
    except (TypeError, ValueError):
        raise InputError("--spec: timeout_s, backoff_s and retries must be numbers") from None
    url = apply_mirror(spec["url"], mirror)
    if url != spec["url"]:
        print(
            f"mirror: {redact_url(spec['url'])} -> {redact_url(url)}", file=sys.stderr, flush=True
        )
    elif mirror:
        print(f"mirror: no prefix matches {redact_url(url)}", file=sys.stderr, flush=True)
    print(f"downloading {redact_url(url)} -> {args.output}", file=sys.stderr, flush=True)
    actual = download(
        url,
        args.output,
        sha256=spec.get("sha256") or "",
        progress=_ProgressPrinter(),
        **options,
    )
    print(f"ok: {args.output} sha256 {actual}", file=sys.stderr, flush=True)
    return 0


# --------------------------------------------------------------------------------------------
# Archives
# --------------------------------------------------------------------------------------------

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
