"""The DBR variants a run group may train with (its ``dbr:`` key): one declaration each.

``dbr`` adds one dense-entity sample per training sentence built from the entities retrieved for
its phrases (VANER §3.4); ``random`` the same numbers of entities drawn at random from the KB
(VANER Table 3's ablation); ``none`` trains on the sentences alone. The study schema's enum, the
``dbr`` rule's wildcard and CLI choices, the tables' system names, the figures' line styles, the
paired tests and the scheduling weight all come from :data:`DBR_VARIANTS`. Light: no imports
beyond the registry, so the Snakefile and the schema loader read it.
"""

from __future__ import annotations

from dataclasses import dataclass

from nerbench.registry import Registry

#: the variant that trains on the sentences alone (no samples): the default of a run group
NO_DBR = "none"


@dataclass(frozen=True)
class DBRVariant:
    """How one variant is built, named and drawn.

    ``samples``: trains on one sample per sentence (made by the ``dbr`` rule).
    ``suffix``: after the system's name in the tables (VANER Table 3: "VANER + random DBR").
    ``label`` / ``line``: its legend text and matplotlib line style in the figures.
    ``sample_length``: scheduling only (the train rule's priority, longest run first): its
    sample's length relative to its sentence in sub-tokens, measured on NCBI-disease's full
    training split with all-MiniLM-L6-v2 (#24: sentences 186k sub-tokens per epoch, DBR samples
    222k, random samples 439k: random KB names are longer, e.g. ChEBI's).
    """

    samples: bool
    suffix: str
    label: str
    line: str
    sample_length: float


DBR_VARIANTS: Registry[DBRVariant] = Registry("DBR variant")
DBR_VARIANTS.add("dbr", DBRVariant(True, "", "DBR", "-", 1.2))
DBR_VARIANTS.add(NO_DBR, DBRVariant(False, " w/o DBR", "no DBR", ":", 0.0))
DBR_VARIANTS.add("random", DBRVariant(True, " + random DBR", "random DBR", "--", 2.4))

#: the variant the ablation is about: the others are compared with it (paired tests)
WITH_DBR = "dbr"


def sampled_variants() -> tuple[str, ...]:
    """Variants that train on DBR samples (the ``dbr`` rule makes one sample set each)."""
    return tuple(n for n, v in DBR_VARIANTS.items() if v.samples)


def compared_variants() -> tuple[str, ...]:
    """Variants the paired tests compare DBR with (every other one, in registration order)."""
    return tuple(n for n in DBR_VARIANTS if n != WITH_DBR)


def dbr_suffix(name: str) -> str:
    """The variant's suffix to a system's name (an unregistered one reads " + <name> DBR")."""
    return DBR_VARIANTS[name].suffix if name in DBR_VARIANTS else f" + {name} DBR"


def dbr_line(name: str) -> str:
    """The variant's line style in figures (an unregistered one: dash-dot)."""
    return DBR_VARIANTS[name].line if name in DBR_VARIANTS else "-."
