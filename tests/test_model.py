"""Tests for trainables.image.layers and .model: the YAML model zoo, the pure pass against the torch
modules built from it (shapes and parameter counts), the layer registry and spec errors."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest
import torch
from helpers.parameters import count_parameters
from omegaconf import OmegaConf
from torch import nn

from trainables.image.layers import ACTIVATION_NAMES, LAYER_RULES, ModelSpecError, plan_model
from trainables.image.model import ACTIVATIONS, LAYER_TYPES, build_model

MODEL_DIR = Path(__file__).resolve().parents[1] / "conf" / "model"
MNIST_SHAPE = (1, 28, 28)
CLASSES = 10

# Hand-computed trainable parameter counts for input 1x28x28 and 10 classes.
# conv c_in->c_out kN = c_out*c_in*N*N + c_out; dense a->b = a*b + b; BatchNorm2d(c) = 2*c.
_BASELINE_W1 = (10 * 25 + 10) + (20 * 10 * 25 + 20) + (320 * 50 + 50) + (50 * 10 + 10)
_BASELINE_W05 = (5 * 25 + 5) + (10 * 5 * 25 + 10) + (160 * 25 + 25) + (25 * 10 + 10)
_BASELINE_W2 = (20 * 25 + 20) + (40 * 20 * 25 + 40) + (640 * 100 + 100) + (100 * 10 + 10)
# The batch norm after the first conv adds 2 * (first conv's filters); dropout adds nothing.
_BN = {0.5: _BASELINE_W05 + 2 * 5, 1.0: _BASELINE_W1 + 2 * 10, 2.0: _BASELINE_W2 + 2 * 20}
EXPECTED_PARAMS: dict[str, dict[float, int]] = {
    # 21,840 is the known count of the PyTorch MNIST example net.
    "jhu_baseline": {0.5: _BASELINE_W05, 1.0: 21_840, 2.0: _BASELINE_W2},
    "jhu_bn": _BN,
    "jhu_bn_dropout": _BN,
    "jhu_dropout_bn": _BN,
    # conv1 + conv2 + conv3 (k3, padding 1, keeps 4x4) + dense (conv3 filters * 4 * 4 -> 10).
    "jhu_extra_conv": {
        0.5: (5 * 25 + 5) + (10 * 5 * 25 + 10) + (20 * 10 * 9 + 20) + (320 * 10 + 10),
        1.0: (10 * 25 + 10) + (20 * 10 * 25 + 20) + (40 * 20 * 9 + 40) + (640 * 10 + 10),
        2.0: (20 * 25 + 20) + (40 * 20 * 25 + 40) + (80 * 40 * 9 + 80) + (1280 * 10 + 10),
    },
}

# Minimal params and an input shape (no batch dim) for every registered layer type.
MINIMAL_LAYERS: dict[str, tuple[dict[str, Any], tuple[int, ...]]] = {
    "conv2d": ({"filters": 4, "kernel": 3}, (2, 6, 6)),
    "maxpool2d": ({"size": 2}, (2, 6, 6)),
    "avgpool2d": ({"size": 2}, (2, 6, 6)),
    "relu": ({}, (2, 6, 6)),
    "tanh": ({}, (2, 6, 6)),
    "sigmoid": ({}, (2, 6, 6)),
    "flatten": ({}, (2, 6, 6)),
    "softmax": ({}, (8,)),
    "log_softmax": ({}, (8,)),
    "dropout": ({"p": 0.5}, (8,)),
    "dropout2d": ({"p": 0.5}, (2, 6, 6)),
    "batchnorm": ({}, (2, 6, 6)),
    "dense": ({"units": 5}, (8,)),
}
# More settings whose shape or parameter count differs: each rule against its module.
OTHER_SETTINGS: list[tuple[str, dict[str, Any], tuple[int, ...]]] = [
    ("conv2d", {"filters": 3, "kernel": 3, "bias": False}, (2, 6, 6)),
    ("conv2d", {"filters": 3, "kernel": 3, "stride": 2, "padding": 1}, (2, 7, 7)),
    ("conv2d", {"filters": 3, "kernel": 5, "padding": "same"}, (2, 7, 9)),
    ("maxpool2d", {"size": 3, "stride": 2}, (2, 7, 7)),
    ("batchnorm", {}, (8,)),
    ("dense", {"units": 5, "bias": False, "activation": "tanh"}, (8,)),
]


def load_spec(path: Path) -> dict[str, Any]:
    """Load a model YAML as Hydra would place it (under `model`) and resolve interpolations."""
    config = OmegaConf.create({"model": OmegaConf.load(path)})
    return OmegaConf.to_container(config, resolve=True)["model"]  # type: ignore[index]


def spec_of(*layers: dict[str, Any], width: float = 1.0) -> dict[str, Any]:
    return {"name": "t", "width": width, "dropout": 0.5, "layers": list(layers)}


# The course material's other models at width 1: (input shape, hand-computed count).
COURSE_MODELS: dict[str, tuple[tuple[int, int, int], int]] = {
    "syde_mlp_a": (MNIST_SHAPE, (784 * 32 + 32) + (32 * 10 + 10)),
    "syde_mlp_softmax": (MNIST_SHAPE, (784 * 32 + 32) + (32 * 10 + 10)),
    "syde_mlp_deep": (MNIST_SHAPE, (784 * 256 + 256) + (256 * 256 + 256) + (256 * 10 + 10)),
    # 122,570: the count the Keras/TensorFlow CIFAR-10 CNN tutorial prints.
    "syde_cnn": ((3, 32, 32), (32 * 3 * 9 + 32) + (64 * 32 * 9 + 64) + (64 * 64 * 9 + 64) + (1024 * 64 + 64) + (64 * 10 + 10)),
    "syde_cnn_bn": (
        (3, 32, 32),
        (32 * 3 * 9 + 32) + 2 * 32 + (64 * 32 * 9 + 64) + 2 * 64 + (64 * 64 * 9 + 64) + 2 * 64 + (1024 * 128 + 128) + (128 * 10 + 10),
    ),
    "sds_net1": (MNIST_SHAPE, (8 * 16 + 8) + (8 * 12 * 12 * 128 + 128) + (128 * 10 + 10)),
    "sds_net2": (MNIST_SHAPE, (8 * 16 + 8) + (8 * 8 * 16 + 8) + (8 * 11 * 11 * 128 + 128) + (128 * 10 + 10)),
    "sds_net3": (MNIST_SHAPE, (32 * 9 + 32) + (32 * 32 * 9 + 32) + (32 * 12 * 12 * 128 + 128) + (128 * 10 + 10)),
    "fashion_cnn": (
        MNIST_SHAPE,
        (32 * 9 + 32) + 64 + (32 * 32 * 9 + 32) + 64 + (64 * 32 * 9 + 64) + 128 + (64 * 64 * 9 + 64) + 128
        + (64 * 7 * 7 * 128 + 128) + (128 * 10 + 10),
    ),
    "cloudmesh_mlp": (MNIST_SHAPE, (784 * 64 + 64) + (64 * 10 + 10)),  # 50,890 as the material's summary
    # ConvNetJS on 24×24 crops.
    "cjs_baseline": ((1, 24, 24), (8 * 25 + 8) + (16 * 8 * 25 + 16) + (16 * 4 * 4 * 10 + 10)),
    "cjs_8_8": ((1, 24, 24), (8 * 25 + 8) + (8 * 8 * 25 + 8) + (8 * 4 * 4 * 10 + 10)),
    "cjs_16_16": ((1, 24, 24), (16 * 25 + 16) + (16 * 16 * 25 + 16) + (16 * 4 * 4 * 10 + 10)),
    "cjs_kernel10": ((1, 24, 24), (8 * 100 + 8) + (16 * 8 * 100 + 16) + (16 * 4 * 4 * 10 + 10)),
    "cjs_nopool": ((1, 24, 24), (8 * 25 + 8) + (16 * 8 * 25 + 16) + (16 * 24 * 24 * 10 + 10)),
    "cjs_extra_conv": ((1, 24, 24), (8 * 25 + 8) + (16 * 8 * 25 + 16) + (16 * 16 * 25 + 16) + (16 * 2 * 2 * 10 + 10)),
    "cjs_wide": ((1, 24, 24), (32 * 9 + 32) + 3 * (32 * 32 * 9 + 32) + (32 * 4 * 4 * 10 + 10)),
    "cjs_deep": (
        (1, 24, 24),
        (32 * 25 + 32) + (64 * 32 * 25 + 64) + (64 * 64 * 25 + 64) + (64 * 4 * 4 * 100 + 100) + (100 * 10 + 10),
    ),
}


def test_every_model_yaml_has_expected_counts() -> None:
    layer_lists = [path.stem for path in MODEL_DIR.glob("*.yaml") if "layers" in OmegaConf.load(path)]
    assert sorted(layer_lists) == sorted([*EXPECTED_PARAMS, *COURSE_MODELS])


@pytest.mark.parametrize("name", sorted(COURSE_MODELS))
def test_course_model_yaml_builds_with_exact_parameter_count(name: str) -> None:
    shape, expected = COURSE_MODELS[name]
    spec = load_spec(MODEL_DIR / f"{name}.yaml")
    model = build_model(spec, shape, CLASSES).eval()
    assert model(torch.randn(3, *shape)).shape == (3, CLASSES)
    assert count_parameters(model) == plan_model(spec, shape, CLASSES).parameters == expected


@pytest.mark.parametrize("width", [0.5, 1.0, 2.0])
@pytest.mark.parametrize("name", sorted(EXPECTED_PARAMS))
def test_model_yaml_builds_with_exact_parameter_count(name: str, width: float) -> None:
    spec = load_spec(MODEL_DIR / f"{name}.yaml")
    spec["width"] = width
    model = build_model(spec, MNIST_SHAPE, CLASSES).eval()
    out = model(torch.randn(3, *MNIST_SHAPE))
    assert out.shape == (3, CLASSES)
    assert count_parameters(model) == plan_model(spec, MNIST_SHAPE, CLASSES).parameters == EXPECTED_PARAMS[name][width]
    # Every model ends in log_softmax: probabilities sum to 1 per example.
    torch.testing.assert_close(out.exp().sum(dim=1), torch.ones(3))


@pytest.mark.parametrize("name", sorted(EXPECTED_PARAMS))
def test_every_dropout_follows_model_dropout(name: str) -> None:
    config = OmegaConf.create({"model": OmegaConf.load(MODEL_DIR / f"{name}.yaml")})
    config.model.dropout = 0.2
    layers = OmegaConf.to_container(config, resolve=True)["model"]["layers"]  # type: ignore[index]
    dropouts = [layer for layer in layers if layer["type"] in ("dropout", "dropout2d")]
    assert dropouts and all(layer["p"] == 0.2 for layer in dropouts)


def test_extra_conv_yaml_explains_itself() -> None:
    assert isinstance(load_spec(MODEL_DIR / "jhu_extra_conv.yaml")["note"], str)


def test_baseline_matches_pytorch_mnist_example_layout() -> None:
    model = build_model(load_spec(MODEL_DIR / "jhu_baseline.yaml"), MNIST_SHAPE, CLASSES)
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    assert [(c.in_channels, c.out_channels, c.kernel_size) for c in convs] == [
        (1, 10, (5, 5)),
        (10, 20, (5, 5)),
    ]
    assert [(fc.in_features, fc.out_features) for fc in linears] == [(320, 50), (50, 10)]


def test_every_layer_rule_has_a_module_and_a_test_case() -> None:
    assert set(LAYER_RULES) == set(LAYER_TYPES) == set(MINIMAL_LAYERS)
    assert set(ACTIVATION_NAMES) == set(ACTIVATIONS)


@pytest.mark.parametrize(
    ("layer_type", "params", "shape"),
    [(name, *MINIMAL_LAYERS[name]) for name in sorted(MINIMAL_LAYERS)] + OTHER_SETTINGS,
)
def test_layer_rule_gives_its_modules_output_shape_and_parameters(
    layer_type: str, params: dict[str, Any], shape: tuple[int, ...]
) -> None:
    (layer,) = plan_model(spec_of({"type": layer_type, **params}), shape, CLASSES).layers
    module = LAYER_TYPES[layer_type](layer)
    assert tuple(module(torch.randn(2, *shape)).shape) == (2, *layer.output_shape)
    assert count_parameters(module) == layer.parameters


def test_conv_same_padding_keeps_height_and_width() -> None:
    spec = spec_of({"type": "conv2d", "filters": 3, "kernel": 5, "padding": "same"})
    out = build_model(spec, (1, 7, 9), CLASSES)(torch.randn(2, 1, 7, 9))
    assert out.shape == (2, 3, 7, 9)


def test_conv_valid_padding_is_zero() -> None:
    spec = spec_of({"type": "conv2d", "filters": 3, "kernel": 5, "padding": "valid"})
    assert build_model(spec, (1, 7, 9), CLASSES)(torch.randn(2, 1, 7, 9)).shape == (2, 3, 3, 5)


@pytest.mark.parametrize("layer_type", ["maxpool2d", "avgpool2d"])
def test_pool_stride_defaults_to_size(layer_type: str) -> None:
    pool = build_model(spec_of({"type": layer_type, "size": 3}), (1, 9, 9), CLASSES)[0]
    assert pool.stride in (3, (3, 3))
    assert pool(torch.randn(1, 1, 9, 9)).shape == (1, 1, 3, 3)


def test_batchnorm_picks_2d_or_1d_from_input_rank() -> None:
    image = build_model(spec_of({"type": "batchnorm"}), (4, 5, 5), CLASSES)
    flat = build_model(spec_of({"type": "flatten"}, {"type": "batchnorm"}), (4, 5, 5), CLASSES)
    assert isinstance(image[0], nn.BatchNorm2d) and image[0].num_features == 4
    assert isinstance(flat[1], nn.BatchNorm1d) and flat[1].num_features == 100


def test_dense_classes_ignores_width_and_hidden_units_scale() -> None:
    spec = spec_of(
        {"type": "flatten"},
        {"type": "dense", "units": 50},
        {"type": "dense", "units": "classes"},
        width=2.0,
    )
    model = build_model(spec, (1, 4, 4), CLASSES)
    assert (model[1].out_features, model[2].out_features) == (100, CLASSES)


def test_width_never_rounds_below_one_unit() -> None:
    spec = spec_of({"type": "conv2d", "filters": 2, "kernel": 1}, width=0.01)
    assert build_model(spec, (1, 3, 3), CLASSES)[0].out_channels == 1


def test_dense_activation_is_a_separate_module_in_the_layer_slot() -> None:
    spec = spec_of({"type": "dense", "units": 4, "activation": "tanh"})
    model = build_model(spec, (3,), CLASSES)  # type: ignore[arg-type]  # a flat input is allowed
    assert [type(m) for m in model[0]] == [nn.Linear, nn.Tanh]


def test_count_parameters_skips_frozen() -> None:
    spec = spec_of({"type": "dense", "units": 4})
    model = build_model(spec, (3,), CLASSES)  # type: ignore[arg-type]  # a flat input is allowed
    model[0].bias.requires_grad_(False)
    assert count_parameters(model) == 3 * 4


_CONV = {"type": "conv2d", "filters": 4, "kernel": 3}
# (id, spec, regex the one-line message must match)
ERROR_CASES: list[tuple[str, dict[str, Any], str]] = [
    (
        "unknown type",
        spec_of({"type": "relu"}, {"type": "foo"}),
        r"model\.layers\[1\]\.type: unknown layer type 'foo'; allowed: avgpool2d, batchnorm, ",
    ),
    (
        "unknown key",
        spec_of({**_CONV, "kernal": 3}),
        r"model\.layers\[0\]\.kernal: unknown parameter; "
        r"allowed: bias, filters, kernel, padding, stride",
    ),
    (
        "missing param",
        spec_of({"type": "relu"}, {"type": "conv2d", "filters": 4}),
        r"model\.layers\[1\]\.kernel: missing required parameter",
    ),
    (
        "kernel too large",
        spec_of({"type": "maxpool2d", "size": 2}, {**_CONV, "kernel": 15}),
        r"model\.layers\[1\]: kernel 15 .*input shape \(1, 14, 14\)",
    ),
    (
        "dense on image",
        spec_of(_CONV, {"type": "dense", "units": 5}),
        r"model\.layers\[1\]: dense needs a flat input, got shape \(4, 26, 26\)",
    ),
    (
        "bad dropout p",
        spec_of({"type": "dropout", "p": 1.5}),
        r"model\.layers\[0\]\.p: expected a float in \[0, 1\]",
    ),
    (
        "same with stride",
        spec_of({**_CONV, "stride": 2, "padding": "same"}),
        r"model\.layers\[0\]\.padding: 'same' needs stride 1",
    ),
    (
        "bad activation",
        spec_of({"type": "flatten"}, {"type": "dense", "units": 5, "activation": "gelu"}),
        r"model\.layers\[1\]\.activation: unknown activation 'gelu'",
    ),
    (
        "bad units",
        spec_of({"type": "flatten"}, {"type": "dense", "units": "many"}),
        r"model\.layers\[1\]\.units: expected a positive int or 'classes'",
    ),
    ("bad width", spec_of(_CONV, width=0), r"model\.width: expected a positive number"),
    ("no layers", {"name": "t", "layers": []}, r"model\.layers: expected a non-empty list"),
]
SpecCheck = Callable[[Mapping[str, Any], tuple[int, int, int], int], object]


@pytest.mark.parametrize("check", [build_model, plan_model], ids=["build", "plan"])
@pytest.mark.parametrize(
    ("spec", "message"), [case[1:] for case in ERROR_CASES], ids=[case[0] for case in ERROR_CASES]
)
def test_bad_spec_names_the_place(check: SpecCheck, spec: dict[str, Any], message: str) -> None:
    with pytest.raises(ModelSpecError, match=message) as caught:
        check(spec, MNIST_SHAPE, CLASSES)
    assert "\n" not in str(caught.value)
