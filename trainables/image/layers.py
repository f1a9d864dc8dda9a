"""Models as data, checked in pure Python: each layer type's one rule for its shape and parameters.

A spec is a mapping ``{"name", "width", "dropout", "layers": [{"type": ..., **params}, ...]}``
(plain containers after OmegaConf resolution). `plan_model` walks the layers in order: each layer's
input shape is the previous layer's output, so a spec never names in_channels or in_features. It checks
every parameter, infers every shape and counts every parameter without torch (the planner's pass);
model.py builds the torch modules from the same pass. ``model.dropout`` is read by the YAML
interpolations, not here.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

# Shape of one example, without the batch dimension: (C, H, W) or (features,).
Shape = tuple[int, ...]

# Activations a layer of their own or a dense layer's `activation` may name; model.ACTIVATIONS builds them.
ACTIVATION_NAMES: tuple[str, ...] = ("relu", "tanh", "sigmoid", "softmax", "log_softmax")


class ModelSpecError(ValueError):
    """A model spec that cannot be built; the one-line message names the offending place."""


class _LayerError(Exception):
    """Raised inside a rule; plan_model prefixes the layer's place in the spec."""

    def __init__(self, key: str | None, message: str) -> None:
        super().__init__(message)
        self.key = key
        self.message = message


class Inferred(NamedTuple):
    """What a rule finds for one layer on its input shape."""

    shape: Shape  # output shape
    parameters: int  # trainable scalars of the module
    settings: dict[str, Any]  # checked, resolved values its torch module is built with


@dataclass(frozen=True)
class Layer:
    """One spec layer after the pure pass: model.py builds its torch module from this alone."""

    type: str
    input_shape: Shape
    output_shape: Shape
    parameters: int
    settings: dict[str, Any]


@dataclass(frozen=True)
class ModelPlan:
    layers: tuple[Layer, ...]  # spec layer i is layers[i]

    @property
    def parameters(self) -> int:
        """Trainable parameters (scalars) of the whole model, as reported for the question set."""
        return sum(layer.parameters for layer in self.layers)


RuleFn = Callable[[Mapping[str, Any], Shape, float, int], Inferred]


@dataclass(frozen=True)
class LayerRule:
    """One layer type: its parameter names and its shape/parameter rule.

    Calling it checks the parameter keys, fills in defaults and delegates to ``infer`` with
    (params, input shape, width, num_classes).
    """

    infer: RuleFn
    required: tuple[str, ...] = ()
    defaults: Mapping[str, Any] = field(default_factory=dict)

    @property
    def allowed(self) -> tuple[str, ...]:
        return tuple(sorted((*self.required, *self.defaults)))

    def __call__(self, params: Mapping[str, Any], shape: Shape, width: float, num_classes: int) -> Inferred:
        allowed = ", ".join(self.allowed) or "(none)"
        for key in params:
            if key not in self.allowed:
                raise _LayerError(str(key), f"unknown parameter; allowed: {allowed}")
        for key in self.required:
            if key not in params:
                raise _LayerError(key, "missing required parameter")
        return self.infer({**self.defaults, **params}, shape, width, num_classes)


# --- parameter and shape helpers ------------------------------------------------


def _scale_width(n: int, width: float) -> int:
    """Channels or units after the width multiplier; never below 1."""
    return max(1, round(n * width))


def _positive_int(params: Mapping[str, Any], key: str) -> int:
    value = params[key]
    # bool is an int subclass; `true` is never a size.
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise _LayerError(key, f"expected a positive int, got {value!r}")
    return value


def _probability(params: Mapping[str, Any], key: str) -> float:
    value = params[key]
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
        raise _LayerError(key, f"expected a float in [0, 1], got {value!r}")
    return float(value)


def _flag(params: Mapping[str, Any], key: str) -> bool:
    value = params[key]
    if not isinstance(value, bool):
        raise _LayerError(key, f"expected true or false, got {value!r}")
    return value


def _require_image(shape: Shape, layer: str) -> tuple[int, int, int]:
    if len(shape) != 3:
        raise _LayerError(None, f"{layer} needs a (C, H, W) input, got shape {shape}")
    return shape[0], shape[1], shape[2]


