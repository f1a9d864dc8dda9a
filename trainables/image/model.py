"""Models as data: a spec lists layers, a registry of factories turns it into torch modules.

A spec is a mapping ``{"name", "width", "dropout", "layers": [{"type": ..., **params}, ...]}``
(plain containers after OmegaConf resolution). The builder infers every layer's input
size from the previous layer's output shape, so a spec never names in_channels or
in_features. ``model.dropout`` is read by the YAML interpolations, not by the builder.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

# Shape of one example, without the batch dimension: (C, H, W) or (features,).
Shape = tuple[int, ...]
BuildFn = Callable[[Mapping[str, Any], Shape, float, int], tuple[nn.Module, Shape]]

_ACTIVATIONS: dict[str, Callable[[], nn.Module]] = {
    "relu": nn.ReLU,
    "tanh": nn.Tanh,
    "sigmoid": nn.Sigmoid,
    # dim 1 is the class (or channel) axis of a batched input.
    "softmax": lambda: nn.Softmax(dim=1),
    "log_softmax": lambda: nn.LogSoftmax(dim=1),
}


class ModelSpecError(ValueError):
    """A model spec that cannot be built; the one-line message names the offending place."""


class _LayerError(Exception):
    """Raised inside a factory; build_model prefixes the layer's place in the spec."""

    def __init__(self, key: str | None, message: str) -> None:
        super().__init__(message)
        self.key = key
        self.message = message


@dataclass(frozen=True)
class LayerFactory:
    """One layer type: its parameter names and how to build it on a given input shape.

    Calling it checks the parameter keys, fills in defaults and delegates to ``build``
    with (params, input shape, width, num_classes); it returns (module, output shape).
    """

    build: BuildFn
    required: tuple[str, ...] = ()
    defaults: Mapping[str, Any] = field(default_factory=dict)

    @property
    def allowed(self) -> tuple[str, ...]:
        return tuple(sorted((*self.required, *self.defaults)))

    def __call__(
        self, params: Mapping[str, Any], shape: Shape, width: float, num_classes: int
    ) -> tuple[nn.Module, Shape]:
        allowed = ", ".join(self.allowed) or "(none)"
        for key in params:
            if key not in self.allowed:
                raise _LayerError(str(key), f"unknown parameter; allowed: {allowed}")
        for key in self.required:
            if key not in params:
                raise _LayerError(key, "missing required parameter")
        return self.build({**self.defaults, **params}, shape, width, num_classes)


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
        raise _LayerError(
            None, f"{layer} needs a flat input, got shape {shape}; add {{type: flatten}} before it"
        )
    return shape[0]


def _window_out(size: int, kernel: int, stride: int, padding: int, shape: Shape) -> int:
    """Output length of a conv/pool window along one spatial axis (PyTorch floor rule)."""
    if size + 2 * padding < kernel:
        raise _LayerError(
            None, f"kernel {kernel} (padding {padding}) does not fit input shape {shape}"
        )
    return (size + 2 * padding - kernel) // stride + 1


# --- factories ------------------------------------------------------------------


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


def _conv2d(
    params: Mapping[str, Any], shape: Shape, width: float, num_classes: int
) -> tuple[nn.Module, Shape]:
    channels, height, wide = _require_image(shape, "conv2d")
    filters = _scale_width(_positive_int(params, "filters"), width)
    kernel = _positive_int(params, "kernel")
    stride = _positive_int(params, "stride")
    padding = _conv_padding(params, stride)
    if padding == "same":
        out_hw = (height, wide)
    else:
        out_hw = tuple(_window_out(n, kernel, stride, padding, shape) for n in (height, wide))
    conv = nn.Conv2d(
        channels, filters, kernel, stride=stride, padding=padding, bias=_flag(params, "bias")
    )
    return conv, (filters, *out_hw)


def _pool(pool_cls: type[nn.Module], layer: str) -> BuildFn:
    def build(
        params: Mapping[str, Any], shape: Shape, width: float, num_classes: int
    ) -> tuple[nn.Module, Shape]:
        channels, height, wide = _require_image(shape, layer)
        size = _positive_int(params, "size")
        # stride None means "same as size": non-overlapping windows, the usual pooling.
        stride = size if params["stride"] is None else _positive_int(params, "stride")
        out_hw = tuple(_window_out(n, size, stride, 0, shape) for n in (height, wide))
        return pool_cls(size, stride=stride), (channels, *out_hw)

    return build


def _shape_preserving(make: Callable[[], nn.Module]) -> BuildFn:
    def build(
        params: Mapping[str, Any], shape: Shape, width: float, num_classes: int
    ) -> tuple[nn.Module, Shape]:
        return make(), shape

    return build


def _flatten(
    params: Mapping[str, Any], shape: Shape, width: float, num_classes: int
) -> tuple[nn.Module, Shape]:
    return nn.Flatten(), (math.prod(shape),)


