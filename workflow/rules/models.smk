localrules:
    fetch_model,


rule fetch_model:
    """Stage a hub model once, at its pinned revision, for every run that uses it.

    A local rule: it runs on the submit host, which has network access where compute nodes may
    not; train, predict and embedding jobs then load the staged directory with the hub off. The
    token comes from $HF_TOKEN (never a param, never logged).
    """
    output:
        directory(paths.STAGED_MODEL),
    log:
        "logs/models/fetch_{model_key}_{revision}.log",
    benchmark:
        paths.benchmark_file("fetch_model", "{model_key}/{revision}")
    wildcard_constraints:
        model_key="[A-Za-z0-9][A-Za-z0-9_.-]*",
        revision="[A-Za-z0-9_.-]+",
    retries: 0
    conda:
        "../../envs/train-gpu.yaml"
    params:
        spec=staged_model_spec,
    shell:
        "python -m nerbench fetch-model --spec {params.spec:q} --output {output:q} > {log:q} 2>&1"


rule build_tiny_model:
    """A tiny random model of one architecture family, for offline code-path tests and the demo."""
    output:
        directory(paths.TINY_MODEL),
    log:
        "logs/models/tiny-{family}.log",
    benchmark:
        paths.benchmark_file("build_tiny_model", "{family}")
    conda:
        "../../envs/train-gpu.yaml"
    shell:
        "python -m nerbench build-tiny-model --family {wildcards.family} --output {output:q} "
        "> {log:q} 2>&1"
