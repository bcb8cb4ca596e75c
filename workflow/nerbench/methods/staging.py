"""Stage hub models once, on the submit host, so that compute nodes never need the network.

A ``models.tsv`` row (or ``dbr.embedder``) whose source is a Hugging Face hub id is fetched by the
``fetch_model`` rule -- a local rule, so it runs where the network is -- with
``huggingface_hub.snapshot_download`` at the row's pinned revision into
``resources/models/<org--name>/<revision>`` (:data:`nerbench.paths.STAGED_MODEL`). Each
(hub id, revision) is fetched once, however many runs use it. The token comes from ``HF_TOKEN``
and is passed to the hub client only; it is never printed or written.

Every other job runs with the hub switched off (``HF_HUB_OFFLINE=1``, set for the whole workflow
in ``workflow/rules/common.smk``) and loads the staged directory: :func:`staged_dir` maps a hub
source to it, in :func:`nerbench.methods.models.resolve_model_source` and in the DBR embedder.
``fetch-model`` is the one command that turns the hub back on for itself.

**Revisions.** A hub source pins its revision, checked when the workflow plans: a full 40-hex
commit id (lowercase, as the hub writes it), or a tag named as such, ``tag:<name>`` -- never a
branch, whose commit moves, nor an abbreviated commit, which the hub would read as a branch name.
The hub is asked for the commit, or for the tag ``<name>`` (:func:`hub_revision`); the staged
folder is named by the commit or ``tag-<name>`` (:func:`revision_dir`).

Light module (no torch, no transformers): the plan imports it when Snakemake parses the rules.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
from pathlib import Path
from typing import Any

from nerbench import paths
from nerbench.io import InputError, atomic_dir, json_option

HUB_ID_RE = re.compile(r"[A-Za-z0-9][\w.-]*(/[\w.-]+)?")
OFFLINE_ENV = "HF_HUB_OFFLINE"
TAG_PREFIX = "tag:"  # a revision that names a tag; the schemas allow only this or a 40-hex commit


def hub_id(source: Any) -> str | None:
    """The hub id of a model source, or None for ``tiny:``, ``pypkg:`` and local directories."""
    source = str(source or "").strip()
    if not source or source.startswith(("tiny:", "pypkg:")):
        return None
    if source.startswith(("/", "./", "../", "~")) or Path(source).expanduser().is_dir():
        return None
    return source if HUB_ID_RE.fullmatch(source) else None


def hub_revision(revision: Any) -> str | None:
    """The ref the hub is asked for: a commit id as is, ``tag:<name>`` as ``<name>``; None when
    empty."""
    return str(revision or "").strip().removeprefix(TAG_PREFIX) or None


def revision_dir(revision: Any) -> str | None:
    """The staged folder's name for a revision: the commit id, or ``tag-<name>``."""
    rev = str(revision or "").strip()
    return rev.replace(TAG_PREFIX, "tag-", 1) if rev.startswith(TAG_PREFIX) else rev or None


def unpinned(source: Any, revision: Any) -> str | None:
    """Why a source's revision is not pinned (a hub source with an empty one), else None; the
    schemas check the form of a given revision."""
    if hub_id(source) and not str(revision or "").strip():
        return (
            f"hub source '{source}' has no revision: pin a full 40-hex commit id (or a tag, "
            "'tag:<name>'); the default branch moves"
        )
    return None


def staged_path(source: Any, revision: Any) -> str | None:
    """Where ``fetch_model`` stages a hub source (a relative path), or None if it needs none."""
    hid = hub_id(source)
    return paths.staged_model(hid, revision_dir(revision)) if hid else None


def staged_dir(source: Any, revision: Any) -> Path | None:
    """The staged directory of a hub source once ``fetch_model`` has completed it, else None."""
    path = staged_path(source, revision)
    if path is None or not (Path(path) / paths.STAGED_MARKER).is_file():
        return None
    return Path(path)


def _scrub(text: str, token: str | None) -> str:
    """One line of an error message, without the token should a client ever echo it."""
    line = (str(text).strip().splitlines() or [""])[0]
    return line.replace(token, "***") if token else line


