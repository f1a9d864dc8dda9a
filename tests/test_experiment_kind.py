"""A study's experiment is tagged as model training (`mlflow.experimentKind`), so MLflow's UI shows it as
one, not as a GenAI app with traces, prompts and judges: when `sweep run` creates it, and when it opens
one recorded without the tag."""

from __future__ import annotations

from pathlib import Path

from sweeps.record.store import client_for
from sweeps.record.tracking import EXPERIMENT_KIND, StudyRuns

KIND = "custom_model_development"  # MLflow's own name for classical model training


def test_a_new_study_experiment_is_model_training(tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    runs = StudyRuns(uri, "study")
    runs.finish()
    assert client_for(uri).get_experiment(runs.experiment_id).tags[EXPERIMENT_KIND] == KIND


def test_an_experiment_without_the_tag_gets_it_when_opened(tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = client_for(uri, create=True)
    untagged = client.create_experiment("study")
    mine = client.create_experiment("other", tags={EXPERIMENT_KIND: "finetuning"})

    for study in ("study", "other"):
        StudyRuns(uri, study).finish()

    assert client.get_experiment(untagged).tags[EXPERIMENT_KIND] == KIND
    assert client.get_experiment(mine).tags[EXPERIMENT_KIND] == "finetuning"  # a kind the user chose stays
