"""`sweep report` sections of a search (q13) and a stage (q15), on a store written with chosen numbers.

The store is written through the runner's own MLflow writer (`StudyRuns`, tests/report_store.py): a
search parent with four samples nested under it (two finished, two stopped early by the scheduler, with
the runner's tags), a fine-tuning stage run that starts from the best sample, and the q01 MNIST run it
is compared with. q14 (evaluation only) has no run: its section must say so.
"""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from PIL import Image as PILImage
from report_store import Outcome, epoch_metrics, write_store

from sweeps.plan import Plan, PlannedTrial, plan_study
from sweeps.report.collect import StudyRecord, read_study
from sweeps.report.context import ReportContext
from sweeps.report.document import Image, Paragraph, Table
from sweeps.report.sections import question_section
from sweeps.tracking import StudyRuns
from trainables.code import code_hash

STUDY = "jhu_fashion"
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
STAGE_VAL = [0.90, 0.95, 0.97]
Q01_MNIST_VAL = [0.80, 0.88, 0.92]


@dataclass(frozen=True)
class Store:
    plan: Plan
    study: StudyRecord
    best_trial: str


def _trial(base: PlannedTrial, trial_id: str, name: str, question: str, changes: dict[str, object]) -> PlannedTrial:
    config = copy.deepcopy(base.config)
    for key, value in changes.items():
        *parents, leaf = key.split(".")
        node = config
        for part in parents:
            node = node[part]
        node[leaf] = value
    return PlannedTrial(trial_id, config, name, base.parameters, trial_id, [question])


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Store:
    folder = tmp_path_factory.mktemp("stages")
    overrides = ["offline=true", f"trainer.epochs={EPOCHS}", f"tracking.uri=sqlite:///{folder / 'mlflow.db'}"]
    plan = plan_study(STUDY, overrides, ["q13", "q14", "q15"])
    uri = plan.runtime.tracking.uri
    mnist = next(v for v in plan.question("q01").variants if v.overrides.get("data") == "mnist").trial
    written = write_store(uri, plan, lambda trial: Outcome(Q01_MNIST_VAL) if trial.id == mnist else None)
    runs = StudyRuns(uri, STUDY)
    runs.client.log_metric(written[mnist], "test_acc", 0.91)
    base = plan.trial(mnist)
    parent, _ = runs.search_run("q13")
    for index, sample in enumerate(SAMPLES):
        trial = _trial(base, f"sample{index}", f"q13 {sample.name}", "q13", {
            "model.name": sample.model, "optim.lr": sample.lr, "model.dropout": sample.dropout,
            "trainer.batch_size": sample.batch_size,
        })
        run_id, _ = runs.open(trial, offline=True, tags={"mlflow.parentRunId": parent})
        runs.log_epochs(run_id, epoch_metrics(Outcome(sample.val_acc)))
        if len(sample.val_acc) == EPOCHS:
            runs.end_trial(run_id, "finished")
        else:
            runs.end_trial(run_id, "early_stopped", stopped_at_epoch=str(len(sample.val_acc)))
        time.sleep(0.01)  # distinct start times: the figure's x is the order trials started
    runs.close(parent, "FINISHED")
    stage = _trial(base, "stage15", "q15 data=mnist from q13:sample2", "q15", {"init_from": "sample2", "optim.lr": 3e-5})
    run_id, _ = runs.open(stage, offline=True)
    runs.log_epochs(run_id, epoch_metrics(Outcome(STAGE_VAL)))
    runs.client.log_metric(run_id, "test_acc", 0.96)
    runs.end_trial(run_id, "finished")
    return Store(plan, read_study(plan), "sample2")


def _section(store: Store, question: str, folder: Path) -> tuple[list[Table], list[Paragraph], list[Image]]:
    blocks = question_section(store.plan.question(question), ReportContext(store.study, folder))
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
    settings = paragraphs[0].text
    for expected in ("model ∈ choice(jhu_bn, jhu_extra_conv, fashion_cnn)", "optim.lr ∈ tag(log, interval(0.0003, 0.01))",
                     "val_acc (max)", "12 samples", "ASHA (grace period 2 epochs, reduction factor 3)"):
        assert expected in settings
    (table,) = tables
    rows = _rows(table)
    order = [2, 0, 3, 1]  # by final val_acc: 0.85, 0.80, 0.60, 0.50
    assert [row["run"] for row in rows] == ["q13 s3 (best)", "q13 s1", "q13 s4", "q13 s2"]
    assert [row["status"] for row in rows] == ["finished", "finished", "stopped early at epoch 2", "stopped early at epoch 1"]
    for row, index in zip(rows, order, strict=True):
        sample = SAMPLES[index]
        assert row["final val_acc"] == row["final val acc"] == f"{sample.val_acc[-1]:.4f}"
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
    assert "Starts from trial sample2 (run q13 s3)." in text
    (table,) = tables
    stage, q01 = _rows(table)
    assert stage == {"run": "q15: q15 data=mnist from q13:sample2", "status": "finished", "final val acc": "0.9700",
                     "test acc": "0.9600", "epochs": "3", "train seconds": "2.10",  # 0.6 + 0.7 + 0.8 s
                     "code": code_hash("image")}  # the code that trained it: this checkout's
    assert q01["run"] == "q01 data=mnist" and q01["final val acc"] == "0.9200" and q01["test acc"] == "0.9100"
    assert q01["epochs"] == "3" and q01["status"] == "finished"
    assert [image.path for image in images] == ["figures/q15_val_acc.png"]
    _assert_pngs(images, tmp_path)


def test_a_stage_without_runs_says_its_source_must_finish_first(store: Store, tmp_path: Path) -> None:
    tables, paragraphs, images = _section(store, "q14", tmp_path)
    text = " ".join(p.text for p in paragraphs)
    assert "only evaluates (no training)" in text
    assert "No run of q14 yet: it runs once q13 has a finished trial" in text
    assert not tables and not images
