"""Training functions of the user's own (`trainable: MODULE:FUNCTION`, docs/training-functions.md): planning
them, their trial ids and code hash, the contract checked as they train and by the users' check, which the
built-in kinds pass too. The plugin is tests/courses/plugin/spiral_train.py; its study spirals.yaml beside it
is planned from a copy of conf/."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from helpers.report_store import Outcome, write_store

from sweeps.errors import SweepError
from sweeps.plan.build import plan_study
from sweeps.record.store import apply_statuses
from trainables.callback import EpochReport
from trainables.code import trainable_code_hash
from trainables.function.checked import TrainingFunctionError, checked
from trainables.function.contract import ContractViolation, check_training_function
from trainables.function.resolve import trainable_kind
from trainables.text.schema import TextTrialConfig

PLUGIN = Path(__file__).parent / "courses" / "plugin"
FUNCTION = "spiral_train:train"

pytestmark = pytest.mark.usefixtures("torch_threads", "plugin_path")


@pytest.fixture
def plugin_path(monkeypatch: pytest.MonkeyPatch) -> None:
    """The plugin's folder on the Python path, as a course puts its own (PYTHONPATH, or an installed package)."""
    monkeypatch.syspath_prepend(str(PLUGIN))


@pytest.fixture
def spirals_conf(conf_dir: Path) -> Path:
    shutil.copy(PLUGIN / "spirals.yaml", conf_dir / "study" / "spirals.yaml")
    return conf_dir


def spirals_trial(conf: Path, *overrides: str) -> dict[str, Any]:
    plan = plan_study("spirals", ["offline=true", *overrides], questions=["q1"], conf_dir=conf)
    return next(trial.config for trial in plan.trials if trial.config["optim"]["name"] == "adam")


# --- planning --------------------------------------------------------------------------------------


def test_a_study_of_a_training_function_plans_with_its_own_keys(spirals_conf: Path) -> None:
    plan = plan_study("spirals", ["offline=true"], conf_dir=spirals_conf)
    grid = [trial for trial in plan.trials if not trial.config.get("init_from")]
    assert len(grid) == 3  # q1 adam/sgd and q2 0.1/1.0; q2's clip 1.0 is q1's adam: one trial
    for trial in grid:
        assert trial.config["trainable"] == FUNCTION
        assert trial.config["trainer"]["warmup_steps"] == 20  # passed through as written
        assert trial.config["data"]["points"] == 600
        assert trial.parameters == 0  # the function builds its own model: not counted
    again = plan_study("spirals", ["offline=true"], conf_dir=spirals_conf)
    assert [t.id for t in again.trials] == [t.id for t in plan.trials]  # ids are content hashes


def test_passed_through_keys_are_part_of_the_trial_id(spirals_conf: Path) -> None:
    base = plan_study("spirals", ["offline=true"], questions=["q1"], conf_dir=spirals_conf)
    other = plan_study("spirals", ["offline=true", "trainer.warmup_steps=5"], questions=["q1"], conf_dir=spirals_conf)
    assert not {t.id for t in base.trials} & {t.id for t in other.trials}


def test_a_built_in_study_runs_a_function_by_override() -> None:
    image = plan_study("jhu_fashion", ["offline=true"], questions=["q04"])
    function = plan_study("jhu_fashion", ["offline=true", f"trainable={FUNCTION}"], questions=["q04"])
    assert len(function.trials) == len(image.trials) == 3
    assert not {t.id for t in image.trials} & {t.id for t in function.trials}


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("trainer.epochs=-1", "trainer.epochs: Input should be greater than or equal to 0"),
        ("optim.lr=-1", "optim.lr: Input should be greater than 0"),
        ("seed=-2", "seed: Input should be greater than or equal to 0"),
        ("trainer.batch_size=0", "trainer.batch_size: Input should be greater than or equal to 1"),
    ],
)
def test_the_common_fields_are_checked(spirals_conf: Path, override: str, message: str) -> None:
    with pytest.raises(SweepError, match=message):
        plan_study("spirals", ["offline=true", override], conf_dir=spirals_conf)


