"""DBR step 1: the entity knowledge base (training-split entities, open vocabularies, UMLS).

Reads the study's `dbr` mapping (defaults in nerbench.dbr) and the top-level config key
`umls_dir`. DBR_WF (nerbench.dbr.DBRWorkflow) is shared by phrases/retrieval/dbr.smk.
"""

import re

from nerbench.dbr import DBRWorkflow

DBR_WF = DBRWorkflow(PLAN, config)
# The DBR chain (KB -> AutoPhrase -> embedding -> retrieval -> samples) is the longest path to
# the DBR training runs: its jobs go before training jobs that are ready at the same time.
DBR_PRIORITY = 10


rule kb:
    """Entity KB (name, category, source, id), deduplicated per normalized name and category."""
    input:
        bio=lambda wc: DBR_WF.kb_bio_files(),
        vocab=DBR_WF.vocab_files(),
        semantic_groups=DBR_WF.settings["kb"]["semantic_groups"],
        umls=lambda wc: DBR_WF.umls_files(),
    output:
        tsv="results/kb/{kb}.tsv",
        stats="results/kb/{kb}.stats.json",
    log:
        "logs/kb/{kb}.log",
    wildcard_constraints:
        kb=re.escape(DBR_WF.kb),
    priority: DBR_PRIORITY
    conda:
        "../../envs/data.yaml"
    resources:
        mem_mb=16000,
        runtime=120,
    params:
        spec=lambda wc: as_json(DBR_WF.kb_spec()),
        bio=lambda wc, input: " ".join(f"--bio {p}" for p in input.bio),
    shell:
        "python -m nerbench kb --spec {params.spec:q} {params.bio} "
        "--output {output.tsv:q} --stats {output.stats:q} > {log:q} 2>&1"
