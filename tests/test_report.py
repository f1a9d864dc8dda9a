"""`sweep report`: the report of a real small run, checked against MLflow's own numbers; repeats' mean ± std.

The `reported` fixture runs three questions of jhu_fashion end to end (offline, one epoch) with the real
CLI against a real Ray and a sqlite MLflow store, then writes the report with `sweep report`: the tests
that use it are marked slow. Every number a table shows is recomputed there from MLflow directly. Repeats
(no study has them yet) are checked on a store written through the runner's MLflow writer with chosen
numbers (tests/report_store.py), and need no Ray.
"""

from __future__ import annotations

import html
import re
import statistics
from dataclasses import dataclass
from pathlib import Path

import matplotlib.image
import pytest
from helpers.report_store import write_repeats_store
from helpers.statuses import read_statuses
from helpers.sweep_cli import SweepCli
from mlflow.tracking import MlflowClient
from PIL import Image
from scipy import stats

from sweeps.plan.build import plan_study
from sweeps.report.collect import read_study
from sweeps.report.stats import variant_rows
from sweeps.report.write import write_report
from sweeps.trials import Plan

STUDY = "jhu_fashion"
QUESTIONS = ["q01", "q03", "q05"]
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
NUMBER = re.compile(r"^(-?\d+(?:\.(\d+))?)(?: ± (\d+(?:\.\d+)?))?$")  # "0.6000" or "0.6000 ± 0.1000"


@dataclass(frozen=True)
class Reported:
    workdir: Path
    uri: str
    overrides: tuple[str, ...]
    plan: Plan
    folder: Path  # the report folder


@pytest.fixture(scope="module")
def reported(module_sweep: SweepCli) -> Reported:
    """Three questions of jhu_fashion run for real (Ray, one epoch each), then `sweep report`: tests using it are slow."""
    overrides = ("offline=true", "trainer.epochs=1", f"tracking.uri={module_sweep.uri}")
    ran = module_sweep("run", STUDY, *overrides, "--questions", ",".join(QUESTIONS))
    assert ran.returncode == 0, ran.stdout + ran.stderr
    report = module_sweep("report", STUDY, *overrides, "--questions", ",".join(QUESTIONS))
    assert report.returncode == 0, report.stdout + report.stderr
    assert "index.html" in report.stdout
    plan = plan_study(STUDY, overrides, QUESTIONS)
    return Reported(module_sweep.workdir, module_sweep.uri, overrides, plan, module_sweep.workdir / "reports" / STUDY)


def _sections(markdown: str) -> dict[str, str]:
    """Question id → its section of report.md (from its `## qNN: …` heading to the next)."""
    parts = re.split(r"^## (?=\w+: )", markdown, flags=re.MULTILINE)[1:]
    return {part.split(":", 1)[0]: part for part in parts}


def _tables(section: str) -> list[list[dict[str, str]]]:
    """Every Markdown table of a section, as rows of header → cell."""
    tables = []
    for block in re.findall(r"(?:^\|.*\|\n)+", section, flags=re.MULTILINE):
        lines = [[cell.strip() for cell in line.strip()[1:-1].split(" | ")] for line in block.strip().splitlines()]
        tables.append([dict(zip(lines[0], row, strict=True)) for row in lines[2:]])
    return tables


def _assert_shows(cell: str, expected: float | None) -> None:
    """`cell` is `expected` at the decimals it shows (a single run: no ± part); None must show as —."""
    if expected is None:
        assert cell == "—"
        return
    match = NUMBER.match(cell)
    assert match and match[3] is None, cell
    decimals = len(match[2] or "")
    assert abs(float(match[1]) - expected) <= 0.5 * 10**-decimals + 1e-9, (cell, expected)


def _mlflow_numbers(client: MlflowClient, experiment_id: str, trial_id: str) -> tuple[str, dict[str, float | None]]:
    """The run of `trial_id` and what its table row must say, computed from MLflow alone."""
    (run,) = client.search_runs([experiment_id], filter_string=f"tags.`sweeps.trial_id` = '{trial_id}'")
    history = {
        key: [m.value for m in sorted(client.get_metric_history(run.info.run_id, key), key=lambda m: m.step)]
        for key in ("train_loss", "train_acc", "val_loss", "val_acc", "epoch_seconds")
    }
    numbers: dict[str, float | None] = {
        "final val acc": history["val_acc"][-1],
        "best val acc": max(history["val_acc"]),
        "final train acc": history["train_acc"][-1],
        "final train loss": history["train_loss"][-1],
        "final val loss": history["val_loss"][-1],
        "test acc": run.data.metrics.get("test_acc"),
        "train seconds": sum(history["epoch_seconds"]),
        "seconds / epoch": statistics.fmean(history["epoch_seconds"]),
        "parameters": float(run.data.tags["sweeps.parameters"]),
    }
    return run.info.run_name, numbers


