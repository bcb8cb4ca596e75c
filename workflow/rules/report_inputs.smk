"""Input functions of the report rules (report.smk): which tables and figures a study makes.

Needs PLAN, metrics_files() and as_json() from common.smk (or a stand-in, as in tests/test_report.py).
"""

from pathlib import Path

from nerbench.reporting.plots import FIGURE_NAMES
from nerbench.reporting.tables import REFERENCE_FILES, TABLE_NAMES

AGGREGATE = "results/aggregate/metrics.tsv"
CAPTION_DIR = Path("workflow/report")


def study_outputs(kind):
    """Names of the study's tables or figures made here (corpus_stats comes from bio.smk)."""
    names = (PLAN.study.get("outputs") or {}).get(kind) or []
    known = TABLE_NAMES if kind == "tables" else FIGURE_NAMES
    return [n for n in names if n in known]


def report_targets():
    """Aggregate table plus every table and figure the study lists."""
    targets = []
    if metrics_files():
        targets.append(AGGREGATE)
        targets += expand(
            "results/tables/{name}.{ext}",
            name=study_outputs("tables"),
            ext=("tsv", "md", "tex"),
        )
        targets += expand(
            "results/figures/{name}.{ext}",
            name=study_outputs("figures"),
            ext=("png", "pdf"),
        )
    return targets


def reference_input(wildcards):
    """Published numbers a table is compared with (config/reference/), if any."""
    ref = REFERENCE_FILES.get(wildcards.name)
    return [f"config/reference/{ref}"] if ref else []


def caption_text(kind, name):
    """Caption of one table or figure for the HTML report: workflow/report/<kind>_<name>.rst."""
    path = CAPTION_DIR / f"{kind}_{name}.rst"
    if path.is_file():
        return path.read_text(encoding="utf-8")
    return f"{kind.capitalize()} ``{name}``."
