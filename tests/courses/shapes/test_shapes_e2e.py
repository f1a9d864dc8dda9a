"""End to end through the real `sweep` command and Ray, as a user runs their own course: `sweep run shapes
--conf COURSE` on a copy of the shapes course folder (its study, models and data files, and its
`shapes_course` package), with nothing of the course on PYTHONPATH, and its images in the working folder's
data/. The runs record the course's module in their code hash, the report reads the folder as itself, and
an edit to the module marks the trials of its model stale."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from helpers.shapes_images import write_shapes
from helpers.sweep_cli import SweepCli

from sweeps.record.tags import CODE_HASH
from trainables.code import code_hash

pytestmark = pytest.mark.slow
STUDY = "shapes"
COURSE = Path(__file__).resolve().parent / "course"
OWN_MODEL = "shapes_course.nets.ShapesNet"


def test_a_course_folder_with_its_own_model_runs_reports_and_goes_stale(sweep: SweepCli) -> None:
    course = Path(shutil.copytree(COURSE, sweep.workdir.parent / "my_course", ignore=shutil.ignore_patterns("__pycache__")))
    assert str(course) not in os.environ.get("PYTHONPATH", "").split(os.pathsep)
    write_shapes(sweep.workdir / "data" / "shapes", train=12, test=4)  # paths.data_root: data, in the working folder
    args = ("--conf", str(course), STUDY, f"tracking.uri={sweep.uri}")

    ran = sweep("run", *args, timeout=900)
    assert ran.returncode == 0, ran.stdout + ran.stderr
    runs = sweep.runs(STUDY)
    # q01: width ×0.5, ×1, ×2; q02: dropout 0 and 0.5; q03: torchvision's ResNet-18 beside the ×1 baseline
    assert len(runs) == 6 and {run.info.status for run in runs} == {"FINISHED"}
    targets = [run.data.params["model._target_"] for run in runs]
    assert sorted(targets) == sorted([OWN_MODEL] * 5 + ["torchvision.models.resnet18"])
    own = {run.data.tags[CODE_HASH] for run in runs if run.data.params["model._target_"] == OWN_MODEL}
    assert len(own) == 1 and own != {code_hash("image")}  # the course's module is part of the code

    report = sweep("report", *args, timeout=600)
    assert report.returncode == 0, report.stdout + report.stderr
    markdown = (sweep.workdir / "reports" / STUDY / "report.md").read_text()
    assert "shapes (image_folder): the first 16 training images" in markdown
    assert "stand-in" not in markdown  # a folder of the user's is itself
    assert "(stale)" not in markdown
    for question in ("q01", "q02", "q03"):
        assert f"## {question}" in markdown

    nets = course / "shapes_course" / "nets.py"
    nets.write_text(nets.read_text().replace("round(8 * width)", "round(6 * width)"))
    planned = sweep("plan", *args)
    assert planned.returncode == 0, planned.stderr
    assert "stale: 5 finished trials were trained by other code" in planned.stdout  # ResNet-18's is not
