"""Entity-length buckets are declared once (nerbench.evaluate.buckets): changing that
declaration changes the scores, the aggregate columns, the table and the figure, nothing else."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from nerbench.evaluate import buckets
from nerbench.evaluate.buckets import LengthBucket, bucket_of, length_buckets
from nerbench.evaluate.scores import compute_metrics
from nerbench.registry import Registry
from nerbench.reporting.aggregate import load_metrics_table, score_columns
from nerbench.reporting.figures import build_figure
from test_evaluate import GOLD, PRED
from test_report import _table, llm_study, study_tsv

# GOLD has entities of lengths 1, 2, 3, 1 (first sentence) and 4 (second); PRED hits the first
# one-token and the three-token entity.
FOUR = (
    ("1", LengthBucket(1, 1, column="len1", label="1")),
    ("2", LengthBucket(2, 2, column="len2", label="2")),
    ("3", LengthBucket(3, 3, column="three", label="3")),  # any column stem
    (">=4", LengthBucket(4, None, column="len4plus", label="≥4")),
)


def declare(monkeypatch, entries) -> None:
    """Replace the one declaration of the buckets for this test."""
    registry: Registry[LengthBucket] = Registry("entity-length bucket")
    for name, bucket in entries:
        registry.add(name, bucket)
    monkeypatch.setattr(buckets, "LENGTH_BUCKETS", registry)


def test_the_declared_buckets():
    assert [name for name, _ in length_buckets()] == ["1", "2", ">=3"]
    declared = length_buckets()
    assert [bucket_of(n, declared) for n in (1, 2, 3, 17)] == ["1", "2", ">=3", ">=3"]
    assert [b.column for _, b in declared] == ["len1", "len2", "len3plus"]
    assert score_columns().count("f1_len3plus") == 1


@pytest.mark.parametrize(
    "entries",
    [
        (("2", LengthBucket(2, None, "len2plus", "≥2")),),  # no bucket for 1 token
        (("1", LengthBucket(1, 1, "len1", "1")), ("3", LengthBucket(3, None, "l3", "≥3"))),
        (("1", LengthBucket(1, 2, "len1", "1")),),  # the last bucket is not open-ended
        (("1", LengthBucket(1, None, "a", "a")), ("2", LengthBucket(2, None, "b", "b"))),
    ],
)
def test_buckets_must_cover_every_length_once(monkeypatch, entries):
    declare(monkeypatch, entries)
    with pytest.raises(ValueError, match="entity-length bucket"):
        length_buckets()


def test_evaluate_scores_the_declared_buckets(monkeypatch):
    by_length = compute_metrics(GOLD, PRED, bootstrap=5)["by_length"]
    assert list(by_length) == ["1", "2", ">=3"]
    assert by_length[">=3"]["support"] == 2 and by_length[">=3"]["n_pred"] == 1
    declare(monkeypatch, FOUR)
    by_length = compute_metrics(GOLD, PRED, bootstrap=5)["by_length"]
    assert list(by_length) == ["1", "2", "3", ">=4"]
    assert {k: (v["support"], v["n_pred"]) for k, v in by_length.items()} == {
        "1": (2, 3),
        "2": (1, 1),
        "3": (1, 1),
        ">=4": (1, 0),
    }
    assert by_length["3"]["f1"] == 1.0 and by_length[">=4"]["recall"] == 0.0


def test_aggregate_table_and_figure_follow_the_declaration(monkeypatch, tmp_path: Path):
    declare(monkeypatch, FOUR)
    by_length = compute_metrics(GOLD, PRED, bootstrap=5)["by_length"]

    def study(root: Path):
        files, groups = llm_study(root)
        for path in files:  # the metrics files as evaluate writes them under FOUR
            metrics = json.loads(path.read_text())
            path.write_text(json.dumps({**metrics, "by_length": by_length}))
        return files, groups

    tsv = study_tsv(tmp_path, study)
    columns = ["f1_len1", "f1_len2", "f1_three", "f1_len4plus"]
    assert [c for c in score_columns() if c.startswith("f1_") and "_ci_" not in c] == columns
    df = load_metrics_table(tsv)
    assert "f1_len3plus" not in df.columns
    assert df["f1_three"].eq(1.0).all() and df["support_len4plus"].eq(1).all()

    table = _table(tsv, "f1_by_length")
    shown = [c for c in table.display.columns if c.startswith("NCBI-disease ")]
    assert shown == ["NCBI-disease 1", "NCBI-disease 2", "NCBI-disease 3", "NCBI-disease ≥4"]
    assert "(1, 2, 3, ≥4)" in table.caption
    assert "100.00" in set(table.display["NCBI-disease 3"].str.split().str[0])  # in percent

    fig = build_figure("f1_by_length", df)
    assert [t.get_text() for t in fig.axes[0].get_xticklabels()] == ["1", "2", "3", "≥4"]


def test_the_declarations_are_light():
    """The aggregate step and schemas may read the buckets and categories without heavy imports."""
    code = (
        "import sys, nerbench.evaluate.buckets, nerbench.categories; "
        "print(sorted(m for m in ('numpy', 'pandas', 'matplotlib', 'torch', 'seqeval') "
        "if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
