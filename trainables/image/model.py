"""The layer registry: torch modules built from a model spec's pure pass (layers.py).

`plan_model` has already checked every parameter and inferred every shape; a factory here turns one
planned layer into its module and never checks anything itself, so the plan's shapes and parameter
counts are the model's.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import torch
from torch import nn

from trainables.image.layers import Layer, Shape, plan_model
from trainables.image.schema import is_target
from trainables.image.target import build as build_target

# Keyed by layers.ACTIVATION_NAMES (tested).
ACTIVATIONS: dict[str, Callable[[], nn.Module]] = {
    "relu": nn.ReLU,
    "tanh": nn.Tanh,
    "sigmoid": nn.Sigmoid,
    # dim 1 is the class (or channel) axis of a batched input.
    "softmax": lambda: nn.Softmax(dim=1),
    "log_softmax": lambda: nn.LogSoftmax(dim=1),
}


class Dropout(nn.Module):
    """Dropout whose noise is the trial's own: drawn from `generator` (the trial's noise generator, set by
    the loop), or given as `mask` (a pack draws each member's masks with its generator, in this order).

    While training, each example keeps each unit (`channelwise`: each channel) with probability 1 − p,
    scaled by 1 / (1 − p), as torch's dropout; p = 0 draws nothing and p = 1 zeroes (as torch does).
    Drawing from a generator the trial owns makes its noise the same alone, in a pack, and in a
    captured CUDA graph (a generator registered with the graph advances as it would eagerly).
    """

    mask: torch.Tensor | None  # a registered buffer (below): what nn.Module's attribute lookup returns

    def __init__(self, p: float, channelwise: bool) -> None:
        super().__init__()
        self.p = p
        self.channelwise = channelwise
        self.generator: torch.Generator | None = None
        self.register_buffer("mask", None, persistent=False)  # a pack member's mask for this batch

    def mask_shape(self, x: torch.Tensor) -> tuple[int, ...]:
        """(N, C, 1, 1) for channels, else the input's own shape."""
        return (*x.shape[:2], *[1] * (x.dim() - 2)) if self.channelwise else tuple(x.shape)

    def draw(self, shape: tuple[int, ...], device: torch.device, generator: torch.Generator | None) -> torch.Tensor:
        """One batch's mask, already scaled; each call advances `generator` as eager training would
        (p = 0 draws nothing and keeps everything)."""
        if self.p == 0.0:
            return torch.ones(shape, device=device)
        if self.p >= 1.0:
            return torch.zeros(shape, device=device)
        keep = 1.0 - self.p
        return torch.empty(shape, device=device).bernoulli_(keep, generator=generator).div_(keep)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training:
            return x
        if self.mask is not None:  # a pack member's, drawn with its own p and generator
            return x * self.mask
        if self.p == 0.0:
            return x
        return x * self.draw(self.mask_shape(x), x.device, self.generator)


def dropouts(model: nn.Module) -> list[Dropout]:
    """The model's dropout layers in the order its forward pass meets them (the order masks are drawn)."""
    return [module for module in model.modules() if isinstance(module, Dropout)]


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
    "dropout": lambda layer: Dropout(layer.settings["p"], channelwise=False),
    "dropout2d": lambda layer: Dropout(layer.settings["p"], channelwise=True),
    "batchnorm": _batchnorm,
    "dense": _dense,
}


def model_of(spec: Mapping[str, Any], input_shape: Shape, num_classes: int) -> nn.Module:
    """The model a config describes: a layer list's (build_model), or the module its `_target_` names (target.py)."""
    if is_target(spec):
        return build_target(spec, input_shape, num_classes)
    return build_model(spec, input_shape, num_classes)


def build_model(spec: Mapping[str, Any], input_shape: Shape, num_classes: int) -> nn.Sequential:
    """The spec's layers in order (model[i] is spec layer i); ModelSpecError as plan_model raises it."""
    return nn.Sequential(*(LAYER_TYPES[layer.type](layer) for layer in plan_model(spec, input_shape, num_classes).layers))
