"""A search's best trial in the MLflow model registry, as a real MLflow model (the PyTorch flavour).

The driver rebuilds the trial's network from its run's `config.yaml` with the trainable's own model
builder (`trainables.export`), loads the run's `checkpoint/model.pt`, and logs it with
`mlflow.pytorch.log_model` into that run: serialised as `pt2` (`torch.export`: a traced graph and its
weights, which MLflow loads without unpickling code), with a signature (a float32 batch of
(-1, C, H, W) → one score per class) and an input example (the first test images). The registered
model `<study>-<question>` gets a version of it, so `mlflow.pytorch.load_model("models:/<name>/<v>")`,
`mlflow.pyfunc.load_model` and `mlflow models serve` all work. Workers never talk to MLflow.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

import yaml

from sweeps.record.tags import QUESTIONS, STUDY, TRIAL_ID
from sweeps.record.tracking import StudyRuns
from trainables.kinds import trainable_of

if TYPE_CHECKING:  # imported late where used: mlflow costs seconds to import
    from mlflow.models.model import ModelInfo

    from sweeps.record.store import StoredRun

MODEL_NAME = "model"  # the logged model's name (its artifacts in the run are under the logged model)
EXAMPLES = 4  # test images in the input example; more than 1, so the batch dimension stays dynamic


def registered_name(study: str, question: str) -> str:
    return f"{study}-{question}"


def register_best(runs: StudyRuns, question: str, run: StoredRun, metric: str, data_root: str) -> str:
    """Log `run`'s network as an MLflow PyTorch model and register it as `<study>-<question>` (once per run)."""
    client = runs.client
    name = registered_name(runs.study, question)
    if not client.search_registered_models(filter_string=f"name = '{name}'"):
        client.create_registered_model(name, tags={STUDY: runs.study, QUESTIONS: question})
    versions = client.search_model_versions(filter_string=f"name = '{name}' and run_id = '{run.info.run_id}'")
    if any(not (version.source or "").rstrip("/").endswith("/checkpoint") for version in versions):
        return name  # already registered (a version pointing at the bare checkpoint folder predates this)
    log_network(runs, run, name, {metric: str(run.data.metrics[metric]), TRIAL_ID: run.data.tags[TRIAL_ID]}, data_root)
    return name


def log_network(runs: StudyRuns, run: StoredRun, registered: str | None, tags: dict[str, str], data_root: str) -> ModelInfo:
    """The run's network logged into the run as an MLflow PyTorch model (and registered as `registered`)."""
    import mlflow
    import torch
    from mlflow.artifacts import download_artifacts
    from mlflow.models import infer_signature

    from trainables.export import exporter

    uri = runs.client.tracking_uri
    with tempfile.TemporaryDirectory() as folder:
        config = yaml.safe_load(
            Path(download_artifacts(run_id=run.info.run_id, artifact_path="config.yaml", dst_path=folder, tracking_uri=uri)).read_text()
        )
        weights_file = download_artifacts(run_id=run.info.run_id, artifact_path="checkpoint/model.pt", dst_path=folder, tracking_uri=uri)
        weights = torch.load(weights_file, map_location="cpu", weights_only=True)
    kind = exporter(trainable_of(config))
    network = kind.network(config, weights, data_root)
    inputs, _ = kind.labelled_test_set(config, data_root)
    example = inputs[:EXAMPLES].numpy()
    with torch.no_grad():
        signature = infer_signature(example, network(torch.from_numpy(example)).numpy())
    mlflow.set_tracking_uri(uri)  # log_model resolves the store through MLflow's global setting
    logged = runs.client.create_logged_model(
        experiment_id=run.info.experiment_id, name=MODEL_NAME, source_run_id=run.info.run_id, tags=tags
    )  # in the study's experiment, beside its run (MLflow would otherwise pick its active experiment)
    info = mlflow.pytorch.log_model(
        network,
        name=MODEL_NAME,
        model_id=logged.model_id,
        run_id=run.info.run_id,
        serialization_format="pt2",  # torch.export: loads without unpickling code (weights_only-safe)
        signature=signature,
        input_example=example,
        tags=tags,
        pip_requirements=mlflow.pytorch.get_default_pip_requirements(),  # no requirement inference (a subprocess)
    )
    if registered is not None:  # through the client: MLflow's own registration prints two lines to stderr
        runs.client.create_model_version(
            registered, source=f"models:/{logged.model_id}", run_id=run.info.run_id, tags=tags, model_id=logged.model_id
        )
    return info
