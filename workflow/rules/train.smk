rule write_run_spec:
    """The run's config slice; its hash is part of the run_id, so it changes only with the run."""
    output:
        "results/runs/{run_id}/run.json",
    log:
        "logs/runs/{run_id}/run_spec.log",
    conda:
        "../../envs/train-gpu.yaml"
    params:
        spec=lambda wc: as_json(run_spec(wc.run_id)),
    shell:
        "python -m nerbench run-spec --spec {params.spec:q} --output {output:q} > {log:q} 2>&1"


rule train:
    """Fine-tune one run on its training datasets; model selection on dev only; resumable."""
    input:
        run="results/runs/{run_id}/run.json",
        train=lambda wc: run_split_files(wc.run_id, "train"),
        devel=lambda wc: run_split_files(wc.run_id, "devel"),
        dbr=lambda wc: run_dbr_files(wc.run_id),
        model=lambda wc: run_model_dir(wc.run_id),
    output:
        model=directory("results/runs/{run_id}/model"),
        train_log="results/runs/{run_id}/train_log.jsonl",
        cost="results/runs/{run_id}/cost.json",
    log:
        "logs/runs/{run_id}/train.log",
    benchmark:
        "results/runs/{run_id}/benchmarks/train.tsv"
    conda:
        "../../envs/train-gpu.yaml"
    threads: lambda wc: run_resource(wc.run_id, "train", "threads")
    resources:
        gpu=lambda wc: run_resource(wc.run_id, "train", "gpu"),
        mem_mb=lambda wc: run_resource(wc.run_id, "train", "mem_mb"),
        runtime=lambda wc: run_resource(wc.run_id, "train", "runtime"),
    params:
        model_dir=lambda wc, input: (
            f"--model-dir {input.model[0]}" if input.model else ""
        ),
        dbr=lambda wc, input: f"--dbr-files {' '.join(input.dbr)}" if input.dbr else "",
    shell:
        "OMP_NUM_THREADS={threads} python -m nerbench train --run {input.run:q} --train-files {input.train:q} "
        "--devel-files {input.devel:q} {params.dbr} {params.model_dir} "
        "--out-dir results/runs/{wildcards.run_id} > {log:q} 2>&1"


rule predict:
    """Tag one test set with a trained run; timed around the model only."""
    input:
        model="results/runs/{run_id}/model",
        test="results/bio/{dataset}/test.jsonl",
    output:
        conll="results/runs/{run_id}/pred/{dataset}.conll",
        cost="results/runs/{run_id}/pred/{dataset}.infer_cost.json",
        meta="results/runs/{run_id}/pred/{dataset}.conll.meta.json",
    log:
        "logs/runs/{run_id}/predict_{dataset}.log",
    benchmark:
        "results/runs/{run_id}/benchmarks/predict_{dataset}.tsv"
    conda:
        "../../envs/train-gpu.yaml"
    threads: lambda wc: run_resource(wc.run_id, "predict", "threads")
    resources:
        gpu=lambda wc: run_resource(wc.run_id, "predict", "gpu"),
        mem_mb=lambda wc: run_resource(wc.run_id, "predict", "mem_mb"),
        runtime=lambda wc: run_resource(wc.run_id, "predict", "runtime"),
    shell:
        "OMP_NUM_THREADS={threads} python -m nerbench predict --run-dir results/runs/{wildcards.run_id} "
        "--input {input.test:q} --dataset {wildcards.dataset} --output {output.conll:q} "
        "--cost {output.cost:q} > {log:q} 2>&1"
