"""Download stage and archive helpers, against a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import hashlib
import io
import json
import os
import stat
import subprocess
import sys
import tarfile
import threading
import time
import zipfile
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml

import nerbench
from conftest import run_snakemake
from nerbench.cli import main as cli_main
from nerbench.data.archives import read_source_bytes, safe_extract
from nerbench.data.convert import convert
from nerbench.data.formats.base import BioSpec
from nerbench.data.sources import (
    DownloadError,
    apply_mirror,
    check_mirror,
    download,
    main_download,
    redact_url,
)
from nerbench.io import InputError

DATA = Path(__file__).parent / "data" / "download"
SAMPLE = (DATA / "sample.tsv").read_bytes()
SAMPLE_SHA = hashlib.sha256(SAMPLE).hexdigest()
FAST = {"timeout_s": 5, "retries": 2, "backoff_s": 0}


# --------------------------------------------------------------------------------------------
# A small programmable HTTP server
# --------------------------------------------------------------------------------------------


@dataclass
class Route:
    """What the server answers on one path.

    ``fail_first`` requests get ``fail_status`` (or a truncated body when ``truncate``), then the
    real ``body`` is served; ``fail_first=-1`` fails every request. ``delay_s`` stalls before
    answering (for timeouts).
    """

    body: bytes = b""
    status: int = 200
    fail_first: int = 0
    fail_status: int = 500
    truncate: bool = False
    delay_s: float = 0.0


@dataclass
class ServerState:
    routes: dict[str, Route] = field(default_factory=dict)
    counts: Counter = field(default_factory=Counter)
    auth: list[str | None] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


class Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        state: ServerState = self.server.state  # type: ignore[attr-defined]
        with state.lock:
            state.counts[self.path] += 1
            n = state.counts[self.path]
            state.auth.append(self.headers.get("Authorization"))
        route = state.routes.get(self.path)
        if route is None:
            self.send_error(404)
            return
        if route.delay_s:
            time.sleep(route.delay_s)
        failing = route.fail_first == -1 or n <= route.fail_first
        if failing and route.truncate:
            self.send_response(200)
            self.send_header("Content-Length", str(len(route.body)))
            self.end_headers()
            self.wfile.write(route.body[: len(route.body) // 2])
            self.wfile.flush()
            self.close_connection = True
            return
        if failing:
            self.send_error(route.fail_status)
            return
        if route.status != 200:
            self.send_error(route.status)
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(route.body)))
        self.end_headers()
        self.wfile.write(route.body)

    def log_message(self, format: str, *args: object) -> None:  # keep test output quiet
        pass


class Server:
    def __init__(self) -> None:
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.state = ServerState()
        self.httpd.state = self.state  # type: ignore[attr-defined]
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True)

    @property
    def base(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}"

    def add(self, path: str, **kwargs) -> str:
        self.state.routes[path] = Route(**kwargs)
        return self.base + path

    def count(self, path: str) -> int:
        return self.state.counts[path]


@pytest.fixture
def server() -> Iterator[Server]:
    srv = Server()
    srv.thread.start()
    try:
        yield srv
    finally:
        srv.httpd.shutdown()
        srv.httpd.server_close()


def leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


# --------------------------------------------------------------------------------------------
# download()
# --------------------------------------------------------------------------------------------


def test_success_writes_exact_bytes_and_returns_sha(server: Server, tmp_path: Path) -> None:
    url = server.add("/sample.tsv", body=SAMPLE)
    dest = tmp_path / "raw" / "sample.tsv"
    assert download(url, dest, sha256=SAMPLE_SHA, **FAST) == SAMPLE_SHA
    assert dest.read_bytes() == SAMPLE
    assert leftovers(dest.parent) == ["sample.tsv"]
    assert server.count("/sample.tsv") == 1


def test_uppercase_pinned_sha_is_accepted(server: Server, tmp_path: Path) -> None:
    url = server.add("/sample.tsv", body=SAMPLE)
    assert download(url, tmp_path / "s.tsv", sha256=SAMPLE_SHA.upper(), **FAST) == SAMPLE_SHA


def test_unpinned_sha_warns_with_checksum(
    server: Server, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    url = server.add("/sample.tsv", body=SAMPLE)
    with caplog.at_level("WARNING", logger="nerbench.data.sources"):
        assert download(url, tmp_path / "s.tsv", sha256="", **FAST) == SAMPLE_SHA
    assert SAMPLE_SHA in caplog.text and "no sha256 pinned" in caplog.text


def test_404_fails_fast_and_leaves_nothing(server: Server, tmp_path: Path) -> None:
    url = server.base + "/missing.tsv"
    with pytest.raises(DownloadError, match=r"missing\.tsv.*HTTP 404"):
        download(url, tmp_path / "missing.tsv", retries=2, backoff_s=1, timeout_s=5)
    assert server.count("/missing.tsv") == 1
    assert leftovers(tmp_path) == []


def test_500_then_success_is_retried(server: Server, tmp_path: Path) -> None:
    url = server.add("/flaky.tsv", body=SAMPLE, fail_first=1, fail_status=500)
    dest = tmp_path / "flaky.tsv"
    assert download(url, dest, sha256=SAMPLE_SHA, **FAST) == SAMPLE_SHA
    assert server.count("/flaky.tsv") == 2
    assert dest.read_bytes() == SAMPLE
    assert leftovers(tmp_path) == ["flaky.tsv"]


def test_500_forever_gives_up_after_bound(server: Server, tmp_path: Path) -> None:
    url = server.add("/down.tsv", body=SAMPLE, fail_first=-1, fail_status=503)
    with pytest.raises(DownloadError, match=r"after 3 attempt\(s\): HTTP 503"):
        download(url, tmp_path / "down.tsv", **FAST)
    assert server.count("/down.tsv") == 3
    assert leftovers(tmp_path) == []


def test_truncated_body_once_is_retried(server: Server, tmp_path: Path) -> None:
    url = server.add("/trunc1.tsv", body=SAMPLE, fail_first=1, truncate=True)
    dest = tmp_path / "trunc1.tsv"
    assert download(url, dest, sha256=SAMPLE_SHA, **FAST) == SAMPLE_SHA
    assert server.count("/trunc1.tsv") == 2
    assert dest.read_bytes() == SAMPLE


def test_truncated_body_always_fails_without_partial_file(server: Server, tmp_path: Path) -> None:
    url = server.add("/trunc.tsv", body=SAMPLE, fail_first=-1, truncate=True)
    half, full = len(SAMPLE) // 2, len(SAMPLE)
    with pytest.raises(DownloadError) as err:
        download(url, tmp_path / "trunc.tsv", sha256=SAMPLE_SHA, **FAST)
    message = str(err.value)
    assert url in message and f"truncated body: got {half} of {full} bytes" in message
    assert server.count("/trunc.tsv") == 3
    assert leftovers(tmp_path) == []


def test_checksum_mismatch_names_url_and_both_hashes(server: Server, tmp_path: Path) -> None:
    wrong = SAMPLE.replace(b"Aspirin", b"Asprin!")
    url = server.add("/changed.tsv", body=wrong)
    with pytest.raises(DownloadError) as err:
        download(url, tmp_path / "changed.tsv", sha256=SAMPLE_SHA, **FAST)
    message = str(err.value)
    assert url in message
    assert SAMPLE_SHA in message
    assert hashlib.sha256(wrong).hexdigest() in message
    # A complete, length-verified transfer with the wrong content is not fetched again.
    assert server.count("/changed.tsv") == 1
    assert leftovers(tmp_path) == []


def test_existing_file_untouched_on_failure(server: Server, tmp_path: Path) -> None:
    dest = tmp_path / "keep.tsv"
    dest.write_bytes(b"old")
    url = server.add("/keep.tsv", body=b"new", status=404)
    with pytest.raises(DownloadError):
        download(url, dest, **FAST)
    assert dest.read_bytes() == b"old"
    assert leftovers(tmp_path) == ["keep.tsv"]


def test_timeout_is_retried_then_fails(server: Server, tmp_path: Path) -> None:
    url = server.add("/slow.tsv", body=SAMPLE, delay_s=1.0)
    with pytest.raises(DownloadError, match="after 2 attempt"):
        download(url, tmp_path / "slow.tsv", timeout_s=0.2, retries=1, backoff_s=0)
    assert server.count("/slow.tsv") == 2
    assert leftovers(tmp_path) == []


def test_connection_refused_is_retried(tmp_path: Path) -> None:
    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    port = srv.server_address[1]
    srv.server_close()  # nobody listens on this port any more
    with pytest.raises(DownloadError, match="after 2 attempt.*cannot connect"):
        download(f"http://127.0.0.1:{port}/x.tsv", tmp_path / "x.tsv", retries=1, backoff_s=0)
    assert leftovers(tmp_path) == []


def test_credentials_are_sent_but_never_shown(server: Server, tmp_path: Path) -> None:
    port = server.httpd.server_address[1]
    url = f"http://alice:s3cret@127.0.0.1:{port}/private.tsv"
    assert redact_url(url) == f"http://127.0.0.1:{port}/private.tsv"
    with pytest.raises(DownloadError) as err:
        download(url, tmp_path / "private.tsv", **FAST)
    assert "s3cret" not in str(err.value) and "alice" not in str(err.value)
    assert f"127.0.0.1:{port}/private.tsv" in str(err.value)
    assert server.state.auth == ["Basic YWxpY2U6czNjcmV0"]  # base64("alice:s3cret")


def test_file_url(tmp_path: Path) -> None:
    dest = tmp_path / "copy.tsv"
    url = (DATA / "sample.tsv").resolve().as_uri()
    assert download(url, dest, sha256=SAMPLE_SHA, **FAST) == SAMPLE_SHA
    assert dest.read_bytes() == SAMPLE
    with pytest.raises(DownloadError, match="No such file"):
        download(url + ".nope", tmp_path / "nope.tsv", **FAST)
    assert leftovers(tmp_path) == ["copy.tsv"]


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"sha256": "abc"}, "not a 64-digit"),
        ({"retries": -1}, "retries >= 0"),
        ({"timeout_s": 0}, "timeout_s > 0"),
    ],
)
def test_bad_arguments(tmp_path: Path, kwargs: dict, match: str) -> None:
    with pytest.raises(InputError, match=match):
        download("http://127.0.0.1:9/x", tmp_path / "x", **kwargs)


def test_unsupported_scheme(tmp_path: Path) -> None:
    with pytest.raises(DownloadError, match="unsupported URL scheme"):
        download("ftp://example.org/x.tsv", tmp_path / "x.tsv")


# --------------------------------------------------------------------------------------------
# CLI
# --------------------------------------------------------------------------------------------


def run_cli(*args: str) -> subprocess.CompletedProcess:
    package_root = str(Path(nerbench.__file__).resolve().parents[1])
    env = {**os.environ, "PYTHONPATH": package_root + os.pathsep + os.environ.get("PYTHONPATH", "")}
    return subprocess.run(
        [sys.executable, "-m", "nerbench", "download", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )


def test_cli_subprocess_success_and_failure(server: Server, tmp_path: Path) -> None:
    url = server.add("/sample.tsv", body=SAMPLE)
    out = tmp_path / "ok.tsv"
    spec = {"url": url, "sha256": SAMPLE_SHA, **FAST}
    done = run_cli("--spec", json.dumps(spec), "--output", str(out))
    assert done.returncode == 0, done.stderr
    assert out.read_bytes() == SAMPLE
    assert "MB/s" in done.stderr and SAMPLE_SHA in done.stderr

    bad = tmp_path / "bad.tsv"
    wrong_sha = "0" * 64
    done = run_cli("--spec", json.dumps({**spec, "sha256": wrong_sha}), "--output", str(bad))
    assert done.returncode == 2
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("error: checksum mismatch for " + url)
    assert wrong_sha in last and SAMPLE_SHA in last
    assert not bad.exists()
    assert leftovers(tmp_path) == ["ok.tsv"]


@pytest.mark.parametrize(
    ("spec", "match"),
    [
        ("{not json", "not valid JSON"),
        ('{"url": "http://x/y", "mirror": 1}', r"unknown key\(s\) \['mirror'\]"),
        ('{"sha256": ""}', "needs a non-empty 'url'"),
        ('{"url": "http://x/y", "retries": "many"}', "must be numbers"),
    ],
)
def test_cli_bad_spec(tmp_path: Path, spec: str, match: str) -> None:
    with pytest.raises(InputError, match=match):
        main_download(["--spec", spec, "--output", str(tmp_path / "x")])


def test_cli_routes_download_error_to_exit_2(
    server: Server, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    spec = json.dumps({"url": server.base + "/gone.tsv", **FAST})
    assert cli_main(["download", "--spec", spec, "--output", str(tmp_path / "gone.tsv")]) == 2
    assert "HTTP 404" in capsys.readouterr().err
    assert leftovers(tmp_path) == []


# --------------------------------------------------------------------------------------------
# download.mirror
# --------------------------------------------------------------------------------------------

MTL = (
    "https://raw.githubusercontent.com/cambridgeltl/MTL-Bioinformatics-2016/"
    "df0df02fae6dbb87d88ffcf323b9096528f06f84/data/"
)
# A reduced corpus file: the shipped 400-sentence slice of NCBI-disease train.
REDUCED = Path(nerbench.__file__).resolve().parents[2] / "resources/corpora/demo/NCBI-disease"


def test_mirror_cli_downloads_from_local_server_with_sha256(server: Server, tmp_path: Path) -> None:
    """The upstream URL (unreachable here) is fetched from a 127.0.0.1 mirror, checksum verified."""
    body = (REDUCED / "train.tsv").read_bytes()
    sha = hashlib.sha256(body).hexdigest()
    server.add("/mtl/NCBI-disease-IOB/train.tsv", body=body)
    upstream = MTL + "NCBI-disease-IOB/train.tsv"
    mirrored = server.base + "/mtl/NCBI-disease-IOB/train.tsv"
    out = tmp_path / "raw" / "train.tsv"
    mirror = {MTL: server.base + "/mtl/", "https://raw.githubusercontent.com/": "http://0.0.0.0:9/"}
    spec = {"url": upstream, "sha256": sha, **FAST}
    done = run_cli("--spec", json.dumps(spec), "--mirror", json.dumps(mirror), "--output", str(out))
    assert done.returncode == 0, done.stderr
    assert out.read_bytes() == body
    assert f"mirror: {upstream} -> {mirrored}" in done.stderr.splitlines()
    assert f"ok: {out} sha256 {sha}" in done.stderr
    assert server.count("/mtl/NCBI-disease-IOB/train.tsv") == 1
    assert leftovers(out.parent) == ["train.tsv"]


def test_mirror_wrong_checksum_fails_loudly_and_leaves_nothing(
    server: Server, tmp_path: Path
) -> None:
    body = (REDUCED / "devel.tsv").read_bytes()
    pinned = hashlib.sha256(body).hexdigest()
    changed = body.replace(b"\tO\n", b"\tB-Disease\n", 1)
    server.add("/mtl/NCBI-disease-IOB/devel.tsv", body=changed)
    mirrored = server.base + "/mtl/NCBI-disease-IOB/devel.tsv"
    out = tmp_path / "raw" / "devel.tsv"
    out.parent.mkdir()
    spec = {"url": MTL + "NCBI-disease-IOB/devel.tsv", "sha256": pinned, **FAST}
    mirror = {MTL: server.base + "/mtl/"}
    done = run_cli("--spec", json.dumps(spec), "--mirror", json.dumps(mirror), "--output", str(out))
    assert done.returncode == 2
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith(f"error: checksum mismatch for {mirrored}: expected sha256 {pinned}")
    assert hashlib.sha256(changed).hexdigest() in last
    assert leftovers(out.parent) == []  # no output file, no temporary file


def test_mirror_longest_prefix_wins_in_any_order() -> None:
    url = MTL + "BC5CDR-chem-IOB/test.tsv"
    pairs = [
        ("https://raw.githubusercontent.com/", "http://cache/gh/"),
        (MTL, "http://127.0.0.1:8765/"),
        (MTL + "BC5CDR-chem-IOB/", "file:///srv/bc5cdr-chem/"),
        (MTL + "NCBI-disease-IOB/", "http://other/"),
    ]
    for mapping in (dict(pairs), dict(reversed(pairs))):
        assert apply_mirror(url, mapping) == "file:///srv/bc5cdr-chem/test.tsv"
        assert (
            apply_mirror(MTL + "linnaeus-IOB/a.tsv", mapping)
            == "http://127.0.0.1:8765/linnaeus-IOB/a.tsv"
        )
        assert apply_mirror("https://raw.githubusercontent.com/x", mapping) == "http://cache/gh/x"
        assert apply_mirror("https://ftp.ncbi.nlm.nih.gov/a.zip", mapping) == (
            "https://ftp.ncbi.nlm.nih.gov/a.zip"
        )
    assert apply_mirror(url, {}) == url
    assert check_mirror(None) == {} and check_mirror({}) == {}
    assert check_mirror(dict(pairs)) == dict(pairs)


@pytest.mark.parametrize(
    ("mirror", "match"),
    [
        (["https://a/", "http://b/"], r"download\.mirror must be a mapping .* not list"),
        ("http://b/", r"download\.mirror must be a mapping .* not str"),
        ({"": "http://b/"}, r"download\.mirror: prefix must be a non-empty string, got ''"),
        ({1: "http://b/"}, r"download\.mirror: prefix must be a non-empty string, got 1"),
        ({"https://a/": 8080}, r"download\.mirror: replacement of prefix 'https://a/' .* got 8080"),
        ({"https://a/": None}, r"download\.mirror: replacement of prefix 'https://a/' .* got None"),
        ({"https://a/": ""}, r"download\.mirror: replacement of prefix 'https://a/' .* got ''"),
        ({"https://a/": "/srv/cache/"}, r"download\.mirror: replacement .* must start with"),
        ({"a.org/": "http://b/"}, r"download\.mirror: prefix 'a\.org/' must start with one of"),
    ],
)
def test_bad_mirror_config_names_download_mirror(mirror: object, match: str) -> None:
    with pytest.raises(InputError, match=match):
        check_mirror(mirror)


def test_cli_bad_mirror_names_download_mirror(tmp_path: Path) -> None:
    spec = json.dumps({"url": MTL + "x.tsv"})
    out = str(tmp_path / "x.tsv")
    with pytest.raises(InputError, match=r"download\.mirror: prefix must be a non-empty"):
        main_download(["--spec", spec, "--mirror", '{"": "http://127.0.0.1:1/"}', "--output", out])
    with pytest.raises(InputError, match=r"--mirror \(download\.mirror\) is not valid JSON"):
        main_download(["--spec", spec, "--mirror", "{nope", "--output", out])
    assert leftovers(tmp_path) == []


def test_serve_mirror_script_serves_a_folder_in_the_upstream_layout(tmp_path: Path) -> None:
    """scripts/serve_mirror.py: /<NAME>-IOB/<split>.tsv from ROOT/<NAME>/, on 127.0.0.1 only."""
    import importlib.util

    script = REDUCED.parents[3] / "workflow" / "scripts" / "serve_mirror.py"
    spec = importlib.util.spec_from_file_location("serve_mirror", script)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    root = tmp_path / "data"
    (root / "NCBI-disease").mkdir(parents=True)
    body = (REDUCED / "test.tsv").read_bytes()
    (root / "NCBI-disease" / "test.tsv").write_bytes(body)
    (tmp_path / "secret.txt").write_text("no")
    srv = module.make_server(root, 0)
    thread = threading.Thread(target=srv.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        host, port = srv.server_address[:2]
        assert host == "127.0.0.1"
        url = apply_mirror(MTL + "NCBI-disease-IOB/test.tsv", {MTL: f"http://{host}:{port}/"})
        dest = tmp_path / "raw" / "test.tsv"
        sha = hashlib.sha256(body).hexdigest()
        assert download(url, dest, sha256=sha, **FAST) == sha
        for path in ("/s800-IOB/test.tsv", "/../secret.txt", "/NCBI-disease-IOB/../../secret.txt"):
            with pytest.raises(DownloadError, match="HTTP 404"):
                download(f"http://{host}:{port}{path}", tmp_path / "x", **FAST)
    finally:
        srv.shutdown()
        srv.server_close()


def _mirror_config(project: Path, name: str, mirror: object) -> str:
    (project / name).write_text(yaml.safe_dump({"download": {"mirror": mirror}}))
    return name


def test_workflow_download_rule_uses_mirror_and_a_new_mirror_reruns_nothing(
    server: Server, project: Path
) -> None:
    """The download rule fetches an upstream MTL URL through download.mirror from 127.0.0.1."""
    table = project / "config" / "datasets.tsv"
    header, *rows = table.read_text().splitlines()
    cols = header.split("\t")
    ncbi = next(r for r in rows if r.startswith("NCBI-disease\t")).split("\t")
    row = dict(zip(cols, ncbi, strict=True))
    row["name"] = "NCBI-mirror-test"
    for split in ("train", "devel", "test"):
        body = (REDUCED / f"{split}.tsv").read_bytes()
        assert row[split] == MTL + f"NCBI-disease-IOB/{split}.tsv"
        row[f"sha256_{split}"] = hashlib.sha256(body).hexdigest()
        server.add(f"/mtl/NCBI-disease-IOB/{split}.tsv", body=body)
    table.write_text("\n".join([header, *rows, "\t".join(row[c] for c in cols)]) + "\n")
    targets = [f"resources/corpora/NCBI-mirror-test/raw/{s}.tsv" for s in ("train", "devel")]

    cfg = _mirror_config(project, "mirror.yaml", {MTL: server.base + "/mtl/"})
    run_snakemake(project, "--cores", "1", "--configfile", cfg, "--", *targets)
    for split in ("train", "devel"):
        raw = project / f"resources/corpora/NCBI-mirror-test/raw/{split}.tsv"
        assert raw.read_bytes() == (REDUCED / f"{split}.tsv").read_bytes()
        log = (project / f"logs/download/NCBI-mirror-test/{split}.tsv.log").read_text()
        assert f"mirror: {MTL}NCBI-disease-IOB/{split}.tsv -> {server.base}/mtl/" in log
        assert server.count(f"/mtl/NCBI-disease-IOB/{split}.tsv") == 1

    # Another mirror (or none) does not rerun downloads that are there with their checksum.
    other = _mirror_config(project, "other.yaml", {MTL: "http://127.0.0.1:9/"})
    for extra in (["--configfile", other], []):
        dry = run_snakemake(project, "-n", "--cores", "1", *extra, "--", *targets)
        assert "Nothing to be done" in dry.stdout + dry.stderr, dry.stdout[-2000:]

    bad = _mirror_config(project, "bad.yaml", {MTL: 8765})
    res = run_snakemake(project, "-n", "--configfile", bad, "--", *targets, check=False)
    assert res.returncode != 0
    assert "download.mirror: replacement of prefix" in res.stdout + res.stderr


# --------------------------------------------------------------------------------------------
# Archives
# --------------------------------------------------------------------------------------------


def make_zip(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return path


def make_tar(path: Path, members: list[tarfile.TarInfo | tuple[str, bytes]]) -> Path:
    with tarfile.open(path, "w:gz") as tf:
        for m in members:
            if isinstance(m, tarfile.TarInfo):
                tf.addfile(m)
            else:
                info = tarfile.TarInfo(m[0])
                info.size = len(m[1])
                tf.addfile(info, io.BytesIO(m[1]))
    return path


def link(name: str, target: str, kind: bytes = tarfile.SYMTYPE) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = target
    return info


def test_read_source_bytes_plain_zip_and_tar(tmp_path: Path) -> None:
    assert read_source_bytes(DATA / "sample.tsv") == SAMPLE
    members = {"corpus/train.tsv": SAMPLE, "corpus/test.tsv": b"x\tO\n"}
    zpath = make_zip(tmp_path / "c.zip", members)
    tpath = make_tar(tmp_path / "c.tar.gz", [("./corpus/train.tsv", SAMPLE), ("x", b"")])
    assert read_source_bytes(zpath, "corpus/test.tsv") == b"x\tO\n"
    assert read_source_bytes(tpath, "corpus/train.tsv") == SAMPLE  # leading ./ ignored


def test_read_source_bytes_missing_member_lists_available(tmp_path: Path) -> None:
    zpath = make_zip(tmp_path / "c.zip", {"a/train.tsv": b"", "a/test.tsv": b""})
    with pytest.raises(InputError, match=r"c\.zip: archive has no member 'dev\.tsv'.*a/train"):
        read_source_bytes(zpath, "dev.tsv")
    tpath = make_tar(tmp_path / "c.tgz", [("a/train.tsv", b"")])
    with pytest.raises(InputError, match="available: a/train.tsv"):
        read_source_bytes(tpath, "a/test.tsv")
    with pytest.raises(InputError, match="not a .zip"):
        read_source_bytes(DATA / "sample.tsv", "train.tsv")
    with pytest.raises(InputError, match="source file not found"):
        read_source_bytes(tmp_path / "nope.zip", "x")


def zip_bytes(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


def test_read_source_bytes_through_nested_archives(tmp_path: Path) -> None:
    inner = zip_bytes({"split/train.tsv": SAMPLE, "split/README": b"r"})
    deepest = zip_bytes({"d/x.tsv": b"deep\tO\n"})
    tar_in_zip = make_tar(tmp_path / "t.tar.gz", [("./t/deep.zip", deepest)]).read_bytes()
    outer = make_zip(
        tmp_path / "Corpus.zip",
        {"Corpus/split.zip": inner, "Corpus/t.tar.gz": tar_in_zip, "Corpus/plain.tsv": b"p"},
    )
    assert read_source_bytes(outer, "Corpus/split.zip/split/train.tsv") == SAMPLE
    assert read_source_bytes(outer, "Corpus/plain.tsv") == b"p"  # exact members still first
    assert read_source_bytes(outer, "Corpus/t.tar.gz/t/deep.zip/d/x.tsv") == b"deep\tO\n"
    zip_in_tar = make_tar(tmp_path / "c.tgz", [("c/split.zip", inner)])
    assert read_source_bytes(zip_in_tar, "c/split.zip/split/README") == b"r"
    with pytest.raises(InputError) as info:
        read_source_bytes(outer, "Corpus/split.zip/split/dev.tsv")
    assert str(info.value) == (
        f"{outer}#Corpus/split.zip: archive has no member 'split/dev.tsv'; available: "
        "split/train.tsv, split/README"
    )
    with pytest.raises(InputError, match=r"Corpus\.zip#Corpus/t\.tar\.gz/t/deep\.zip: .*d/x\.tsv"):
        read_source_bytes(outer, "Corpus/t.tar.gz/t/deep.zip/d/y.tsv")
    with pytest.raises(InputError, match=r"Corpus\.zip: archive has no member 'Corpus/no\.zip/a'"):
        read_source_bytes(outer, "Corpus/no.zip/a")
    broken = make_zip(tmp_path / "b.zip", {"b/inner.zip": b"not a zip"})
    with pytest.raises(InputError, match=r"b\.zip#b/inner\.zip: cannot read archive"):
        read_source_bytes(broken, "b/inner.zip/x.tsv")


def test_nested_zip_downloaded_from_server_reads_its_inner_member(
    server: Server, tmp_path: Path
) -> None:
    """A release zip holding one zip per split (the ChemProt_Corpus.zip layout), over HTTP."""
    abstracts = b"1\tTitle.\tAspirin works.\n"
    entities = b"1\tT1\tCHEMICAL\t7\t14\tAspirin\n"
    inner = zip_bytes(
        {
            "chemprot_test_gs/chemprot_test_abstracts_gs.tsv": abstracts,
            "chemprot_test_gs/chemprot_test_entities_gs.tsv": entities,
        }
    )
    body = zip_bytes({"ChemProt_Corpus/chemprot_test_gs.zip": inner, "__MACOSX/._x": b"\x00"})
    url = server.add("/files/2017/ChemProt_Corpus.zip", body=body)
    dest = tmp_path / "resources" / "corpora" / "ChemProt" / "raw" / "ChemProt_Corpus.zip"
    assert download(url, dest, **FAST) == hashlib.sha256(body).hexdigest()
    member = "ChemProt_Corpus/chemprot_test_gs.zip/chemprot_test_gs/chemprot_test_abstracts_gs.tsv"
    assert read_source_bytes(dest, member) == abstracts
    assert read_source_bytes(dest, member.replace("abstracts", "entities")) == entities
    spec = BioSpec.from_dict({"name": "ChemProt", "format": "chemprot", "tag_map": "CHEMICAL:Chem"})
    result = convert(spec, dest, member)
    assert [(s.tokens, s.tags) for s in result.sentences] == [
        (["Title", "."], ["O", "O"]),
        (["Aspirin", "works", "."], ["B-Chem", "O", "O"]),
    ]
    assert leftovers(dest.parent) == ["ChemProt_Corpus.zip"]


def test_safe_extract_zip_and_tar(tmp_path: Path) -> None:
    zpath = make_zip(tmp_path / "c.zip", {"c/train.tsv": SAMPLE, "c/sub/": b""})
    assert safe_extract(zpath, tmp_path / "z") == ["c/train.tsv"]
    assert (tmp_path / "z" / "c" / "train.tsv").read_bytes() == SAMPLE
    tpath = make_tar(tmp_path / "c.tar.gz", [("c/train.tsv", SAMPLE), link("c/t.tsv", "train.tsv")])
    safe_extract(tpath, tmp_path / "t")
    assert (tmp_path / "t" / "c" / "t.tsv").read_bytes() == SAMPLE


@pytest.mark.parametrize("name", ["../evil", "a/../../evil", "/etc/evil", "C:/evil"])
def test_safe_extract_refuses_traversal(tmp_path: Path, name: str) -> None:
    zpath = make_zip(tmp_path / "bad.zip", {"ok.txt": b"ok", name: b"x"})
    tpath = make_tar(tmp_path / "bad.tar.gz", [("ok.txt", b"ok"), (name, b"x")])
    for archive in (zpath, tpath):
        dest = tmp_path / "out"
        with pytest.raises(InputError, match=f"unsafe member '{name}'"):
            safe_extract(archive, dest)
        assert not dest.exists()
    assert leftovers(tmp_path) == ["bad.tar.gz", "bad.zip"]


@pytest.mark.parametrize(
    ("members", "match"),
    [
        ([link("l", "/etc/passwd")], "symlink to '/etc/passwd' points outside"),
        ([link("a/l", "../../x")], "symlink to '../../x' points outside"),
        ([link("h", "../x", tarfile.LNKTYPE)], "hardlink to '../x' points outside"),
        ([link("d", "."), link("d/l", "..")], "path goes through a link"),
    ],
)
def test_safe_extract_refuses_escaping_links(tmp_path: Path, members: list, match: str) -> None:
    tpath = make_tar(tmp_path / "links.tar.gz", members)
    with pytest.raises(InputError, match=match):
        safe_extract(tpath, tmp_path / "out")
    assert leftovers(tmp_path) == ["links.tar.gz"]
    assert not (tmp_path.parent / "x").exists()


def test_safe_extract_refuses_zip_symlink_outside(tmp_path: Path) -> None:
    info = zipfile.ZipInfo("data/link")
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    with zipfile.ZipFile(tmp_path / "l.zip", "w") as zf:
        zf.writestr(info, "../../secret")
    with pytest.raises(InputError, match="unsafe member 'data/link': symlink to '../../secret'"):
        safe_extract(tmp_path / "l.zip", tmp_path / "out")
    assert leftovers(tmp_path) == ["l.zip"]


def test_safe_extract_replaces_existing_dir_only_on_success(tmp_path: Path) -> None:
    dest = tmp_path / "out"
    dest.mkdir()
    (dest / "old.txt").write_text("old")
    bad = make_zip(tmp_path / "bad.zip", {"../evil": b"x"})
    with pytest.raises(InputError):
        safe_extract(bad, dest)
    assert leftovers(dest) == ["old.txt"]
    good = make_zip(tmp_path / "good.zip", {"new.txt": b"new"})
    safe_extract(good, dest)
    assert leftovers(dest) == ["new.txt"]
