"""DBR sample construction (caps, labels, seeds, random variant), settings, stats and figures."""

from __future__ import annotations

import json
import shutil
from collections import Counter
from pathlib import Path
from types import SimpleNamespace

import pytest

from nerbench.dbr.kb import KB_COLUMNS, KBEntry, bio_spans, dedup_key
from nerbench.dbr.samples import (
    build_dbr,
    main_dbr,
    main_dbr_stats,
    resolve_settings,
    sampling_spec,
)
from nerbench.io import InputError, read_json, read_jsonl
from nerbench.plan.dbr import DBRPlan

DISEASES = ["breast cancer", "lung cancer"] + [f"disease type {i}" for i in range(20)]
CHEMICALS = ["aspirin", "insulin"] + [f"chemical number {i}" for i in range(12)]


def make_kb() -> list[KBEntry]:
    kb = [KBEntry(n, "Disease", "T") for n in DISEASES]
    kb += [KBEntry(n, "Chemical", "T") for n in CHEMICALS]
    kb += [KBEntry("insulin", "Gene", "T"), KBEntry("BRCA1", "Gene", "T")]
    return kb


KB = make_kb()
ROW = {(e.name, e.category): i for i, e in enumerate(KB)}


def hits_for(rows: list[int]) -> list[dict]:
    return [{"row": r, "name": KB[r].name, "category": KB[r].category, "score": 0.5} for r in rows]


HITS = {
    # 22 diseases, 14 chemicals and both genes: more than the caps.
    "cancer": hits_for(list(range(len(KB)))),
    "insulin": hits_for(
        [ROW[("insulin", "Gene")], ROW[("BRCA1", "Gene")], ROW[("aspirin", "Chemical")]]
    ),
}
SENTENCES = [
    {
        "doc_id": "d1",
        "sent_id": "1",
        "tokens": ["Breast", "cancer", "risk", "."],
        "tags": ["B-Disease", "I-Disease", "O", "O"],
    },
    {"doc_id": "d1", "sent_id": "2", "tokens": ["No", "phrase", "here"], "tags": ["O", "O", "O"]},
    {"doc_id": "d2", "sent_id": "1", "tokens": ["Insulin", "levels"], "tags": ["B-Chemical", "O"]},
]


def spec(types=("Disease",), **kw) -> dict:
    """Sampling spec; retrieved names only (min_pos 0) unless a test asks for VANER's fill-up;
    every hit of HITS kept (top_k 50) unless a test asks for fewer."""
    kw.setdefault("min_pos", 0)
    kw.setdefault("top_k", 50)
    settings = resolve_settings({k: v for k, v in kw.items() if k != "dataset"})
    return sampling_spec(settings, kw.get("dataset", "ds"), list(types))


def entity_names(record: dict) -> list[tuple[str, str]]:
    return [(" ".join(record["tokens"][s:e]), t) for s, e, t in bio_spans(record["tags"])]


# --------------------------------------------------------------------------- sampling


def test_caps_and_labels_of_target_category_only():
    records, samples, skipped = build_dbr(SENTENCES, HITS, KB, spec(), "dbr")
    assert skipped == {"no_candidates": 1, "no_usable_candidates": 0}
    assert len(records) == 2
    first, second = samples
    assert (len(first.pos), len(first.neg)) == (10, 5)  # capped: 22 diseases, 16 others
    assert (len(second.pos), len(second.neg)) == (0, 3)  # insulin sentence: no disease hits
    for record, sample in zip(records, samples, strict=True):
        assert record["target_type"] == "Disease"
        assert {t for t in record["tags"] if t != "O"} <= {"B-Disease", "I-Disease"}
        tagged = Counter(dedup_key(n) for n, _ in entity_names(record))
        assert tagged == Counter(dedup_key(KB[r].name) for r in sample.pos)
        assert all(KB[r].category == "Disease" for r in sample.pos)
        assert all(KB[r].category != "Disease" for r in sample.neg)
        n_tokens = sum(len(KB[r].name.split()) for r in sample.pos + sample.neg)
        assert len(record["tokens"]) == len(record["tags"]) == n_tokens
    assert records[0]["doc_id"] == "dbr:d1" and records[0]["sent_id"] == "1"


