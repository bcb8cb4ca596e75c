"""A malformed JSON option (``--spec`` and kin) is one clear error line and exit status 2."""

from __future__ import annotations

from pathlib import Path

import pytest

from nerbench.cli import main as cli_main
from nerbench.io import InputError, json_option


def commands(tmp: Path, option: str, value: str) -> list[str]:
    """argv of every command that reads ``option`` as JSON, with ``value`` there."""
    x = str(tmp / "missing")
    o = str(tmp / "out")
    table = {
        "--spec": [
            ["download", "--output", o],
            ["to-bio", "--input", x, "--output", o + ".jsonl", "--report", o + ".json"],
            ["run-spec", "--output", o],
            ["kb", "--output", o, "--stats", o + ".json"],
            ["autophrase", "--tool-dir", str(tmp / "tool"), "--input", x, "--output", o],
            [
                "dbr",
                "--bio",
                x,
                "--retrieval",
                x,
                "--kb",
                x,
                "--variant",
                "dbr",
                "--output",
                o,
                "--stats",
                o + ".json",
            ],  # fmt: skip
            ["index", "--embeddings", x + ".npy", "--output", o],
            [
                "retrieve",
                "--kb",
                x,
                "--index",
                x,
                "--phrases",
                x,
                "--embedder",
                "{}",
                "--output",
                o,
            ],  # fmt: skip
        ],
        "--embedder": [
            ["embed", "--kb", x, "--output", o + ".npy"],
            ["retrieve", "--kb", x, "--index", x, "--phrases", x, "--output", o],
        ],
        "--vaner": [["corpus-stats", "--bio", x, "--tsv", o, "--md", o + ".md"]],
        "--groups": [["aggregate", "--metrics", x, "--out", o]],
    }
    return [[*argv, option, value] for argv in table[option]]


CASES = [
    (option, i)
    for option, n in (("--spec", 8), ("--embedder", 2), ("--vaner", 1), ("--groups", 1))
    for i in range(n)
]


@pytest.mark.parametrize(("option", "i"), CASES, ids=[f"{o}-{i}" for o, i in CASES])
@pytest.mark.parametrize(
    ("value", "message"),
    [
        ('{"url": "x",}', "is not valid JSON (Expecting property name enclosed in double quotes"),
        ("{not json", "is not valid JSON (Expecting property name"),
        ('["a list"]', "must be a JSON object, not array"),
    ],
)
def test_malformed_json_option_is_one_line_and_status_2(
    tmp_path, capsys, option, i, value, message
):
    argv = commands(tmp_path, option, value)[i]
    assert cli_main(argv) == 2, argv
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    assert err.startswith(f"error: {option} {message}"), err
    assert not (tmp_path / "out").exists()


def test_json_option_names_where_the_error_is():
    with pytest.raises(InputError, match=r"--spec is not valid JSON \(.* line 3 column 1\)"):
        json_option('{\n    "a": 1,\n}', "--spec")
    assert json_option("[1]", "--x", list) == [1]
    assert json_option("null", "--x", None) is None
