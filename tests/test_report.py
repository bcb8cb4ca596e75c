"""Aggregation, paper tables, figures and the report rules (report.smk) on small run directories.

The run directories are written here in the exact formats the workflow's producers write
(run.json, cost.json, train_log.jsonl, pred/<ds>.infer_cost.json, metrics/<ds>.json); the code
under test (aggregate, tables, figures, Snakemake rules, --report) is real.
"""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pandas as pd
import pytest
from matplotlib.colors import to_hex

from nerbench.io import InputError
from nerbench.reporting.aggregate import aggregate, load_metrics_table, main_aggregate
from nerbench.reporting.compare import match_system
from nerbench.reporting.figures import build_figure, main_figures
from nerbench.reporting.figures.cost import pareto_front
from nerbench.reporting.figures.style import OKABE_ITO, pyplot
from nerbench.reporting.outputs import TABLES, figure_names, table_names
from nerbench.reporting.render import render_latex, render_markdown
from nerbench.reporting.summary import load_reference
from nerbench.reporting.tables import build_table, main_tables

REPO = Path(__file__).resolve().parents[1]
REFERENCE_DIR = REPO / "config" / "reference"


# --------------------------------------------------------------------------- run fixtures


def _prf(p: float, r: float, support: int) -> dict:
    f1 = 0.0 if p + r == 0 else 2 * p * r / (p + r)
    return {"precision": p, "recall": r, "f1": f1, "support": support}