def test_negatives_never_include_a_target_category_name():
    """'insulin' is a Gene and a Chemical: for Chemical targets the Gene entry is no negative."""
    records, samples, _ = build_dbr(SENTENCES, HITS, KB, spec(types=("Chemical",)), "dbr")
    gene_insulin = ROW[("insulin", "Gene")]
    assert all(gene_insulin not in s.neg for s in samples)
    for record in records:
        for i, token in enumerate(record["tokens"]):
            if token == "insulin":
                assert record["tags"][i] == "B-Chemical"


def test_caps_are_configurable():
    _, samples, _ = build_dbr(SENTENCES, HITS, KB, spec(max_pos=3, max_neg=0), "dbr")
    assert [(len(s.pos), len(s.neg)) for s in samples] == [(3, 0)]  # 2nd sentence: nothing left


def test_min_score_drops_weak_hits():
    hits = {"cancer": hits_for([0, 1])}
    hits["cancer"][1]["score"] = 0.1
    _, samples, _ = build_dbr(SENTENCES, hits, KB, spec(min_score=0.2), "dbr")
    assert [s.pos for s in samples] == [[0]]


# Known similarities: the phrase "cancer" retrieves five KB rows, listed out of score order.
SCORED = {
    "cancer": [
        {"row": ROW[("lung cancer", "Disease")], "score": 0.7},
        {"row": ROW[("breast cancer", "Disease")], "score": 0.9},
        {"row": ROW[("BRCA1", "Gene")], "score": 0.3},
        {"row": ROW[("aspirin", "Chemical")], "score": 0.8},
        {"row": ROW[("disease type 0", "Disease")], "score": 0.4},
    ],
    # a second phrase of the same sentence that retrieves an already-pooled row: counted once
    "risk": [{"row": ROW[("breast cancer", "Disease")], "score": 0.95}],
}


def _pool(**kw) -> tuple[set[str], set[str], dict]:
    records, samples, _ = build_dbr(SENTENCES[:1], SCORED, KB, spec(**kw), "dbr")
    (sample,) = samples
    assert records[0]["candidates"] == [sample.pool_pos, sample.pool_neg]
    pos, neg = {KB[r].name for r in sample.pos}, {KB[r].name for r in sample.neg}
    return pos, neg, {"pos": sample.pool_pos, "neg": sample.pool_neg, "phrases": sample.phrases}


@pytest.mark.parametrize(
    ("top_k", "min_score", "pos", "neg"),
    [
        # per phrase: the top_k best hits, then only those scoring min_score or more
        (10, 0.0, {"breast cancer", "lung cancer", "disease type 0"}, {"aspirin", "BRCA1"}),
        (2, 0.0, {"breast cancer"}, {"aspirin"}),
        (10, 0.5, {"breast cancer", "lung cancer"}, {"aspirin"}),
        (3, 0.75, {"breast cancer"}, {"aspirin"}),
        (1, 0.0, {"breast cancer"}, set()),
        (10, 0.92, {"breast cancer"}, set()),  # only the "risk" hit scores 0.92 or more
    ],
)
def test_top_k_and_min_score_make_the_pool(top_k, min_score, pos, neg):
    got_pos, got_neg, pool = _pool(top_k=top_k, min_score=min_score)
    assert (got_pos, got_neg) == (pos, neg)  # caps 10/5 take the whole pool
    assert pool == {"pos": len(pos), "neg": len(neg), "phrases": 2}


def test_caps_sample_from_the_pool_after_top_k_and_min_score():
    pos, neg, pool = _pool(top_k=10, min_score=0.0, max_pos=2, max_neg=1)
    assert pool == {"pos": 3, "neg": 2, "phrases": 2}  # the pool before the caps
    assert len(pos) == 2 and pos <= {"breast cancer", "lung cancer", "disease type 0"}
    assert len(neg) == 1 and neg <= {"aspirin", "BRCA1"}


