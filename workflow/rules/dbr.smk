"""DBR step 4: dense entity samples per dataset and variant, and VANER Figs 3-4.

Targets for `rule all`: DBR.targets() (samples the runs train on; Figs 3-4 when the
study's outputs.figures lists vaner_fig3 or vaner_fig4).
"""


rule dbr:
    """Dense sentences of retrieved (dbr) or random KB entities with BIO tags of the target type."""
    input:
        bio=paths.fill(paths.BIO, dataset="{dataset}", split="train"),
        retrieval=paths.RETRIEVAL,
        kb=DBR.kb_path,
        kb_stats=DBR.kb_stats_path,
    output:
        jsonl=paths.DBR_SAMPLES,
        stats=paths.DBR_STATS,
    log:
        "logs/dbr/{dataset}/{variant}.log",
    benchmark:
        paths.benchmark_file("dbr", "{dataset}/{variant}")
    wildcard_constraints:
        variant="|".join(sampled_variants()),
    priority: DBR_PRIORITY
    conda:
        "../../envs/data.yaml"
    resources:
        mem_mb=16000,
        runtime=60,
    params:
        spec=lambda wc: as_json(DBR.sampling_spec(wc.dataset)),
    shell:
        "python -m nerbench dbr --bio {input.bio:q} --retrieval {input.retrieval:q} "
        "--kb {input.kb:q} --kb-stats {input.kb_stats:q} --variant {wildcards.variant} "
        "--spec {params.spec:q} "
        "--output {output.jsonl:q} --stats {output.stats:q} > {log:q} 2>&1"


rule dbr_figures:
    """VANER Fig 3 (entities per sample) and Fig 4 (tokens per sample) over the DBR datasets."""
    input:
        stats=lambda wc: DBR.figure_stats(),
        code=report_code("dbr-stats"),
    output:
        fig3_png=report(
            DBR.figure_prefix("vaner_fig3") + ".png",
            caption="../report/figure_vaner_fig3.rst",
            category="Figures",
            labels={"figure": "vaner_fig3"},
        ),
        fig3_pdf=DBR.figure_prefix("vaner_fig3") + ".pdf",
        fig3_tsv=DBR.figure_prefix("vaner_fig3") + ".tsv",
        fig4_png=report(
            DBR.figure_prefix("vaner_fig4") + ".png",
            caption="../report/figure_vaner_fig4.rst",
            category="Figures",
            labels={"figure": "vaner_fig4"},
        ),
        fig4_pdf=DBR.figure_prefix("vaner_fig4") + ".pdf",
        fig4_tsv=DBR.figure_prefix("vaner_fig4") + ".tsv",
    log:
        f"logs/{STUDY}/dbr_figures.log",
    benchmark:
        paths.benchmark_file("dbr_figures", STUDY)
    conda:
        # its code reaches the embedder (nerbench.dbr.samples -> retrieval): the data env's
        "../../envs/data.yaml"
    params:
        fig3=lambda wc, output: output.fig3_png.removesuffix(".png"),
        fig4=lambda wc, output: output.fig4_png.removesuffix(".png"),
    shell:
        "python -m nerbench dbr-stats --stats {input.stats:q} --fig3 {params.fig3:q} "
        "--fig4 {params.fig4:q} > {log:q} 2>&1"
