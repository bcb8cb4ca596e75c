"""The tables and figures registries (nerbench.reporting.outputs): one registration line per
table or figure, from which the study checks, the targets, the dispatch, the CLI and the report
rules' code inputs follow; a throw-away table and figure added in a test are planned and built
without touching any other file."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from nerbench.io import InputError
from nerbench.plan.files import StudyFiles, report_code
from nerbench.reporting.outputs import (
    FIGURES,
    TABLES,
    FigureSpec,
    TableSpec,
    dbr_figures,
    figure_names,
    study_figures,
    study_tables,
    table_names,
)
from test_study_checks import plan_of

ROOT = Path(__file__).resolve().parents[1]
CAPTIONS = ROOT / "workflow" / "report"
STUDY = {
    "datasets": ["NCBI-disease-demo"],
    "defaults": {"hparams": {"learning_rate": 1.0e-4, "batch_size": 8}, "seeds": [42]},
    "runs": [{"name": "enc", "models": ["tiny-bert"]}],
    "outputs": {"tables": ["metrics"], "figures": ["cost_f1"]},
}
METRICS_TSV = (
    "run_id\tgroup\tdataset\tmodel\tfamily\tmethod\ttrain_datasets\tdbr\tseed\texact_f1\n"
    "r1\tenc\tNCBI-disease-demo\ttiny-bert\tencoder\ttoken-classification\tNCBI-disease-demo"
    "\tnone\t42\t0.5\n"
    "r2\tenc\tNCBI-disease-demo\ttiny-bert\tencoder\ttoken-classification\tNCBI-disease-demo"
    "\tnone\t43\t0.7\n"
)


# --------------------------------------------------------------------------- throw-away entries


def throwaway_table(df, ref):
    """A table of the number of runs per dataset (the test's own builder)."""
    import pandas as pd

    from nerbench.reporting.render import Table

    counts = df.groupby("dataset")["run_id"].nunique().reset_index(name="runs")
    display = pd.DataFrame({"Dataset": counts["dataset"], "Runs": counts["runs"].astype(str)})
    return Table("throwaway", "Runs per dataset.", counts, display)


def throwaway_figure(df, plt):
    """A bar per dataset of the mean exact F1 (the test's own drawing function)."""
    fig, ax = plt.subplots()
    means = df.groupby("dataset")["exact_f1"].mean()
    ax.bar(list(means.index), list(means.values))
    return fig


def plan_study(root: Path, outputs: dict):
    """The plan of a one-group study listing ``outputs``, planned from the project's config."""
    if not (root / "config").exists():
        shutil.copytree(ROOT / "config", root / "config")
        (root / "resources").symlink_to(ROOT / "resources")
    return plan_of(root, {**STUDY, "outputs": outputs})


def build_with_cli(main, which: str, tmp_path: Path) -> Path:
    """Run ``main`` (the tables or figures CLI) for ``which`` on METRICS_TSV; its output prefix."""
    metrics = tmp_path / "metrics.tsv"
    metrics.write_text(METRICS_TSV, encoding="utf-8")
    out = tmp_path / "out" / which
    assert main(["--metrics", str(metrics), "--which", which, "--out-prefix", str(out)]) == 0
    return out


def test_a_registered_table_is_planned_and_built_by_the_cli(tmp_path):
    from nerbench.reporting.tables import main_tables

    spec = TableSpec(f"{__name__}:throwaway_table")
    with pytest.raises(InputError, match=r"unknown table 'throwaway'"):
        plan_study(tmp_path, {"tables": ["throwaway"]})
    with TABLES.temporary("throwaway", spec):
        plan = plan_study(tmp_path, {"tables": ["metrics", "throwaway"]})
        targets = StudyFiles(plan, {}).all_targets()
        assert "results/studies/t/tables/throwaway.md" in targets
        assert "results/studies/t/tables/throwaway.tex" in targets
        out = build_with_cli(main_tables, "throwaway", tmp_path)
        md = out.with_suffix(".md").read_text(encoding="utf-8")
        assert "| NCBI-disease-demo | 2 |" in md
    assert "throwaway" not in table_names()  # gone with the `with` block


def test_a_registered_figure_is_planned_and_drawn_by_the_cli(tmp_path):
    from nerbench.reporting.figures import main_figures

    with FIGURES.temporary("throwaway_fig", FigureSpec(f"{__name__}:throwaway_figure")):
        plan = plan_study(tmp_path, {"figures": ["throwaway_fig"]})
        targets = StudyFiles(plan, {}).all_targets()
        assert "results/studies/t/figures/throwaway_fig.png" in targets
        out = build_with_cli(main_figures, "throwaway_fig", tmp_path)
        assert out.with_suffix(".png").stat().st_size > 1000
    assert "throwaway_fig" not in figure_names()


def test_tables_and_figures_made_by_other_rules_are_listed_but_not_built(tmp_path):
    """corpus_stats (the stats stage) and VANER Figs 3-4 (the DBR rules) may be listed in a study;
    the table and figure rules do not make them."""
    assert "corpus_stats" in study_tables() and "corpus_stats" not in table_names()
    assert {"vaner_fig3", "vaner_fig4"} <= set(study_figures()) - set(figure_names())
    assert dbr_figures() == {
        "vaner_fig3": "vaner_fig3_dbr_entities",
        "vaner_fig4": "vaner_fig4_dbr_length",
    }
    plan = plan_study(tmp_path, {"tables": ["corpus_stats"], "figures": ["vaner_fig3"]})
    files = StudyFiles(plan, {})
    assert files.study_outputs("tables") == [] and files.study_outputs("figures") == []


def test_a_builder_option_the_table_does_not_take_is_an_error():
    from nerbench.reporting.tables import build_table

    with pytest.raises(InputError, match=r"table 'metrics' takes no option learning_rate"):
        build_table("metrics", None, None, learning_rate=1e-4)
    with pytest.raises(InputError, match=r"unknown table 'corpus_stats'"):
        build_table("corpus_stats", None, None)


# --------------------------------------------------------------------------- registered entries


def test_every_builder_resolves_and_its_module_is_a_report_code_input():
    for command, registry, rule_names in (
        ("tables", TABLES, table_names()),
        ("figures", FIGURES, figure_names()),
    ):
        code = report_code(command)
        for name in rule_names:
            spec = registry[name]
            assert callable(spec.load()), name
            module = spec.builder.partition(":")[0].removeprefix("nerbench.").replace(".", "/")
            assert f"workflow/nerbench/{module}.py" in code, (command, name)
        assert all((ROOT / f).is_file() for f in code), command


def test_every_reference_file_exists_with_the_declared_columns():
    from nerbench.reporting.summary import load_reference

    declared = [n for n in table_names() if TABLES[n].reference]
    assert declared  # the VANER and paper tables compare with published numbers
    for name in declared:
        spec = TABLES[name]
        ref = load_reference(
            ROOT / "config" / "reference" / spec.reference, list(spec.reference_columns)
        )
        assert set(spec.reference_columns) <= set(ref.columns), name


def test_every_table_and_figure_has_a_caption_and_no_caption_is_orphaned():
    """Captions for the HTML report: workflow/report/table_<name>.rst, figure_<name>.rst."""
    expected = {f"table_{n}.rst" for n in table_names()}
    expected |= {f"figure_{n}.rst" for n in study_figures()}
    found = {p.name for p in CAPTIONS.glob("table_*.rst")} | {
        p.name for p in CAPTIONS.glob("figure_*.rst")
    }
    assert expected - found == set(), "registered without a caption"
    assert found - expected == set(), "caption of no registered table or figure"


def test_the_registry_module_imports_no_heavy_library():
    """The Snakefile and the study checks import it: no pandas, matplotlib or torch."""
    code = (
        "import sys; import nerbench.reporting.outputs, nerbench.plan; "
        "print(sorted(m for m in ('pandas', 'matplotlib', 'torch') if m in sys.modules))"
    )
    env_path = str(ROOT / "workflow")
    res = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env={"PYTHONPATH": env_path, "PATH": ""},
        check=True,
    )
    assert res.stdout.strip() == "[]"


def test_docs_list_every_table_and_figure_as_registered(capsys):
    """docs/outputs.md holds the generated list (python -m nerbench outputs), and it names every
    registered table and figure with what it shows."""
    from nerbench.cli import main as cli_main
    from nerbench.reporting.outputs import outputs_markdown

    doc = (ROOT / "docs" / "outputs.md").read_text(encoding="utf-8")
    m = re.search(r"^## Tables and figures\n(.*?)(?=^#)", doc, re.S | re.M)
    assert m, "docs/outputs.md lacks a '## Tables and figures' section"
    listed = "\n".join(ln for ln in m.group(1).splitlines() if ln.startswith("|")) + "\n"
    assert listed == outputs_markdown(), "regenerate: python -m nerbench outputs"
    assert cli_main(["outputs"]) == 0 and capsys.readouterr().out == listed
    for name in TABLES:
        assert f"| table | `{name}` |" in listed
    for name in FIGURES:
        assert f"| figure | `{name}` |" in listed
    rows = [ln.split(" | ") for ln in listed.splitlines()[2:]]
    assert all(len(r) == 5 and len(r[2]) > 20 for r in rows)  # every row says what it shows
