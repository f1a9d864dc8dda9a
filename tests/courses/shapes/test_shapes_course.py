"""A course of the user's own, outside conf/: a small ResNet from its own module (course/shapes_course/nets.py),
torchvision's ResNet-18, and a folder of generated PNGs in ImageFolder's layout (tests/helpers/shapes_images.py).

The course folder (course/ beside this file) is what `sweep --conf` takes: its study, model and data files,
and its Python package, which imports because the plan was given the folder. Trials train through the
image trainable's own `train`, without Ray.
"""

from __future__ import annotations

import importlib
import math
import shutil
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
import torchvision
from helpers.epoch_reports import Run
from helpers.shapes_images import CLASSES, write_shapes

from sweeps.errors import SweepError
from sweeps.plan.build import plan_study
from sweeps.record.store import flatten
from sweeps.report.samples import class_names, first_images
from sweeps.trials import Plan
from trainables.code import code_hash, trial_code_hash
from trainables.image.data import load_data
from trainables.image.loop import train
from trainables.image.model import model_of
from trainables.placement import Placement

COURSE = Path(__file__).resolve().parent / "course"
TRAIN, TEST = 24, 8  # images of each class
SIDE = 16  # data.size in course/data/shapes.yaml

pytestmark = pytest.mark.usefixtures("torch_threads")  # train() sets torch's thread count


@pytest.fixture(scope="module")
def data_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("data")
    write_shapes(root / "shapes", TRAIN, TEST)
    return root


def plan(data_root: Path, *overrides: str, questions: list[str] | None = None) -> Plan:
    return plan_study("shapes", [f"paths.data_root={data_root}", *overrides], questions=questions, course=COURSE)


@pytest.fixture(scope="module")
def shapes_plan(data_root: Path) -> Plan:
    return plan(data_root)


@pytest.fixture(scope="module")
def shapes_net(shapes_plan: Plan) -> Any:
    """The course's ResNet class, imported as the plan imported it: from the course folder, no PYTHONPATH."""
    nets = importlib.import_module("shapes_course.nets")
    assert Path(nets.__file__).is_relative_to(COURSE)
    return nets.ShapesNet


def trial_of(plan: Plan, name: str) -> dict[str, Any]:
    return next(trial.config for trial in plan.trials if trial.name == name)


def count(model: torch.nn.Module) -> int:
    return sum(parameter.numel() for parameter in model.parameters() if parameter.requires_grad)


# --- models from code ------------------------------------------------------------------------------------


def test_the_resnet_gets_width_dropout_and_the_datas_classes_and_channels(shapes_plan: Plan, shapes_net: Any) -> None:
    config = trial_of(shapes_plan, "q01 model.width=2.0")
    model = model_of(config["model"], (3, SIDE, SIDE), len(CLASSES))
    assert isinstance(model, shapes_net)
    stem, classifier = model.stem[0], model.head[-1]
    assert (stem.in_channels, stem.out_channels) == (3, 16)  # 8 channels × width 2
    assert classifier.out_features == len(CLASSES)
    assert model.head[2].p == 0.25  # the model file's dropout
    dropped = model_of(trial_of(shapes_plan, "q02 model.dropout=0.5")["model"], (3, SIDE, SIDE), len(CLASSES))
    assert dropped.head[2].p == 0.5


def test_the_plan_counts_each_models_parameters(shapes_plan: Plan, shapes_net: Any) -> None:
    by_name = {trial.name: trial.parameters for trial in shapes_plan.trials}
    for width in (0.5, 1.0, 2.0):
        built = shapes_net(num_classes=len(CLASSES), in_channels=3, width=width, dropout=0.25)
        assert by_name[f"q01 model.width={width}"] == count(built)
    assert by_name["q03 model=resnet18"] == count(torchvision.models.resnet18(num_classes=len(CLASSES)))
    widths = [by_name[f"q01 model.width={width}"] for width in (0.5, 1.0, 2.0)]
    assert widths == sorted(widths) and len(set(widths)) == 3


def test_width_and_dropout_variants_are_trials_of_their_own(shapes_plan: Plan) -> None:
    questions = {question.id: question for question in shapes_plan.questions}
    assert len({variant.trial for variant in questions["q01"].variants}) == 3
    assert len({variant.trial for variant in questions["q02"].variants}) == 2
    # q01's ×1 and q03's shapes_resnet are the same trial: the baseline, planned once.
    assert questions["q01"].variants[1].trial == questions["q03"].variants[0].trial


def test_the_forward_check_names_the_class_and_the_shapes(data_root: Path) -> None:
    with pytest.raises(SweepError, match=r"model: shapes_course\.nets\.CifarDense fails on a batch of the data's shape \(2, 3, 16, 16\)"):
        plan(data_root, "model=cifar_dense", questions=["q03"])
    with pytest.raises(SweepError, match=r"torchvision\.models\.resnet18 returns shape \(2, 10\) .* expected \(2, 3\)"):
        plan(data_root, "model=resnet18", "model.num_classes=10", questions=["q03"])
    # 32×32 colour images are what CifarDense was written for: the same model plans.
    assert plan(data_root, "model=cifar_dense", "data.size=32", questions=["q03"]).trials


