"""Knowledge base: RRF parsing and filters, semantic groups, open vocabularies, normalization."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from nerbench.dbr.kb import (
    KBEntry,
    KBStats,
    build_kb,
    cap_source,
    clean_medic_name,
    clean_name,
    dedup_key,
    iter_belns,
    iter_medic,
    iter_mrconso,
    iter_train_entities,
    iter_vocabulary,
    kb_composition,
    main_kb,
    read_kb,
    read_mrsty,
    read_semantic_groups,
    tokenize_name,
)
from nerbench.io import InputError, read_json

ROOT = Path(__file__).resolve().parents[1]
UMLS = ROOT / "tests/data/umls"
GROUPS = ROOT / "config/semantic_groups.tsv"
VOCAB = ROOT / "resources/vocab"


@pytest.fixture
def tui_map() -> dict[str, str]:
    return read_semantic_groups(GROUPS)


# --------------------------------------------------------------------------- fixtures / groups


def test_rrf_fixtures_have_the_exact_column_layout():
    for name, columns in (("MRCONSO.RRF", 18), ("MRSTY.RRF", 6)):
        for line in (UMLS / name).read_text(encoding="utf-8").splitlines():
            assert line.endswith("|")
            assert len(line.split("|")) == columns + 1, line


def test_semantic_groups_cover_four_categories(tui_map):
    assert set(tui_map.values()) == {"Disease", "Chemical", "Gene", "Species"}
    assert tui_map["T047"] == "Disease" and tui_map["T191"] == "Disease"
    assert tui_map["T121"] == "Chemical" and tui_map["T028"] == "Gene"
    assert tui_map["T015"] == "Species"
    assert "T033" not in tui_map  # Finding: too broad
    assert "T101" not in tui_map  # population groups are not species


def test_semantic_groups_errors_name_the_line(tmp_path):
    bad = tmp_path / "groups.tsv"
    bad.write_text("tui\tsemantic_type\tcategory\nT047\tDisease or Syndrome\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"groups.tsv:2"):
        read_semantic_groups(bad)


# --------------------------------------------------------------------------- UMLS


def test_mrsty_maps_concepts_to_categories(tui_map):
    cats = read_mrsty(UMLS / "MRSTY.RRF", tui_map)
    assert cats["C0006142"] == {"Disease"}
    assert cats["C0004057"] == {"Chemical"}  # two chemical TUIs, one category
    assert cats["C0033684"] == {"Gene", "Chemical"}  # T116 -> Gene, T123 -> Chemical
    assert "C0030705" not in cats  # T101 unmapped
    # VANER as released: concepts outside the NER categories join under their semantic type
    other = read_mrsty(UMLS / "MRSTY.RRF", tui_map, other_groups=True)
    assert other["C0030705"] == {"Patient or Disabled Group"}
    assert {c: v for c, v in other.items() if c != "C0030705"} == cats


def test_main_kb_with_umls_other_groups_as_negatives(tmp_path):
    spec = {"umls": "required", "umls_dir": str(UMLS), "semantic_groups": str(GROUPS)}
    spec.update({"umls_other_groups": True, "vocabularies": [], "train_datasets": []})
    out, stats_path = tmp_path / "kb.tsv", tmp_path / "kb.stats.json"
    assert (
        main_kb(["--spec", json.dumps(spec), "--output", str(out), "--stats", str(stats_path)]) == 0
    )
    cats = Counter(e.category for e in read_kb(out))
    assert cats["Patient or Disabled Group"] == 1 and cats["Disease"] == 3
    assert "unmapped_semantic_type" not in read_json(stats_path)["umls"]["mrconso"]


def test_mrconso_keeps_english_unsuppressed_mapped_names(tui_map):
    counts: Counter = Counter()
    cats = read_mrsty(UMLS / "MRSTY.RRF", tui_map)
    entries = list(iter_mrconso(UMLS / "MRCONSO.RRF", cats, counts))
    got = {(e.name, e.category) for e in entries}
    assert ("Malignant neoplasm of breast", "Disease") in got
    assert ("Breast Cancer", "Disease") in got
    assert ("Aspirin", "Chemical") in got and ("BRCA1 Gene", "Gene") in got
    assert ("house mouse", "Species") in got and ("Inflammation", "Disease") in got
    assert {("Proteins", "Gene"), ("Proteins", "Chemical")} <= got
    names = {e.name for e in entries}
    assert "Cancer du sein" not in names  # LAT=FRE
    assert "Breast cancer, NOS" not in names and "BREAST CA" not in names  # SUPPRESS O / E
    assert "Patients" not in names  # unmapped semantic type
    assert all(e.source == "UMLS" and e.id.startswith("C") for e in entries)
    assert counts["rows"] == 14
    assert counts["not_english"] == 1 and counts["suppressed"] == 2
    assert counts["unmapped_semantic_type"] == 1 and counts["kept_rows"] == 10


def test_mrconso_source_filter(tui_map):
    cats = read_mrsty(UMLS / "MRSTY.RRF", tui_map)
    entries = list(iter_mrconso(UMLS / "MRCONSO.RRF", cats, Counter(), sabs=["NCI"]))
    assert {e.name for e in entries} == {"Breast Cancer", "breast cancer", "BRCA1 Gene"}


def test_malformed_rrf_line_is_an_error_naming_file_and_line(tmp_path, tui_map):
    bad = tmp_path / "MRCONSO.RRF"
    lines = (UMLS / "MRCONSO.RRF").read_text(encoding="utf-8").splitlines()
    lines[2] = lines[2].rstrip("|")  # drop the trailing delimiter
    bad.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"MRCONSO.RRF:3: expected 18") as err:
        list(iter_mrconso(bad, {"C0006142": {"Disease"}}, Counter()))
    assert "breast" not in str(err.value).lower()  # no UMLS content in messages


def test_main_kb_with_umls_logs_counts_only(tmp_path, capsys):
    spec = {
        "umls": "required",
        "umls_dir": str(UMLS),
        "semantic_groups": str(GROUPS),
        "vocabularies": [],
        "train_datasets": [],
    }
    out, stats_path = tmp_path / "kb.tsv", tmp_path / "kb.stats.json"
    assert (
        main_kb(["--spec", json.dumps(spec), "--output", str(out), "--stats", str(stats_path)]) == 0
    )
    log = capsys.readouterr()
    kb = read_kb(out)
    # "Breast Cancer" and "breast cancer" are one entry; Proteins is in two categories.
    assert len(kb) == 10
    assert Counter(e.category for e in kb) == {"Disease": 3, "Chemical": 3, "Gene": 2, "Species": 2}
    stats = read_json(stats_path)
    assert stats["umls"]["used"] is True and stats["umls"]["mrconso"]["suppressed"] == 2
    assert stats["dropped"]["duplicate"] == 1
    text = log.out + log.err + stats_path.read_text(encoding="utf-8")
    for e in kb:
        assert e.name not in text


def test_umls_required_without_dir_is_an_error(tmp_path):
    spec = {"umls": "required", "umls_dir": None, "vocabularies": [], "train_datasets": []}
    args = ["--spec", json.dumps(spec), "--output", str(tmp_path / "k.tsv")]
    with pytest.raises(InputError, match="umls_dir.*umls_override=open"):
        main_kb([*args, "--stats", str(tmp_path / "s.json")])
    assert not (tmp_path / "k.tsv").exists()


def test_umls_override_builds_on_open_vocabularies_and_says_so(tmp_path):
    medic = tmp_path / "medic.txt"
    medic.write_text("D001||Breast Neoplasms|Breast Cancer\n", encoding="utf-8")
    voc = [{"path": str(medic), "format": "medic", "category": "Disease"}]
    spec = {"umls": "required", "umls_dir": None, "umls_override": "open", "vocabularies": voc}
    out, stats_path = tmp_path / "k.tsv", tmp_path / "s.json"
    args = ["--spec", json.dumps({**spec, "train_datasets": []}), "--output", str(out)]
    assert main_kb([*args, "--stats", str(stats_path)]) == 0
    stats = read_json(stats_path)
    assert stats["umls"] == {
        "used": False,
        "mode": "required",
        "reason": "config key umls_dir not set; umls_override=open: open vocabularies instead "
        "of the required UMLS",
        "override": "open",
    }
    assert stats["composition"].startswith("2 names (Disease 2); sources: MEDIC 2; ")
    assert "OPEN VOCABULARIES INSTEAD OF THE REQUIRED UMLS" in stats["composition"]
    optional = kb_composition({**stats, "umls": {"used": False, "mode": "optional"}})
    assert optional.endswith("; no UMLS (not configured)")
    assert kb_composition({**stats, "umls": {"used": True}}).endswith("; with UMLS")


# --------------------------------------------------------------------------- open vocabularies


def test_medic_parsing_unescapes_and_builds_ids(tmp_path):
    path = tmp_path / "medic.txt"
    path.write_text(
        "D013262|608579||Stevens-Johnson Syndrome|Lyell&apos;s Syndrome\nC565588||Epidermolysis\n",
        encoding="utf-8",
    )
    entries = list(iter_medic(path, "Disease"))
    assert [e.id for e in entries] == ["MESH:D013262|OMIM:608579"] * 2 + ["MESH:C565588"]
    assert clean_name(entries[1].name) == "Lyell's Syndrome"
    bad = tmp_path / "bad.txt"
    bad.write_text("D1|x|y\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"bad.txt:1"):
        list(iter_medic(bad, "Disease"))


def test_belns_values_and_escapes(tmp_path):
    path = tmp_path / "x.belns"
    path.write_text(
        "[Namespace]\nKeyword=CHEBI\n[Values]\n(2-\\{amino\\})ethanol|A\nwater|A\n",
        encoding="utf-8",
    )
    entries = list(iter_belns(path, "Chemical"))
    assert [e.name for e in entries] == ["(2-{amino})ethanol", "water"]
    assert entries[1].id == "CHEBI:water" and entries[1].source == "CHEBI"
    no_values = tmp_path / "y.belns"
    no_values.write_text("[Namespace]\nKeyword=X\n", encoding="utf-8")
    with pytest.raises(InputError, match="Values"):
        list(iter_belns(no_values, "Gene"))


def test_shipped_vocabularies_read_completely():
    """Counts from resources/vocab/LICENSE.md: MEDIC 76,237 names, HGNC 39,411, ChEBI 57,042."""
    medic = {"path": str(VOCAB / "medic_06Jul2012.txt"), "format": "medic", "category": "Disease"}
    hgnc = {"path": str(VOCAB / "hgnc-human-genes.belns"), "format": "belns", "category": "Gene"}
    chebi = {"path": str(VOCAB / "chebi.belns"), "format": "belns", "category": "Chemical"}
    dropped: Counter = Counter()
    # 35 are OMIM titles run together around an INCLUDED / FORMERLY marker: left out
    assert sum(1 for _ in iter_vocabulary(medic, dropped)) == 76_237 - 35
    assert dropped == {"medic_artefact": 35}
    assert sum(1 for _ in iter_vocabulary(hgnc)) == 39_411
    chebi_names = [e.name for e in iter_vocabulary(chebi)]
    assert len(chebi_names) == 57_042 and not any("\\" in n for n in chebi_names)


def test_unknown_vocabulary_format_names_the_key():
    with pytest.raises(InputError, match="dbr.kb.vocabularies"):
        iter_vocabulary({"path": "x", "format": "obo", "category": "Disease"})


# --------------------------------------------------------------------------- normalization / dedup


def test_normalization_and_dedup_key():
    assert clean_name("  Gunther&apos;s \t Disease\n") == "Gunther's Disease"
    assert tokenize_name("beta-catenin (CTNNB1)") == ["beta", "-", "catenin", "(", "CTNNB1", ")"]
    assert dedup_key("Beta - Catenin") == dedup_key("beta-catenin")
    assert dedup_key("breast cancer") != dedup_key("breast cancers")


def test_build_kb_dedups_per_name_and_category_first_source_wins(tmp_path):
    first = [KBEntry("Breast Cancer", "Disease", "A", "1"), KBEntry("insulin", "Gene", "A", "2")]
    second = [
        KBEntry("breast  cancer", "Disease", "B", "3"),  # duplicate of A's
        KBEntry("insulin", "Chemical", "B", "4"),  # same name, other category: kept
        KBEntry("x", "Disease", "B", "5"),  # too short
        KBEntry("---", "Disease", "B", "6"),  # no letters or digits
        KBEntry("a" * 101, "Disease", "B", "7"),  # too long
    ]
    out = tmp_path / "kb.tsv"
    stats = build_kb([("A", first), ("B", second)], out, min_chars=2, max_chars=100)
    kb = read_kb(out)
    assert [(e.name, e.category, e.source) for e in kb] == [
        ("Breast Cancer", "Disease", "A"),
        ("insulin", "Gene", "A"),
        ("insulin", "Chemical", "B"),
    ]
    summary = stats.as_dict()
    assert summary["by_category_source"] == {
        "Chemical": {"B": 1},
        "Disease": {"A": 1},
        "Gene": {"A": 1},
    }
    assert summary["dropped"] == {
        "duplicate": 1,
        "too_short": 1,
        "no_alphanumeric": 1,
        "too_long": 1,
    }
    assert summary["read"] == {"A": 2, "B": 5}


def test_train_entities_and_category_mapping(tmp_path):
    path = tmp_path / "train.jsonl"
    rec = {
        "doc_id": "d",
        "sent_id": "1",
        "tokens": ["beta", "-", "catenin", "binds", "APC", "."],
        "tags": ["B-protein", "I-protein", "I-protein", "O", "B-protein", "O"],
    }
    path.write_text(json.dumps(rec) + "\n", encoding="utf-8")
    entries = list(iter_train_entities(path, "JNLPBA", {"protein": "Gene"}))
    assert [(e.name, e.category, e.source) for e in entries] == [
        ("beta - catenin", "Gene", "JNLPBA"),
        ("APC", "Gene", "JNLPBA"),
    ]


def test_source_cap_is_seeded_and_keeps_order():
    entries = [KBEntry(f"name {i}", "Gene", "S") for i in range(100)]
    stats = KBStats()
    a = list(cap_source(iter(entries), 10, "13:S", stats))
    b = list(cap_source(iter(entries), 10, "13:S", KBStats()))
    c = list(cap_source(iter(entries), 10, "14:S", KBStats()))
    assert a == b and a != c and len(a) == 10
    assert [int(e.name.split()[1]) for e in a] == sorted(int(e.name.split()[1]) for e in a)
    assert stats.dropped["over_source_cap"] == 90


def test_main_kb_with_training_split_and_vocabulary(tmp_path):
    bio = tmp_path / "bio/NCBI-x/train.jsonl"
    bio.parent.mkdir(parents=True)
    rec = {
        "doc_id": "d",
        "sent_id": "1",
        "tokens": ["Breast", "cancer"],
        "tags": ["B-Disease", "I-Disease"],
    }
    bio.write_text(json.dumps(rec) + "\n", encoding="utf-8")
    vocab = tmp_path / "m.txt"
    vocab.write_text("D1||breast cancer|Mammary Cancer\n", encoding="utf-8")
    spec = {
        "umls": "off",
        "vocabularies": [{"path": str(vocab), "format": "medic", "category": "Disease"}],
        "train_datasets": ["NCBI-x"],
    }
    out = tmp_path / "kb.tsv"
    args = ["--spec", json.dumps(spec), "--bio", str(bio), "--output", str(out)]
    main_kb([*args, "--stats", str(tmp_path / "s.json")])
    assert [(e.name, e.source) for e in read_kb(out)] == [
        ("Breast cancer", "NCBI-x"),
        ("Mammary Cancer", "MEDIC"),
    ]
    with pytest.raises(InputError, match="does not belong"):
        spec["train_datasets"] = ["other"]
        main_kb(
            ["--spec", json.dumps(spec), "--bio", str(bio), "--output", str(out), "--stats", "s"]
        )


def test_medic_artefacts_are_cleaned(tmp_path):
    """OMIM's INCLUDED / FORMERLY markers never become Disease names."""
    medic = tmp_path / "medic.txt"
    medic.write_text(
        "D1|123||Stevens-Johnson Syndrome|STEVENS-JOHNSON SYNDROME, SUSCEPTIBILITY TO, INCLUDED"
        "|LI5, FORMERLY|ENTEROPATHY, X-LINKED, FORMERLY ISLETS OF LANGERHANS, ABSENCE OF, INCLUDED"
        "|INCLUDED\n",
        encoding="utf-8",
    )
    dropped: Counter = Counter()
    names = [e.name for e in iter_medic(medic, "Disease", dropped=dropped)]
    assert names == [
        "Stevens-Johnson Syndrome",
        "STEVENS-JOHNSON SYNDROME, SUSCEPTIBILITY TO",
        "LI5",
    ]
    assert dropped == {"medic_artefact": 2}
    assert clean_medic_name("Breast Cancer") == "Breast Cancer"
    shipped = [
        e.name
        for e in iter_vocabulary(
            {"path": str(VOCAB / "medic_06Jul2012.txt"), "format": "medic", "category": "Disease"}
        )
    ]
    assert not [n for n in shipped if "INCLUDED" in n or "FORMERLY" in n]