@pytest.mark.parametrize(
    ("trainable", "message"),
    [
        (
            "no_such_course.train:train",
            r"^trainable: no_such_course.train:train does not import: ModuleNotFoundError: No module named 'no_such_course'$",
        ),
        ("broken_import:train", r"^trainable: broken_import:train does not import: RuntimeError: no GPU here$"),
        ("spiral_train:fit", r"^trainable: spiral_train:fit: module spiral_train has no 'fit'$"),
        ("broken_train:NOT_CALLABLE", r"^trainable: broken_train:NOT_CALLABLE is not callable \(a int\)$"),
        (
            "broken_train:two_arguments",
            r"^trainable: broken_train:two_arguments takes \(config: 'Config', report: 'Report'\) -> 'None'; "
            r"it is called as train\(config, data_root, report, placement, resume\)$",
        ),
        ("no_such_kind", r"^trainable: unknown trainable 'no_such_kind'; allowed: image, text.*, or MODULE:FUNCTION"),
    ],
)
def test_a_trainable_that_cannot_train_is_one_line_at_plan_time(spirals_conf: Path, trainable: str, message: str) -> None:
    with pytest.raises(SweepError, match=message):
        plan_study("spirals", ["offline=true", f"trainable={trainable}"], conf_dir=spirals_conf)


def test_sweep_plan_exits_2_on_a_trainable_that_does_not_import(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "sweeps", "plan", "jhu_fashion", "offline=true", "trainable=no_such_course.train:train"],
        cwd=tmp_path, capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "sweep: error: trainable: no_such_course.train:train does not import: ModuleNotFoundError: No module named 'no_such_course'"
    ]


# --- code hash -------------------------------------------------------------------------------------


def test_the_code_hash_covers_the_functions_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    source = (PLUGIN / "spiral_train.py").read_text()
    module = tmp_path / "hashed_course.py"
    module.write_text(source)
    monkeypatch.syspath_prepend(str(tmp_path))
    first = trainable_code_hash("hashed_course:train")
    assert len(first) == 12 and first != trainable_code_hash("image")
    module.write_text(source.replace("# the warm-up: linear", "# warm-up, linear"))  # a comment
    assert trainable_code_hash("hashed_course:train") == first
    module.write_text(source.replace("min(1.0, step / warmup)", "min(1.0, 2 * step / warmup)"))  # the schedule
    assert trainable_code_hash("hashed_course:train") != first