def test_stats_record_the_pool_and_its_settings(tmp_path):
    records, samples, skipped = build_dbr(SENTENCES, SCORED, KB, spec(top_k=2), "dbr")
    from nerbench.dbr.samples import dbr_stats

    stats = dbr_stats(SENTENCES, records, samples, skipped, spec(top_k=2, min_score=0.5))
    assert stats["settings"]["top_k"] == 2 and stats["pool"]["min_score"] == 0.5
    assert stats["pool"]["pos_candidates_per_sentence"] == 1.0  # one sample: breast cancer
    assert stats["pool"]["candidates_per_sentence"] == 2.0
    assert stats["profile"]["pos_per_sample"] == 1.0


def test_reproducible_with_a_seed():
    a, _, _ = build_dbr(SENTENCES, HITS, KB, spec(seed=7), "dbr")
    b, _, _ = build_dbr(SENTENCES, HITS, KB, spec(seed=7), "dbr")
    c, _, _ = build_dbr(SENTENCES, HITS, KB, spec(seed=8), "dbr")
    assert a == b
    assert a != c


def test_random_variant_draws_the_same_counts_from_the_kb():
    _, dbr, _ = build_dbr(SENTENCES, HITS, KB, spec(), "dbr")
    records, rnd, _ = build_dbr(SENTENCES, HITS, KB, spec(), "random")
    assert [(len(s.pos), len(s.neg)) for s in rnd] == [(len(s.pos), len(s.neg)) for s in dbr]
    assert [s.target_type for s in rnd] == [s.target_type for s in dbr]
    for s in rnd:
        assert all(KB[r].category == "Disease" for r in s.pos)
        assert all(KB[r].category != "Disease" for r in s.neg)
    assert [sorted(s.pos) for s in rnd] != [sorted(s.pos) for s in dbr]
    assert records[0]["doc_id"] == "random:d1"
    again, _, _ = build_dbr(SENTENCES, HITS, KB, spec(), "random")
    assert again == records


def test_multi_type_dataset_one_target_type_per_sample():
    sentences = [dict(SENTENCES[0], sent_id=str(i)) for i in range(40)]
    records, samples, _ = build_dbr(sentences, HITS, KB, spec(types=("Chemical", "Disease")), "dbr")
    assert {r["target_type"] for r in records} == {"Chemical", "Disease"}
    for record, sample in zip(records, samples, strict=True):
        types = {t.split("-", 1)[1] for t in record["tags"] if t != "O"}
        assert types <= {record["target_type"]}
        assert all(KB[r].category == sample.target_type for r in sample.pos)


def test_category_of_type_and_separator():
    s = spec(types=("protein",), category_of_type={"protein": "Gene"}, separator=";")
    records, samples, _ = build_dbr(SENTENCES, HITS, KB, s, "dbr")
    assert all(KB[r].category == "Gene" for smp in samples for r in smp.pos)
    record = records[0]
    n_entities = len(samples[0].pos) + len(samples[0].neg)
    assert record["tokens"].count(";") == n_entities - 1
    assert {t for t in record["tags"] if t != "O"} <= {"B-protein", "I-protein"}


def test_unknown_variant_and_missing_types_are_errors():
    with pytest.raises(InputError, match="variant"):
        build_dbr(SENTENCES, HITS, KB, spec(), "none")
    with pytest.raises(InputError, match="no entity types"):
        build_dbr(SENTENCES, HITS, KB, spec(types=()), "dbr")


# --------------------------------------------------------------------------- settings / workflow


