"""Aggregation, paper tables and figures; every output is flagged for `snakemake --report`.

Needs from common.smk: PLAN (run_groups, study["outputs"]), metrics_files(), as_json().
Each table/figure rule takes its code file as an input, so editing plots.py reruns only the
figure rules and editing tables.py only the table (and figure) rules.
"""

from pathlib import Path

from nerbench.plots import FIGURE_NAMES
from nerbench.tables import REFERENCE_FILES, TABLE_NAMES

AGGREGATE = "results/aggregate/metrics.tsv"
CAPTION_DIR = Path("workflow/report")


localrules:
    aggregate,
    table,
    figure,


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


rule aggregate:
    """One row per (run, evaluation dataset): configuration, scores, CIs and cost."""
    input:
        metrics=lambda wc: metrics_files(),
        code="workflow/nerbench/report.py",
    output:
        tsv=report(AGGREGATE, caption="../report/aggregate.rst", category="Data"),
    log:
        "logs/report/aggregate.log",
    params:
        groups=lambda wc: as_json(PLAN.run_groups),
    shell:
        "python -m nerbench aggregate --metrics {input.metrics:q} --groups {params.groups:q} "
        "--out {output.tsv:q} > {log:q} 2>&1"


rule table:
    """One paper table (TSV numbers, Markdown and LaTeX), beside the published numbers."""
    input:
        metrics=AGGREGATE,
        code="workflow/nerbench/tables.py",
        reference=reference_input,
    output:
        tsv=report(
            "results/tables/{name}.tsv",
            caption="../report/table.rst",
            category="Tables",
            labels={"table": "{name}"},
        ),
        md="results/tables/{name}.md",
        tex="results/tables/{name}.tex",
    log:
        "logs/report/table_{name}.log",
    wildcard_constraints:
        name="|".join(TABLE_NAMES),
    params:
        reference=lambda wc, input: (
            f"--reference '{input.reference}'" if input.reference else ""
        ),
        prefix="results/tables/{name}",
        caption=lambda wc: caption_text("table", wc.name),
    shell:
        "python -m nerbench tables --metrics {input.metrics:q} --which {wildcards.name} "
        "{params.reference} --out-prefix {params.prefix:q} > {log:q} 2>&1"


rule figure:
    """One paper figure as PNG (in the report) and PDF."""
    input:
        metrics=AGGREGATE,
        code=["workflow/nerbench/plots.py", "workflow/nerbench/tables.py"],
    output:
        png=report(
            "results/figures/{name}.png",
            caption="../report/figure.rst",
            category="Figures",
            labels={"figure": "{name}"},
        ),
        pdf="results/figures/{name}.pdf",
    log:
        "logs/report/figure_{name}.log",
    wildcard_constraints:
        name="|".join(FIGURE_NAMES),
    params:
        prefix="results/figures/{name}",
        caption=lambda wc: caption_text("figure", wc.name),
    shell:
        "python -m nerbench figures --metrics {input.metrics:q} --which {wildcards.name} "
        "--out-prefix {params.prefix:q} > {log:q} 2>&1"
