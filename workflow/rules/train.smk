localrules:
    write_run_spec,


rule write_run_spec:
    """The run's config slice; its hash is part of the run_id, so it changes only with the run.

    A local rule: one small JSON file is not worth a cluster job."""
    output:
        paths.RUN_SPEC,
    log:
        "logs/runs/{run_id}/run_spec.log",
    benchmark:
        paths.benchmark_file("write_run_spec", "{run_id}")
    priority: PREP_PRIORITY
    conda:
        "../../envs/train-gpu.yaml"
    params:
        spec=run_spec,
    shell:
        "python -m nerbench run-spec --spec {params.spec:q} --output {output:q} > {log:q} 2>&1"


rule train:
    """Fine-tune one run on its training datasets; model selection on dev only; resumable."""
    input:
        run=paths.RUN_SPEC,
        train=run_split_files("train"),
        devel=run_split_files("devel"),
        dbr=run_dbr_files,
        model=run_model_dir,
        # A hub model staged by fetch_model: only orders the jobs (ancient: a restaged copy
        # reruns nothing). The package finds it by its path; the command text is unchanged.
        staged=run_staged_model,
    output:
        model=directory(paths.MODEL),
        train_log=paths.TRAIN_LOG,
        cost=paths.TRAIN_COST,
    log:
        paths.TRAIN_JOB_LOG,
    benchmark:
        paths.TRAIN_BENCHMARK
    priority: train_priority
    conda:
        "../../envs/train-gpu.yaml"
    threads: run_resource("train", "threads")
    resources:
        gpu=run_resource("train", "gpu"),
        mem_mb=run_resource("train", "mem_mb"),
        runtime=run_resource("train", "runtime"),
    params:
        model_dir=lambda wc, input: (
            f"--model-dir {input.model[0]}" if input.model else ""
        ),
        dbr=lambda wc, input: f"--dbr-files {' '.join(input.dbr)}" if input.dbr else "",
    shell:
        # The command text is part of Snakemake's rerun check: keep it stable so finished runs
        # are not redone (RUN_DIR_SHELL is the run folder as a shell-formatted path).
        "OMP_NUM_THREADS={threads} python -m nerbench train --run {input.run:q} --train-files {input.train:q} "
        "--devel-files {input.devel:q} {params.dbr} {params.model_dir} "
        f"--out-dir {RUN_DIR_SHELL} > {{log:q}} 2>&1"


rule predict:
    """Tag one test set with a trained run; timed around the model only."""
    input:
        model=paths.MODEL,
        test=paths.fill(paths.BIO, dataset="{dataset}", split="test"),
        staged=run_staged_model,  # the base model of an adapter run
    output:
        conll=paths.PRED,
        cost=paths.INFER_COST,
        meta=paths.PRED_META,
    log:
        "logs/runs/{run_id}/predict_{dataset}.log",
    benchmark:
        paths.PREDICT_BENCHMARK
    priority: SCORE_PRIORITY
    conda:
        "../../envs/train-gpu.yaml"
    threads: run_resource("predict", "threads")
    resources:
        gpu=run_resource("predict", "gpu"),
        mem_mb=run_resource("predict", "mem_mb"),
        runtime=run_resource("predict", "runtime"),
    shell:
        f"OMP_NUM_THREADS={{threads}} python -m nerbench predict --run-dir {RUN_DIR_SHELL} "
        "--input {input.test:q} --dataset {wildcards.dataset} --output {output.conll:q} "
        "--cost {output.cost:q} > {log:q} 2>&1"
