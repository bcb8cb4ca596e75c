"""The corpus formats: the one declaration of every ``format`` a ``datasets.tsv`` row may name.

Each entry is a ``"module:function"`` string naming the format's reader (resolved on first use by
:meth:`~nerbench.registry.Registry.load`, so this module stays importable without a reader's
dependencies; a test may register the function itself), with one piece of metadata, ``reads``:

``"text"``
    ``reader(text: str, spec: BioSpec, where: str) -> Conversion``; the conversion reads the
    split's file (or archive member) and decodes it as UTF-8 first.
``"source"``
    ``reader(path: str | Path, member: str | None, spec: BioSpec) -> Conversion``; the reader opens
    the split's source itself (a brat folder, a ChemProt abstracts file and its entities file).

From this registry come the ``format`` enum of ``workflow/schemas/datasets.schema.yaml`` (injected
by :func:`nerbench.config.load_schema`), the check of ``to-bio --spec`` and the dispatch of
:func:`nerbench.data.convert.convert`. A new format is one reader module in this package plus one
line below.
"""

from __future__ import annotations

from nerbench.registry import Registry

FORMATS: Registry[object] = Registry("corpus format")

FORMATS.add("iob-tsv", "nerbench.data.formats.iob:read_iob", reads="text")
FORMATS.add("pubtator", "nerbench.data.formats.pubtator:read_pubtator", reads="text")
FORMATS.add("brat", "nerbench.data.formats.brat:read_brat", reads="source")
FORMATS.add("bioc", "nerbench.data.formats.bioc:read_bioc", reads="text")
FORMATS.add("chemprot", "nerbench.data.formats.chemprot:read_chemprot", reads="source")
