"""`sweeps.load(study)`: the report's numbers as DataFrames, its figures as matplotlib Figures, a light import.

Stores are written through the runner's MLflow writer with chosen numbers (tests/report_store.py): the
`repeats` study (three seeds per variant) and two questions of jhu_fashion for the public `sweeps.load`.
"""

from __future__ import annotations

import math
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from helpers.report_store import REPEATS_VAL_ACC, Outcome, write_repeats_store, write_store
from matplotlib.figure import Figure

import sweeps
from sweeps.api import Results
from sweeps.plan.build import plan_study
from sweeps.report.collect import read_study
from sweeps.report.write import write_report
from sweeps.trials import Plan

NUMBER_CELL = re.compile(r"^(-?\d+\.\d+)(?: ± (\d+\.\d+))?$")


@pytest.fixture(scope="module")
def repeats(tmp_path_factory: pytest.TempPathFactory) -> tuple[Plan, Results]:
    plan = write_repeats_store(tmp_path_factory.mktemp("api"))
    return plan, Results(read_study(plan))


def _report_table(plan: Plan, folder: Path) -> tuple[list[str], list[list[str]], str]:
    """The header, rows and finding of r01's variant table in report.md."""
    write_report(plan, folder)
    section = (folder / "report.md").read_text().split("\n## r01: ")[1]
    finding = section.split("\n\n")[1].removeprefix("Finding: ")
    block = re.search(r"(?:^\|.*\|\n)+", section, flags=re.MULTILINE)
    assert block is not None
    lines = [[cell.strip() for cell in line.strip()[1:-1].split(" | ")] for line in block[0].strip().splitlines()]
    return lines[0], lines[2:], finding


def test_import_sweeps_stays_light() -> None:
    heavy = ("pandas", "matplotlib", "mlflow", "scipy", "torch", "ray", "sweeps.api", "sweeps.report")
    code = f"import sys, sweeps; print([m for m in {heavy!r} if m in sys.modules])"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert result.stdout.strip() == "[]"


def test_table_has_the_reports_numbers(repeats: tuple[Plan, Results], tmp_path: Path) -> None:
    plan, results = repeats
    frame = results.table("r01")
    header, rows, finding = _report_table(plan, tmp_path / "report")
    assert frame.attrs["finding"] == finding
    assert len(frame) == len(rows)
    for (_, row), cells in zip(frame.iterrows(), rows, strict=True):
        shown = dict(zip(header, cells, strict=True))
        assert shown["variant"] == row["variant"] + (" (reference)" if row["role"] == "reference" else "")
        assert shown["status"] == row["status"] and shown["n"] == str(row["n"])
        assert shown["parameters"] == str(row["parameters"])
        for title in header[2:]:
            if f"{title} mean" not in frame.columns:
                continue
            if shown[title] == "—":  # no finished run logged it (test acc: these stores log none)
                assert math.isnan(row[f"{title} mean"]) and math.isnan(row[f"{title} std"])
                continue
            match = NUMBER_CELL.match(shown[title])
            assert match, (title, shown[title])
            decimals = len(match[1].split(".")[1])
            assert float(match[1]) == pytest.approx(row[f"{title} mean"], abs=0.5 * 10**-decimals)
            if match[2] is None:
                assert math.isnan(row[f"{title} std"])
            else:
                assert float(match[2]) == pytest.approx(row[f"{title} std"], abs=0.5 * 10**-decimals)
    reference = frame[frame["role"] == "reference"].iloc[0]
    assert (reference["final val acc mean"], reference["final val acc std"], reference["n"]) == pytest.approx((0.6, 0.1, 3))


