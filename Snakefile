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


# Before the first job: stop with one line if a job needs a tool this machine lacks (Java for
# AutoPhrase), and name the command that follows the training runs (nerbench status).
onstart:
    hooks.on_start(
        workflow,
        STUDY,
        {rules.autophrase_tool.rule.name, rules.autophrase.rule.name},
        DBR.settings["autophrase"]["compile"],
        rules.train.rule.name,
        DBR.settings["autophrase"]["tokenizer"],
    )


# Where the study's tables, figures and report are, and the command that builds the report.
onsuccess:
    hooks.on_success(STUDY)


# Which job failed, its log and that log's last line.
onerror:
    hooks.on_error(workflow, log, STUDY, rules.train.rule.name)