def _require_flat(shape: Shape, layer: str) -> int:
    if len(shape) != 1:
        raise _LayerError(None, f"{layer} needs a flat input, got shape {shape}; add {{type: flatten}} before it")
    return shape[0]


def _window_out(size: int, kernel: int, stride: int, padding: int, shape: Shape) -> int:
    """Output length of a conv/pool window along one spatial axis (PyTorch floor rule)."""
    if size + 2 * padding < kernel:
        raise _LayerError(None, f"kernel {kernel} (padding {padding}) does not fit input shape {shape}")
    return (size + 2 * padding - kernel) // stride + 1


# --- rules -----------------------------------------------------------------------


def _conv_padding(params: Mapping[str, Any], stride: int) -> int | str:
    padding = params["padding"]
    if padding == "valid":
        return 0
    if padding == "same":
        if stride != 1:
            raise _LayerError("padding", f"'same' needs stride 1, got stride {stride}")
        return "same"
    if isinstance(padding, bool) or not isinstance(padding, int) or padding < 0:
        raise _LayerError("padding", f"expected an int >= 0, 'valid' or 'same', got {padding!r}")
    return padding


def _conv2d(params: Mapping[str, Any], shape: Shape, width: float, num_classes: int) -> Inferred:
    channels, height, wide = _require_image(shape, "conv2d")
    filters = _scale_width(_positive_int(params, "filters"), width)
    kernel = _positive_int(params, "kernel")
    stride = _positive_int(params, "stride")
    padding = _conv_padding(params, stride)
    if isinstance(padding, str):  # "same": the output keeps the input's height and width
        out_hw: tuple[int, ...] = (height, wide)
    else:
        out_hw = tuple(_window_out(n, kernel, stride, padding, shape) for n in (height, wide))
    bias = _flag(params, "bias")
    parameters = filters * channels * kernel * kernel + (filters if bias else 0)
    settings = {"filters": filters, "kernel": kernel, "stride": stride, "padding": padding, "bias": bias}
    return Inferred((filters, *out_hw), parameters, settings)


def _pool(layer: str) -> RuleFn:
    def infer(params: Mapping[str, Any], shape: Shape, width: float, num_classes: int) -> Inferred:
        channels, height, wide = _require_image(shape, layer)
        size = _positive_int(params, "size")
        # stride None means "same as size": non-overlapping windows, the usual pooling.
        stride = size if params["stride"] is None else _positive_int(params, "stride")
        out_hw = tuple(_window_out(n, size, stride, 0, shape) for n in (height, wide))
        return Inferred((channels, *out_hw), 0, {"size": size, "stride": stride})

    return infer


def _shape_preserving(params: Mapping[str, Any], shape: Shape, width: float, num_classes: int) -> Inferred:
    return Inferred(shape, 0, {})


def _flatten(params: Mapping[str, Any], shape: Shape, width: float, num_classes: int) -> Inferred:
    return Inferred((math.prod(shape),), 0, {})


def _dropout(params: Mapping[str, Any], shape: Shape, width: float, num_classes: int) -> Inferred:
    return Inferred(shape, 0, {"p": _probability(params, "p")})


def _dropout2d(params: Mapping[str, Any], shape: Shape, width: float, num_classes: int) -> Inferred:
    _require_image(shape, "dropout2d")
    return Inferred(shape, 0, {"p": _probability(params, "p")})


def _batchnorm(params: Mapping[str, Any], shape: Shape, width: float, num_classes: int) -> Inferred:
    if len(shape) not in (1, 3):
        raise _LayerError(None, f"batchnorm needs a (C, H, W) or flat input, got shape {shape}")
    # A scale and a shift per channel; the running statistics are buffers, not parameters.
    return Inferred(shape, 2 * shape[0], {})


def _dense_units(params: Mapping[str, Any], width: float, num_classes: int) -> int:
    # "classes" is the output layer: its size is fixed by the data set, never scaled.
    units = params["units"]
    if units == "classes":
        return num_classes
    if isinstance(units, bool) or not isinstance(units, int) or units < 1:
        raise _LayerError("units", f"expected a positive int or 'classes', got {units!r}")
    return _scale_width(units, width)


