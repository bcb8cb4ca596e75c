"""DBR step 3: embed KB names, index them with FAISS, retrieve top-K KB hits per phrase."""


rule embed_kb:
    """Embeddings of every KB name (L2-normalized .npy + meta), batched, fp16 on GPU."""
    input:
        kb=paths.KB,
        staged=embedder_staged_model,  # a hub embedder staged by fetch_model (ordering only)
    output:
        npy=paths.EMBEDDINGS,
        meta=paths.EMBEDDINGS_META,
    log:
        "logs/retrieval/embed_{kb}_{embedder}.log",
    benchmark:
        paths.benchmark_file("embed_kb", "{kb}/{embedder}")
    wildcard_constraints:
        kb=re.escape(DBR.kb),
        embedder=re.escape(DBR.embedder),
    priority: DBR_PRIORITY
    conda:
        "../../envs/train-gpu.yaml"
    threads: DBR.threads("embedder")
    resources:
        gpu=DBR.gpus(),
        mem_mb=16000,
        runtime=240,
    params:
        embedder=lambda wc: as_json(DBR.embedder_spec()),
    shell:
        "python -m nerbench embed --kb {input.kb:q} --embedder {params.embedder:q} "
        "--threads {threads} --output {output.npy:q} > {log:q} 2>&1"


rule index_kb:
    """FAISS inner-product index over the KB embeddings: exact, IVF or HNSW per dbr.index."""
    input:
        npy=paths.EMBEDDINGS,
        meta=paths.EMBEDDINGS_META,
    output:
        index=paths.INDEX,
        info=paths.INDEX_INFO,
    log:
        "logs/retrieval/index_{kb}_{embedder}.log",
    benchmark:
        paths.benchmark_file("index_kb", "{kb}/{embedder}")
    wildcard_constraints:
        kb=re.escape(DBR.kb),
        embedder=re.escape(DBR.embedder),
    priority: DBR_PRIORITY
    conda:
        "../../envs/train-gpu.yaml"
    threads: DBR.threads("embedder")
    resources:
        gpu=DBR.gpus(),
        mem_mb=32000,
        runtime=120,
    params:
        spec=lambda wc: as_json(DBR.index_spec("build")),
    shell:
        "python -m nerbench index --embeddings {input.npy:q} --spec {params.spec:q} "
        "--threads {threads} --output {output.index:q} > {log:q} 2>&1"


rule retrieve:
    """Top-K KB entities (cosine) for every mined phrase of one dataset."""
    input:
        phrases=paths.PHRASES,
        kb=DBR.kb_path,
        index=DBR.index_path,
        info=DBR.index_info_path,
        staged=embedder_staged_model,
    output:
        paths.RETRIEVAL,
    log:
        "logs/retrieval/{dataset}.log",
    benchmark:
        paths.benchmark_file("retrieve", "{dataset}")
    priority: DBR_PRIORITY
    conda:
        "../../envs/train-gpu.yaml"
    threads: DBR.threads("embedder")
    resources:
        gpu=DBR.gpus(),
        mem_mb=16000,
        runtime=60,
    params:
        embedder=lambda wc: as_json(DBR.embedder_spec()),
        spec=lambda wc: as_json(DBR.index_spec("search")),
        top_k=DBR.settings["top_k"],
    shell:
        "python -m nerbench retrieve --kb {input.kb:q} --index {input.index:q} "
        "--phrases {input.phrases:q} --embedder {params.embedder:q} --spec {params.spec:q} "
        "--top-k {params.top_k} --threads {threads} --output {output:q} > {log:q} 2>&1"
