"""Aggregation, paper tables and figures of one study; every output is flagged for the report.

Outputs live under results/studies/<study>/ (nerbench.paths). Each rule takes as inputs every
file its command reads: the run files besides the metrics (the `reads` of a table's or figure's
entry in nerbench.reporting.outputs: a run's new train_log.jsonl redraws training_curves) and the
package files its command imports, found in their sources (nerbench.plan.files.report_code), so
editing a figure's module reruns the figure rules, and summary.py (shared) both kinds. The names
the table and figure rules accept are those registered in nerbench.reporting.outputs.
"""


localrules:
    aggregate,
    table,
    figure,


rule aggregate:
    """One row per (run, evaluation dataset): configuration, scores, CIs and cost."""
    input:
        metrics=metrics_files,
        dbr_stats=lambda wc: DBR.run_stats(),
        runs=lambda wc: FILES.aggregate_reads(),
        code=report_code("aggregate"),
    output:
        tsv=report(
            study_path(paths.AGGREGATE),
            caption="../report/aggregate.rst",
            category="Data",
        ),
    log:
        f"logs/{STUDY}/report/aggregate.log",
    benchmark:
        paths.benchmark_file("aggregate", STUDY)
    conda:
        "../../envs/report.yaml"
    params:
        groups=lambda wc: as_json(PLAN.run_groups),
    shell:
        "python -m nerbench aggregate --metrics {input.metrics:q} --groups {params.groups:q} "
        "--out {output.tsv:q} > {log:q} 2>&1"


rule table:
    """One paper table (TSV numbers, Markdown, LaTeX and HTML), beside the published numbers."""
    input:
        metrics=study_path(paths.AGGREGATE),
        runs=report_reads("table"),
        code=report_code("tables"),
        reference=reference_input,
    output:
        tsv=study_path(paths.TABLE, ext="tsv"),
        md=study_path(paths.TABLE, ext="md"),
        tex=study_path(paths.TABLE, ext="tex"),
        # the report shows HTML; a TSV there is only a download link
        html=report(
            study_path(paths.TABLE, ext="html"),
            caption="../report/table.rst",
            category="Tables",
            labels={"table": "{name}"},
        ),
    log:
        f"logs/{STUDY}/report/table_{{name}}.log",
    benchmark:
        paths.benchmark_file("table", f"{STUDY}/{{name}}")
    wildcard_constraints:
        name="|".join(table_names()),
    conda:
        "../../envs/report.yaml"
    params:
        reference=lambda wc, input: (
            f"--reference '{input.reference}'" if input.reference else ""
        ),
        prefix=output_prefix,
        # one line: Snakemake also lists params under "Job parameters" in the report
        caption=lambda wc: " ".join(caption_text("table")(wc).split()),
    shell:
        "python -m nerbench tables --metrics {input.metrics:q} --which {wildcards.name} "
        "{params.reference} --out-prefix {params.prefix:q} > {log:q} 2>&1"


rule figure:
    """One paper figure as PNG (in the report) and PDF."""
    input:
        metrics=study_path(paths.AGGREGATE),
        runs=report_reads("figure"),
        code=report_code("figures"),
    output:
        png=report(
            study_path(paths.FIGURE, ext="png"),
            caption="../report/figure.rst",
            category="Figures",
            labels={"figure": "{name}"},
        ),
        pdf=study_path(paths.FIGURE, ext="pdf"),
    log:
        f"logs/{STUDY}/report/figure_{{name}}.log",
    benchmark:
        paths.benchmark_file("figure", f"{STUDY}/{{name}}")
    wildcard_constraints:
        name="|".join(figure_names()),
    conda:
        "../../envs/report.yaml"
    params:
        prefix=output_prefix,
        # one line: Snakemake also lists params under "Job parameters" in the report
        caption=lambda wc: " ".join(caption_text("figure")(wc).split()),
    shell:
        "python -m nerbench figures --metrics {input.metrics:q} --which {wildcards.name} "
        "--out-prefix {params.prefix:q} > {log:q} 2>&1"