def test_resolve_settings_defaults_and_errors():
    s = resolve_settings(None)
    assert (s["max_pos"], s["max_neg"], s["top_k"], s["min_score"]) == (10, 5, 2, 0.45)
    assert s["embedder"]["pooling"] == "mean" and s["index"]["type"] == "auto"
    assert resolve_settings({"kb": {"name": "umls"}})["kb"]["umls"] == "optional"
    with pytest.raises(InputError, match=r"max_positive.*under 'dbr'"):
        resolve_settings({"max_positive": 3})
    with pytest.raises(InputError, match=r"dbr.index"):
        resolve_settings({"index": {"nprobes": 3}})
    with pytest.raises(InputError, match="dbr.max_neg"):
        resolve_settings({"max_neg": -1})
    with pytest.raises(InputError, match="dbr.embedder.pooling"):
        resolve_settings({"embedder": {"pooling": "max"}})


def fake_plan(dbr=None, figures=()):
    runs = {
        "a": {"dbr": "dbr", "train_datasets": ["NCBI", "s800"]},
        "b": {"dbr": "random", "train_datasets": ["NCBI"]},
        "c": {"dbr": "none", "train_datasets": ["BC5CDR"]},
    }
    datasets = {
        "NCBI": {"types": ["Disease"]},
        "s800": {"types": ["Species"]},
        "BC5CDR": {"types": ["Chemical", "Disease"]},
    }
    study = {"dbr": dbr or {}, "outputs": {"figures": list(figures)}}
    return SimpleNamespace(runs=runs, datasets=datasets, study=study, name="s")


def test_workflow_helper_targets_and_slices():
    wf = DBRPlan(fake_plan(figures=["vaner_fig3"]), {"umls_dir": None})
    assert wf.datasets() == ["NCBI", "s800"]
    assert wf.targets()[:3] == [
        "results/dbr/NCBI/dbr.jsonl",
        "results/dbr/s800/dbr.jsonl",
        "results/dbr/NCBI/random.jsonl",
    ]
    assert "results/studies/s/figures/vaner_fig4_dbr_length.pdf" in wf.targets()
    assert DBRPlan(fake_plan(), {}).targets() == wf.targets()[:3]
    assert wf.kb_bio_files() == ["results/bio/NCBI/train.jsonl", "results/bio/s800/train.jsonl"]
    assert wf.kb_spec()["umls_dir"] is None and wf.umls_files() == []
    assert "threads" not in wf.autophrase_spec() and "gpus" not in wf.embedder_spec()
    assert set(wf.index_spec("search")) == {"nprobe", "ef_search", "gpu"}
    assert wf.sampling_spec("s800")["types"] == ["Species"]
    umls = DBRPlan(fake_plan({"kb": {"umls": "required"}}), {"umls_dir": "/u"})
    assert umls.umls_files() == ["/u/MRCONSO.RRF", "/u/MRSTY.RRF"]
    # umls: required without umls_dir still plans (a dry run works): the kb job stops instead.
    required = DBRPlan(fake_plan({"kb": {"umls": "required"}}), {}).kb_spec()
    assert required["umls"] == "required" and required["umls_dir"] is None
    assert "umls_override" not in required
    override = DBRPlan(fake_plan({"kb": {"umls": "required"}}), {"umls_override": "open"})
    assert override.kb_spec()["umls_override"] == "open"
    assert "umls_override" not in DBRPlan(fake_plan(), {"umls_override": "open"}).kb_spec()
    with pytest.raises(InputError, match="dbr.kb.name"):
        DBRPlan(fake_plan({"kb": {"name": "a/b"}}), {})


# --------------------------------------------------------------------------- commands / figures


def write_inputs(tmp_path: Path) -> dict[str, Path]:
    bio = tmp_path / "train.jsonl"
    bio.write_text("".join(json.dumps(r) + "\n" for r in SENTENCES), encoding="utf-8")
    kb = tmp_path / "kb.tsv"
    rows = ["\t".join(KB_COLUMNS)] + [f"{e.name}\t{e.category}\t{e.source}\t" for e in KB]
    kb.write_text("\n".join(rows) + "\n", encoding="utf-8")
    retrieval = tmp_path / "retrieval.jsonl"
    retrieval.write_text(
        "".join(json.dumps({"phrase": p, "hits": h}) + "\n" for p, h in HITS.items()),
        encoding="utf-8",
    )
    return {"bio": bio, "kb": kb, "retrieval": retrieval}


