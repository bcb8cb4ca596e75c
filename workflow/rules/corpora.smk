rule download:
    """Fetch one corpus file: streamed, retried with backoff, sha256-checked, renamed atomically.

    download.mirror (longest URL prefix wins) is passed with --mirror, outside params, so that
    changing the mirror does not rerun downloads whose files are already there.
    """
    output:
        paths.RAW,
    log:
        "logs/download/{dataset}/{filename}.log",
    retries: 0
    conda:
        "../../envs/data.yaml"
    params:
        spec=lambda wc: as_json(download_params(wc)),
    shell:
        "python -m nerbench download --spec {params.spec:q} --mirror {DOWNLOAD_MIRROR:q} "
        "--output {output:q} > {log:q} 2>&1"
