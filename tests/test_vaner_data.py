"""JNLPBA-gene as VANER built it: protein, DNA, RNA become Gene; cell_line, cell_type are dropped.

Evidence: VANER's released data, github.com/Eulring/VANER
``data/vaner_datacohort/JNLPBA/test_df_mix2.jsonl`` (commit 8289c169d38a, the first and only
commit to hold it; full id 8289c169d38acd90dd6f0a55bd02eeb356b1f71f).
Its 6241 test entities are exactly the 5067 protein + 1056 DNA + 118 RNA mentions of the MTL
JNLPBA test file (cambridgeltl/MTL-Bioinformatics-2016 ``data/JNLPBA/test.tsv`` at df0df02f, the
file config/datasets.tsv downloads); on the 3852 of its 3873 sentences whose text matches an MTL
sentence, every token's tag agrees with that mapping. The two sentences below are from both files;
``VANER_TAGS`` are VANER's ``ner_tags`` (0 O, 1 B, 2 I of its one type, Gene).
"""

from __future__ import annotations

from pathlib import Path

from nerbench.config import load_datasets
from nerbench.data.formats.base import BioSpec
from nerbench.data.formats.iob import read_iob

ROOT = Path(__file__).resolve().parents[1]
MTL_TEST_LINES = """\
During	O
HL60	B-cell_line
cell	I-cell_line
differentiation	O
,	O
atRA	O
induced	O
RARbeta	B-RNA
mRNA	I-RNA
,	O
while	O
the	O
RXR	B-protein
had	O
no	O
effect	O
.	O

These	O
data	O
further	O
suggest	O
that	O
Bright	B-protein
may	O
contribute	O
to	O
increased	O
gene	O
expression	O
by	O
remodeling	O
the	O
immunoglobulin	B-DNA
locus	I-DNA
during	O
B	B-cell_type
cell	I-cell_type
development	O
.	O
"""
VANER_TAGS = [
    [0, 0, 0, 0, 0, 0, 0, 1, 2, 0, 0, 0, 1, 0, 0, 0, 0],
    [0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 0],
]


def test_jnlpba_gene_keeps_the_types_vaner_kept():
    row = load_datasets(ROOT / "config" / "datasets.tsv")["JNLPBA-gene"]
    assert row["types"] == ["Gene"]
    keys = ("name", "format", "tag_map", "delimiter", "tag_column", "repair_iob")
    spec = BioSpec.from_dict({k: row[k] for k in keys})
    sentences = read_iob(MTL_TEST_LINES, spec, "test.tsv").sentences
    ids = {"O": 0, "B-Gene": 1, "I-Gene": 2}
    assert [[ids[t] for t in s.tags] for s in sentences] == VANER_TAGS
