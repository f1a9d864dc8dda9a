"""A value written as Hydra override text reads back unchanged: the study's `baseline:` values travel that way."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from sweeps.config.compose import parse_overrides
from sweeps.config.override_text import override_value
from sweeps.plan.build import plan_study

# A study's `baseline:` values reach Hydra as override text; each must come back as written.
NOTES = ["Modèle «café» — première\nseconde ligne", "it's a \\ path\\", 'tab\there, "quoted"', "x=1,y", "€\r\n"]


@pytest.mark.parametrize("note", NOTES)
def test_a_study_baseline_string_reaches_the_trial_config_unchanged(conf_dir: Path, note: str) -> None:
    with (conf_dir / "model" / "cloudmesh_mlp.yaml").open("a") as model:
        model.write("note: null\n")  # a prose field of the model's schema, not in the trial id
    study = yaml.safe_load((conf_dir / "study" / "cloudmesh_mlp.yaml").read_text())
    study["study"]["baseline"]["model.note"] = note
    (conf_dir / "study" / "cloudmesh_mlp.yaml").write_text("# @package _global_\n" + yaml.safe_dump(study, allow_unicode=True))

    plan = plan_study("cloudmesh_mlp", conf_dir=conf_dir)

    assert {trial.config["model"]["note"] for trial in plan.trials} == {note}


def test_override_text_reads_back_as_the_value() -> None:
    value = {"notes": NOTES, "n": 3, "lr": 1e-05, "on": True, "off": None, "big": float("inf")}
    (override,) = parse_overrides([f"key={override_value(value)}"])
    assert override[0].value() == value
