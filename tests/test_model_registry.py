"""A search's best trial is registered as a real MLflow PyTorch model: `mlflow.pytorch.load_model` on the
registry URI returns a network whose accuracy on the trial's test set is the run's `test_acc`.

The trial is trained in this process by its trainable (no Ray) and recorded through the runner's MLflow
writer, as `sweep run` records it; the driver's registration then does what it does after a search.
"""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import pytest
import torch
import yaml
from mlflow.models import Model

from sweeps.plan.build import plan_study
from sweeps.record.model_registry import register_best
from sweeps.record.tracking import StudyRuns
from sweeps.trials import PlannedTrial
from trainables.callback import EpochReport
from trainables.image.network import labelled_test_set
from trainables.kinds import kind

STUDY = "jhu_fashion"


def _train(trial: PlannedTrial, data_root: Path) -> tuple[list[dict[str, float]], dict[str, Any]]:
    reports: list[EpochReport] = []
    kind(trial.config["trainable"]).train(trial.config, data_root, reports.append)
    return [report.metrics for report in reports], reports[-1].checkpoint()["model"]


@pytest.fixture(scope="module")
def registered(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, PlannedTrial, Any, Path]:
    """Q9's batch-norm-and-dropout net trained 3 epochs on the digits stand-in, recorded and registered."""
    folder = tmp_path_factory.mktemp("registry")
    uri = f"sqlite:///{folder / 'mlflow.db'}"
    plan = plan_study(STUDY, ["offline=true", "trainer.epochs=3", "trainer.batch_size=32", f"tracking.uri={uri}"], ["q09"])
    trial = next(t for t in plan.trials if t.config["model"]["name"] == "jhu_bn_dropout")  # eval mode matters
    trial.questions[:] = ["q13"]  # registered as a search's best
    epochs, weights = _train(trial, folder / "data")
    runs = StudyRuns(uri, STUDY)
    run_id, _ = runs.open(trial, offline=True)
    runs.log_epochs(run_id, epochs)
    buffer = io.BytesIO()
    torch.save(weights, buffer)
    runs.end_trial(run_id, "finished", {"config.yaml": yaml.safe_dump(trial.config).encode(), "checkpoint/model.pt": buffer.getvalue()})
    best = runs.best_trial("q13", "val_acc", "max")
    assert best is not None and best.info.run_id == run_id
    name = register_best(runs, "q13", best, "val_acc", str(folder / "data"))
    assert register_best(runs, "q13", best, "val_acc", str(folder / "data")) == name  # once per run
    return uri, trial, runs.client.get_run(run_id), folder


def test_the_registered_model_loads_and_reproduces_test_acc(registered: tuple[str, PlannedTrial, Any, Path]) -> None:
    uri, trial, run, folder = registered
    assert "MLFLOW_ALLOW_PICKLE_DESERIALIZATION" not in os.environ  # loaded without unpickling code
    mlflow.set_tracking_uri(uri)
    network = mlflow.pytorch.load_model(f"models:/{STUDY}-q13/1")
    inputs, labels = labelled_test_set(trial.config, folder / "data")
    with torch.no_grad():
        predicted = network(inputs).argmax(1)
    accuracy = (predicted == labels).float().mean().item()
    assert accuracy == pytest.approx(run.data.metrics["test_acc"], abs=1e-9)
    assert 0.2 < accuracy <= 1.0  # it learned something: the weights are the trial's, not fresh ones


def test_one_version_of_a_pytorch_flavour_model_with_a_signature_and_an_example(
    registered: tuple[str, PlannedTrial, Any, Path],
) -> None:
    uri, trial, run, _ = registered
    client = mlflow.MlflowClient(uri)
    (version,) = client.search_model_versions(f"name = '{STUDY}-q13'")
    assert version.run_id == run.info.run_id and version.tags["sweeps.trial_id"] == trial.id
    mlflow.set_tracking_uri(uri)
    local = mlflow.artifacts.download_artifacts(f"models:/{STUDY}-q13/1")
    model = Model.load(Path(local) / "MLmodel")
    assert {"pytorch", "python_function"} <= set(model.flavors)
    assert model.flavors["pytorch"]["model_data"] == "data" and (Path(local) / "data" / "model.pt2").exists()
    inputs = model.signature.inputs.to_dict()[0]
    assert list(inputs["tensor-spec"]["shape"]) == [-1, 1, 28, 28] and inputs["tensor-spec"]["dtype"] == "float32"
    assert model.saved_input_example_info is not None
    # The generic loader (what `mlflow models serve` uses) predicts a batch of the signature's shape.
    scores = mlflow.pyfunc.load_model(f"models:/{STUDY}-q13/1").predict(np.zeros((3, 1, 28, 28), dtype=np.float32))
    assert np.asarray(scores).shape == (3, 10)
