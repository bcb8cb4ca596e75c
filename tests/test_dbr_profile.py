"""``nerbench dbr-profile``: hand-counted figures of a 3-sample file, ours and VANER's format."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from nerbench.cli import main as cli_main
from nerbench.dbr.profile import profile_file
from nerbench.io import InputError

# Ours (nerbench dbr): target type Disease.
OURS = [
    {
        "tokens": ["breast", "cancer", "aspirin", "lung", "cancer"],
        "tags": ["B-Disease", "I-Disease", "O", "B-Disease", "I-Disease"],
        "target_type": "Disease",
        "entities": [
            ["breast cancer", "Disease"],
            ["aspirin", "Chemical"],
            ["lung cancer", "Disease"],
        ],
        "candidates": [4, 2],
        "phrases": 3,
    },
    {
        "tokens": ["insulin", "BRCA1"],
        "tags": ["O", "O"],
        "target_type": "Disease",
        "entities": [["insulin", "Chemical"], ["BRCA1", "Gene"]],
        "candidates": [0, 2],
        "phrases": 1,
    },
    {
        "tokens": ["ovarian", "cancer", "type", "2"],
        "tags": ["B-Disease", "I-Disease", "I-Disease", "I-Disease"],
        "target_type": "Disease",
        "entities": [["ovarian cancer type 2", "Disease"]],
        "candidates": [1, 0],
        "phrases": 2,
    },
]
# Hand count: entities 3+2+1, positives 2+0+1, negatives 1+2+0; one-word entities aspirin,
# insulin, BRCA1 = 3 of 6; words 5+2+4 = 11: O 3, B 3, I 5; candidates (4+0+1, 2+2+0) / 3;
# phrases (3+1+2) / 3.
OURS_FIGURES = {
    "format": "nerbench",
    "samples": 3,
    "entities_per_sample": 2.0,
    "pos_per_sample": 1.0,
    "neg_per_sample": 1.0,
    "unigram_share": 0.5,
    "words_per_sample": round(11 / 3, 4),
    "O_share": round(3 / 11, 4),
    "B_share": round(3 / 11, 4),
    "I_share": round(5 / 11, 4),
    "pos_candidates_per_sentence": round(5 / 3, 4),
    "neg_candidates_per_sentence": round(4 / 3, 4),
    "phrases_per_sentence": 2.0,
}

# VANER's released format (ncbi: target Disease). At most 10 / 5 candidates: all are drawn, so
# the figures do not depend on the seed. An entity counts as positive by VANER's type_match
# (substring either way): "Disease or Syndrome" and a negative-list "Disease" entry are positive.
VANER = [
    {
        "tokens": ["prompt", "x"],
        "ner_tags": [0],
        "auto_ent": ["cancer", "breast", "cancer"],
        "umls_kg": [
            [["breast cancer", "Disease"], ["cancer", "Disease or Syndrome"]],
            [["aspirin", "Chemical"], ["tumor suppressor gene", "Gene/Protein"]],
        ],
    },
    {
        "tokens": ["prompt", "y"],
        "ner_tags": [0],
        "auto_ent": ["flu"],
        "umls_kg": [[["flu", "Disease"]], []],
    },
    {
        "tokens": ["prompt", "z"],
        "ner_tags": [0],
        "auto_ent": [],
        "umls_kg": [
            [],
            [["insulin", "Chemical"], ["brain", "Anatomy"], ["a disease-like thing", "Disease"]],
        ],
    },
]
# Hand count: entities 4+1+3 = 8; positives 2+1+1, negatives 2+0+2; one-word entities cancer,
# aspirin, flu, insulin, brain = 5 of 8; words 7+1+5 = 13: O 4+0+2, B 2+1+1, I 1+0+2;
# candidates (2+1+0, 2+0+3) / 3; distinct phrases (2+1+0) / 3.
VANER_FIGURES = {
    "format": "vaner",
    "samples": 3,
    "entities_per_sample": round(8 / 3, 4),
    "pos_per_sample": round(4 / 3, 4),
    "neg_per_sample": round(4 / 3, 4),
    "unigram_share": 0.625,
    "words_per_sample": round(13 / 3, 4),
    "O_share": round(6 / 13, 4),
    "B_share": round(4 / 13, 4),
    "I_share": round(3 / 13, 4),
    "pos_candidates_per_sentence": 1.0,
    "neg_candidates_per_sentence": round(5 / 3, 4),
    "phrases_per_sentence": 1.0,
}


def _write(path: Path, records: list[dict]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


def test_profile_of_our_samples(tmp_path):
    got = profile_file(_write(tmp_path / "dbr.jsonl", OURS))
    assert {k: v for k, v in got.items() if k != "file"} == OURS_FIGURES


def test_profile_of_vaner_records_samples_as_vaner_does(tmp_path):
    # the cohort folder names the type, as in VANER's data/vaner_datacohort/<cohort>/
    path = _write(tmp_path / "ncbi" / "dev_df_mix2.jsonl", VANER)
    got = profile_file(path)
    assert {k: v for k, v in got.items() if k != "file"} == VANER_FIGURES
    # as Species, no entity of these lists is positive
    assert profile_file(path, "Species")["pos_per_sample"] == 0.0


def test_profile_command_writes_table_and_json(tmp_path, capsys):
    ours = _write(tmp_path / "dbr.jsonl", OURS)
    vaner = _write(tmp_path / "ncbi.dev.jsonl", VANER)
    out = tmp_path / "profile.json"
    assert cli_main(["dbr-profile", str(ours), str(vaner), "--json", str(out)]) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0].startswith("| file | format | samples | entities_per_sample |")
    assert len(table) == 4 and "| vaner | 3 | 2.6667 |" in table[3]
    assert [p["format"] for p in json.loads(out.read_text(encoding="utf-8"))] == [
        "nerbench",
        "vaner",
    ]


def test_profile_errors_name_file_and_line(tmp_path):
    with pytest.raises(InputError, match="--type"):
        profile_file(_write(tmp_path / "unknown.jsonl", VANER))
    mixed = _write(tmp_path / "mixed.jsonl", [OURS[0], VANER[0]])
    with pytest.raises(InputError, match=r"mixed.jsonl.*2"):
        profile_file(mixed, "Disease")
    # a sample file of an older version (no entities): what its tags give, None for the rest
    old = [
        {k: v for k, v in r.items() if k not in ("entities", "candidates", "phrases")} for r in OURS
    ]
    got = profile_file(_write(tmp_path / "old.jsonl", old))
    assert got["format"] == "tags-only" and got["pos_per_sample"] == 1.0
    assert got["entities_per_sample"] is None and got["unigram_share"] is None