@pytest.mark.slow
def test_report_has_a_section_for_every_question_in_study_order(reported: Reported) -> None:
    markdown = (reported.folder / "report.md").read_text()
    page = (reported.folder / "index.html").read_text()
    sections = _sections(markdown)
    assert list(sections) == QUESTIONS
    for question in reported.plan.questions:
        assert sections[question.id].startswith(f"{question.id}: {question.text}\n")
        assert f'<h2 id="{question.id}">{html.escape(f"{question.id}: {question.text}")}</h2>' in page
    assert "Varies: optim.lr ∈ {0.001, 0.01, 0.1}. Compared with: optim.lr=0.01." in sections["q03"]
    assert "Varies: model.dropout ∈ {0, 0.25, 0.5, 0.9, 1}" in sections["q05"]


@pytest.mark.slow
def test_every_table_row_matches_mlflow(reported: Reported) -> None:
    client = MlflowClient(reported.uri)
    experiment_id = client.get_experiment_by_name(STUDY).experiment_id
    sections = _sections((reported.folder / "report.md").read_text())
    for question in reported.plan.questions:
        variants_table, runs_table = _tables(sections[question.id])[:2]
        assert len(variants_table) == len(question.variants)
        assert len(runs_table) == sum(len(variant.trials) for variant in question.variants)
        for row, runs_row, variant in zip(variants_table, runs_table, question.variants, strict=True):
            name, numbers = _mlflow_numbers(client, experiment_id, variant.trial)
            assert row["status"] == "finished"
            assert runs_row["trial"] == variant.trial and runs_row["MLflow run"] == name
            assert runs_row["epochs logged"] == "1/1"
            for column, expected in numbers.items():
                _assert_shows(row[column], expected)


@pytest.mark.slow
def test_benchmark_lists_every_run_under_its_machine(reported: Reported) -> None:
    client = MlflowClient(reported.uri)
    runs = client.search_runs([client.get_experiment_by_name(STUDY).experiment_id], "tags.`sweeps.kind` = 'trial'")
    benchmark = (reported.folder / "benchmark.md").read_text()
    machine, timings = _tables(benchmark)
    assert machine == [{key: runs[0].data.tags[f"sys.{key}"] for key in machine[0]}]
    assert sorted(row["run"] for row in timings) == sorted(run.info.run_name for run in runs)
    for run in runs:
        (row,) = [row for row in timings if row["trial"] == run.data.tags["sweeps.trial_id"]]
        seconds = [m.value for m in client.get_metric_history(run.info.run_id, "epoch_seconds")]
        _assert_shows(row["train seconds"], sum(seconds))
        for column, metric in (("data load s", "phase_data_load_seconds"), ("test acc", "test_acc")):
            _assert_shows(row[column], run.data.metrics.get(metric))


def _linked_figures(folder: Path) -> tuple[set[str], set[str]]:
    markdown = set(re.findall(r"!\[[^\]]*\]\(([^)]+)\)", (folder / "report.md").read_text()))
    page = set(re.findall(r'<img src="([^"]+)"', (folder / "index.html").read_text()))
    return markdown, page


@pytest.mark.slow
def test_every_figure_exists_and_is_a_valid_png(reported: Reported) -> None:
    markdown, page = _linked_figures(reported.folder)
    assert markdown == page
    # One epoch each (trainer.epochs=1): no curve of one point is drawn; the section says so instead.
    assert not any(name.endswith("_curves.png") for name in markdown)
    assert (reported.folder / "report.md").read_text().count("Curves: no run has two epochs to draw") == len(QUESTIONS)
    expected = {
        "figures/q03_vs_optim_lr.png",
        "figures/q05_vs_model_dropout.png",
        "figures/samples_mnist_5k.png",
        "figures/samples_garments.png",
    }
    assert expected <= markdown
    assert sum(name.startswith("figures/confusion_") for name in markdown) >= 1
    for name in markdown:
        path = reported.folder / name
        assert path.read_bytes()[:8] == PNG_SIGNATURE, name
        with Image.open(path) as image:
            image.verify()
        height, width = matplotlib.image.imread(path).shape[:2]
        assert height > 100 and width > 100, name


@pytest.mark.slow
def test_summary_runs_hold_the_figures_and_a_second_report_updates_them(reported: Reported) -> None:
    client = MlflowClient(reported.uri)
    experiment_id = client.get_experiment_by_name(STUDY).experiment_id

    def summaries() -> dict[str, str]:
        found = client.search_runs([experiment_id], "tags.`sweeps.kind` = 'summary'")
        assert all("sweeps.trial_id" not in run.data.tags for run in found)
        assert len({run.data.tags["sweeps.question"] for run in found}) == len(found)
        return {run.data.tags["sweeps.question"]: run.info.run_id for run in found}

    first = summaries()
    assert sorted(first) == QUESTIONS
    sections = _sections((reported.folder / "report.md").read_text())
    for question, run_id in first.items():
        logged = {artifact.path for artifact in client.list_artifacts(run_id, "figures")}
        assert logged == set(re.findall(r"\]\((figures/[^)]+)\)", sections[question]))
        assert "section.md" in {artifact.path for artifact in client.list_artifacts(run_id)}

    again = write_report(reported.plan, reported.workdir / "again")  # in-process: the fixture ran the CLI's
    assert again.summary_runs == first
    assert summaries() == first  # the same runs, updated: none added
    statuses = read_statuses(reported.uri, STUDY)
    assert statuses == {trial.id: "finished" for trial in reported.plan.trials}  # summaries are not trials


