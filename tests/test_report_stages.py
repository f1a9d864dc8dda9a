"""A search (q13) and its stages (q14, q15) after a run, on a store written with chosen numbers: the report's
sections, benchmark.md, the Data section and banner, and `sweep plan`.

The store is written through the runner's own MLflow writer (`StudyRuns`, tests/report_store.py): a
search parent with four samples nested under it (two finished, two stopped early by the scheduler, with
the runner's tags), the best sample's config.yaml, an evaluation-only q14 run (epoch 0 only) and a
fine-tuning q15 run under the trial ids `sweep run` gives them (sweeps.plan.stages), and the q01 MNIST run
q15 is compared with.
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import json
import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass
from io import StringIO
from pathlib import Path

import pytest
import yaml
from helpers.report_store import Outcome, epoch_metrics, write_store
from mlflow.tracking import MlflowClient
from PIL import Image as PILImage

from sweeps.config.compose import Composer
from sweeps.plan.build import plan_study
from sweeps.plan.from_store import complete_plan
from sweeps.plan.stages import stage_trials
from sweeps.plan.text import print_plan
from sweeps.record.tags import QUESTIONS, STOPPED_AT
from sweeps.record.tracking import StudyRuns
from sweeps.report.collect import StudyRecord, read_study
from sweeps.report.context import ReportContext
from sweeps.report.document import Image, Paragraph, Table
from sweeps.report.sections import question_section
from sweeps.report.write import write_report
from sweeps.trials import Plan, PlannedTrial
from trainables.code import code_hash

STUDY = "jhu_fashion"
SELECTED = ["q13", "q14", "q15"]  # with q01, which q15 is compared with
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
EPOCHS = 3


@dataclass(frozen=True)
class Sample:
    name: str
    model: str
    lr: float
    dropout: float
    batch_size: int
    val_acc: list[float]  # fewer than EPOCHS: stopped early after the last one


SAMPLES = [  # in the order they start
    Sample("s1", "jhu_bn", 0.001, 0.1, 64, [0.60, 0.70, 0.80]),
    Sample("s2", "fashion_cnn", 0.0005, 0.3, 128, [0.50]),  # stopped at epoch 1
    Sample("s3", "jhu_extra_conv", 0.003, 0.2, 256, [0.65, 0.75, 0.85]),  # the best
    Sample("s4", "jhu_bn", 0.009, 0.4, 64, [0.55, 0.60]),  # stopped at epoch 2
]
BEST = 2  # SAMPLES[BEST] is the best finished sample
Q14_VAL = 0.42  # evaluated once, at epoch 0
Q15_VAL = [0.90, 0.95, 0.97]
Q01_MNIST_VAL = [0.80, 0.88, 0.92]


@dataclass(frozen=True)
class Store:
    plan: Plan  # as planned, before the store completes it
    study: StudyRecord
    uri: str
    folder: Path
    overrides: list[str]
    samples: list[str]  # trial ids, in SAMPLES order
    stages: dict[str, str]  # question → its stage trial's id


def _sample_trial(base: PlannedTrial, index: int) -> PlannedTrial:
    """Sample `index` as a trial: `base` (q01's MNIST trial) with the sampled values."""
    sample = SAMPLES[index]
    config = copy.deepcopy(base.config)
    config["model"]["name"], config["model"]["dropout"] = sample.model, sample.dropout
    config["optim"]["lr"], config["trainer"]["batch_size"] = sample.lr, sample.batch_size
    return PlannedTrial(f"sample{index}", config, f"q13 {sample.name}", base.parameters, f"sample{index}", ["q13"])


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Store:
    folder = tmp_path_factory.mktemp("stages")
    overrides = ["offline=true", f"trainer.epochs={EPOCHS}", f"tracking.uri=sqlite:///{folder / 'mlflow.db'}"]
    plan = plan_study(STUDY, overrides, SELECTED)
    uri = plan.runtime.tracking.uri
    mnist = next(v for v in plan.question("q01").variants if v.overrides.get("data") == "mnist").trial
    written = write_store(uri, plan, lambda trial: Outcome(Q01_MNIST_VAL) if trial.id == mnist else None)
    runs = StudyRuns(uri, STUDY)
    runs.client.log_metric(written[mnist], "test_acc", 0.91)
    base = plan.trial(mnist)
    parent, _ = runs.search_run("q13")
    samples = []
    for index, sample in enumerate(SAMPLES):
        trial = _sample_trial(base, index)
        run_id, _ = runs.open(trial, offline=True, tags={"mlflow.parentRunId": parent})
        runs.log_epochs(run_id, epoch_metrics(Outcome(sample.val_acc)))
        if len(sample.val_acc) == EPOCHS:  # the runner logs each finished trial's resolved config
            runs.end_trial(run_id, "finished", {"config.yaml": yaml.safe_dump(trial.config).encode()})
        else:
            runs.end_trial(run_id, "early_stopped", details={STOPPED_AT: str(len(sample.val_acc))})
        samples.append(trial.id)
        time.sleep(0.01)  # distinct start times: the figure's x is the order trials started
    runs.close(parent, "FINISHED")
    composer = Composer(STUDY, overrides, plan.configs)
    evaluated = {"epoch": 0, "val_acc": Q14_VAL, "val_loss": 2.0 - Q14_VAL, "eval_seconds": 0.05}  # no training pass
    stages = {}
    for question, epochs in (("q14", [evaluated]), ("q15", epoch_metrics(Outcome(Q15_VAL)))):
        # the trial ids `sweep run` gives the stages: from the best sample's config
        (trial,) = stage_trials(plan, plan.question(question), composer, _sample_trial(base, BEST).config, samples[BEST])
        run_id, _ = runs.open(trial, offline=True)
        runs.log_epochs(run_id, epochs)
        runs.client.log_metric(run_id, "test_acc", epochs[-1]["val_acc"] - 0.01)
        runs.end_trial(run_id, "finished")
        stages[question] = trial.id
    return Store(plan, read_study(plan_study(STUDY, overrides, SELECTED)), uri, folder, overrides, samples, stages)


def _section(store: Store, question: str, folder: Path) -> tuple[list[Table], list[Paragraph], list[Image]]:
    blocks = question_section(store.study.plan.question(question), ReportContext(store.study, folder))
    return (
        [block for block in blocks if isinstance(block, Table)],
        [block for block in blocks if isinstance(block, Paragraph)],
        [block for block in blocks if isinstance(block, Image)],
    )


def _rows(table: Table) -> list[dict[str, str]]:
    return [dict(zip(table.header, row, strict=True)) for row in table.rows]


def _assert_pngs(images: list[Image], folder: Path) -> None:
    for image in images:
        path = folder / image.path
        assert path.read_bytes()[:8] == PNG_SIGNATURE, image.path
        with PILImage.open(path) as opened:
            opened.verify()


def test_search_section_lists_every_sample_by_final_metric_with_the_best_marked(store: Store, tmp_path: Path) -> None:
    tables, paragraphs, images = _section(store, "q13", tmp_path)
    assert paragraphs[0].text.startswith("Finding: Best run: q13 s3, final val acc 0.8500 (n = 1); worst: q13 s1, ")
    settings = paragraphs[1].text
    for expected in ("model ∈ choice(jhu_bn, jhu_extra_conv, fashion_cnn)", "optim.lr ∈ tag(log, interval(0.0003, 0.01))",
                     "val_acc (max)", "12 samples", "ASHA (grace period 2 epochs, reduction factor 3)"):
        assert expected in settings
    (table,) = tables
    assert table.header == ["run", "status", "final val acc", "model", "optim.lr", "model.dropout", "trainer.batch_size", "code"]
    rows = _rows(table)
    assert {row["code"] for row in rows} == {code_hash("image")}  # the code that trained each sample
    order = [2, 0, 3, 1]  # by final val_acc: 0.85, 0.80, 0.60, 0.50
    assert [row["run"] for row in rows] == ["q13 s3 (best)", "q13 s1", "q13 s4", "q13 s2"]
    assert [row["status"] for row in rows] == ["finished", "finished", "stopped early at epoch 2", "stopped early at epoch 1"]
    for row, index in zip(rows, order, strict=True):
        sample = SAMPLES[index]
        assert row["final val acc"] == f"{sample.val_acc[-1]:.4f}"
        assert row["model"] == sample.model
        assert float(row["optim.lr"]) == pytest.approx(sample.lr)
        assert float(row["model.dropout"]) == pytest.approx(sample.dropout)
        assert row["trainer.batch_size"] == str(sample.batch_size)
    assert any("4 of 12 samples have a run: 2 finished, 2 stopped early." in p.text for p in paragraphs)
    assert [image.path for image in images] == ["figures/q13_trials.png", "figures/q13_val_acc.png"]
    _assert_pngs(images, tmp_path)


def test_stage_section_compares_with_the_q01_run_it_names(store: Store, tmp_path: Path) -> None:
    tables, paragraphs, images = _section(store, "q15", tmp_path)
    text = " ".join(p.text for p in paragraphs)
    assert "trains from its final weights" in text
    assert f"Starts from trial {store.samples[BEST]} (run q13 s3)." in text
    (table,) = tables
    stage, q01 = _rows(table)
    assert stage == {"run": f"q15 data=mnist optim.lr=x0.01 from q13:{store.samples[BEST]}", "status": "finished",
                     "final val acc": "0.9700", "test acc": "0.9600", "epochs": "3",
                     "train seconds": "2.10",  # 0.6 + 0.7 + 0.8 s
                     "code": code_hash("image")}  # the code that trained it: this checkout's
    assert q01 == {"run": "q01 data=mnist (reference)", "status": "finished", "final val acc": "0.9200",
                   "test acc": "0.9100", "epochs": "3", "train seconds": "2.10", "code": code_hash("image")}
    assert paragraphs[0].text.startswith(f"Finding: Best run: {stage['run']}, final val acc 0.9700 (n = 1); "
                                         "worst: q01 data=mnist (the reference), final val acc 0.9200 (n = 1); one run each")
    assert [image.path for image in images] == ["figures/q15_val_acc.png"]
    _assert_pngs(images, tmp_path)


def test_an_evaluation_only_stage_is_a_table_not_a_one_point_plot(store: Store, tmp_path: Path) -> None:
    tables, paragraphs, images = _section(store, "q14", tmp_path)
    assert "only evaluates (no training)" in " ".join(p.text for p in paragraphs)
    (table,) = tables
    (row,) = _rows(table)
    assert (row["final val acc"], row["epochs"], row["train seconds"]) == (f"{Q14_VAL:.4f}", "0", "—")
    assert not images and not (tmp_path / "figures").exists()
    assert any("each run has a single value (no curve); it is in the table above" in p.text for p in paragraphs)


def test_a_stage_without_runs_says_its_source_must_finish_first(store: Store, tmp_path: Path) -> None:
    without = {trial: run for trial, run in store.study.runs.items() if "q14" not in run.tags[QUESTIONS]}
    study = dataclasses.replace(store.study, runs=without)
    blocks = question_section(study.plan.question("q14"), ReportContext(study, tmp_path))
    text = " ".join(block.text for block in blocks if isinstance(block, Paragraph))
    assert "No run of q14 yet: it runs once q13 has a finished trial" in text
    assert "Finding: No run has a finished run yet: nothing to compare." in text
    assert not any(isinstance(block, (Table, Image)) for block in blocks)


# --- the whole report: benchmark, data, banner, tables ----------------------------------------------------


@pytest.fixture(scope="module")
def report(store: Store, tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("report")
    write_report(plan_study(STUDY, store.overrides, SELECTED), folder)
    return folder


def _markdown_tables(text: str) -> list[tuple[list[str], list[list[str]]]]:
    found = []
    for block in re.findall(r"(?:^\|.*\|\n)+", text, flags=re.MULTILINE):
        lines = [[cell.strip() for cell in line.strip()[1:-1].split(" | ")] for line in block.strip().splitlines()]
        found.append((lines[0], lines[2:]))
    return found


def test_benchmark_has_one_row_per_run_search_samples_and_stages_included(store: Store, report: Path) -> None:
    client = MlflowClient(store.uri)
    experiment = client.get_experiment_by_name(STUDY).experiment_id
    runs = client.search_runs([experiment], "tags.`sweeps.kind` = 'trial'")
    assert len(runs) == 1 + len(SAMPLES) + 2
    benchmark = (report / "benchmark.md").read_text()
    listed = [row[header.index("trial")] for header, rows in _markdown_tables(benchmark) if "trial" in header for row in rows]
    assert sorted(listed) == sorted(run.data.tags["sweeps.trial_id"] for run in runs)
    assert f"{len(runs)} runs on 2 machine(s)" in benchmark  # the test store tags only q01's run with its machine


def test_the_header_counts_samples_the_scheduler_stopped_as_stopped_early(report: Path) -> None:
    stopped = sum(len(sample.val_acc) < EPOCHS for sample in SAMPLES)
    header = (report / "report.md").read_text().split("\n## ")[0]
    assert stopped and f"{stopped} stopped early" in header and "killed" not in header


def test_an_offline_report_names_its_stand_ins_once_at_the_top(report: Path) -> None:
    markdown = (report / "report.md").read_text()
    page = (report / "index.html").read_text()
    first_question = markdown.index("\n## q01")
    banner = "> **Stand-in data.** This report was run offline (offline=true) on the bundled stand-in data sets: "
    assert markdown.index(banner) < first_question and markdown.count("**Stand-in data.**") == 1
    assert "mnist_5k stood in for mnist" in markdown and "garments stood in for fashion_mnist" in markdown
    assert "not on the course material's data sets" in markdown
    assert '<p class="notice"><strong>Stand-in data.</strong>' in page


def test_each_data_sets_sample_images_appear_once_in_a_data_section(report: Path) -> None:
    markdown = (report / "report.md").read_text()
    page = (report / "index.html").read_text()
    data = markdown.index("\n## Data\n")
    assert data < markdown.index("\n## q01")
    for source in ("mnist_5k", "garments"):
        image = f"figures/samples_{source}.png"
        assert markdown.count(f"]({image})") == 1 and page.count(f'<img src="{image}"') == 1
        assert markdown.index(f"]({image})") < markdown.index("\n## q01")
    sections = re.split(r"^## (?=q\d+: )", markdown, flags=re.MULTILINE)[1:]
    assert len(sections) == 4
    for section in sections:
        assert "sample images in the Data section" in section
        assert "figures/samples_" not in section


def test_no_table_repeats_a_column_title(report: Path) -> None:
    tables = [header for name in ("report.md", "benchmark.md") for header, _ in _markdown_tables((report / name).read_text())]
    assert len(tables) >= 6
    for header in tables:
        normalised = [title.lower().replace("_", " ") for title in header]
        assert len(normalised) == len(set(normalised)), header


# --- `sweep plan` after the run ---------------------------------------------------------------------------


def test_plan_after_the_run_shows_the_samples_and_the_resolved_stages(store: Store) -> None:
    plan = plan_study(STUDY, store.overrides, SELECTED)
    complete_plan(plan)
    out = StringIO()
    print_plan(plan, out)
    text = out.getvalue()
    q13 = text[text.index("\nq13  "):text.index("\nq14  ")]
    for index, sample in enumerate(SAMPLES):
        (line,) = [line for line in q13.splitlines() if f" {store.samples[index]}  " in line]
        assert line.strip().startswith(f"{sample.name} ")
        status = "finished" if len(sample.val_acc) == EPOCHS else "stopped early"
        assert line.split(f"{store.samples[index]}  ")[1].startswith(status)
    assert "← the stages start from it" in [line for line in q13.splitlines() if store.samples[BEST] in line][0]
    assert "resolved once" not in text
    for question, label in (("q14", "data=mnist"), ("q15", "data=mnist optim.lr=x0.01")):
        section = text[text.index(f"\n{question}  "):]
        assert f"the best trial of q13 by val_acc: trial {store.samples[BEST]}" in section.splitlines()[2]
        assert re.search(rf"^     {re.escape(label)} +{store.stages[question]}  finished$", section, flags=re.MULTILINE)
    assert ("then q13 (search: 4 samples, 2 finished, 2 stopped early), q14 (stage: 1 trial, 1 finished), "
            "q15 (stage: 1 trial, 1 finished)") in text


def test_plan_json_after_the_run_gives_stage_trials_and_lists_samples_and_stages(store: Store, tmp_path: Path) -> None:
    database = Path(store.uri.removeprefix("sqlite:///"))
    before = hashlib.sha256(database.read_bytes()).hexdigest()
    result = subprocess.run(
        [sys.executable, "-m", "sweeps", "plan", STUDY, *store.overrides, "--questions", ",".join(SELECTED), "--json"],
        cwd=tmp_path, capture_output=True, text=True, timeout=300, env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert result.returncode == 0, result.stderr
    assert hashlib.sha256(database.read_bytes()).hexdigest() == before  # read only: nothing written
    assert list(tmp_path.iterdir()) == []
    document = json.loads(result.stdout)
    questions = {question["id"]: question for question in document["questions"]}
    trials = {trial["id"]: trial for trial in document["trials"]}
    assert questions["q13"]["samples"] == store.samples
    for index, sample in enumerate(SAMPLES):
        listed = trials[store.samples[index]]
        if len(sample.val_acc) == EPOCHS:
            assert (listed["status"], listed["outcome"]) == ("finished", "finished")
        else:
            assert (listed["status"], listed["outcome"]) == ("partial", "early_stopped")
        assert listed["questions"] == ["q13"]
    for question in ("q14", "q15"):
        (variant,) = questions[question]["variants"]
        assert variant["trial"] == store.stages[question]
        assert trials[store.stages[question]]["status"] == "finished"
        assert trials[store.stages[question]]["questions"] == [question]
    assert len(trials) == 1 + 1 + len(SAMPLES) + 2  # q01's two, the samples, the stages