def write_run(
    root: Path,
    run_id: str,
    *,
    model: str,
    family: str = "encoder",
    method: str = "token-classification",
    train: tuple[str, ...] = ("NCBI-disease",),
    evals: tuple[str, ...] | None = None,
    lr: float = 5e-5,
    bs: int = 16,
    seed: int = 42,
    dbr: str = "none",
    p: float = 0.80,
    r: float = 0.70,
    types: tuple[str, ...] = ("Disease",),
    wall: float = 120.0,
    rss: float = 900.0,
    gpu: float = 0.0,
    sent_per_s: float = 200.0,
    forward_repeats: tuple[float, ...] | None = None,
    other_cpus: float = 0.05,
    dev_curve: tuple[float, ...] = (0.2, 0.5, 0.6),
    extra_hparams: dict | None = None,
) -> list[Path]:
    """One run directory in the producers' formats; returns its metrics files."""
    run_dir = root / "results" / "runs" / run_id
    (run_dir / "metrics").mkdir(parents=True)
    (run_dir / "pred").mkdir()
    run = {
        "model": {
            "id": model,
            "source": f"hub:{model}",
            "revision": "",
            "family": family,
            "method": method,
            "max_length": 128,
            "dtype": "fp32",
            "quantization": "none",
            "gated": False,
        },
        "method": method,
        "train_datasets": list(train),
        "dataset_types": {d: list(types) for d in train},
        "hparams": {"learning_rate": lr, "batch_size": bs, "epochs": 2, **(extra_hparams or {})},
        "seed": seed,
        "dbr": dbr,
    }
    (run_dir / "run.json").write_text(json.dumps(run))
    cost = {
        "wall_time_s": wall,
        "peak_rss_mb": rss,
        "peak_gpu_mb": gpu,
        "device": "cpu",
        "tokens_seen": 1000,
        "steps": 30,
        "best_step": 20,
        "best_dev_f1": dev_curve[-1],
    }
    (run_dir / "cost.json").write_text(json.dumps(cost))
    log = [
        {"step": 10 * (i + 1), "epoch": i, "loss": 1.0 / (i + 1), "dev_f1": f, "elapsed_s": i}
        for i, f in enumerate(dev_curve)
    ]
    (run_dir / "train_log.jsonl").write_text("".join(json.dumps(x) + "\n" for x in log))
    out = []
    for k, ds in enumerate(evals or train):
        pk, rk = p - 0.01 * k, r - 0.01 * k
        infer = {
            "sentences_per_s": sent_per_s,
            "tokens_per_s": 25 * sent_per_s,
            "peak_mem_mb": rss / 2,
            "batch_size": 32,
            "device": "cpu",
        }
        if forward_repeats:  # as predict writes it: median of the repeats, rates from the median
            median = sorted(forward_repeats)[len(forward_repeats) // 2]
            infer |= {
                "sentences_per_s": 50 / median,
                "tokens_per_s": 1200 / median,
                "forward_time_s": median,
                "forward_time_repeats_s": list(forward_repeats),
                "forward_time_spread": (max(forward_repeats) - min(forward_repeats)) / median,
                "timing_repeats": len(forward_repeats),
                "threads": 2,
                "load_avg_1m_end": 2 + other_cpus,
                "other_cpus": other_cpus,
            }
        (run_dir / "pred" / f"{ds}.infer_cost.json").write_text(json.dumps(infer))
        micro = _prf(pk, rk, 100)
        metrics = {
            "run_id": run_id,
            "dataset": ds,
            "n_sentences": 50,
            "n_tokens": 1200,
            "n_gold_entities": 100,
            "n_pred_entities": 90,
            "exact": {"micro": micro, "per_type": {t: _prf(pk, rk, 100) for t in types}},
            "relaxed": {"micro": _prf(pk + 0.05, rk + 0.05, 100), "per_type": {}},
            "decoding": {"rule": "iob2-conlleval", "pred_tags_changed": 3, "gold_tags_changed": 0},
            "by_length": {
                "1": {**_prf(pk + 0.05, rk, 60), "n_pred": 55},
                "2": {**_prf(pk, rk, 30), "n_pred": 28},
                ">=3": {**_prf(pk - 0.2, rk - 0.2, 10), "n_pred": 7},
            },
            "bootstrap": {
                "n": 200,
                "seed": 13,
                "precision_ci": [pk - 0.03, pk + 0.03],
                "recall_ci": [rk - 0.03, rk + 0.03],
                "f1_ci": [micro["f1"] - 0.03, micro["f1"] + 0.03],
            },
        }
        path = run_dir / "metrics" / f"{ds}.json"
        path.write_text(json.dumps(metrics))
        out.append(path)
    return out


def vaner_study(root: Path) -> tuple[list[Path], dict[str, str]]:
    """VANER-like runs: single-dataset and mixture labelers × DBR variants, an encoder, CRAFT."""
    datasets = ("NCBI-disease", "BC5CDR-chem")
    files, groups = [], {}
    for dbr, delta in (("dbr", 0.02), ("random", 0.0), ("none", -0.02)):
        for ds in datasets:
            rid = f"llama__{ds}__dbr-{dbr}"
            files += write_run(
                root,
                rid,
                model="tiny-llama",
                family="decoder",
                method="labeler",
                train=(ds,),
                dbr=dbr,
                p=0.85 + delta,
                r=0.86 + delta,
                dev_curve=(0.3 + delta, 0.6 + delta, 0.7 + delta),
            )
            groups[rid] = "VANER_single"
        rid = f"llama__mix__dbr-{dbr}"
        files += write_run(
            root,
            rid,
            model="tiny-llama",
            family="decoder",
            method="labeler",
            train=datasets,
            evals=(*datasets, "CRAFT"),
            dbr=dbr,
            types=("Chemical", "Gene", "Species"),
            p=0.86 + delta,
            r=0.87 + delta,
        )
        groups[rid] = "VANER"
    for ds in datasets:
        for seed, shift in ((1, 0.0), (2, 0.02)):
            rid = f"biobert__{ds}__s{seed}"
            files += write_run(
                root,
                rid,
                model="biobert-v1.1",
                train=(ds,),
                seed=seed,
                p=0.84 + shift,
                r=0.83 + shift,
            )
            groups[rid] = "biobert"
    return files, groups


def demo_study(root: Path) -> tuple[list[Path], dict[str, str]]:
    """Shaped like config/studies/demo.yaml: two encoders on each dataset, a DBR run of one of
    them on NCBI-disease only (its own group), a labeler; the DBR run timed on a busy machine
    (repeats 10x apart), tiny-bert under steady load from other processes (repeats agree)."""
    datasets = ("NCBI-disease-demo", "BC5CDR-chem-demo", "s800-demo")
    files, groups = [], {}
    for model, p, repeats, other in (
        ("minilm-l6", 0.80, (0.45, 0.47, 0.46), 0.05),
        ("tiny-bert", 0.30, (0.050, 0.052, 0.051), 1.2),
    ):
        for ds in datasets:
            rid = f"{model}__{ds}"
            files += write_run(
                root,
                rid,
                model=model,
                train=(ds,),
                p=p,
                r=p,
                forward_repeats=repeats,
                other_cpus=other,
            )
            groups[rid] = "encoders"
    files += write_run(
        root,
        "minilm-l6__dbr",
        model="minilm-l6",
        train=("NCBI-disease-demo",),
        dbr="dbr",
        p=0.82,
        r=0.82,
        wall=300.0,
        forward_repeats=(0.60, 7.2, 0.62),  # the shared-node swing
        other_cpus=1.4,
    )
    groups["minilm-l6__dbr"] = "dbr"
    files += write_run(
        root,
        "tiny-llama__labeler",
        model="tiny-llama",
        family="decoder",
        method="labeler",
        train=("NCBI-disease-demo",),
        p=0.05,
        r=0.10,
        wall=60.0,
        forward_repeats=(1.2, 1.3, 1.25),
        extra_hparams={"train_limit": 64, "eval_limit": 32, "instruction": "dataset"},
    )
    groups["tiny-llama__labeler"] = "labeler"
    return files, groups


def vaner_yaml_study(root: Path) -> tuple[list[Path], dict[str, str]]:
    """Shaped like config/studies/vaner.yaml: only the mixture varies DBR; adapt and encoders."""
    datasets = ("NCBI-disease", "JNLPBA-gene")
    files, groups = [], {}
    for dbr in ("dbr", "random", "none"):
        rid = f"mix__{dbr}"
        files += write_run(
            root,
            rid,
            model="llama-2-7b",
            family="decoder",
            method="labeler",
            train=datasets,
            dbr=dbr,
            p=0.85,
            r=0.86,
        )
        groups[rid] = "VANER"
    for ds in datasets:
        files += write_run(
            root,
            f"single__{ds}",
            model="llama-2-7b",
            family="decoder",
            method="labeler",
            train=(ds,),
            p=0.84,
            r=0.85,
        )
        groups[f"single__{ds}"] = "VANER_single"
        for model in ("biobert-v1.1", "biomedbert-base-abstract"):
            files += write_run(root, f"{model}__{ds}", model=model, train=(ds,))
            groups[f"{model}__{ds}"] = "encoders"
    files += write_run(
        root,
        "adapt",
        model="llama-2-7b",
        family="decoder",
        method="labeler",
        train=datasets,
        evals=("CRAFT",),
        types=("Species", "Gene", "Chemical"),
    )
    groups["adapt"] = "VANER_adapt"
    return files, groups


def grid_study(root: Path) -> tuple[list[Path], dict[str, str]]:
    """Foundation-grid-like runs: 4 models × batch {8,16} × lr {1e-5, 1e-4}."""
    files, groups = [], {}
    models = {
        "biobert-v1.1": 0.95,
        "biomedbert-base": 0.94,
        "bert-base-cased": 0.93,
        "roberta-base": 0.91,
    }
    for m_i, (model, base) in enumerate(models.items()):
        for bs in (8, 16):
            for lr in (1e-5, 1e-4):
                score = base - (0.4 if lr == 1e-4 else 0.0) - 0.005 * (bs // 8)
                rid = f"{model}__lr{lr:g}_bs{bs}"
                files += write_run(
                    root,
                    rid,
                    model=model,
                    train=("EPMC",),
                    lr=lr,
                    bs=bs,
                    p=score,
                    r=score,
                    wall=600 + 100 * m_i + 10 * bs,
                    rss=4000 + 500 * m_i,
                    gpu=3000 + 800 * m_i,
                )
                groups[rid] = "grid"
    return files, groups


def llm_study(root: Path) -> tuple[list[Path], dict[str, str]]:
    """Encoders vs generative LLMs on two datasets (paper 000)."""
    files, groups = [], {}
    for model, family, method, p, speed in (
        ("bert-base-cased", "encoder", "token-classification", 0.80, 300.0),
        ("deberta-v3", "encoder", "token-classification", 0.82, 250.0),
        ("tiny-mistral", "decoder", "generative", 0.86, 5.0),
    ):
        rid = f"{model}__000"
        files += write_run(
            root,
            rid,
            model=model,
            family=family,
            method=method,
            train=("NCBI-disease",),
            evals=("NCBI-disease", "BC5CDR-disease"),
            p=p,
            r=p,
            sent_per_s=speed,
        )
        groups[rid] = "encoders" if family == "encoder" else "llms"
    return files, groups


def study_tsv(root: Path, study) -> Path:
    """Aggregate one of the study builders above into ``root/metrics.tsv``."""
    files, groups = study(root)
    out = root / "metrics.tsv"
    main_aggregate(
        ["--metrics", *map(str, files), "--groups", json.dumps(groups), "--out", str(out)]
    )
    return out


@pytest.fixture
def vaner_tsv(tmp_path) -> Path:
    files, groups = vaner_study(tmp_path)
    out = tmp_path / "metrics.tsv"
    assert (
        main_aggregate(
            ["--metrics", *map(str, files), "--groups", json.dumps(groups), "--out", str(out)]
        )
        == 0
    )
    return out


# --------------------------------------------------------------------------- aggregate


def test_aggregate_one_row_per_run_and_dataset(tmp_path, vaner_tsv):
    df = load_metrics_table(vaner_tsv)
    assert len(df) == 6 + 3 * 3 + 4  # single (3 dbr × 2 ds), mix (3 dbr × 3 evals), 4 encoder
    row = df[(df.run_id == "llama__mix__dbr-dbr") & (df.dataset == "CRAFT")].iloc[0]
    assert row.group == "VANER" and row.family == "decoder" and row.method == "labeler"
    assert row.train_datasets == "NCBI-disease+BC5CDR-chem" and row.dbr == "dbr"
    assert row.hp_learning_rate == pytest.approx(5e-5) and row.hp_batch_size == 16
    assert row.types == "Chemical+Gene+Species"
    assert row.type_f1_Gene == pytest.approx(2 * 0.86 * 0.87 / (0.86 + 0.87) - 0.0, abs=0.02)
    assert row.exact_p == pytest.approx(0.86) and row.relaxed_p == pytest.approx(0.91)
    assert row.repaired_tags == 3
    assert row.f1_len3plus < row.f1_len2 < row.f1_len1
    assert row.f1_ci_lo < row.exact_f1 < row.f1_ci_hi
    assert row.train_wall_s == 120 and row.peak_rss_mb == 900 and row.best_dev_f1 == 0.6
    assert row.infer_sent_per_s == 200 and row.infer_tok_per_s == 5000
    assert Path(row.run_dir).name == "llama__mix__dbr-dbr"
    assert math.isnan(row.alignment_failures)


def write_dbr_stats(root: Path, datasets, kb_name: str, composition: str, umls: bool) -> None:
    """The DBR sample stats the dbr job writes, with the record of the KB it used."""
    for ds in datasets:
        for variant in ("dbr", "random"):
            path = root / "results" / "dbr" / ds / f"{variant}.stats.json"
            path.parent.mkdir(parents=True, exist_ok=True)
            kb = {"name": kb_name, "composition": composition, "umls": umls}
            path.write_text(json.dumps({"dataset": ds, "variant": variant, "kb": kb}))


OPEN_KB = "3 names (Disease 2; Gene 1); sources: MEDIC 2, HGNC 1; no UMLS (umls_dir not set)"


def test_aggregate_and_tables_show_the_kb_of_dbr_runs(tmp_path, capsys):
    files, groups = vaner_study(tmp_path)
    out = tmp_path / "metrics.tsv"
    main_aggregate(
        ["--metrics", *map(str, files), "--groups", json.dumps(groups), "--out", str(out)]
    )
    assert "no KB record" in capsys.readouterr().err  # stats without a KB record: empty cell
    df = load_metrics_table(out)
    assert set(df["kb"]) == {""}
    t3 = _table(out, "vaner_table3")
    assert "DBR knowledge base not recorded" in t3.caption
    assert "DBR knowledge base: not recorded." in t3.notes

    write_dbr_stats(tmp_path, ("NCBI-disease", "BC5CDR-chem"), "vaner", OPEN_KB, False)
    main_aggregate(
        ["--metrics", *map(str, files), "--groups", json.dumps(groups), "--out", str(out)]
    )
    df = load_metrics_table(out)
    assert set(df.loc[df.dbr == "none", "kb"]) == {""}
    assert set(df.loc[df.dbr != "none", "kb"]) == {f"vaner: {OPEN_KB}"}
    assert set(df.loc[df.dbr != "none", "kb_umls"]) == {"no"}
    for name in ("vaner_table3", "vaner_table1", "metrics"):
        t = _table(out, name)
        assert "without UMLS" in t.caption, name
        assert f"DBR knowledge base: vaner: {OPEN_KB}." in t.notes, name
        assert f"vaner: {OPEN_KB}" in set(t.data["kb"]), name
        assert OPEN_KB in render_markdown(t) and "without UMLS" in render_latex(t)
    t3 = _table(out, "vaner_table3")
    assert set(t3.data.loc[t3.data.system == "VANER w/o DBR", "kb"]) == {""}

    override = OPEN_KB.replace("no UMLS", "OPEN VOCABULARIES INSTEAD OF THE REQUIRED UMLS")
    write_dbr_stats(tmp_path, ("NCBI-disease", "BC5CDR-chem"), "vaner", override, False)
    main_aggregate(
        ["--metrics", *map(str, files), "--groups", json.dumps(groups), "--out", str(out)]
    )
    assert "UMLS was required but not given" in _table(out, "vaner_table3").caption


def test_aggregate_reads_cost_files_defensively(tmp_path, capsys):
    files = write_run(tmp_path, "r1", model="m")
    run_dir = tmp_path / "results/runs/r1"
    (run_dir / "cost.json").write_text(
        json.dumps({"training": {"train_time_s": 5, "max_rss_mb": 7}})
    )
    (run_dir / "pred/NCBI-disease.infer_cost.json").unlink()
    df = aggregate(files, {"r1": "g"})
    assert df.iloc[0].train_wall_s == 5 and df.iloc[0].peak_rss_mb == 7
    assert pd.isna(df.iloc[0].infer_sent_per_s)
    assert "inference cost not found" in capsys.readouterr().err


def test_aggregate_reads_timing_repeats_and_conditions(tmp_path):
    df = load_metrics_table(study_tsv(tmp_path, demo_study)).set_index("run_id")
    row = df.loc["minilm-l6__dbr"]
    assert row.infer_wall_s == 0.62 and row.infer_timing_repeats == 3  # the median repeat
    assert (row.infer_forward_min_s, row.infer_forward_max_s) == (0.6, 7.2)
    assert row.infer_forward_spread == pytest.approx((7.2 - 0.6) / 0.62, abs=1e-3)
    assert row.infer_threads == 2 and row.infer_load_avg_1m == 3.4 and row.infer_other_cpus == 1.4
    # a file with repeats but no spread: the spread is computed; without repeats: empty cells
    path = tmp_path / "results/runs/minilm-l6__dbr/pred/NCBI-disease-demo.infer_cost.json"
    cost = json.loads(path.read_text())
    del cost["forward_time_spread"]
    path.write_text(json.dumps(cost))
    files = sorted((tmp_path / "results/runs/minilm-l6__dbr/metrics").glob("*.json"))
    again = aggregate(files, None).iloc[0]
    assert again.infer_forward_spread == pytest.approx((7.2 - 0.6) / 0.62)
    old = {k: cost[k] for k in ("sentences_per_s", "forward_time_s", "batch_size")}
    path.write_text(json.dumps(old))
    again = aggregate(files, None).iloc[0]
    assert again.infer_wall_s == 0.62 and again.infer_sent_per_s == cost["sentences_per_s"]
    assert pd.isna(again.infer_forward_spread) and pd.isna(again.infer_forward_max_s)


def test_aggregate_errors_name_the_file(tmp_path):
    files = write_run(tmp_path, "r1", model="m")
    with pytest.raises(InputError, match="no group"):
        aggregate(files, {"other": "g"})
    data = json.loads(files[0].read_text())
    del data["exact"]
    files[0].write_text(json.dumps(data))
    with pytest.raises(InputError, match=r"NCBI-disease\.json.*exact\.micro"):
        aggregate(files, None)
    (tmp_path / "results/runs/r1/run.json").unlink()
    with pytest.raises(InputError, match="run.json"):
        aggregate(files, None)


def test_metrics_table_one_exact_f1_the_relaxed_one_and_the_decoding_rule(tmp_path):
    """#27: "strict" and "default" were one number after decoding; one exact-match column."""
    t = _table(study_tsv(tmp_path, open_study), "metrics")
    cols = list(t.display.columns)
    assert {"Exact P", "Exact R", "Exact F1", "Relaxed F1", "Repaired tags"} <= set(cols)
    assert not [c for c in cols if "Strict" in c or "Default" in c]
    assert cols.index("Relaxed F1") < cols.index("Repaired tags")
    assert "iob2-conlleval" in t.caption and "read as B-T" in t.caption
    assert "15 predicted tags repaired in all (5 evaluations" in t.caption  # 3 per metrics file
    assert not [c for c in t.data.columns if c.startswith(("strict_", "default_"))]
    caption = (REPO / "workflow/report/table_metrics.rst").read_text(encoding="utf-8")
    assert "iob2-conlleval" in caption and "Repaired tags" in caption
    assert "strict" not in caption.lower() and "default" not in caption.lower()


def _metrics_before_27(path: Path) -> dict:
    """A metrics file as written before #27: strict/default blocks, no decoding record."""
    data = json.loads(path.read_text())
    exact = data.pop("exact")
    data.pop("decoding")
    lower = {"micro": {**exact["micro"], "f1": exact["micro"]["f1"] - 0.1}, "per_type": {}}
    data |= {"default": exact, "strict": lower}  # they differed only on invalid gold tags
    path.write_text(json.dumps(data))
    return exact


def test_metrics_files_before_27_still_aggregate(tmp_path):
    files = write_run(tmp_path, "r1", model="m", types=("Disease",))
    exact = _metrics_before_27(files[0])
    row = aggregate(files, None).iloc[0]
    assert row.exact_f1 == pytest.approx(exact["micro"]["f1"])  # "default" was conlleval's
    assert row.exact_p == pytest.approx(0.8) and row.type_f1_Disease == pytest.approx(row.exact_f1)
    assert pd.isna(row.repaired_tags)
    assert not [c for c in row.index if c.startswith(("strict_", "default_"))]
    out = tmp_path / "metrics.tsv"
    assert main_aggregate(["--metrics", str(files[0]), "--out", str(out)]) == 0
    t = build_table("metrics", load_metrics_table(out), None)
    assert "repaired tags not recorded" in t.caption


def test_aggregate_tables_before_27_still_load(tmp_path):
    files = write_run(tmp_path, "r1", model="m")
    out = tmp_path / "metrics.tsv"
    assert main_aggregate(["--metrics", str(files[0]), "--out", str(out)]) == 0
    df = pd.read_csv(out, sep="\t")
    old = df.rename(columns={c: "default_" + c[6:] for c in df.columns if c.startswith("exact_")})
    old = old.assign(strict_f1=0.0).drop(columns="repaired_tags")
    old.to_csv(out, sep="\t", index=False)
    loaded = load_metrics_table(out)
    assert loaded.exact_f1.iloc[0] == pytest.approx(df.exact_f1.iloc[0])
    assert not [c for c in loaded.columns if c.startswith(("strict_", "default_"))]
    assert "Exact F1" in build_table("metrics", loaded, None).display


def test_aggregate_is_atomic_on_failure(tmp_path):
    good = write_run(tmp_path, "ok", model="m")
    bad = tmp_path / "results/runs/ok/metrics/broken.json"
    bad.write_text("{not json")
    out = tmp_path / "agg.tsv"
    with pytest.raises(InputError, match="invalid JSON"):
        main_aggregate(["--metrics", str(good[0]), str(bad), "--out", str(out)])
    assert not out.exists() and not list(tmp_path.glob(".agg.tsv*"))


# --------------------------------------------------------------------------- references


@pytest.mark.parametrize("name", ["vaner_table1", "vaner_table3"])
def test_reference_avg_diff_reproduces_the_paper(name):
    """The transcription is checked against the paper's own avg. diff. column."""
    ref = load_reference(REFERENCE_DIR / f"{name}.tsv", ["system", "dataset", "metric", "value"])
    f1 = ref[ref.metric == "F1"].pivot(index="system", columns="dataset", values="value")
    published = ref[ref.metric == "avg_diff"].set_index("system")["value"]
    known_paper_errors = {"AIONER", "UniversalNER"}  # documented in the reference file
    for system, value in published.items():
        in_single_block = name == "vaner_table3" and system.startswith("VANER_single")
        anchor = "VANER_single" if in_single_block else "VANER"
        recomputed = (f1.loc[system] - f1.loc[anchor]).dropna().mean()
        if system in known_paper_errors:
            assert abs(recomputed - value) > 0.02
        else:
            assert recomputed == pytest.approx(value, abs=0.011), system
    assert f1.shape[1] == 8 and f1.loc["VANER", "linnaeus"] == 94.06


def test_reference_files_have_source_notes():
    for path in REFERENCE_DIR.glob("*.tsv"):
        head = path.read_text().splitlines()[0]
        assert head.startswith("#") and "paper" in path.read_text().lower(), path
    assert "ABSTRACT ONLY" in (REFERENCE_DIR / "llm_vs_encoder.tsv").read_text()
    fig13 = load_reference(REFERENCE_DIR / "foundation_f1.tsv", ["system", "batch_size", "value"])
    assert len(fig13) == 21 and fig13.value.max() == 95.08


def test_match_system():
    names = ["BERT", "BioBERT", "BioMedBERT", "RoBERTa", "GPT-2", "Bioformer-8L", "Bioformer-16L"]
    assert match_system("biobert-v1.1", names) == "BioBERT"
    assert match_system("bert-base-cased", names) == "BERT"
    assert match_system("roberta-base", names) == "RoBERTa"
    assert match_system("pubmedbert-base", names) == "BioMedBERT"
    assert match_system("gpt2", names) == "GPT-2"
    assert match_system("bioformer-16l", names) == "Bioformer-16L"
    assert match_system("bertweet", names) is None
    vaner = ["VANER", "VANER_single", "VANER_single w/o DBR"]
    assert match_system("VANER_single w/o DBR", vaner) == "VANER_single w/o DBR"
    assert match_system("VANER_single", vaner) == "VANER_single"
    assert match_system("VANER_llama3", vaner) == "VANER"
    assert match_system("VANER_single w/o DBR", ["VANER", "VANER_single"]) is None


# --------------------------------------------------------------------------- tables


def _table(tsv: Path, name: str, **kw):
    ref_file = TABLES[name].reference
    ref = None
    if ref_file:
        cols = ["system"] if "claim" not in (REFERENCE_DIR / ref_file).read_text() else ["claim"]
        ref = load_reference(REFERENCE_DIR / ref_file, cols)
    return build_table(name, load_metrics_table(tsv), ref, **kw)


def test_vaner_table1_compares_with_the_paper(vaner_tsv):
    t = _table(vaner_tsv, "vaner_table1")
    d = t.display
    ours = d[(d.System == "VANER") & (d.Source == "ours") & (d.Metric == "F1")].iloc[0]
    assert ours["NCBI-disease"] == f"{200 * 0.88 * 0.89 / 1.77:.2f}"  # DBR variant only
    paper = d[(d.System == "VANER") & (d.Source == "paper") & (d.Metric == "F1")].iloc[0]
    assert paper["NCBI-disease"] == "88.03" and paper["s800"] == "77.06"
    delta = d[(d.System == "VANER") & (d.Source == "Δ") & (d.Metric == "F1")].iloc[0]
    assert delta["NCBI-disease"] == f"{200 * 0.88 * 0.89 / 1.77 - 88.03:+.2f}"
    biobert = d[(d.System == "biobert") & (d.Source == "ours") & (d.Metric == "F1")].iloc[0]
    assert "±" in biobert["NCBI-disease"]  # two seeds: mean ± sd
    assert d[(d.System == "BioBERT") & (d.Source == "paper")].iloc[0]["avg. diff."] == "-3.03"
    assert ours["avg. diff."] == "–"  # VANER (ours) is the anchor
    cols = list(d.columns)
    assert cols.index("NCBI-disease") < cols.index("BC2GM") < cols.index("BC5CDR-chem")
    assert cols.index("BC5CDR-chem") < cols.index("linnaeus")  # Disease, Gene, Chemical, Species
    best = [k for k, v in t.marks.items() if v == "best" and k[1] == "NCBI-disease"]
    assert len(best) == 1 and d.iloc[best[0][0]].Source == "paper"  # 89.69 (KGQA) is highest
    md, tex = render_markdown(t), render_latex(t)
    assert "**89.69**" in md and "<u>89.59</u>" in md
    assert "\\textbf{89.69}" in tex and "\\multicolumn{2}{c}{Disease}" in tex
    assert "\\toprule" in tex and "$\\pm$" in tex
    assert {"system", "paper_system", "dataset", "metric", "ours_mean", "paper", "delta"} <= set(
        t.data.columns
    )
    ref = pd.read_csv(REFERENCE_DIR / "vaner_table1.tsv", sep="\t", comment="#")
    assert t.data["paper"].notna().sum() == len(ref)  # every published cell is in the TSV


def test_vaner_tables_for_the_vaner_study_layout(tmp_path):
    files, groups = vaner_yaml_study(tmp_path)
    tsv = tmp_path / "m.tsv"
    main_aggregate(
        ["--metrics", *map(str, files), "--groups", json.dumps(groups), "--out", str(tsv)]
    )
    d = _table(tsv, "vaner_table1").display
    sources = d.groupby("System")["Source"].apply(set).to_dict()
    assert sources["VANER"] == {"ours", "paper", "Δ"}
    assert sources["VANER_single w/o DBR"] == {"ours"}  # never compared with DBR numbers
    assert sources["biobert-v1.1"] == {"ours", "Δ"} and "BioBERT" in sources
    assert sources["biomedbert-base-abstract"] == {"ours", "Δ"} and "PubMedBERT" in sources
    assert "VANER + random DBR" not in sources  # Table 1 shows the DBR variant
    paper = d[(d.System == "VANER") & (d.Source == "paper") & (d.Metric == "F1")].iloc[0]
    assert paper["JNLPBA-gene"] == "77.41"
    d3 = _table(tsv, "vaner_table3").display
    ours3 = set(d3[d3.Source == "ours"].System)
    assert ours3 == {"VANER", "VANER + random DBR", "VANER w/o DBR", "VANER_single w/o DBR"}
    assert {"ours", "paper", "Δ"} == set(d3[d3.System == "VANER_single w/o DBR"].Source)
    d4 = _table(tsv, "vaner_table4").display
    assert "VANER_adapt w/o DBR" in set(d4[d4.Source == "ours"].System)


def test_vaner_table3_dbr_ablation(vaner_tsv):
    t = _table(vaner_tsv, "vaner_table3")
    d = t.display
    systems = set(d[d.Source == "ours"].System)
    assert systems == {
        "VANER",
        "VANER + random DBR",
        "VANER w/o DBR",
        "VANER_single",
        "VANER_single + random DBR",
        "VANER_single w/o DBR",
    }
    row = d[(d.System == "VANER_single w/o DBR") & (d.Source == "ours") & (d.Metric == "F1")]
    assert row.iloc[0]["avg. diff."] == "-4.00"  # 2 points lower P and R than with DBR, in %
    paper = d[(d.System == "VANER w/o DBR") & (d.Source == "paper") & (d.Metric == "F1")]
    assert paper.iloc[0]["avg. diff."] == "-0.51"
    assert "biobert" not in set(d.System)


def test_vaner_table4_craft_per_type(vaner_tsv):
    t = _table(vaner_tsv, "vaner_table4")
    d = t.display
    assert list(d.columns[3:6]) == ["Species", "Gene", "Chemical"]
    assert set(d[d.Source == "paper"].System) >= {"HunFlair", "VANER_adapt", "VANER"}
    hunflair = d[(d.System == "HunFlair")].iloc[0]
    assert hunflair["Gene"] == "72.19"


def test_foundation_f1_and_missing_learning_rate(tmp_path):
    files, groups = grid_study(tmp_path)
    out = tmp_path / "m.tsv"
    main_aggregate(
        ["--metrics", *map(str, files), "--groups", json.dumps(groups), "--out", str(out)]
    )
    t = _table(out, "foundation_f1")
    d = t.display
    assert "BioBERT (biobert-v1.1)" in d.columns and "GPT-2" in d.columns
    bs8 = d[(d["Batch size"] == 8) & (d.Source == "ours")].iloc[0]
    assert bs8["BioBERT (biobert-v1.1)"] == "94.50"
    assert d[(d["Batch size"] == 8) & (d.Source == "paper")].iloc[0]["GPT-2"] == "73.97"
    assert (
        d[(d["Batch size"] == 8) & (d.Source == "Δ")].iloc[0]["BioBERT (biobert-v1.1)"] == "-0.58"
    )
    assert t.marks[(0, "BioBERT (biobert-v1.1)")] == "best"
    assert any("Δ = ours − published" in n for n in t.notes)
    # a model the paper did not train: its published rows beside ours, no empty Δ rows
    minilm = load_metrics_table(out)
    minilm = minilm[minilm["model"] == "roberta-base"].assign(model="minilm-l6", group="minilm")
    alone = build_table(
        "foundation_f1", minilm, load_reference(REFERENCE_DIR / "foundation_f1.tsv", [])
    )
    assert list(alone.display.Source) == ["ours", "paper"] * 3  # batch 8, 16 and the paper's 32
    assert any("no Δ" in n for n in alone.notes)
    with pytest.raises(InputError, match="learning_rate 0.003"):
        _table(out, "foundation_f1", learning_rate=3e-3)


def test_foundation_f1_matches_the_papers_learning_rate(tmp_path):
    files, groups = grid_study(tmp_path)
    out = tmp_path / "m.tsv"
    main_aggregate(
        ["--metrics", *map(str, files), "--groups", json.dumps(groups), "--out", str(out)]
    )
    # The paper gives F1 at 1e-5 only: at 1e-4 no paper row, no Δ, not the 1e-5 numbers.
    t = _table(out, "foundation_f1", learning_rate=1e-4)
    assert set(t.display.Source) == {"ours"}
    assert t.data["paper"].isna().all() and t.data["delta"].isna().all()
    assert any("no F1 at learning rate 0.0001" in n for n in t.notes)
    # A published number at 1e-4 is used at 1e-4, and only there.
    ref = load_reference(REFERENCE_DIR / "foundation_f1.tsv", ["learning_rate"])
    extra = {"system": "BioBERT", "batch_size": 8, "learning_rate": 1e-4, "metric": "F1"}
    ref = pd.concat([ref, pd.DataFrame([{**extra, "value": 50.0}])], ignore_index=True)
    df = load_metrics_table(out)
    at_1e4 = build_table("foundation_f1", df, ref, learning_rate=1e-4)
    d = at_1e4.display
    col = "BioBERT (biobert-v1.1)"
    assert d[(d["Batch size"] == 8) & (d.Source == "paper")].iloc[0][col] == "50.00"
    assert d[(d["Batch size"] == 8) & (d.Source == "Δ")].iloc[0][col] == "+4.50"  # 54.50 - 50
    assert d[(d["Batch size"] == 16) & (d.Source == "paper")].iloc[0][col] == "–"
    at_1e5 = build_table("foundation_f1", df, ref, learning_rate=1e-5).display
    assert at_1e5[(at_1e5["Batch size"] == 8) & (at_1e5.Source == "paper")].iloc[0][col] == "95.08"
    no_lr = ref.drop(columns="learning_rate")
    with pytest.raises(InputError, match="learning_rate"):
        build_table("foundation_f1", df, no_lr, learning_rate=1e-5)


def test_metrics_table_reports_alignment_failures_per_dataset(tmp_path):
    files, groups = llm_study(tmp_path)
    for path in files:
        if "tiny-mistral" in str(path):
            m = json.loads(path.read_text())
            m["alignment_failures"] = 7 if "NCBI" in path.name else 2
            path.write_text(json.dumps(m))
    out = tmp_path / "m.tsv"
    main_aggregate(
        ["--metrics", *map(str, files), "--groups", json.dumps(groups), "--out", str(out)]
    )
    t = _table(out, "metrics")
    d = t.display.set_index(["Model", "Dataset"])
    assert d.loc[("tiny-mistral", "NCBI-disease"), "Align. failures"] == "7"
    assert d.loc[("tiny-mistral", "BC5CDR-disease"), "Align. failures"] == "2"
    assert d.loc[("bert-base-cased", "NCBI-disease"), "Align. failures"] == "–"
    assert any("Align. failures" in n for n in t.notes)
    files2, groups2 = grid_study(tmp_path / "enc")
    out2 = tmp_path / "m2.tsv"
    main_aggregate(
        ["--metrics", *map(str, files2), "--groups", json.dumps(groups2), "--out", str(out2)]
    )
    assert "Align. failures" not in _table(out2, "metrics").display.columns


def test_llm_tables_and_inference_ratio(tmp_path):
    files, groups = llm_study(tmp_path)
    out = tmp_path / "m.tsv"
    main_aggregate(
        ["--metrics", *map(str, files), "--groups", json.dumps(groups), "--out", str(out)]
    )
    t = _table(out, "llm_vs_encoder_f1")
    gap = t.display[t.display.System == "LLM − best encoder"].iloc[0]
    assert gap["NCBI-disease exact"] == "+4.00"
    assert "abstract only" in " ".join(t.notes)
    t = _table(out, "f1_by_length")
    assert "NCBI-disease ≥3" in t.display.columns
    t = _table(out, "inference_ratio")
    ratios = t.data.set_index(["dataset", "encoder"])["time_ratio"]
    assert ratios[("NCBI-disease", "bert-base-cased")] == pytest.approx(60.0)
    assert set(t.display["In paper range"]) == {"yes"}


def test_inference_ratio_needs_both_families(vaner_tsv):
    df = load_metrics_table(vaner_tsv)
    with pytest.raises(InputError, match="both families"):
        build_table("inference_ratio", df[df.family == "encoder"], None)


def test_every_table_cli_writes_three_files(tmp_path, vaner_tsv):
    out = tmp_path / "tables" / "metrics"
    assert (
        main_tables(["--metrics", str(vaner_tsv), "--which", "metrics", "--out-prefix", str(out)])
        == 0
    )
    for suffix in (".tsv", ".md", ".tex"):
        assert (tmp_path / "tables" / f"metrics{suffix}").stat().st_size > 100
    md = (tmp_path / "tables" / "metrics.md").read_text()
    assert "| Group | Model | Method |" in md and "biobert-v1.1" in md and "| DBR |" in md
    for name in table_names():  # every reference file a table declares is there
        ref = TABLES[name].reference
        assert ref is None or (REFERENCE_DIR / ref).is_file(), name


def test_integer_hyperparameters_print_as_integers(tmp_path):
    """A hyperparameter only some runs set is a float column in pandas: still 32, not 32.0."""
    tsv = study_tsv(tmp_path, demo_study)
    out = tmp_path / "tables" / "metrics"
    assert main_tables(["--metrics", str(tsv), "--which", "metrics", "--out-prefix", str(out)]) == 0
    md = out.with_suffix(".md").read_text()
    header = next(line for line in md.splitlines() if line.startswith("| Group"))
    assert "eval_limit" in header and "train_limit" in header
    row = next(line for line in md.splitlines() if line.startswith("| labeler"))
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert "32" in cells and "64" in cells
    for text in (md, out.with_suffix(".tsv").read_text(), out.with_suffix(".tex").read_text()):
        assert "32.0" not in text and "64.0" not in text and "nan" not in text.lower()
    tsv_rows = pd.read_csv(out.with_suffix(".tsv"), sep="\t", dtype=str).fillna("")
    assert set(tsv_rows["hp_eval_limit"]) == {"", "32"}
    from nerbench.reporting.render import fmt_value

    assert [fmt_value(v) for v in (32.0, 2e-4, 1e-5, "dataset", float("nan"), "", None)] == [
        "32", "0.0002", "1e-05", "dataset", "–", "–", "–",
    ]  # fmt: skip


# --------------------------------------------------------------------------- figures


def test_pareto_front():
    pts = [(1, 50), (2, 40), (3, 70), (4, 70), (5, 90), (0.5, 10)]
    assert pareto_front(pts) == [(0.5, 10), (1, 50), (3, 70), (5, 90)]


@pytest.mark.parametrize("name", figure_names())
def test_figures_render_png_and_pdf(tmp_path, name):
    files, groups = (
        grid_study(tmp_path) if name.startswith(("grid", "memory")) else vaner_study(tmp_path)
    )
    tsv = tmp_path / "m.tsv"
    main_aggregate(
        ["--metrics", *map(str, files), "--groups", json.dumps(groups), "--out", str(tsv)]
    )
    prefix = tmp_path / "fig" / name
    assert main_figures(["--metrics", str(tsv), "--which", name, "--out-prefix", str(prefix)]) == 0
    png, pdf = prefix.with_suffix(".png"), prefix.with_suffix(".pdf")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 5000
    assert pdf.read_bytes()[:5] == b"%PDF-"


def test_figure_axes_are_labelled(vaner_tsv):
    fig = build_figure("f1_by_length", load_metrics_table(vaner_tsv))
    ax = fig.axes[0]
    assert ax.get_xlabel() == "gold entity length (tokens)" and "F1 (%)" in ax.get_ylabel()
    colours = {to_hex(p.get_facecolor()).upper() for p in ax.patches}
    assert len(colours) >= 2 and colours <= set(OKABE_ITO)  # colour-blind-safe palette


def test_training_curves_reads_train_logs(vaner_tsv):
    """Dev F1 (top row) and training loss (bottom row) against the logged epoch."""
    fig = build_figure("training_curves", load_metrics_table(vaner_tsv))
    top, bottom = fig.axes[: len(fig.axes) // 2], fig.axes[len(fig.axes) // 2 :]
    dev = [ln for ax in top for ln in ax.get_lines()]
    styles = {ln.get_linestyle() for ln in dev}
    assert {"-", "--", ":"} <= styles  # with DBR, random DBR, without DBR
    assert max(max(ln.get_ydata()) for ln in dev) == pytest.approx(72.0)
    loss = [ln for ax in bottom for ln in ax.get_lines()]
    assert len(loss) == len(dev) and {ax.get_xlabel() for ax in bottom} == {"epoch"}
    for line in loss:  # the fixture logs loss 1 / (epoch + 1)
        assert list(line.get_ydata()) == pytest.approx([1 / (e + 1) for e in line.get_xdata()])


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    pyplot().close("all")


def _artist_colour(artist) -> str:
    from matplotlib.collections import Collection
    from matplotlib.lines import Line2D

    if isinstance(artist, Line2D):
        return to_hex(artist.get_color())
    if isinstance(artist, Collection):  # scatter: the face, or the edge of a ring
        face = artist.get_facecolor()
        return to_hex(face[0] if len(face) else artist.get_edgecolor()[0])
    return to_hex(artist.get_facecolor())  # a bar


def plotted_series(fig) -> list[tuple[str, str]]:
    """(label, colour) of every data series drawn in ``fig``: each bar of a bar series, each
    line and each scatter; error bars (part of a container) and images are not series."""
    from matplotlib.container import BarContainer

    series = []
    for ax in fig.axes:
        if ax.get_label() == "<colorbar>":
            continue
        in_containers = {id(a) for c in ax.containers for a in c.get_children()}
        for c in ax.containers:
            if isinstance(c, BarContainer):
                series += [(c.get_label(), _artist_colour(bar)) for bar in c.patches]
        for artist in [*ax.lines, *ax.collections]:
            if id(artist) not in in_containers:
                series.append((artist.get_label(), _artist_colour(artist)))
    return series


def legend_texts(fig) -> set[str]:
    legends = [*fig.legends, *(ax.get_legend() for ax in fig.axes)]
    return {t.get_text() for leg in legends if leg is not None for t in leg.get_texts()}


FIGURE_STUDIES = [
    ("grid_heatmaps", grid_study),
    ("grid_pairs", grid_study),
    ("memory_time", grid_study),
    ("memory_time", demo_study),
    ("f1_by_length", demo_study),
    ("f1_by_length", vaner_study),
    ("f1_by_length", llm_study),
    ("cost_f1", demo_study),
    ("cost_f1", llm_study),
    ("training_curves", demo_study),
    ("training_curves", vaner_study),
    ("training_curves", grid_study),  # several runs of a system in one panel
]


@pytest.mark.parametrize(
    ("name", "study"), FIGURE_STUDIES, ids=[f"{n}-{s.__name__}" for n, s in FIGURE_STUDIES]
)
def test_every_plotted_series_has_a_legend_entry(tmp_path, name, study):
    """Read back from the figure: every bar, line and scatter carries a label that its legend
    shows, one colour per label, and the legend shows nothing that is not drawn."""
    fig = build_figure(name, load_metrics_table(study_tsv(tmp_path, study)))
    series = plotted_series(fig)
    unlabelled = [c for label, c in series if not label or label.startswith("_")]
    assert not unlabelled, f"{len(unlabelled)} series without a label"
    labels = {label for label, _ in series}
    assert labels == legend_texts(fig)
    colours: dict[str, set] = {}
    for label, c in series:
        colours.setdefault(label, set()).add(c)
    assert all(len(c) == 1 for c in colours.values()), colours
    if name == "grid_heatmaps":
        assert not series and fig.axes[-1].get_ylabel() == "score (%)"  # a colour bar instead


def test_series_are_labelled_by_model_method_and_dbr_variant(tmp_path):
    """Not by a study group's name ("dbr", "labeler"); groups only where they tell apart."""
    df = load_metrics_table(study_tsv(tmp_path / "demo", demo_study))
    for name in ("f1_by_length", "cost_f1", "training_curves", "memory_time"):
        texts = legend_texts(build_figure(name, df))
        assert not texts & {"dbr", "labeler", "encoders"}, name
    assert {
        "minilm-l6 (token-classification, DBR)",
        "minilm-l6 (token-classification, no DBR)",
        "tiny-bert (token-classification, no DBR)",
        "tiny-llama (labeler, no DBR)",
    } <= legend_texts(build_figure("cost_f1", df))
    vaner = load_metrics_table(study_tsv(tmp_path / "vaner", vaner_study))
    texts = legend_texts(build_figure("f1_by_length", vaner))
    assert {"VANER: tiny-llama (labeler, random DBR)", "VANER_single: tiny-llama (labeler, DBR)"}
    assert "biobert-v1.1 (token-classification, no DBR)" in texts
    assert {
        "VANER: tiny-llama (labeler, random DBR)",
        "VANER_single: tiny-llama (labeler, DBR)",
    } <= texts
    llm = build_figure("f1_by_length", load_metrics_table(study_tsv(tmp_path / "llm", llm_study)))
    (legend,) = llm.legends
    assert legend.get_title().get_text() == "all: no DBR"  # what every series shares
    assert "tiny-mistral (generative)" in legend_texts(llm)


def test_cost_figure_shows_the_timing_spread_and_marks_noisy_runs(tmp_path):
    """Inference panel: a bar from the fastest to the slowest repeat; a ring where > 20 %."""
    from matplotlib.collections import LineCollection
    from matplotlib.container import ErrorbarContainer

    df = load_metrics_table(study_tsv(tmp_path, demo_study))
    fig = build_figure("cost_f1", df)
    ax = fig.axes[1]
    assert "inference" in ax.get_xlabel() and "repeat" in ax.get_title()
    spans = {}
    for c in ax.containers:
        if isinstance(c, ErrorbarContainer):
            (segments,) = [a for a in c.get_children() if isinstance(a, LineCollection)]
            ((x0, y), (x1, _)) = segments.get_segments()[0]
            spans[round(y, 1)] = (x0, x1)
    # the DBR run (F1 82 %): repeats 0.60, 7.2, 0.62 s for 50 sentences; median 0.62 s
    per_1k = 1000 * 0.62 / 50
    assert spans[82.0] == (
        pytest.approx(per_1k * 0.60 / 0.62),
        pytest.approx(per_1k * 7.2 / 0.62),
    )
    assert len(spans) == 4  # every system recorded repeats
    rings = [c for c in ax.collections if "spread" in c.get_label()]
    assert len(rings) == 1 and tuple(rings[0].get_offsets()[0]) == pytest.approx((per_1k, 82.0))
    assert not [c for c in fig.axes[0].collections if "spread" in c.get_label()]
    # steady load from other processes does not spread the repeats: its own dashed ring
    busy = [c for c in ax.collections if "other processes" in c.get_label()]
    assert sorted(round(c.get_offsets()[0][1]) for c in busy) == [30, 82]  # tiny-bert, DBR run
    # old infer_cost.json files (no repeats): points, no bars, no rings, no error
    old = df.drop(columns=["infer_forward_min_s", "infer_forward_max_s", "infer_forward_spread"])
    ax = build_figure("cost_f1", old).axes[1]
    assert not [c for c in ax.containers if isinstance(c, ErrorbarContainer)]
    assert not [c for c in ax.collections if "spread" in c.get_label()] and not ax.get_title()


# --------------------------------------------------------------------------- report.smk


SNAKEFILE = """
import json
from types import SimpleNamespace

from nerbench import paths
from nerbench.plan.files import StudyFiles, report_code
from nerbench.reporting.outputs import figure_names, table_names

# A stand-in for common.smk: the real StudyFiles over a fake plan whose metrics are on disk.
STUDY = "teststudy"
PLAN = SimpleNamespace(
    name=STUDY,
    run_groups=json.load(open("groups.json")),
    runs={{}},
    datasets={{}},
    study={{"outputs": {outputs}}},
)


class Files(StudyFiles):
    def evaluations(self):
        found = sorted(Path("results/runs").glob("*/metrics/*.json"))
        return [(p.parent.parent.name, p.stem) for p in found]


FILES = Files(PLAN, {{}})
DBR = FILES.dbr
metrics_files = lambda wildcards=None: FILES.metrics_files()
as_json = lambda obj: json.dumps(obj, sort_keys=True)
study_path = FILES.study_path
reference_input = lambda wildcards: FILES.reference_input(wildcards.name)
report_reads = lambda kind: lambda wildcards: FILES.report_reads(kind, wildcards.name)
caption_text = lambda kind: lambda wildcards: FILES.caption_text(kind, wildcards.name)
output_prefix = lambda wildcards, output: str(output[0]).rsplit(".", 1)[0]


include: "{report_smk}"


rule all:
    input:
        FILES.report_targets(),
"""


def report_project(root: Path, study, outputs: dict):
    """A project in ``root`` with ``study``'s runs, the real report rules and a Snakefile standing
    in for common.smk; returns a function running Snakemake there."""
    files, groups = study(root)
    (root / "groups.json").write_text(json.dumps(groups))
    for sub in ("workflow/nerbench", "workflow/report", "config/reference", "envs"):
        shutil.copytree(REPO / sub, root / sub, ignore=shutil.ignore_patterns("__pycache__"))
    (root / "workflow/rules").mkdir()
    shutil.copy(REPO / "workflow/rules/report.smk", root / "workflow/rules/report.smk")
    (root / "Snakefile").write_text(
        "from pathlib import Path\n"
        + textwrap.dedent(SNAKEFILE).format(
            report_smk="workflow/rules/report.smk", outputs=repr(outputs)
        )
    )
    env = {**os.environ, "PYTHONPATH": str(root / "workflow")}
    return lambda *a: subprocess.run(
        [sys.executable, "-m", "snakemake", "--cores", "1", *a],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


@pytest.mark.skipif(shutil.which("snakemake") is None, reason="snakemake not installed")
@pytest.mark.slow
def test_report_rules_and_html_report(tmp_path):
    """The report rules run under Snakemake and `--report` holds every table and figure."""
    outputs = {"tables": ["metrics", "vaner_table1"], "figures": ["f1_by_length"]}
    run = report_project(tmp_path, vaner_study, outputs)
    res = run()
    assert res.returncode == 0, res.stderr[-3000:]
    for path in (
        "results/studies/teststudy/aggregate/metrics.tsv",
        "results/studies/teststudy/tables/vaner_table1.tex",
        "results/studies/teststudy/tables/metrics.md",
        "results/studies/teststudy/figures/f1_by_length.pdf",
    ):
        assert (tmp_path / path).is_file(), path
    assert (tmp_path / "logs/teststudy/report/aggregate.log").is_file()
    res = run("--report", "results/report.html")
    assert res.returncode == 0, res.stderr[-3000:]
    html = (tmp_path / "results/report.html").read_text(errors="replace")
    for name in ("vaner_table1.html", "metrics.tsv", "f1_by_length.png"):
        assert name in html, name
    assert "VANER Table 1" in html  # the per-table caption was rendered
    # Editing report code reruns the rules that import it, and only those (Snakemake 9 compares
    # checksums, so a bare `touch` is not an edit).
    reporting = tmp_path / "workflow/nerbench/reporting"
    for module, reruns in (
        ("figures/cost.py", {"figure"}),
        ("tables/metrics.py", {"table"}),
        ("summary.py", {"table", "figure"}),
    ):
        with open(reporting / module, "a") as f:
            f.write("# edited\n")
        res = run("-n", "--quiet", "rules")
        assert res.returncode == 0, res.stderr[-3000:]
        planned = {r for r in ("aggregate", "table", "figure") if r in res.stdout}
        assert planned == reruns, (module, res.stdout)
        assert run().returncode == 0


# --------------------------------------------------------------------------- report in a browser


def _chromium() -> str | None:
    names = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
    return next((path for path in map(shutil.which, names) if path), None)


# Snakemake's report is a one-page app; a copy of it opens one result the way a click does.
OPEN_RESULT = (
    "const p = Object.keys(results).find(k => k.endsWith('{name}'));"
    "app.setView({{content: '{kind}', contentPath: results[p].data_uri, resultPath: p,"
    " navbarMode: 'resultinfo'}});"
)


def _report_view(report: Path, out: Path, js: str) -> Path:
    html = report.read_text(encoding="utf-8")
    inject = f"<script>addEventListener('load', () => setTimeout(() => {{{js}}}, 300));</script>"
    end = html.rfind("</body>")
    out.write_text(html[:end] + inject + html[end:], encoding="utf-8")
    return out


def _headless(page: Path, *args: str) -> subprocess.CompletedProcess:
    cmd = [_chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars"]
    cmd += ["--virtual-time-budget=10000", "--enable-logging=stderr", "--v=0", *args]
    return subprocess.run(
        [*cmd, page.as_uri()], capture_output=True, text=True, timeout=180, check=False
    )


def _screenshot(page: Path, png: Path):
    from matplotlib.image import imread

    res = _headless(page, "--window-size=1280,800", f"--screenshot={png}")
    assert png.is_file(), res.stderr[-3000:]
    assert "Uncaught" not in res.stderr, res.stderr[-3000:]  # no script error in the page
    return imread(png)[..., :3]


def _visible_text(dom: str) -> str:
    dom = re.sub(r"<(script|style)\b.*?</\1>", " ", dom, flags=re.S)
    return " ".join(re.sub(r"<[^>]+>", " ", dom).split())


def _pixels(img, hex_colour: str) -> int:
    import numpy as np
    from matplotlib.colors import to_rgb

    return int(np.all(np.abs(img - to_rgb(hex_colour)) < 0.06, axis=-1).sum())


@pytest.mark.skipif(shutil.which("snakemake") is None, reason="snakemake not installed")
@pytest.mark.skipif(_chromium() is None, reason="no chromium (Debian: apt-get install chromium)")
@pytest.mark.slow
def test_html_report_in_headless_chromium(tmp_path):
    """Screenshots of the real report: a figure and a table are drawn, captions read well."""
    outputs = {"tables": ["metrics"], "figures": ["cost_f1", "f1_by_length"]}
    run = report_project(tmp_path, demo_study, outputs)
    for args in ((), ("--report", "report.html")):
        res = run(*args)
        assert res.returncode == 0, res.stderr[-3000:]
    report = tmp_path / "report.html"
    landing = _visible_text(_headless(report, "--dump-dom").stdout)
    assert "Figures" in landing and "Tables" in landing

    page = _report_view(
        report, tmp_path / "figure.html", OPEN_RESULT.format(name="cost_f1.png", kind="img")
    )
    img = _screenshot(page, tmp_path / "figure.png")
    assert img.shape[:2] == (800, 1280)
    assert _pixels(img, OKABE_ITO[0]) > 50  # the DBR run's point and its timing error bar
    assert _pixels(img, OKABE_ITO[4]) > 20  # the ring of a spread over 20 %
    info = _visible_text(_headless(page, "--dump-dom").stdout)
    assert "Description Cost against accuracy" in info and "slowest pass" in info
    assert "\\n" not in info  # the caption, also listed as a job parameter, is one line

    page = _report_view(
        report, tmp_path / "table.html", OPEN_RESULT.format(name="metrics.html", kind="html")
    )
    img = _screenshot(page, tmp_path / "table.png")
    content = img[:, int(0.55 * img.shape[1]) :]  # right of the navigation panel
    assert (content.mean(axis=-1) < 0.35).sum() > 2000  # the table's text is drawn
    table = tmp_path / "results/studies/teststudy/tables/metrics.html"
    text = _visible_text(_headless(table, "--dump-dom").stdout)
    assert "Exact F1" in text and "tiny-llama" in text and " 32 " in text
    assert "32.0" not in text and "nan" not in text.lower()


def test_vaner_table3_paired_bootstrap_over_seeds(tmp_path):
    """3 seeds per DBR variant; per-sentence counts give a paired test per dataset."""
    import numpy as np

    rng = np.random.default_rng(1)
    n = 300
    gold = rng.integers(1, 3, n)
    files, groups = [], {}
    for dbr, loss in (("dbr", 0.0), ("random", 0.1), ("none", 0.3)):
        for seed in (1, 2, 3):
            rid = f"llama__dbr-{dbr}__s{seed}"
            paths = write_run(
                tmp_path,
                rid,
                model="tiny-llama",
                family="decoder",
                method="labeler",
                dbr=dbr,
                seed=seed,
                p=0.9 - loss / 3,
                r=0.9 - loss / 3,
            )
            for path in paths:
                m = json.loads(path.read_text())
                tp = np.where(rng.random(n) < 0.9 - loss, gold, 0)
                ids = "same-sentences"
                ps = {"tp": tp.tolist(), "n_pred": gold.tolist(), "n_gold": gold.tolist()}
                m["per_sentence"] = {**ps, "ids_sha256": ids}
                path.write_text(json.dumps(m))
            files += paths
            groups[rid] = "VANER"
    out = tmp_path / "m.tsv"
    main_aggregate(
        ["--metrics", *map(str, files), "--groups", json.dumps(groups), "--out", str(out)]
    )
    t = _table(out, "vaner_table3")
    d = t.display
    ours = d[(d.System == "VANER") & (d.Source == "ours") & (d.Metric == "F1")].iloc[0]
    assert "±" in ours["NCBI-disease"]  # mean ± sd over the 3 seeds
    paired = d[d.Source == "paired bootstrap"]
    assert list(paired.Metric) == ["ΔF1 vs VANER w/o DBR", "ΔF1 vs VANER + random DBR"]
    assert set(paired.System) == {"VANER"}
    cell = paired.iloc[0]["NCBI-disease"]
    delta = float(cell.split()[0])
    assert 20 < delta < 40 and cell.endswith("p=0")  # ~30 points, every resample above 0
    rows = t.data[t.data.metric.str.startswith("paired_delta_f1_vs_")].set_index("metric")
    none = rows.loc["paired_delta_f1_vs_none"]
    assert none.ci_lo < none.ours_mean < none.ci_hi and none.n_seeds == 3
    assert none.p_value == 0 and none.bootstrap_n == 200
    assert any(n.startswith("Paired bootstrap") for n in t.notes)
    assert not any("Fewer than 3 seeds" in n for n in t.notes)
    # Metrics written before per-sentence counts were recorded: no test, and the notes say so.
    for path in files:
        m = json.loads(path.read_text())
        del m["per_sentence"]
        path.write_text(json.dumps(m))
    t = _table(out, "vaner_table3")
    assert "paired bootstrap" not in set(t.display.Source)
    assert any("metrics without per-sentence counts" in n for n in t.notes)


def test_vaner_table3_flags_fewer_than_three_seeds(vaner_tsv):
    notes = _table(vaner_tsv, "vaner_table3").notes
    assert any(n.startswith("Fewer than 3 seeds: VANER (1)") for n in notes)


def open_study(root: Path) -> tuple[list[Path], dict[str, str]]:
    """Shaped like config/studies/open.yaml: one encoder group, DBR none/dbr/random on
    NCBI-disease only (two seeds without DBR), s800 trained without DBR only."""
    files, groups = [], {}
    for rid, ds, dbr, seed, p in (
        ("m__ncbi__none__s1", "NCBI-disease", "none", 1, 0.80),
        ("m__ncbi__none__s2", "NCBI-disease", "none", 2, 0.82),
        ("m__ncbi__dbr", "NCBI-disease", "dbr", 1, 0.84),
        ("m__ncbi__random", "NCBI-disease", "random", 1, 0.79),
        ("m__s800__none", "s800", "none", 1, 0.70),
    ):
        types = ("Species",) if ds == "s800" else ("Disease",)
        files += write_run(
            root, rid, model="minilm-l6", train=(ds,), dbr=dbr, seed=seed, p=p, r=p, types=types
        )
        groups[rid] = "minilm"
    return files, groups


def test_vaner_table1_shows_dbr_where_a_system_has_it_and_no_dbr_elsewhere(tmp_path):
    d = _table(study_tsv(tmp_path, open_study), "vaner_table1").display
    ours = d[(d.Source == "ours") & (d.Metric == "F1")].set_index("System")
    assert set(ours.index) == {"minilm", "minilm w/o DBR"}  # random DBR is Table 3's
    assert ours.loc["minilm", "NCBI-disease"] == "84.00"  # the DBR run
    assert ours.loc["minilm w/o DBR", "s800"] == "70.00"  # the only run on s800
    assert ours.loc["minilm w/o DBR", "NCBI-disease"] in ("–", "")  # shown with DBR instead
    paper = d[(d.System == "BioBERT") & (d.Source == "paper") & (d.Metric == "F1")].iloc[0]
    assert paper["NCBI-disease"] == "88.12" and paper["s800"] == "71.26"


def test_metrics_table_shows_bootstrap_cis(tmp_path):
    t = _table(study_tsv(tmp_path, open_study), "metrics")
    d = t.display.set_index(["DBR", "Dataset"])
    # one seed: that run's CI (F1 +- 3 points in the fixture); two seeds: mean of the bounds
    assert d.loc[("dbr", "NCBI-disease"), "Exact F1 95 % CI"] == "[81.00, 87.00]"
    assert d.loc[("none", "NCBI-disease"), "Exact F1 95 % CI"] == "[78.00, 84.00]"
    cols = list(t.display.columns)
    assert cols.index("Exact F1 95 % CI") == cols.index("Exact F1") + 1
    assert any(n.startswith("95 % CI: bootstrap") for n in t.notes)


def test_aggregate_keeps_full_precision_so_tables_round_once(tmp_path):
    # linnaeus in the open record: F1 0.7655502392... is 76.56; rounded to 6 digits first it
    # became 0.76555, which the table then printed as 76.55
    p, r = 0.8099688473520249, 0.7257501744591766
    files = write_run(tmp_path, "r1", model="m", p=p, r=r)
    out = tmp_path / "metrics.tsv"
    assert main_aggregate(["--metrics", str(files[0]), "--out", str(out)]) == 0
    df = load_metrics_table(out)
    assert df.iloc[0].exact_f1 == 2 * p * r / (p + r)
    assert "76.56" in build_table("metrics", df, None).display.to_string()


def test_training_curves_tell_grid_settings_apart(tmp_path):
    """A grid: one series per model and (learning rate, batch size), named by both; the colour
    follows model and learning rate, the marker the batch size (the palette has 8 colours)."""
    df = load_metrics_table(study_tsv(tmp_path, grid_study))
    fig = build_figure("training_curves", df)
    top = fig.axes[0]
    lines = {ln.get_label(): ln for ln in top.get_lines()}
    expected = {
        f"{m}: lr {lr}, batch {bs}"
        for m in ("biobert-v1.1", "biomedbert-base", "bert-base-cased", "roberta-base")
        for lr in ("1e-5", "1e-4")
        for bs in (8, 16)
    }
    assert set(lines) == expected
    bert = [
        lines[f"biobert-v1.1: lr {lr}, batch {bs}"] for lr in ("1e-5", "1e-4") for bs in (8, 16)
    ]
    assert bert[0].get_color() == bert[1].get_color() != bert[2].get_color()  # by lr
    assert bert[0].get_marker() == bert[2].get_marker() != bert[1].get_marker()  # by batch
    keys = {(ln.get_color(), ln.get_marker()) for ln in lines.values()}
    assert len(keys) == len(expected)  # every setting drawn apart
    demo = load_metrics_table(study_tsv(tmp_path / "demo", demo_study))
    assert not any(": lr" in t for t in legend_texts(build_figure("training_curves", demo)))
