"""nerbench: the Python package behind the biomedical NER benchmark workflow.

One module per workflow stage; the Snakemake rules in ``workflow/rules`` are thin
wrappers that call ``python -m nerbench <command>`` (see :mod:`nerbench.cli`).
"""

__version__ = "0.1.0"
