"""End to end through the real `sweep` command and Ray: the shapes course's ResNet (from its own module, copied
to a folder of the test's) on its image folder, as a built-in study's dropout question written over with
overrides. The runs record the user's module in their code hash, the report reads the folder as itself,
and an edit to the module marks the finished trials stale."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from helpers.sweep_cli import SweepCli
from shapes_images import write_shapes

from sweeps.record.tags import CODE_HASH, PARAMETERS
from trainables.code import code_hash

pytestmark = pytest.mark.slow
STUDY = "jhu_fashion"
COURSE = Path(__file__).resolve().parent
REPO = COURSE.parents[2]


def test_a_model_from_code_on_an_image_folder_runs_reports_and_goes_stale(sweep: SweepCli) -> None:
    modules = sweep.workdir.parent / "modules"
    shutil.copytree(COURSE / "shapes_course", modules / "e2e_course", ignore=shutil.ignore_patterns("__pycache__"))
    write_shapes(sweep.workdir / "data" / "shapes", train=12, test=4)
    env = {"PYTHONPATH": os.pathsep.join([str(REPO), str(modules)])}  # the user's module, where workers import it too
    overrides = (
        "~model.layers", "+model._target_=e2e_course.nets.ShapesNet", "trainer.loss=cross_entropy", "trainer.epochs=1",
        "data.name=shapes", "data.source=image_folder", "data.standin=image_folder", "+data.path=shapes",
        "+data.size=16", "data.mean=0.5", "data.std=0.25", f"tracking.uri={sweep.uri}", "--questions", "q05",
    )  # fmt: skip

    ran = sweep("run", STUDY, *overrides, env=env, timeout=900)
    assert ran.returncode == 0, ran.stdout + ran.stderr
    runs = sweep.runs(STUDY)
    assert len(runs) == 5 and {run.info.status for run in runs} == {"FINISHED"}  # dropout 0, 0.25, 0.5, 0.9, 1
    hashes = {run.data.tags[CODE_HASH] for run in runs}
    assert len(hashes) == 1 and hashes != {code_hash("image")}  # the user's module is part of the code
    assert {run.data.params["model._target_"] for run in runs} == {"e2e_course.nets.ShapesNet"}
    assert len({run.data.tags[PARAMETERS] for run in runs}) == 1  # dropout adds no parameter

    report = sweep("report", STUDY, *overrides, env=env, timeout=600)
    assert report.returncode == 0, report.stdout + report.stderr
    markdown = (sweep.workdir / "reports" / STUDY / "report.md").read_text()
    assert "shapes (image_folder): the first 16 training images" in markdown
    assert "stand-in" not in markdown.split("## q05", 1)[1].split("\n## ", 1)[0]  # a folder of the user's is itself
    assert "(stale)" not in markdown

    nets = modules / "e2e_course" / "nets.py"
    nets.write_text(nets.read_text().replace("round(8 * width)", "round(6 * width)"))
    planned = sweep("plan", STUDY, *overrides, env=env)
    assert planned.returncode == 0, planned.stderr
    assert "stale: 5 finished trials were trained by other code" in planned.stdout
