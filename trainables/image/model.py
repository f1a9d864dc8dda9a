"""The layer registry: torch modules built from a model spec's pure pass (layers.py).

`plan_model` has already checked every parameter and inferred every shape; a factory here turns one
planned layer into its module and never checks anything itself, so the plan's shapes and parameter
counts are the model's.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from torch import nn

from trainables.image.layers import Layer, Shape, plan_model

# Keyed by layers.ACTIVATION_NAMES (tested).
ACTIVATIONS: dict[str, Callable[[], nn.Module]] = {
    "relu": nn.ReLU,
    "tanh": nn.Tanh,
    "sigmoid": nn.Sigmoid,
    # dim 1 is the class (or channel) axis of a batched input.
    "softmax": lambda: nn.Softmax(dim=1),
    "log_softmax": lambda: nn.LogSoftmax(dim=1),
}


def _conv2d(layer: Layer) -> nn.Module:
    s = layer.settings
    return nn.Conv2d(layer.input_shape[0], s["filters"], s["kernel"], stride=s["stride"], padding=s["padding"], bias=s["bias"])


def _pool(pool_cls: type[nn.MaxPool2d] | type[nn.AvgPool2d]) -> Callable[[Layer], nn.Module]:
    def build(layer: Layer) -> nn.Module:
        return pool_cls(layer.settings["size"], stride=layer.settings["stride"])

    return build


def _activation(name: str) -> Callable[[Layer], nn.Module]:
    return lambda layer: ACTIVATIONS[name]()


def _batchnorm(layer: Layer) -> nn.Module:
    channels = layer.input_shape[0]
    return nn.BatchNorm2d(channels) if len(layer.input_shape) == 3 else nn.BatchNorm1d(channels)


def _dense(layer: Layer) -> nn.Module:
    s = layer.settings
    linear = nn.Linear(layer.input_shape[0], s["units"], bias=s["bias"])
    if s["activation"] == "none":
        return linear
    # A separate module after the linear map; grouped so model[i] stays spec layer i.
    return nn.Sequential(linear, ACTIVATIONS[s["activation"]]())


# Layer type → its module; the same names as layers.LAYER_RULES (tested).
LAYER_TYPES: Mapping[str, Callable[[Layer], nn.Module]] = {
    "conv2d": _conv2d,
    "maxpool2d": _pool(nn.MaxPool2d),
    "avgpool2d": _pool(nn.AvgPool2d),
    **{name: _activation(name) for name in ACTIVATIONS},
    "flatten": lambda layer: nn.Flatten(),
    "dropout": lambda layer: nn.Dropout(layer.settings["p"]),
    "dropout2d": lambda layer: nn.Dropout2d(layer.settings["p"]),
    "batchnorm": _batchnorm,
    "dense": _dense,
}


def build_model(spec: Mapping[str, Any], input_shape: Shape, num_classes: int) -> nn.Sequential:
    """The spec's layers in order (model[i] is spec layer i); ModelSpecError as plan_model raises it."""
    return nn.Sequential(*(LAYER_TYPES[layer.type](layer) for layer in plan_model(spec, input_shape, num_classes).layers))
