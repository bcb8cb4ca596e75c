rule build_tiny_model:
    """A tiny random model of one architecture family, for offline code-path tests and the demo."""
    output:
        directory(paths.TINY_MODEL),
    log:
        "logs/models/tiny-{family}.log",
    conda:
        "../../envs/train-gpu.yaml"
    shell:
        "python -m nerbench build-tiny-model --family {wildcards.family} --output {output:q} "
        "> {log:q} 2>&1"
