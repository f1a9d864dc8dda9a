"""End to end with a course folder of the user's own: `sweep init` → `sweep run --conf` → `sweep report --conf`."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers.sweep_cli import SweepCli

from sweeps.config.starter import STARTER_STUDY

pytestmark = pytest.mark.slow


def test_a_new_course_runs_and_reports(sweep: SweepCli, tmp_path: Path) -> None:
    folder = tmp_path / "my_course"
    assert sweep("init", str(folder)).returncode == 0
    overrides = ("offline=true", "trainer.epochs=1", f"tracking.uri={sweep.uri}")
    plan = sweep.plan("--conf", str(folder), STARTER_STUDY, *overrides)

    run = sweep("run", "--conf", str(folder), STARTER_STUDY, *overrides)
    assert run.returncode == 0, run.stdout + run.stderr
    assert f"{len(plan['trials'])}/{len(plan['trials'])} trials finished, 0 failed" in run.stdout

    trial_runs = [run for run in sweep.runs(STARTER_STUDY) if run.data.tags["sweeps.kind"] == "trial"]
    assert sorted(run.data.tags["sweeps.trial_id"] for run in trial_runs) == sorted(trial["id"] for trial in plan["trials"])
    assert {run.info.status for run in trial_runs} == {"FINISHED"}
    assert {run.data.params["model.name"] for run in trial_runs} == {"starter_net"}  # the course's own model

    report = sweep("report", "--conf", str(folder), STARTER_STUDY, *overrides)
    assert report.returncode == 0, report.stderr
    text = (sweep.workdir / "reports" / STARTER_STUDY / "report.md").read_text()
    for question in plan["questions"]:
        assert question["text"] in text
