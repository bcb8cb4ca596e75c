"""DBR step 1: the entity knowledge base (training-split entities, open vocabularies, UMLS).

Reads the study's `dbr` mapping (defaults in nerbench.defaults) and the top-level config keys
`umls_dir` and `umls_override`, through DBR (nerbench.plan.dbr.DBRPlan, made in common.smk). With
`dbr.kb.umls: required` and no `umls_dir` the workflow still plans (a dry run works); the kb job
stops with an error naming `umls_dir`, unless `umls_override: open` builds the KB from the open
vocabularies (its stats, the aggregate's `kb` column and the tables then say so).
"""


rule kb:
    """Entity KB (name, category, source, id), deduplicated per normalized name and category."""
    input:
        bio=lambda wc: DBR.kb_bio_files(),
        vocab=DBR.vocab_files(),
        semantic_groups=DBR.settings["kb"]["semantic_groups"],
        umls=lambda wc: DBR.umls_files(),
    output:
        tsv=paths.KB,
        stats=report(
            paths.KB_STATS,
            caption="../report/kb.rst",
            category="Data",
            labels={"data": "DBR knowledge base"},
        ),
    log:
        "logs/kb/{kb}.log",
    benchmark:
        paths.benchmark_file("kb", "{kb}")
    wildcard_constraints:
        kb=re.escape(DBR.kb),
    priority: DBR_PRIORITY
    conda:
        "../../envs/data.yaml"
    resources:
        mem_mb=16000,
        runtime=120,
    params:
        spec=lambda wc: as_json(DBR.kb_spec()),
        bio=lambda wc, input: " ".join(f"--bio {p}" for p in input.bio),
    shell:
        "python -m nerbench kb --spec {params.spec:q} {params.bio} "
        "--output {output.tsv:q} --stats {output.stats:q} > {log:q} 2>&1"
