"""Aggregation, paper tables and figures; every output is flagged for `snakemake --report`.

Needs from common.smk: PLAN (run_groups, study["outputs"]), metrics_files(), as_json().
Each table/figure rule takes its code file as an input, so editing plots.py reruns only the
figure rules and editing tables.py only the table (and figure) rules.
"""


localrules:
    aggregate,
    table,
    figure,


rule aggregate:
    """One row per (run, evaluation dataset): configuration, scores, CIs and cost."""
    input:
        metrics=lambda wc: metrics_files(),
        code="workflow/nerbench/reporting/aggregate.py",
    output:
        tsv=report(AGGREGATE, caption="../report/aggregate.rst", category="Data"),
    log:
        "logs/report/aggregate.log",
    conda:
        "../../envs/report.yaml"
    params:
        groups=lambda wc: as_json(PLAN.run_groups),
    shell:
        "python -m nerbench aggregate --metrics {input.metrics:q} --groups {params.groups:q} "
        "--out {output.tsv:q} > {log:q} 2>&1"


rule table:
    """One paper table (TSV numbers, Markdown and LaTeX), beside the published numbers."""
    input:
        metrics=AGGREGATE,
        code="workflow/nerbench/reporting/tables.py",
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
    conda:
        "../../envs/report.yaml"
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
        code=[
            "workflow/nerbench/reporting/plots.py",
            "workflow/nerbench/reporting/tables.py",
        ],
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
    conda:
        "../../envs/report.yaml"
    params:
        prefix="results/figures/{name}",
        caption=lambda wc: caption_text("figure", wc.name),
    shell:
        "python -m nerbench figures --metrics {input.metrics:q} --which {wildcards.name} "
        "--out-prefix {params.prefix:q} > {log:q} 2>&1"
