"""Entity categories: the one declaration of the NER categories and of their order.

The order is the published papers' (VANER Tables 1 and 3 group their dataset columns as Disease,
Gene, Chemical, Species); the comparison tables group our dataset columns in the same order
(:func:`nerbench.reporting.compare.ordered_datasets`), a category not declared here after them.
Each entry is a short description of what the category covers. A light module.
"""

from __future__ import annotations

from nerbench.registry import Registry

ENTITY_CATEGORIES: Registry[str] = Registry("entity category")
ENTITY_CATEGORIES.add("Disease", "diseases, disorders and symptoms")
ENTITY_CATEGORIES.add("Gene", "genes and gene products (proteins, DNA, RNA)")
ENTITY_CATEGORIES.add("Chemical", "chemicals and drugs")
ENTITY_CATEGORIES.add("Species", "organisms")
