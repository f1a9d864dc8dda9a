"""A course folder of the user's own beside the built-in configs: `--conf DIR`, SWEEPS_CONF, `sweep init`.

The course under tests/courses/cifar_tutorial is PyTorch's CIFAR-10 tutorial net as a layer list with five
questions; its files live outside conf/ and reach the plan only through Hydra's search path.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from helpers.sweep_cli import SweepCli, assert_bad_input

import sweeps
from sweeps.config.sources import CONF_DIR, CONF_VARIABLE, Configs
from sweeps.config.starter import STARTER, STARTER_STUDY
from sweeps.errors import SweepError
from sweeps.plan.build import plan_study
from sweeps.run.experiment import runtime_env

COURSE = Path(__file__).parent / "courses" / "cifar_tutorial"
STUDY = "cifar_tutorial"
QUESTIONS = ["q01", "q02", "q03", "q04", "q05"]


@pytest.fixture
def course(tmp_path: Path) -> Path:
    """A writable copy of the CIFAR tutorial course."""
    return Path(shutil.copytree(COURSE, tmp_path / "course"))


def test_the_course_plans_with_conf(sweep: SweepCli) -> None:
    plan = sweep.plan("--conf", str(COURSE), STUDY, "offline=true", f"tracking.uri={sweep.uri}")
    assert [question["id"] for question in plan["questions"]] == QUESTIONS
    baseline = {variant["trial"] for variant in plan["questions"][4]["variants"]}
    assert len(baseline) == 1  # q05 repeats the baseline: the reference of every grid question
    for question in plan["questions"][:4]:
        assert baseline <= {variant["trial"] for variant in question["variants"]}, question["id"]
    # lr ×0.1 and ×10, batch ×4 and ×16, Adam, width ×0.5 and ×2 beside the baseline; q05's two more seeds
    assert len(plan["trials"]) == 1 + 2 + 2 + 1 + 2 + 2


def test_sweeps_conf_names_the_same_folder(sweep: SweepCli) -> None:
    args = (STUDY, "offline=true", f"tracking.uri={sweep.uri}")
    assert sweep.plan(*args, env={CONF_VARIABLE: str(COURSE)}) == sweep.plan("--conf", str(COURSE), *args)


def test_a_built_in_study_is_the_same_beside_a_course(sweep: SweepCli) -> None:
    args = ("jhu_fashion", "offline=true", f"tracking.uri={sweep.uri}")
    assert sweep.plan("--conf", str(COURSE), *args) == sweep.plan(*args)


def test_course_and_built_in_options_side_by_side() -> None:
    configs = Configs(course=COURSE)
    assert STUDY in configs.studies() and "jhu_fashion" in configs.studies()
    models = configs.groups()["model"]
    assert "tutorial_net" in models and "jhu_baseline" in models
    assert "tutorial_net" not in Configs().groups()["model"]
    # a built-in model in the course's study: the tutorial's data and training with the MNIST example net
    plan = plan_study(STUDY, ["offline=true", "model=jhu_baseline"], ["q01"], course=COURSE)
    assert plan.trials[0].config["model"]["name"] == "jhu_baseline"


def test_a_course_s_own_folders_of_code_or_images_are_no_config_groups(course: Path) -> None:
    (course / "mycourse").mkdir()
    (course / "mycourse" / "__init__.py").write_text("")
    (course / "images" / "train" / "cat").mkdir(parents=True)
    (course / "images" / "train" / "cat" / "1.png").write_bytes(b"")
    assert Configs(course=course).groups().keys() == Configs().groups().keys()
    assert plan_study(STUDY, ["offline=true"], ["q03"], course=course).questions[0].id == "q03"


def test_a_name_clash_names_both_files(sweep: SweepCli, course: Path) -> None:
    shutil.copy(course / "model" / "tutorial_net.yaml", course / "model" / "jhu_baseline.yaml")
    line = assert_bad_input(sweep("plan", "--conf", str(course), STUDY, "offline=true"))
    assert str(course / "model" / "jhu_baseline.yaml") in line
    assert str(CONF_DIR / "model" / "jhu_baseline.yaml") in line


@pytest.mark.parametrize("command", ["plan", "run", "report", "ui"])
@pytest.mark.parametrize("folder", ["missing", "no_study"])
def test_a_bad_conf_folder_is_one_line_and_writes_nothing(sweep: SweepCli, tmp_path: Path, command: str, folder: str) -> None:
    conf = tmp_path / folder
    if folder == "no_study":
        (conf / "model").mkdir(parents=True)
    study = [] if command == "ui" else [STUDY]
    line = assert_bad_input(sweep(command, "--conf", str(conf), *study, "offline=true"))
    assert line.startswith("sweep: error: --conf: ")
    assert ("no such folder" if folder == "missing" else "no study/ folder") in line
    assert list(sweep.workdir.iterdir()) == []


def test_a_bad_sweeps_conf_is_named(sweep: SweepCli, tmp_path: Path) -> None:
    line = assert_bad_input(sweep("plan", STUDY, env={CONF_VARIABLE: str(tmp_path / "missing")}))
    assert f"{CONF_VARIABLE}: " in line and "no such folder" in line


def test_init_writes_a_course_that_plans_as_it_stands(sweep: SweepCli, tmp_path: Path) -> None:
    folder = tmp_path / "my_course"
    result = sweep("init", str(folder))
    assert result.returncode == 0, result.stderr
    assert sorted(path.relative_to(folder) for path in folder.rglob("*") if path.is_file()) == sorted(STARTER)
    plan = sweep.plan("--conf", str(folder), STARTER_STUDY, "offline=true", f"tracking.uri={sweep.uri}")
    assert len(plan["questions"]) == 2
    assert len(plan["trials"]) == 3 + 2  # learning rate ×0.1, ×1, ×10; two more seeds of ×1


def test_init_refuses_to_overwrite(sweep: SweepCli, tmp_path: Path) -> None:
    folder = tmp_path / "my_course"
    (folder / "model").mkdir(parents=True)
    (folder / "model" / "starter_net.yaml").write_text("mine\n")
    line = assert_bad_input(sweep("init", str(folder)))
    assert "starter_net.yaml exists" in line
    assert (folder / "model" / "starter_net.yaml").read_text() == "mine\n"
    assert sorted(path.name for path in folder.rglob("*")) == ["model", "starter_net.yaml"]  # nothing else written


def test_load_takes_the_course_folder(tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    with pytest.raises(SweepError, match="unknown study"):
        sweeps.load(STUDY, ["offline=true", f"tracking.uri={uri}"])
    with pytest.raises(SweepError) as error:  # found in the course: stops at the empty store instead
        sweeps.load(STUDY, ["offline=true", f"tracking.uri={uri}"], conf=COURSE)
    assert "unknown study" not in str(error.value)


def test_a_course_s_own_module_is_a_model_target_without_pythonpath(sweep: SweepCli, course: Path) -> None:
    (course / "tutorial_code.py").write_text(
        "from torch import nn\n\n\n"
        "class Linear(nn.Sequential):\n"
        "    def __init__(self, num_classes: int) -> None:\n"
        "        super().__init__(nn.Flatten(), nn.LazyLinear(num_classes))\n"
    )
    (course / "model" / "linear.yaml").write_text("_target_: tutorial_code.Linear\nname: linear\n")
    args = ("--conf", str(course), STUDY, "offline=true", "model=linear", "--questions", "q03", f"tracking.uri={sweep.uri}")
    plan = sweep.plan(*args)
    channels, side, classes = 3, 32, 10  # CIFAR-10's stand-in
    assert {trial["parameters"] for trial in plan["trials"]} == {(channels * side * side + 1) * classes}
    (course / "tutorial_code.py").unlink()
    line = assert_bad_input(sweep("plan", *args))
    assert "cannot import 'tutorial_code.Linear'" in line and "No module named 'tutorial_code'" in line


def test_on_a_cluster_the_course_folder_is_every_worker_s_working_dir() -> None:
    with_course = plan_study(STUDY, ["offline=true", "resources=cluster"], ["q01"], course=COURSE)
    env = runtime_env(with_course)
    assert env is not None and env["working_dir"] == str(COURSE)
    assert runtime_env(plan_study("jhu_fashion", ["offline=true", "resources=cluster"], ["q01"])) is None


def test_a_local_ray_s_workers_import_from_the_course_folder_in_place(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYTHONPATH", "/elsewhere")
    env = runtime_env(plan_study(STUDY, ["offline=true"], ["q01"], course=COURSE))
    assert env == {"env_vars": {"PYTHONPATH": os.pathsep.join([str(COURSE), "/elsewhere"])}}  # the inherited one after it
    assert runtime_env(plan_study("jhu_fashion", ["offline=true"], ["q01"])) is None