def _dense(params: Mapping[str, Any], shape: Shape, width: float, num_classes: int) -> Inferred:
    features = _require_flat(shape, "dense")
    units = _dense_units(params, width, num_classes)
    bias = _flag(params, "bias")
    activation = params["activation"]
    if activation != "none" and (not isinstance(activation, str) or activation not in ACTIVATION_NAMES):
        allowed = ", ".join(["none", *ACTIVATION_NAMES])
        raise _LayerError("activation", f"unknown activation {activation!r}; allowed: {allowed}")
    parameters = features * units + (units if bias else 0)
    return Inferred((units,), parameters, {"units": units, "bias": bias, "activation": activation})


# Layer type → its rule; model.LAYER_TYPES builds a torch module for each of these names (tested).
LAYER_RULES: Mapping[str, LayerRule] = {
    "conv2d": LayerRule(_conv2d, required=("filters", "kernel"), defaults={"stride": 1, "padding": 0, "bias": True}),
    "maxpool2d": LayerRule(_pool("maxpool2d"), required=("size",), defaults={"stride": None}),
    "avgpool2d": LayerRule(_pool("avgpool2d"), required=("size",), defaults={"stride": None}),
    **{name: LayerRule(_shape_preserving) for name in ACTIVATION_NAMES},
    "flatten": LayerRule(_flatten),
    "dropout": LayerRule(_dropout, required=("p",)),
    "dropout2d": LayerRule(_dropout2d, required=("p",)),
    "batchnorm": LayerRule(_batchnorm),
    "dense": LayerRule(_dense, required=("units",), defaults={"activation": "none", "bias": True}),
}


# --- a whole spec ------------------------------------------------------------------


def _spec_width(spec: Mapping[str, Any]) -> float:
    width = spec.get("width", 1.0)
    if isinstance(width, bool) or not isinstance(width, (int, float)) or width <= 0:
        raise ModelSpecError(f"model.width: expected a positive number, got {width!r}")
    return float(width)


def _spec_layers(spec: Mapping[str, Any]) -> Sequence[Any]:
    layers = spec.get("layers")
    if isinstance(layers, (str, bytes)) or not isinstance(layers, Sequence) or not layers:
        raise ModelSpecError(f"model.layers: expected a non-empty list of layers, got {layers!r}")
    return layers


def _layer_type(layer: Any, where: str) -> str:
    if not isinstance(layer, Mapping):
        raise ModelSpecError(f"{where}: expected a mapping with a 'type' key, got {layer!r}")
    layer_type = layer.get("type")
    # isinstance first: an unhashable value (a list) cannot be looked up.
    if not isinstance(layer_type, str) or layer_type not in LAYER_RULES:
        allowed = ", ".join(sorted(LAYER_RULES))
        raise ModelSpecError(f"{where}.type: unknown layer type {layer_type!r}; allowed: {allowed}")
    return layer_type


def plan_model(spec: Mapping[str, Any], input_shape: Shape, num_classes: int) -> ModelPlan:
    """Every layer of the spec checked, its shapes inferred and its parameters counted, in order.

    Raises ModelSpecError with one line naming the layer and key, e.g. ``model.layers[1].kernel: …``.
    """
    if not isinstance(spec, Mapping):
        raise ModelSpecError(f"model: expected a mapping, got {spec!r}")
    width = _spec_width(spec)
    shape: Shape = tuple(input_shape)
    layers: list[Layer] = []
    for index, layer in enumerate(_spec_layers(spec)):
        where = f"model.layers[{index}]"
        layer_type = _layer_type(layer, where)
        params = {key: value for key, value in layer.items() if key != "type"}
        try:
            inferred = LAYER_RULES[layer_type](params, shape, width, num_classes)
        except _LayerError as err:
            place = f"{where}.{err.key}" if err.key else where
            raise ModelSpecError(f"{place}: {err.message}") from None
        layers.append(Layer(layer_type, shape, inferred.shape, inferred.parameters, inferred.settings))
        shape = inferred.shape
    return ModelPlan(tuple(layers))
