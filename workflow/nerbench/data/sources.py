"""Corpus sources: where each split of a dataset comes from, and the download stage.

Reading what was downloaded (archive members, brat folders) is :mod:`nerbench.data.archives`.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import http.client
import logging
import os
import posixpath
import re
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlparse, urlsplit, urlunsplit

from nerbench.io import InputError, atomic_path, json_option

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