KB_STATS = {
    "total": 38,
    "by_category": {"Chemical": 14, "Disease": 22, "Gene": 2},
    "by_source": {"T": 38},
    "umls": {"used": False, "mode": "optional", "reason": "config key umls_dir not set"},
}


def test_dbr_commands_write_samples_stats_and_figures(tmp_path):
    paths = write_inputs(tmp_path)
    kb_stats = tmp_path / "kb.stats.json"
    kb_stats.write_text(json.dumps(KB_STATS), encoding="utf-8")
    stats_files = []
    for variant in ("dbr", "random"):
        out = tmp_path / f"dbr/{variant}.jsonl"
        stats = tmp_path / f"dbr/{variant}.stats.json"
        args = [
            "--bio",
            str(paths["bio"]),
            "--retrieval",
            str(paths["retrieval"]),
            "--kb",
            str(paths["kb"]),
        ]
        args += ["--variant", variant, "--spec", json.dumps(spec(dataset="NCBI-x"))]
        args += ["--kb-stats", str(kb_stats)]
        assert main_dbr([*args, "--output", str(out), "--stats", str(stats)]) == 0
        records = read_jsonl(out)
        assert len(records) == 2 and set(records[0]) == {
            "doc_id",
            "sent_id",
            "tokens",
            "tags",
            "target_type",
            "entities",
            "candidates",
            "phrases",
        }
        stats_files.append(stats)
    s = read_json(stats_files[0])
    assert s["input_sentences"] == 3 and s["samples"] == 2
    assert s["pos_per_sample"] == 5.0 and s["neg_per_sample"] == 4.0  # (10+0)/2, (5+3)/2
    assert s["dataset_entities_per_sentence"] == round(2 / 3, 4)
    assert s["input_tokens_per_used_sentence"] == 3.0
    r = read_json(stats_files[1])
    assert (r["pos_per_sample"], r["neg_per_sample"]) == (5.0, 4.0)
    # Every sample set records the KB it came from (shown by the aggregate and the tables).
    assert (
        r["kb"]
        == s["kb"]
        == {
            "name": "kb",
            "total": 38,
            "by_category": KB_STATS["by_category"],
            "by_source": {"T": 38},
            "umls": False,
            "umls_mode": "optional",
            "umls_override": None,
            "composition": "38 names (Chemical 14; Disease 22; Gene 2); sources: T 38; "
            "no UMLS (config key umls_dir not set)",
        }
    )

    fig3, fig4 = tmp_path / "figs/fig3", tmp_path / "figs/fig4"
    assert (
        main_dbr_stats(["--stats", str(stats_files[0]), "--fig3", str(fig3), "--fig4", str(fig4)])
        == 0
    )
    for prefix in (fig3, fig4):
        assert Path(f"{prefix}.png").read_bytes()[:4] == b"\x89PNG"
        assert Path(f"{prefix}.pdf").read_bytes()[:4] == b"%PDF"
    table = Path(f"{fig3}.tsv").read_text(encoding="utf-8").splitlines()
    assert table[1].split("\t") == ["NCBI-x", "0.6667", "5", "4"]


def test_hits_past_the_kb_are_refused(tmp_path):
    paths = write_inputs(tmp_path)
    bad = tmp_path / "bad.jsonl"
    bad.write_text(
        json.dumps({"phrase": "cancer", "hits": hits_for([0]) + [{"row": 999, "score": 1}]}) + "\n"
    )
    args = [
        "--bio",
        str(paths["bio"]),
        "--retrieval",
        str(bad),
        "--kb",
        str(paths["kb"]),
        "--variant",
        "dbr",
    ]
    with pytest.raises(InputError, match="rerun retrieval"):
        main_dbr(
            [
                *args,
                "--spec",
                json.dumps(spec()),
                "--output",
                str(tmp_path / "o"),
                "--stats",
                str(tmp_path / "s"),
            ]
        )
    assert not (tmp_path / "o").exists()


