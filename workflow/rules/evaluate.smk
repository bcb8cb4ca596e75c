rule evaluate:
    """Exact-match and relaxed P/R/F1 after the IOB2 decoding rule, by type and length, CIs."""
    input:
        pred=paths.PRED,
        meta=paths.PRED_META,
        gold=paths.fill(paths.BIO, dataset="{dataset}", split="test"),
    output:
        paths.METRICS,
    log:
        "logs/runs/{run_id}/evaluate_{dataset}.log",
    benchmark:
        paths.benchmark_file("evaluate", "{run_id}/{dataset}")
    priority: SCORE_PRIORITY
    conda:
        "../../envs/report.yaml"
    params:
        bootstrap=FILES.evaluation("bootstrap"),
        seed=FILES.evaluation("seed"),
    shell:
        "python -m nerbench evaluate --pred {input.pred:q} --gold {input.gold:q} --output {output:q} "
        "--run-id {wildcards.run_id} --dataset {wildcards.dataset} "
        "--bootstrap {params.bootstrap} --seed {params.seed} > {log:q} 2>&1"
