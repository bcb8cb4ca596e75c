"""DBR step 1: the entity knowledge base (training-split entities, open vocabularies, UMLS).

Reads the study's `dbr` mapping (defaults in nerbench.dbr.samples) and the top-level config key
`umls_dir`. DBR_WF (nerbench.dbr.samples.DBRWorkflow) is shared by phrases/retrieval/dbr.smk.
"""

import re

from nerbench.dbr.samples import DBRWorkflow

DBR_WF = DBRWorkflow(PLAN, config)


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
