"""Corpus sources: where each split of a dataset comes from, and the download stage."""

from __future__ import annotations

import posixpath
from dataclasses import dataclass
from urllib.parse import urlparse

from nerbench.io import InputError

REMOTE_SCHEMES = ("http", "https", "file")


@dataclass(frozen=True)
class Source:
    """One split's source: a remote URL (downloaded into resources/) or a project-relative path.

    ``member`` selects a file inside an archive (``URL#path/in/archive``).
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


def source_of(row: dict, split: str) -> Source:
    """Parse the ``<split>`` column of a datasets.tsv row into a :class:`Source`."""
    spec = row[split]
    location, _, member = spec.partition("#")
    sha = row.get(f"sha256_{split}", "") or ""
    if urlparse(location).scheme in REMOTE_SCHEMES:
        return Source(url=location, path=None, member=member or None, sha256=sha)
    return Source(url=None, path=location, member=member or None, sha256=sha)