def stage_model(spec: dict, output: str | os.PathLike) -> Path:
    """Fetch ``spec['source']`` at ``spec['revision']`` into ``output``; a no-op once done.

    ``spec``: ``row`` (how to name the model in errors, e.g. ``models.tsv row 'llama-2-7b'``),
    ``source`` (hub id), ``revision`` (40-hex commit or ``tag:<name>``; empty: ``main``),
    ``gated``.
    A wrong revision, a gated model without ``HF_TOKEN`` or a refused token is an
    :class:`InputError` naming the row.
    """
    row = spec.get("row") or f"model '{spec.get('source')}'"
    hid = hub_id(spec.get("source"))
    if hid is None:
        raise InputError(f"{row}: source '{spec.get('source')}' is not a hub id; nothing to stage")
    revision = str(spec.get("revision") or "").strip() or "main"
    out = Path(output)
    marker = out / paths.STAGED_MARKER
    if marker.is_file():
        done = json.loads(marker.read_text(encoding="utf-8"))
        if done.get("source") == hid and done.get("revision") == revision:
            print(f"{row}: {hid} at {revision} already staged in {out}")
            return out
    token = os.environ.get("HF_TOKEN") or None
    if _truthy(spec.get("gated")) and not token:
        raise InputError(
            f"{row}: '{hid}' is a gated model and HF_TOKEN is not set; export HF_TOKEN (a token "
            "with access to it) on the submit host and run again"
        )
    hub = _hub_online()
    with atomic_dir(out) as tmp:
        try:
            hub.snapshot_download(
                repo_id=hid, revision=hub_revision(revision), local_dir=tmp, token=token
            )
        except hub.RevisionNotFoundError:
            raise InputError(
                f"{row}: revision '{revision}' of '{hid}' does not exist on the hub "
                "(models.tsv column 'revision')"
            ) from None
        except hub.GatedRepoError as e:
            state = "is not set" if not token else "has no access to it"
            raise InputError(
                f"{row}: '{hid}' is gated and HF_TOKEN {state} ({_scrub(e, token)})"
            ) from None
        except hub.RepositoryNotFoundError:
            hint = "" if token else "; if it is private, set HF_TOKEN"
            raise InputError(f"{row}: no hub repository '{hid}' (or no access){hint}") from None
        except (hub.HfHubHTTPError, hub.LocalEntryNotFoundError, OSError) as e:
            raise InputError(
                f"{row}: cannot fetch '{hid}' at revision '{revision}': "
                f"{type(e).__name__}: {_scrub(e, token)}"
            ) from None
        shutil.rmtree(tmp / ".cache", ignore_errors=True)  # the client's download bookkeeping
        if not (tmp / "config.json").is_file():
            raise InputError(f"{row}: '{hid}' at revision '{revision}' has no config.json")
        (tmp / paths.STAGED_MARKER).write_text(
            json.dumps({"source": hid, "revision": revision}, sort_keys=True) + "\n",
            encoding="utf-8",
        )
    print(f"{row}: staged {hid} at {revision} in {out}")
    return out


def _truthy(value: Any) -> bool:
    return str(value).strip().lower() in ("true", "1", "yes")


def _hub_online() -> Any:
    """``huggingface_hub`` with the hub on (the workflow switches it off for every other job).

    The client reads ``HF_HUB_OFFLINE`` when it is imported, so the variable is cleared first and
    the constant is set too in case it was imported already.
    """
    import types

    os.environ[OFFLINE_ENV] = "0"
    import huggingface_hub
    from huggingface_hub import constants, errors

    constants.HF_HUB_OFFLINE = False
    return types.SimpleNamespace(
        snapshot_download=huggingface_hub.snapshot_download,
        RevisionNotFoundError=errors.RevisionNotFoundError,
        GatedRepoError=errors.GatedRepoError,
        RepositoryNotFoundError=errors.RepositoryNotFoundError,
        HfHubHTTPError=errors.HfHubHTTPError,
        LocalEntryNotFoundError=errors.LocalEntryNotFoundError,
    )


def main_fetch_model(argv: list[str]) -> int:
    """CLI: stage one hub model (``--spec`` JSON: row, source, revision, gated) in ``--output``."""
    p = argparse.ArgumentParser(prog="nerbench fetch-model")
    p.add_argument("--spec", required=True, help="JSON: row, source, revision, gated")
    p.add_argument("--output", required=True, help="the staged model directory")
    args = p.parse_args(argv)
    stage_model(json_option(args.spec, "--spec"), args.output)
    return 0