# --------------------------------------------------------------------------- the Snakemake chain


DBR_STUDY = """\
description: DBR chain test (tiny KB)
datasets: [NCBI-disease-demo, s800-demo]
defaults:
  hparams: {learning_rate: 5.0e-5, batch_size: 16, epochs: 1}
runs:
  - name: enc
    models: [tiny-bert]
    datasets: [NCBI-disease-demo, s800-demo]
    train_on: each
    dbr: [dbr, random]
dbr:
  kb: {name: tiny, max_per_source: 60}
  embedder: {name: minilm, threads: 2}
outputs:
  figures: [vaner_fig3, vaner_fig4]
"""
DBR_INCLUDES = [
    "workflow/rules/knowledge.smk",
    "workflow/rules/phrases.smk",
    "workflow/rules/retrieval.smk",
    "workflow/rules/dbr.smk",
]


@pytest.mark.slow
def test_dbr_chain_runs_in_snakemake(tmp_path):
    """kb -> autophrase -> embed -> index -> retrieve -> dbr (both variants) -> Figs 3-4; lint."""
    from conftest import copy_project, run_snakemake

    (tmp_path / "p").mkdir()
    project = copy_project(tmp_path / "p")
    shutil.copytree(
        Path(__file__).resolve().parents[1] / "envs", project / "envs", dirs_exist_ok=True
    )
    snakefile = project / "Snakefile"
    text = snakefile.read_text(encoding="utf-8")
    missing = [inc for inc in DBR_INCLUDES if inc not in text]
    text += "".join(f'\n\ninclude: "{inc}"' for inc in missing)
    text += "\n\n\nrule dbr_all:\n    input:\n        DBR.targets(),\n"
    snakefile.write_text(text, encoding="utf-8")
    (project / "config/studies/dbrtest.yaml").write_text(DBR_STUDY, encoding="utf-8")

    run_snakemake(project, "--lint", "--config", "study=dbrtest")
    run_snakemake(project, "--cores", "2", "--config", "study=dbrtest", "--", "dbr_all")
    for ds in ("NCBI-disease-demo", "s800-demo"):
        for variant in ("dbr", "random"):
            records = read_jsonl(project / f"results/dbr/{ds}/{variant}.jsonl")
            assert records and all(len(r["tokens"]) == len(r["tags"]) for r in records)
    stats = read_json(project / "results/dbr/NCBI-disease-demo/dbr.stats.json")
    assert stats["samples"] > 0 and stats["pos_per_sample"] <= 10 and stats["neg_per_sample"] <= 5
    assert (
        project / "results/studies/dbrtest/figures/vaner_fig3_dbr_entities.pdf"
    ).stat().st_size > 0
    kb_stats = read_json(project / "results/kb/tiny.stats.json")
    assert kb_stats["umls"]["used"] is False and kb_stats["by_source"]["NCBI-disease-demo"] > 0
    # Nothing reruns when nothing changed.
    proc = run_snakemake(project, "-n", "--config", "study=dbrtest", "--", "dbr_all")
    assert "Nothing to be done" in proc.stdout + proc.stderr