def _dropout(
    params: Mapping[str, Any], shape: Shape, width: float, num_classes: int
) -> tuple[nn.Module, Shape]:
    return nn.Dropout(_probability(params, "p")), shape


def _dropout2d(
    params: Mapping[str, Any], shape: Shape, width: float, num_classes: int
) -> tuple[nn.Module, Shape]:
    _require_image(shape, "dropout2d")
    return nn.Dropout2d(_probability(params, "p")), shape


def _batchnorm(
    params: Mapping[str, Any], shape: Shape, width: float, num_classes: int
) -> tuple[nn.Module, Shape]:
    if len(shape) == 3:
        return nn.BatchNorm2d(shape[0]), shape
    if len(shape) == 1:
        return nn.BatchNorm1d(shape[0]), shape
    raise _LayerError(None, f"batchnorm needs a (C, H, W) or flat input, got shape {shape}")


def _dense_units(params: Mapping[str, Any], width: float, num_classes: int) -> int:
    # "classes" is the output layer: its size is fixed by the data set, never scaled.
    units = params["units"]
    if units == "classes":
        return num_classes
    if isinstance(units, bool) or not isinstance(units, int) or units < 1:
        raise _LayerError("units", f"expected a positive int or 'classes', got {units!r}")
    return _scale_width(units, width)


def _dense(
    params: Mapping[str, Any], shape: Shape, width: float, num_classes: int
) -> tuple[nn.Module, Shape]:
    features = _require_flat(shape, "dense")
    units = _dense_units(params, width, num_classes)
    linear = nn.Linear(features, units, bias=_flag(params, "bias"))
    activation = params["activation"]
    if activation == "none":
        return linear, (units,)
    if not isinstance(activation, str) or activation not in _ACTIVATIONS:
        allowed = ", ".join(["none", *_ACTIVATIONS])
        raise _LayerError("activation", f"unknown activation {activation!r}; allowed: {allowed}")
    # A separate module after the linear map; grouped so model[i] stays spec layer i.
    return nn.Sequential(linear, _ACTIVATIONS[activation]()), (units,)


LAYER_TYPES: Mapping[str, LayerFactory] = {
    "conv2d": LayerFactory(
        _conv2d, required=("filters", "kernel"), defaults={"stride": 1, "padding": 0, "bias": True}
    ),
    "maxpool2d": LayerFactory(
        _pool(nn.MaxPool2d, "maxpool2d"), required=("size",), defaults={"stride": None}
    ),
    "avgpool2d": LayerFactory(
        _pool(nn.AvgPool2d, "avgpool2d"), required=("size",), defaults={"stride": None}
    ),
    **{name: LayerFactory(_shape_preserving(make)) for name, make in _ACTIVATIONS.items()},
    "flatten": LayerFactory(_flatten),
    "dropout": LayerFactory(_dropout, required=("p",)),
    "dropout2d": LayerFactory(_dropout2d, required=("p",)),
    "batchnorm": LayerFactory(_batchnorm),
    "dense": LayerFactory(
        _dense, required=("units",), defaults={"activation": "none", "bias": True}
    ),
}


# --- building a spec -----------------------------------------------------------------


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


def _layer_factory(layer: Any, where: str) -> LayerFactory:
    if not isinstance(layer, Mapping):
        raise ModelSpecError(f"{where}: expected a mapping with a 'type' key, got {layer!r}")
    layer_type = layer.get("type")
    # isinstance first: an unhashable value (a list) cannot be looked up.
    if not isinstance(layer_type, str) or layer_type not in LAYER_TYPES:
        allowed = ", ".join(sorted(LAYER_TYPES))
        raise ModelSpecError(f"{where}.type: unknown layer type {layer_type!r}; allowed: {allowed}")
    return LAYER_TYPES[layer_type]


def build_model(
    spec: Mapping[str, Any], input_shape: tuple[int, int, int], num_classes: int
) -> nn.Sequential:
    """Build the spec's layers in order; model[i] is the module for spec layer i."""
    if not isinstance(spec, Mapping):
        raise ModelSpecError(f"model: expected a mapping, got {spec!r}")
    width = _spec_width(spec)
    shape: Shape = tuple(input_shape)
    modules: list[nn.Module] = []
    for index, layer in enumerate(_spec_layers(spec)):
        where = f"model.layers[{index}]"
        factory = _layer_factory(layer, where)
        params = {key: value for key, value in layer.items() if key != "type"}
        try:
            module, shape = factory(params, shape, width, num_classes)
        except _LayerError as err:
            place = f"{where}.{err.key}" if err.key else where
            raise ModelSpecError(f"{place}: {err.message}") from None
        modules.append(module)
    return nn.Sequential(*modules)


def validate_model(
    spec: Mapping[str, Any], input_shape: tuple[int, int, int], num_classes: int
) -> None:
    """Raise ModelSpecError if the spec does not build; built on the meta device (no memory)."""
    with torch.device("meta"):
        build_model(spec, input_shape, num_classes)