def test_editing_the_functions_module_makes_its_finished_trials_stale(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    source = (PLUGIN / "spiral_train.py").read_text()
    module = tmp_path / "stale_course.py"
    module.write_text(source)
    monkeypatch.syspath_prepend(str(tmp_path))
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    overrides = ["offline=true", "trainable=stale_course:train", f"tracking.uri={uri}", f"paths.storage={tmp_path / 'storage'}"]
    write_store(uri, plan_study("jhu_fashion", overrides, ["q04"]), lambda trial: Outcome([0.5]))
    fresh = plan_study("jhu_fashion", overrides, ["q04"])
    apply_statuses(fresh)
    assert {(trial.status, trial.stale) for trial in fresh.trials} == {("finished", False)}
    module.write_text(source.replace("clip_grad_norm_(model.parameters(), clip)", "clip_grad_norm_(model.parameters(), 2 * clip)"))
    edited = plan_study("jhu_fashion", overrides, ["q04"])
    apply_statuses(edited)
    assert {(trial.status, trial.stale) for trial in edited.trials} == {("finished", True)}  # `--rerun stale` trains them


# --- the contract, held as a function trains --------------------------------------------------------


@pytest.mark.parametrize("given", ["by name", "as the function"])
def test_the_plugin_keeps_the_contract(spirals_conf: Path, given: str) -> None:
    import spiral_train

    reports = check_training_function(FUNCTION if given == "by name" else spiral_train.train, spirals_trial(spirals_conf))
    assert [report.epoch for report in reports] == [1, 2, 3]
    assert {"train_loss", "val_loss", "val_acc", "lr", "epoch"} <= reports[-1].metrics.keys()
    assert reports[0].metrics["lr"] < reports[-1].metrics["lr"]  # warming up


@pytest.mark.parametrize(
    ("function", "message"),
    [
        ("never_reports", "returned without reporting an epoch"),
        ("reports_text", "epoch 1 reported val_acc='high', not a number"),
        ("lacks_val_acc", "epoch 1 did not report val_acc"),
        ("ignores_seed", "config.seed is not used"),
        ("unseeded", "trained again with the same seed, epoch 1 reported"),
        ("restarts_on_resume", "resumed after epoch 1, epoch 2 reported"),
        ("keeps_a_function", "epoch 1's checkpoint does not survive torch.save/torch.load"),
        ("skips_an_epoch", "reported epoch 3; expected epoch 2"),
    ],
)
def test_a_broken_function_fails_the_check_in_one_line(spirals_conf: Path, function: str, message: str) -> None:
    with pytest.raises(ContractViolation) as failure:
        check_training_function(f"broken_train:{function}", spirals_trial(spirals_conf))
    assert str(failure.value).startswith(f"trainable broken_train:{function}: ")
    assert message in str(failure.value) and "\n" not in str(failure.value)


def test_the_check_needs_an_epoch_to_resume_after(spirals_conf: Path) -> None:
    with pytest.raises(ContractViolation, match=r"trainer.epochs=1 leaves no epoch to resume after epoch 1$"):
        check_training_function(FUNCTION, spirals_trial(spirals_conf, "trainer.epochs=1"))


def test_a_resumed_finished_function_reports_its_last_epoch_without_training(spirals_conf: Path) -> None:
    config = spirals_trial(spirals_conf)
    train = trainable_kind(FUNCTION).train
    straight: list[EpochReport] = []
    train(config, "data", straight.append)
    last = straight[-1].checkpoint()
    assert [epoch["epoch"] for epoch in last["history"]] == [1.0, 2.0, 3.0]  # added by the service

    called: list[int] = []
    counting = checked(lambda *args: called.append(1), FUNCTION)
    again: list[EpochReport] = []
    counting(config, "data", again.append, resume=last)
    assert called == [] and [r.epoch for r in again] == [3] and again[0].metrics == straight[-1].metrics


def test_a_non_finite_training_loss_ends_the_trial_as_diverged(spirals_conf: Path) -> None:
    reports: list[EpochReport] = []
    trainable_kind("broken_train:diverges").train(spirals_trial(spirals_conf), "data", reports.append)
    assert [(r.epoch, r.diverged) for r in reports] == [(1, False), (2, True)]  # and it trained no further


def test_a_function_that_never_reports_fails_as_it_trains(spirals_conf: Path) -> None:
    with pytest.raises(TrainingFunctionError, match=r"^trainable broken_train:never_reports: returned without reporting an epoch"):
        trainable_kind("broken_train:never_reports").train(spirals_trial(spirals_conf), "data", lambda report: None)


# --- entry points ------------------------------------------------------------------------------------


def test_an_installed_package_registers_a_trainable_by_entry_point(
    spirals_conf: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A distribution's metadata on the path, as `pip install` leaves it, naming the plugin `spirals`."""
    info = tmp_path / "spirals_course-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: spirals-course\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(f"[sweeps.trainables]\nspirals = {FUNCTION}\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    plan = plan_study("spirals", ["offline=true", "trainable=spirals"], questions=["q1"], conf_dir=spirals_conf)
    assert {trial.config["trainable"] for trial in plan.trials} == {"spirals"}
    assert trainable_code_hash("spirals") == trainable_code_hash(FUNCTION)
    check_training_function("spirals", plan.trials[0].config)


# --- the built-in kinds keep the same contract --------------------------------------------------------


def test_the_image_kind_keeps_the_contract(tmp_path: Path) -> None:
    overrides = ["offline=true", "data=digits", "trainer.epochs=2", "trainer.batch_size=64"]
    (trial, *_) = plan_study("jhu_fashion", overrides, questions=["q04"]).trials
    linear = [{"type": "flatten"}, {"type": "dense", "units": "classes", "activation": "log_softmax"}]  # quick under load
    config = {**trial.config, "model": {**trial.config["model"], "layers": linear}}
    reports = check_training_function("image", config, tmp_path)
    assert reports[-1].confusion_matrix is not None


def test_the_text_kind_keeps_the_contract(tmp_path: Path) -> None:
    config = {
        "trainable": "text",
        "seed": 1,
        "data": {
            "name": "toxic_comments", "source": "toxic_sample", "standin": "toxic_sample", "path": "toxic/train.csv",
            "text_column": "comment_text", "label_columns": ["toxic", "insult"], "validation_split": 0.2, "test_split": 0.1,
            "sample_size": 600, "features": {"max_features": 300},
        },
        "model": {"name": "text_mlp", "architecture": "mlp", "hidden": 8, "dropout": 0.25},
        "optim": {"name": "adam", "lr": 0.01},
        "trainer": {"epochs": 2, "batch_size": 32, "test_batch_size": 128, "loss": "bce"},
    }
    reports = check_training_function("text", TextTrialConfig.model_validate(config).model_dump(mode="json"), tmp_path)
    assert "test_acc" in reports[-1].metrics