def test_a_loss_that_takes_log_probabilities_is_refused_for_logits(data_root: Path) -> None:
    with pytest.raises(SweepError, match=r"trainer\.loss: nll takes log-probabilities.*shapes_course\.nets\.ShapesNet"):
        plan(data_root, "trainer.loss=nll", questions=["q02"])


def test_a_model_from_code_never_packs(data_root: Path) -> None:
    from sweeps.plan.packs import packs_of

    planned = plan(data_root, "resources.pack_size=8", questions=["q02"])
    assert [len(pack.members) for pack in packs_of(planned.trials, planned.runtime.resources)] == [1, 1]


# --- the image folder -----------------------------------------------------------------------------------


def test_the_folder_loads_resized_with_its_classes_in_turn(shapes_plan: Plan, data_root: Path) -> None:
    data = trial_of(shapes_plan, "q01 model.width=1.0")["data"]
    loaded = load_data(data, data_root)
    assert loaded.num_classes == len(CLASSES) and loaded.input_shape == (3, SIDE, SIDE)
    assert (len(loaded.train), len(loaded.test)) == (TRAIN * len(CLASSES), TEST * len(CLASSES))
    assert loaded.train.y[: 2 * len(CLASSES)].tolist() == [0, 1, 2, 0, 1, 2]  # each class in turn
    assert torch.bincount(loaded.test.y).tolist() == [TEST] * len(CLASSES)
    grey = load_data({**data, "channels": 1}, data_root)
    assert grey.train.x.shape[1:] == (1, SIDE, SIDE)


def test_the_report_names_the_folders_classes(shapes_plan: Plan, data_root: Path) -> None:
    data = trial_of(shapes_plan, "q01 model.width=1.0")["data"]
    assert class_names(data, data_root) == list(CLASSES)
    images, labels = first_images(data, data_root, count=6)
    assert images.shape == (6, SIDE, SIDE, 3) and 0.0 <= images.min() and images.max() <= 1.0
    assert [class_names(data, data_root)[label] for label in labels] == [*CLASSES, *CLASSES]
    assert class_names({**data, "source": "mnist"}, data_root) is None  # a built-in set: numbered classes


def test_the_confusion_matrix_and_the_data_section_read_a_folder_as_itself() -> None:
    from sweeps.report import figures
    from sweeps.report.sections.data import is_stand_in

    figure = figures.confusion_matrix(np.eye(len(CLASSES), dtype=int), "run", list(CLASSES))
    axes = figure.axes[0]
    assert [label.get_text() for label in axes.get_xticklabels()] == list(CLASSES)
    assert [label.get_text() for label in axes.get_yticklabels()] == list(CLASSES)
    assert not is_stand_in("shapes", "image_folder")  # a folder is no stand-in, whatever it is called
    assert is_stand_in("fashion_mnist", "garments")


# --- the code hash ---------------------------------------------------------------------------------------


def test_the_code_hash_covers_the_users_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    shutil.copytree(COURSE / "shapes_course", tmp_path / "edited_course", ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.syspath_prepend(str(tmp_path))
    config = {"trainable": "image", "seed": 1, "model": {"_target_": "edited_course.nets.ShapesNet", "width": 1.0}}
    before = trial_code_hash(config)
    assert before != code_hash("image")
    assert trial_code_hash(flatten(config)) == before  # read back from a run's params, the same
    nets = tmp_path / "edited_course" / "nets.py"
    nets.write_text(nets.read_text() + "\n# a comment changes nothing\n")
    assert trial_code_hash(config) == before
    nets.write_text(nets.read_text().replace("round(8 * width)", "round(10 * width)"))
    assert trial_code_hash(config) != before
    assert "edited_course" not in sys.modules  # found on the path, never imported


def test_torchvisions_code_counts_by_its_installed_version() -> None:
    config = {"trainable": "image", "model": {"_target_": "torchvision.models.resnet18", "num_classes": 3}}
    other = {"trainable": "image", "model": {"_target_": "torchvision.models.resnet34", "num_classes": 3}}
    assert trial_code_hash(config) == trial_code_hash(other) != code_hash("image")  # the package, not the function


# --- end to end: planned, then trained by the trainable's own loop ---------------------------------------


@pytest.mark.parametrize("name", ["q01 model.width=1.0", "q03 model=resnet18"])
def test_a_trial_trains_on_the_folder(shapes_plan: Plan, data_root: Path, name: str) -> None:
    config = trial_of(shapes_plan, name)
    recorder = Run()
    train(config, data_root, recorder, Placement())
    (report,) = recorder.reports
    assert report.epoch == 1
    for key in ("train_loss", "train_acc", "val_loss", "val_acc", "test_acc"):
        assert math.isfinite(report.metrics[key]), key
    matrix = torch.tensor(report.confusion_matrix)
    assert matrix.shape == (len(CLASSES), len(CLASSES)) and int(matrix.sum()) == TEST * len(CLASSES)
    again = Run()
    train(config, data_root, again, Placement())
    assert again.reports[0].metrics["val_loss"] == report.metrics["val_loss"]  # the seed fixes it
