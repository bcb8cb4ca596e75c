"""DBR step 4: dense entity samples per dataset and variant, and VANER Figs 3-4.

Targets for `rule all`: DBR_WF.targets() (samples the runs train on; Figs 3-4 when the
study's outputs.figures lists vaner_fig3 or vaner_fig4).
"""


rule dbr:
    """Dense sentences of retrieved (dbr) or random KB entities with BIO tags of the target type."""
    input:
        bio="results/bio/{dataset}/train.jsonl",
        retrieval="results/retrieval/{dataset}.jsonl",
        kb=DBR_WF.kb_path,
    output:
        jsonl="results/dbr/{dataset}/{variant}.jsonl",
        stats="results/dbr/{dataset}/{variant}.stats.json",
    log:
        "logs/dbr/{dataset}/{variant}.log",
    wildcard_constraints:
        variant="dbr|random",
    priority: DBR_PRIORITY
    conda:
        "../../envs/data.yaml"
    resources:
        mem_mb=16000,
        runtime=60,
    params:
        spec=lambda wc: as_json(DBR_WF.sampling_spec(wc.dataset)),
    shell:
        "python -m nerbench dbr --bio {input.bio:q} --retrieval {input.retrieval:q} "
        "--kb {input.kb:q} --variant {wildcards.variant} --spec {params.spec:q} "
        "--output {output.jsonl:q} --stats {output.stats:q} > {log:q} 2>&1"


rule dbr_figures:
    """VANER Fig 3 (entities per sample) and Fig 4 (tokens per sample) over the DBR datasets."""
    input:
        stats=lambda wc: DBR_WF.figure_stats(),
    output:
        fig3_png="results/figures/vaner_fig3_dbr_entities.png",
        fig3_pdf="results/figures/vaner_fig3_dbr_entities.pdf",
        fig3_tsv="results/figures/vaner_fig3_dbr_entities.tsv",
        fig4_png="results/figures/vaner_fig4_dbr_length.png",
        fig4_pdf="results/figures/vaner_fig4_dbr_length.pdf",
        fig4_tsv="results/figures/vaner_fig4_dbr_length.tsv",
    log:
        "logs/dbr/figures.log",
    conda:
        "../../envs/report.yaml"
    params:
        fig3=lambda wc, output: output.fig3_png.removesuffix(".png"),
        fig4=lambda wc, output: output.fig4_png.removesuffix(".png"),
    shell:
        "python -m nerbench dbr-stats --stats {input.stats:q} --fig3 {params.fig3:q} "
        "--fig4 {params.fig4:q} > {log:q} 2>&1"
