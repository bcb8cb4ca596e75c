rule to_bio:
    """Convert one split of a corpus into canonical JSONL (doc_id, sent_id, tokens, tags)."""
    input:
        raw_split_path,
    output:
        jsonl="results/bio/{dataset}/{split}.jsonl",
        report="results/bio/{dataset}/{split}.report.json",
    log:
        "logs/to_bio/{dataset}/{split}.log",
    conda:
        "../../envs/data.yaml"
    params:
        spec=lambda wc: as_json(dataset_spec(wc.dataset)),
        member=lambda wc: split_member(wc.dataset, wc.split),
    shell:
        "python -m nerbench to-bio --spec {params.spec:q} --input {input:q} "
        "--member={params.member:q} --output {output.jsonl:q} --report {output.report:q} "
        "> {log:q} 2>&1"


rule corpus_stats:
    """Per dataset and split: sentences, tokens, entities, entity-length histogram, repairs."""
    input:
        reports=lambda wc: [
            f"results/bio/{d}/{s}.report.json"
            for d in PLAN.study_datasets
            for s in SPLITS
        ],
        bio=lambda wc: bio_files(PLAN.study_datasets),
    output:
        tsv=report(
            "results/tables/corpus_stats.tsv",
            caption="../report/corpus_stats.rst",
            category="Tables",
        ),
        md="results/tables/corpus_stats.md",
    log:
        "logs/corpus_stats.log",
    conda:
        "../../envs/data.yaml"
    params:
        vaner=lambda wc: as_json(
            {d: DATASETS[d]["vaner_counts"] for d in PLAN.study_datasets}
        ),
    shell:
        "python -m nerbench corpus-stats --bio {input.bio:q} --vaner {params.vaner:q} "
        "--tsv {output.tsv:q} --md {output.md:q} > {log:q} 2>&1"
