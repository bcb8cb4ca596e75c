localrules:
    download,


rule download:
    """Fetch one corpus file: streamed, retried with backoff, sha256-checked, renamed atomically.

    A local rule: it runs on the submit host, which has network access where compute nodes may
    not. download.mirror (longest URL prefix wins) reaches it through $NERBENCH_DOWNLOAD_MIRROR,
    outside params, so changing the mirror does not rerun downloads that are already there.
    """
    output:
        paths.RAW,
    log:
        "logs/download/{dataset}/{filename}.log",
    benchmark:
        paths.benchmark_file("download", "{dataset}/{filename}")
    priority: PREP_PRIORITY
    retries: 0
    conda:
        "../../envs/data.yaml"
    params:
        spec=lambda wc: as_json(download_params(wc)),
    shell:
        "python -m nerbench download --spec {params.spec:q} --output {output:q} > {log:q} 2>&1"
