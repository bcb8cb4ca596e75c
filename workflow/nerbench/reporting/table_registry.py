"""Every table a study may list under ``outputs.tables``: one registration line each.

A builder is named as a ``"module:function"`` string, imported only when the table is built, so
this module imports no pandas (the Snakefile and the study checks read it). Only the modules
that load an entry (``TABLES[name].load()``, the dispatch in :mod:`nerbench.reporting.tables`)
depend on the builders' code (:mod:`nerbench.imports`).
"""

from __future__ import annotations

from nerbench.registry import Registry
from nerbench.reporting.specs import TableSpec

VANER_REF = ("system", "dataset", "category", "metric", "value")
CLAIM_REF = ("claim", "low", "high", "unit")

TABLES: Registry[TableSpec] = Registry("table")
TABLES.add(
    "corpus_stats",
    TableSpec(
        None,
        rule="corpus_stats",  # the stats stage (bio.smk)
        about="Sentences, tokens, entities by length and type, IOB repairs and dropped mentions "
        "per dataset and split, with VANER Table 2's sentence counts.",
    ),
)
TABLES.add("metrics", TableSpec("nerbench.reporting.tables.metrics:metrics_table"))
TABLES.add(
    "vaner_table1",
    TableSpec("nerbench.reporting.tables.vaner:vaner_table1", "vaner_table1.tsv", VANER_REF),
)
TABLES.add(
    "vaner_table3",
    TableSpec(
        "nerbench.reporting.tables.vaner:vaner_table3",
        "vaner_table3.tsv",
        VANER_REF,
        reads=("metrics",),  # the paired bootstrap's per-sentence counts
    ),
)
TABLES.add(
    "vaner_table4",
    TableSpec(
        "nerbench.reporting.tables.vaner:vaner_table4",
        "vaner_table4.tsv",
        ("system", "dataset", "type", "metric", "value"),
    ),
)
TABLES.add(
    "llm_vs_encoder_f1",
    TableSpec(
        "nerbench.reporting.tables.per_dataset:llm_vs_encoder_f1", "llm_vs_encoder.tsv", CLAIM_REF
    ),
)
TABLES.add(
    "f1_by_length",
    TableSpec(
        "nerbench.reporting.tables.per_dataset:f1_by_length", "llm_vs_encoder.tsv", CLAIM_REF
    ),
)
TABLES.add(
    "inference_ratio",
    TableSpec(
        "nerbench.reporting.tables.inference:inference_ratio", "llm_vs_encoder.tsv", CLAIM_REF
    ),
)
TABLES.add(
    "foundation_f1",
    TableSpec(
        "nerbench.reporting.tables.foundation:foundation_f1",
        "foundation_f1.tsv",
        ("system", "batch_size", "learning_rate", "metric", "value"),
        options=("learning_rate",),
    ),
)
