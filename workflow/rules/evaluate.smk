rule evaluate:
    """Strict/default/relaxed P/R/F1, per type, by entity length, bootstrap CIs."""
    input:
        pred="results/runs/{run_id}/pred/{dataset}.conll",
        meta="results/runs/{run_id}/pred/{dataset}.conll.meta.json",
        gold="results/bio/{dataset}/test.jsonl",
    output:
        "results/runs/{run_id}/metrics/{dataset}.json",
    log:
        "logs/runs/{run_id}/evaluate_{dataset}.log",
    conda:
        "../../envs/report.yaml"
    params:
        bootstrap=lookup(dpath="evaluation/bootstrap", within=PLAN.study, default=1000),
        seed=lookup(dpath="evaluation/seed", within=PLAN.study, default=13),
    shell:
        "python -m nerbench evaluate --pred {input.pred:q} --gold {input.gold:q} --output {output:q} "
        "--run-id {wildcards.run_id} --dataset {wildcards.dataset} "
        "--bootstrap {params.bootstrap} --seed {params.seed} > {log:q} 2>&1"