def test_table_attrs_hold_the_welch_tests(repeats: tuple[Plan, Results]) -> None:
    from scipy import stats

    _, results = repeats
    comparisons = {c["label"]: c for c in results.table("r01").attrs["comparisons"]}
    finals = {  # each variant's final val accuracies over its finished repeats
        variant: [outcome.val_acc[-1] for outcome in outcomes if outcome is not None and outcome.finished]
        for variant, outcomes in REPEATS_VAL_ACC.items()
    }
    for label, variant in (("optim.lr=0.001", "x0.1"), ("optim.lr=0.005", "x0.5")):
        expected = stats.ttest_ind(finals[variant], finals["x1"], equal_var=False).pvalue
        assert comparisons[label]["p"] == pytest.approx(expected, rel=1e-12)
        assert (comparisons[label]["n"], comparisons[label]["against_n"]) == (3, 3)
    assert comparisons["optim.lr=0.1"]["p"] is None and comparisons["optim.lr=0.1"]["n"] == 1
    assert {c["against"] for c in comparisons.values()} == {"optim.lr=0.01"}


def test_history_is_one_row_per_run_and_epoch(repeats: tuple[Plan, Results]) -> None:
    plan, results = repeats
    history = results.history("r01")
    assert list(history.columns[:5]) == ["trial_id", "variant", "seed", "status", "epoch"]
    logged = [outcome for outcomes in REPEATS_VAL_ACC.values() for outcome in outcomes if outcome is not None]
    assert len(history) == sum(len(outcome.val_acc) for outcome in logged)
    for variant, (label, outcomes) in zip(plan.questions[0].variants, REPEATS_VAL_ACC.items(), strict=True):
        for seed, (trial, outcome) in enumerate(zip(variant.trials, outcomes, strict=True), start=1):
            rows = history[history["trial_id"] == trial]
            if outcome is None:
                assert rows.empty
                continue
            assert list(rows["epoch"]) == list(range(1, len(outcome.val_acc) + 1))
            assert list(rows["val_acc"]) == pytest.approx(outcome.val_acc)
            assert set(rows["seed"]) == {seed} and len(set(rows["variant"])) == 1, label


def test_runs_is_one_row_per_trial_run_with_params_tags_and_status(repeats: tuple[Plan, Results]) -> None:
    _, results = repeats
    runs = results.runs()
    assert len(runs) == 11  # 12 planned trials, one never ran
    assert sorted(runs["status"].value_counts().items()) == [("finished", 10), ("running", 1)]
    assert {"params.optim.lr", "params.seed", "tags.sweeps.group", "tags.sweeps.trial_id", "metrics.val_acc"} <= set(runs.columns)
    assert (runs["tags.sweeps.trial_id"] == runs["trial_id"]).all()


def test_figure_is_the_reports_matplotlib_figure_and_writes_nothing(repeats: tuple[Plan, Results], tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    _, results = repeats
    monkeypatch.chdir(tmp_path)
    drawn = results.figures("r01")
    assert list(drawn)[:2] == ["r01_curves", "r01_vs_optim_lr"] and all(isinstance(f, Figure) for f in drawn.values())
    curves = results.figure("r01")
    assert len(curves.axes) == 2 and curves.axes[1].get_ylabel() == "accuracy"
    assert results.figure("r01", "vs_optim_lr").axes[0].get_xlabel() == "optim.lr"
    with pytest.raises(KeyError, match="r01 has no figure named like 'nope'"):
        results.figure("r01", "nope")
    with pytest.raises(KeyError, match="no question 'q99'"):
        results.table("q99")
    assert list(tmp_path.iterdir()) == []


def test_load_reads_a_study_by_name(tmp_path: Path) -> None:
    overrides = ["offline=true", "trainer.epochs=2", f"tracking.uri=sqlite:///{tmp_path / 'mlflow.db'}"]
    plan = plan_study("jhu_fashion", overrides, ["q03"])
    write_store(plan.runtime.tracking.uri, plan, lambda trial: Outcome([0.3, 0.4]))
    results = sweeps.load("jhu_fashion", overrides, questions=["q03"])
    table = results.table("q03")
    assert isinstance(table, pd.DataFrame) and list(table["variant"]) == ["optim.lr=0.001", "optim.lr=0.01", "optim.lr=0.1"]
    assert list(table["final val acc mean"]) == pytest.approx([0.4] * 3)
    assert table.attrs["finding"].endswith("one run each, so no test of noise is possible (Welch's t-test needs 2 runs a side).")