def test_a_store_without_the_study_is_one_line_of_bad_input(sweep: SweepCli) -> None:
    store = sweep.workdir / "absent.db"
    result = sweep("report", STUDY, "offline=true", f"tracking.uri=sqlite:///{store}")
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        f"sweep: error: tracking.uri: no MLflow store at sqlite:///{store}; run `sweep run {STUDY}` first"
    ]
    assert not store.exists() and not (sweep.workdir / "reports").exists()


# --- repeats: a question run three times per variant, on a store with chosen numbers ----------------------


@pytest.fixture(scope="module")
def repeats_plan(tmp_path_factory: pytest.TempPathFactory) -> Plan:
    return write_repeats_store(tmp_path_factory.mktemp("repeats"))


def test_repeats_aggregate_to_mean_and_sample_std_over_finished_runs(repeats_plan: Plan) -> None:
    _, _, ones, tens = variant_rows(repeats_plan.questions[0], read_study(repeats_plan))
    final = ones.stats["final val acc"]
    assert final is not None and final.count == 3
    assert final.mean == pytest.approx(0.6) and final.std == pytest.approx(0.1)  # n − 1: population std is 0.082
    best = ones.stats["best val acc"]
    assert best is not None and best.mean == pytest.approx(2 / 3) and best.std == pytest.approx(0.11547, abs=1e-5)
    assert ones.status == "finished"
    only = tens.stats["final val acc"]
    assert only is not None and (only.count, only.std) == (1, None) and only.mean == pytest.approx(0.4)
    assert tens.status == "1/3 finished · running: epoch 1/2 · 1 missing"


def test_repeats_report_shows_mean_and_std_and_every_unfinished_trial(repeats_plan: Plan, tmp_path: Path) -> None:
    report = write_report(repeats_plan, tmp_path / "report")
    section = _sections((tmp_path / "report" / "report.md").read_text())["r01"]
    variants, runs = _tables(section)[:2]
    assert [row["variant"] for row in variants] == [
        "optim.lr=0.001", "optim.lr=0.005", "optim.lr=0.01 (reference)", "optim.lr=0.1"
    ]
    reference, tens = variants[2], variants[3]
    assert reference["final val acc"] == "0.6000 ± 0.1000"
    assert reference["final train acc"] == "0.6500 ± 0.1000"  # report_store: train_acc = val_acc + 0.05
    assert reference["best val acc"] == "0.6667 ± 0.1155"
    assert reference["train seconds"] == "1.30 ± 0.00"  # 0.6 s + 0.7 s per run
    assert reference["seconds / epoch"] == "0.650 ± 0.000"
    assert [row["n"] for row in variants] == ["3", "3", "3", "1"]
    assert tens["final val acc"] == "0.4000"
    assert tens["status"] == "1/3 finished · running: epoch 1/2 · 1 missing"
    assert [row["status"] for row in runs] == ["finished"] * 10 + ["running", "missing"]
    assert "numbers are mean ± std (n − 1)" in section
    assert "Each thin line is one repeat" in section
    assert {path.name for path in report.figures} >= {"r01_curves.png", "r01_vs_optim_lr.png"}
    assert all(path.read_bytes()[:8] == PNG_SIGNATURE for path in report.figures)
    assert report.trial_status == {"finished": 10, "running": 1, "missing": 1}


def test_repeats_finding_states_best_worst_reference_and_welch_tests(repeats_plan: Plan, tmp_path: Path) -> None:
    write_report(repeats_plan, tmp_path / "report")
    section = _sections((tmp_path / "report" / "report.md").read_text())["r01"]
    finding = section.split("\n\n")[1]
    reference = (0.5, 0.6, 0.7)
    low = stats.ttest_ind((0.2, 0.25, 0.3), reference, equal_var=False).pvalue  # scipy, directly
    near = stats.ttest_ind((0.5, 0.65, 0.7), reference, equal_var=False).pvalue
    assert low < 0.05 < near
    assert finding == (
        "Finding: Best variant: optim.lr=0.005, final val acc 0.6167 ± 0.1041 (n = 3); "
        "worst: optim.lr=0.001, final val acc 0.2500 ± 0.0500 (n = 3); "
        "reference: optim.lr=0.01, final val acc 0.6000 ± 0.1000 (n = 3). "
        "Against the reference (Welch's t-test): "
        f"optim.lr=0.001 differs beyond noise (p = {low:.2g} < 0.05, n = 3 vs 3); "
        f"optim.lr=0.005 is within noise (p = {near:.2g}, n = 3 vs 3); "
        "optim.lr=0.1: no test possible (n = 1 vs 3; it needs 2 runs a side)."
    )
