# Biomedical NER benchmark: encoders vs decoder LLMs (VANER labeler, generative BIO).
# Run the embedded default:  snakemake --cores 2
# Another study:             snakemake --cores 2 --config study=vaner
# On a SLURM cluster:        snakemake --profile slurm --config study=vaner


configfile: "config/config.yaml"


include: "workflow/rules/common.smk"
include: "workflow/rules/corpora.smk"
include: "workflow/rules/bio.smk"
include: "workflow/rules/knowledge.smk"
include: "workflow/rules/phrases.smk"
include: "workflow/rules/retrieval.smk"
include: "workflow/rules/dbr.smk"
include: "workflow/rules/models.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/evaluate.smk"
include: "workflow/rules/report.smk"


rule all:
    default_target: True
    input:
        FILES.all_targets(),
