rule download:
    """Fetch one corpus file: streamed, retried with backoff, sha256-checked, renamed atomically."""
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
        "python -m nerbench download --spec {params.spec:q} --output {output:q} > {log:q} 2>&1"