def test_vaner_kb_job_stops_without_umls_dir_unless_overridden(tmp_path):
    """The vaner study plans without umls_dir; its kb job fails naming umls_dir, or with
    umls_override=open builds the KB from open vocabularies and records that."""
    import yaml

    from nerbench.dbr.kb import main_kb
    from nerbench.plan import load_plan
    from nerbench.plan.files import StudyFiles

    root = Path(__file__).resolve().parents[1]
    with open(root / "config/config.yaml", encoding="utf-8") as f:
        config = {**yaml.safe_load(f), "study": "vaner", "umls_dir": None}
    files = StudyFiles(load_plan(config, root), config)
    spec = files.dbr.kb_spec()
    assert spec["umls"] == "required" and files.dbr.umls_files() == []
    vocab = [{**v, "path": str(root / v["path"])} for v in spec["vocabularies"]][:1]
    args = ["--output", str(tmp_path / "kb.tsv"), "--stats", str(tmp_path / "kb.json")]
    with pytest.raises(InputError, match="'umls_dir' is not set"):
        main_kb(
            ["--spec", json.dumps({**spec, "train_datasets": [], "vocabularies": vocab}), *args]
        )
    config["umls_override"] = "open"
    spec = StudyFiles(load_plan(config, root), config).dbr.kb_spec()
    assert spec["umls_override"] == "open"
    assert (
        main_kb(
            ["--spec", json.dumps({**spec, "train_datasets": [], "vocabularies": vocab}), *args]
        )
        == 0
    )
    assert "INSTEAD OF THE REQUIRED UMLS" in read_json(tmp_path / "kb.json")["composition"]


# --------------------------------------------------------------------------- DBR as released

SPATIAL = [KBEntry(n, "Spatial Concept", "UMLS") for n in ("left side", "cancer zone")]
KB_OTHER = KB + SPATIAL


def test_as_released_one_sample_per_sentence_with_fill_up():
    """VANER's released samples: every sentence has one, with >= 5 target-type positives."""
    records, samples, skipped = build_dbr(SENTENCES, HITS, KB, spec(min_pos=5), "dbr")
    assert len(records) == len(samples) == len(SENTENCES)  # "No phrase here" included
    assert [s.source["sent_id"] for s in samples] == ["1", "2", "1"]
    assert [len(s.pos) for s in samples] == [10, 5, 5]  # capped; filled; filled
    assert [len(s.neg) for s in samples] == [5, 0, 3]
    for s in samples:
        assert len(set(s.pos)) == len(s.pos) and all(KB[r].category == "Disease" for r in s.pos)
    assert skipped == {
        "no_candidates": 0,
        "no_usable_candidates": 0,
        "filled_samples": 2,
        "filled_pos": 10,
    }
    # the fill-up draws from the KB, seeded
    again, _, _ = build_dbr(SENTENCES, HITS, KB, spec(min_pos=5), "dbr")
    assert again == records
    # random keeps the counts matched
    _, rnd, _ = build_dbr(SENTENCES, HITS, KB, spec(min_pos=5), "random")
    assert [(len(s.pos), len(s.neg)) for s in rnd] == [(len(s.pos), len(s.neg)) for s in samples]
    # min_pos above max_pos fills to max_pos; 0 keeps retrieval only (sentences skipped)
    _, capped, _ = build_dbr(SENTENCES, HITS, KB, spec(min_pos=8, max_pos=3), "dbr")
    assert [len(s.pos) for s in capped] == [3, 3, 3]
    assert len(build_dbr(SENTENCES, HITS, KB, spec(min_pos=0), "dbr")[0]) == 2
    assert resolve_settings({})["min_pos"] == 5  # the default is VANER as released


def test_negatives_come_from_every_kb_category_including_non_ner_groups():
    hits = {
        "cancer": hits_for(list(range(len(KB))))
        + [{"row": len(KB) + i, "score": 0.9} for i in range(len(SPATIAL))]
    }
    _, samples, _ = build_dbr(SENTENCES, hits, KB_OTHER, spec(max_neg=40), "dbr")
    neg_cats = {KB_OTHER[r].category for r in samples[0].neg}
    assert neg_cats == {"Chemical", "Gene", "Spatial Concept"}
    _, rnd, _ = build_dbr(SENTENCES, hits, KB_OTHER, spec(max_neg=18), "random")
    assert {KB_OTHER[r].category for r in rnd[0].neg} == {"Chemical", "Gene", "Spatial Concept"}
