"""Entity categories and their order are declared once (nerbench.categories)."""

from __future__ import annotations

import ast
import csv
from pathlib import Path

import pandas as pd

from nerbench.categories import ENTITY_CATEGORIES
from nerbench.reporting.compare import ordered_datasets

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "workflow" / "nerbench"


def test_the_order_is_the_published_tables():
    """VANER Tables 1 and 3 group their dataset columns in the declared order."""
    for name in ("vaner_table1.tsv", "vaner_table3.tsv"):
        with open(REPO / "config" / "reference" / name, encoding="utf-8") as f:
            rows = csv.DictReader((line for line in f if not line.startswith("#")), delimiter="\t")
            published = [r["category"] for r in rows if r["category"] != "*"]
        assert tuple(dict.fromkeys(published)) == ENTITY_CATEGORIES.names()


def test_comparison_columns_follow_the_declaration():
    ours = pd.DataFrame(
        {
            "dataset": ["cells", "zoo", "s800", "BC2GM", "NCBI"],
            "types": ["Cell", "Zebra"] + 3 * [""],
        }
    )
    ref = pd.DataFrame(
        {"dataset": ["s800", "BC2GM", "NCBI"], "category": ["Species", "Gene", "Disease"]}
    )
    order, category = ordered_datasets(ours, ref)
    assert order == ["NCBI", "BC2GM", "s800", "cells", "zoo"]  # undeclared last, by name
    assert category["zoo"] == "Zebra"
    with ENTITY_CATEGORIES.temporary("Zebra", "a throw-away category"):
        assert ordered_datasets(ours, ref)[0] == ["NCBI", "BC2GM", "s800", "zoo", "cells"]


def _literal_name_lists(tree: ast.AST) -> list[tuple[int, list[str]]]:
    """Tuples, lists and sets of string constants that hold two or more category names."""
    names = set(ENTITY_CATEGORIES.names())
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Tuple | ast.List | ast.Set):
            values = [e.value for e in node.elts if isinstance(e, ast.Constant)]
            if len(names.intersection(v for v in values if isinstance(v, str))) >= 2:
                found.append((node.lineno, values))
    return found


def test_category_names_are_spelled_once_in_the_package():
    spelled = {
        str(path.relative_to(PACKAGE)): hits
        for path in sorted(PACKAGE.rglob("*.py"))
        if (hits := _literal_name_lists(ast.parse(path.read_text(encoding="utf-8"))))
    }
    assert spelled == {}
