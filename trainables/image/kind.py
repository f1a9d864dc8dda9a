"""The image classifier as a kind of trainable: layer-list models, or models from code, on in-memory image tensors.

Torch-free until a trial trains for layer lists: the schema, the parameter count and the file checks are
plain Python. A model from code (`model._target_`) is built and run on one batch at plan time (target.py),
which imports torch and the user's module; such a trial always trains alone, never in a pack.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from trainables.image.layers import plan_model
from trainables.image.schema import ImageTrialConfig, is_target
from trainables.image.sources import data_shape, ensure_available, train_examples
from trainables.kinds import Kind


def parameters(config: Mapping[str, Any], data_root: str | Path) -> int:
    """The model checked against the data's shape (ModelSpecError; an image folder's layout too, under
    `data_root`), and its trainable parameters."""
    input_shape, num_classes = data_shape(config["data"], data_root)
    if is_target(config["model"]):
        from trainables.image.target import checked_parameters  # torch and the user's module: only for models from code

        return checked_parameters(config["model"], input_shape, num_classes, config["trainer"]["loss"])
    return plan_model(config["model"], input_shape, num_classes).parameters


def packable(config: Mapping[str, Any]) -> bool:
    """A layer list on data whose size its name fixes: a model from code is never packed (its modules
    are not the layer registry's, which a pack fuses), nor data whose size only its files tell."""
    return not is_target(config["model"]) and train_examples(config["data"]) is not None


def pack_key(config: Mapping[str, Any]) -> str | None:
    """What members of one pack share: the input shape, every layer but dropout's p (width applied),
    the batch size, the loss, the crop and the training-set size (the data itself, the optimizer, the
    dropout probabilities, the seed and the epochs may differ). None: the trial trains alone (`packable`)."""
    if not packable(config):
        return None
    data, trainer = config["data"], config["trainer"]
    examples = train_examples(data)
    input_shape, num_classes = data_shape(data)
    layers = [
        [layer.type, {key: value for key, value in layer.settings.items() if key != "p"}]
        for layer in plan_model(config["model"], input_shape, num_classes).layers
    ]
    shared = {
        "input": input_shape,
        "classes": num_classes,
        "layers": layers,
        "batch_size": trainer["batch_size"],
        "loss": trainer["loss"],
        "crop": data.get("crop"),
        "examples": examples,
    }
    return json.dumps(shared, sort_keys=True)


# Measured by benchmarks/pack_speed.py on the 2-core reference CPU, 10 members, one thread each (docs/benchmarks.md):
# dense nets of 6k–51k multiply-accumulates per example trained 1.4–2.0× faster packed, one of 203k 0.9× (slower),
# and conv nets 0.4× (a vmapped convolution is a grouped one, which oneDNN runs slowly).
CPU_PACK_MACS = 100_000  # multiply-accumulates per example, at most, of a conv-free model that packs on a CPU


def packs_pay_on_cpu(config: Mapping[str, Any]) -> bool:
    """A model without convolutions and small enough that a step is mostly overhead (CPU_PACK_MACS)."""
    if not packable(config):
        return False
    input_shape, num_classes = data_shape(config["data"])
    layers = plan_model(config["model"], input_shape, num_classes).layers
    if any(layer.type == "conv2d" for layer in layers):
        return False
    return sum(layer.parameters for layer in layers if layer.type == "dense") <= CPU_PACK_MACS  # weights ≈ MACs


KIND = Kind(
    schema=ImageTrialConfig,
    trainer="trainables.image.loop:train",
    parameters=parameters,
    ensure_available=ensure_available,
    pack_key=pack_key,
    pack_trainer="trainables.image.pack:train_pack",
    packs_pay_on_cpu=packs_pay_on_cpu,
)
