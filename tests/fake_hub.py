"""A Hugging Face hub on 127.0.0.1 for staging tests: the real ``huggingface_hub`` client talks
to it through ``HF_ENDPOINT``.

It serves what ``snapshot_download`` asks for (huggingface_hub's ``_snapshot_download.py``,
``hf_api.py``, ``file_download.py``):

* ``GET /api/models/<org>/<name>/revision/<rev>`` -> ``{"id", "sha", "siblings"}``;
* ``GET /api/models/<org>/<name>/tree/<rev>[/<path>]`` -> ``[{"type", "path", "size", "oid"}]``;
* ``HEAD|GET /<org>/<name>/resolve/<rev>/<file>`` with ``X-Repo-Commit``, ``ETag``,
  ``Content-Length``.

A revision is the repo's commit sha or ``main``; another is 404 with ``X-Error-Code:
RevisionNotFound``. A gated repo answers 401 ``X-Error-Code: GatedRepo`` unless the request
carries ``Authorization: Bearer <token>``. Every request is recorded (method, path, whether it was
authorized) in ``FakeHub.requests``.
"""

from __future__ import annotations

import hashlib
import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlsplit


@dataclass
class Repo:
    files: dict[str, bytes]
    sha: str
    gated: bool = False


@dataclass
class FakeHub:
    token: str = "hf_fake_secret_token_123"
    repos: dict[str, Repo] = field(default_factory=dict)
    requests: list[tuple[str, str, bool]] = field(default_factory=list)

    def add_repo(self, repo_id: str, directory: Path, gated: bool = False) -> str:
        """Serve every file under ``directory`` as ``repo_id``; returns its commit sha."""
        files = {
            p.relative_to(directory).as_posix(): p.read_bytes()
            for p in sorted(directory.rglob("*"))
            if p.is_file()
        }
        digest = hashlib.sha1(repo_id.encode())
        for name, data in files.items():
            digest.update(name.encode() + data)
        self.repos[repo_id] = Repo(files, digest.hexdigest(), gated)
        return self.repos[repo_id].sha

    def start(self) -> FakeHub:
        hub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # quiet
                pass

            def do_HEAD(self):
                self._serve(body=False)

            def do_GET(self):
                self._serve(body=True)

            def _send(self, status, data=b"", headers=None, body=True):
                self.send_response(status)
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if body:
                    self.wfile.write(data)

            def _json(self, obj, body):
                data = json.dumps(obj).encode()
                self._send(200, data, {"Content-Type": "application/json"}, body)

            def _error(self, status, code, body):
                msg = json.dumps({"error": code}).encode()
                self._send(status, msg, {"X-Error-Code": code, "X-Error-Message": code}, body)

            def _serve(self, body):
                path = unquote(urlsplit(self.path).path)
                authorized = self.headers.get("Authorization") == f"Bearer {hub.token}"
                hub.requests.append((self.command, path, authorized))
                parts = path.strip("/").split("/")
                api = parts[:2] == ["api", "models"]
                if api:
                    parts = parts[2:]
                if len(parts) < 4:
                    return self._error(404, "EntryNotFound", body)
                repo_id, kind, rev, rest = "/".join(parts[:2]), parts[2], parts[3], parts[4:]
                repo = hub.repos.get(repo_id)
                if repo is None:
                    return self._error(404, "RepoNotFound", body)
                if repo.gated and not authorized:
                    return self._error(401, "GatedRepo", body)
                if rev not in (repo.sha, "main"):
                    return self._error(404, "RevisionNotFound", body)
                if api and kind == "revision":
                    siblings = [{"rfilename": n} for n in repo.files]
                    return self._json({"id": repo_id, "sha": repo.sha, "siblings": siblings}, body)
                if api and kind == "tree":
                    return self._json(
                        [
                            {"type": "file", "path": n, "size": len(d), "oid": _oid(d)}
                            for n, d in repo.files.items()
                        ],
                        body,
                    )
                if not api and kind == "resolve":
                    name = "/".join(rest)
                    if name not in repo.files:
                        return self._error(404, "EntryNotFound", body)
                    data = repo.files[name]
                    headers = {"X-Repo-Commit": repo.sha, "ETag": f'"{_oid(data)}"'}
                    return self._send(200, data, headers, body)
                return self._error(404, "EntryNotFound", body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        return self

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def downloads(self, repo_id: str) -> list[str]:
        """Files fetched (GET .../resolve/...) from ``repo_id`` so far."""
        return [p for m, p, _ in self.requests if m == "GET" and p.startswith(f"/{repo_id}/")]


def _oid(data: bytes) -> str:
    """Git blob id, as the hub reports for non-LFS files."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()
