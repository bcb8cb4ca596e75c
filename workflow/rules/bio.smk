rule to_bio:
    """Convert one split of a corpus into canonical JSONL (doc_id, sent_id, tokens, tags)."""
    input:
        raw_split_path,
    output:
        jsonl=paths.BIO,
        report=paths.BIO_REPORT,
    log:
        "logs/to_bio/{dataset}/{split}.log",
    benchmark:
        paths.benchmark_file("to_bio", "{dataset}/{split}")
    priority: PREP_PRIORITY
    conda:
        "../../envs/data.yaml"
    params:
        spec=dataset_spec,
        member=split_member,
    shell:
        "python -m nerbench to-bio --spec {params.spec:q} --input {input:q} "
        "--member={params.member:q} --output {output.jsonl:q} --report {output.report:q} "
        "> {log:q} 2>&1"


rule corpus_stats:
    """Per dataset and split: sentences, tokens, entities, entity-length histogram, repairs."""
    input:
        reports=corpus_reports,
        bio=study_bio_files,
    output:
        tsv=report(
            study_path(paths.CORPUS_STATS, ext="tsv"),
            caption="../report/corpus_stats.rst",
            category="Tables",
        ),
        md=study_path(paths.CORPUS_STATS, ext="md"),
    log:
        f"logs/{STUDY}/corpus_stats.log",
    benchmark:
        paths.benchmark_file("corpus_stats", STUDY)
    conda:
        "../../envs/data.yaml"
    params:
        vaner=lambda wc: as_json(FILES.vaner_counts()),
    shell:
        "python -m nerbench corpus-stats --bio {input.bio:q} --vaner {params.vaner:q} "
        "--tsv {output.tsv:q} --md {output.md:q} > {log:q} 2>&1"
