"""Serve a folder of corpus files on 127.0.0.1 as a ``download.mirror`` target.

    python workflow/scripts/serve_mirror.py --root ../shared/data --port 8765

A request for ``/<NAME>-IOB/<file>`` (the MTL-Bioinformatics-2016 ``data/`` layout) is answered from
``ROOT/<NAME>/<file>`` when ``ROOT/<NAME>-IOB`` does not exist (the layout of ``../shared/data``),
so this mirror setting maps the upstream URLs onto the folder:

    download:
      mirror:
        "https://raw.githubusercontent.com/cambridgeltl/MTL-Bioinformatics-2016/<commit>/data/": "http://127.0.0.1:8765/"

The server binds 127.0.0.1 only, serves files under ROOT only, and runs until it is stopped.
``--port 0`` picks a free port; the first line printed names the address.
"""

from __future__ import annotations

import argparse
import functools
import os
import sys
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

SUFFIX = "-IOB"


class MirrorHandler(SimpleHTTPRequestHandler):
    """Static files of ``directory``; ``/<NAME>-IOB/...`` falls back to ``/<NAME>/...``."""

    def translate_path(self, path: str) -> str:
        local = super().translate_path(path)
        if os.path.exists(local):
            return local
        rel = os.path.relpath(local, self.directory)
        first, _, rest = rel.partition(os.sep)
        if first.endswith(SUFFIX) and not rel.startswith(os.pardir):
            return os.path.join(self.directory, first[: -len(SUFFIX)], rest)
        return local

    def log_message(self, format: str, *args: object) -> None:
        sys.stderr.write(f"{self.address_string()} {format % args}\n")


def make_server(root: str | os.PathLike, port: int = 0) -> ThreadingHTTPServer:
    root = Path(root).resolve()
    if not root.is_dir():
        raise SystemExit(f"error: --root {root} is not a directory")
    handler = functools.partial(MirrorHandler, directory=str(root))
    server = ThreadingHTTPServer(("127.0.0.1", port), handler)
    server.daemon_threads = True
    return server


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", required=True, help="folder to serve (e.g. ../shared/data)")
    parser.add_argument("--port", type=int, default=8765, help="port on 127.0.0.1 (0 = any free)")
    args = parser.parse_args(argv)
    server = make_server(args.root, args.port)
    host, port = server.server_address[:2]
    print(f"serving {Path(args.root).resolve()} on http://{host}:{port}/", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
