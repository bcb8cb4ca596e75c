"""The study plan: a study expanded into runs (:mod:`nerbench.plan.study`), and what the rules
ask of it (:mod:`nerbench.plan.files`, :mod:`nerbench.plan.dbr`: the Snakemake adapter).

The expansion's names are re-exported here; the adapter is imported from its modules.
"""

from nerbench.plan.study import (
    Plan,
    check_local_sources,
    check_outputs,
    check_workflow_inputs,
    expand_runs,
    load_plan,
    main_run_spec,
    make_run_id,
    short_hash,
)

__all__ = [
    "Plan",
    "check_local_sources",
    "check_outputs",
    "check_workflow_inputs",
    "expand_runs",
    "load_plan",
    "main_run_spec",
    "make_run_id",
    "short_hash",
]
