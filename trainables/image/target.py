"""Models from code: `model._target_` names a class or function that returns a torch module (Hydra's convention).

Every other key of the model config but `name` and `note` is a keyword argument, passed as written
(`width` and `dropout` too, when written, so a question can vary them). `num_classes` and `in_channels`,
when the constructor's signature names them and the config does not, are filled in from the data.
The target is imported with importlib (the module path, then attributes), not through Hydra: this package
stays plain PyTorch.

The plan builds each such model once and runs it on one batch of the data's shape without training
(`checked_parameters`): it must return one score per class, in the form the loss takes, and the errors
name the target and the shapes.
"""

from __future__ import annotations

import functools
import importlib
import inspect
import json
from collections.abc import Callable, Mapping
from typing import Any

import torch
from torch import nn

from trainables.image.layers import ModelSpecError, Shape
from trainables.image.schema import TARGET

NOT_ARGUMENTS = {TARGET, "name", "note"}  # model config keys that describe the model, not its constructor's
OPTIONAL = {"width", "dropout"}  # passed when written (not null)
CHECK_BATCH = 2  # examples in the plan's forward check
# trainer.loss → what the model's output must be for it, and the test of one row of outputs.
LOSS_OUTPUTS: dict[str, tuple[str, Callable[[torch.Tensor], torch.Tensor]]] = {
    "nll": ("log-probabilities (a model ending in log_softmax)", lambda out: out.exp().sum(1)),
    "sparse_categorical_crossentropy": ("probabilities (a model ending in softmax)", lambda out: out.sum(1)),
}


class TargetModelError(ModelSpecError):
    """A model from code that cannot be imported, built or run on the data's shape."""


def locate(target: str) -> Any:
    """The object `target` names: its longest importable module prefix, then attributes of it."""
    parts = target.split(".")
    missing: ModuleNotFoundError | None = None
    for cut in range(len(parts) - 1, 0, -1):
        module_name = ".".join(parts[:cut])
        try:
            found: Any = importlib.import_module(module_name)
        except ModuleNotFoundError as error:
            if error.name is not None and (module_name == error.name or module_name.startswith(f"{error.name}.")):
                missing = error  # this prefix is not a module: a shorter one may be
                continue
            raise _import_error(target, error) from None
        except Exception as error:  # the module itself fails as it runs: its own error, first line
            raise _import_error(target, error) from None
        for attribute in parts[cut:]:
            if not hasattr(found, attribute):
                if missing is not None:  # `a.b.C` where a is a package without b: b's import error says it
                    raise _import_error(target, missing)
                raise TargetModelError(f"model.{TARGET}: cannot import {target!r}: {module_name} has no attribute {attribute!r}")
            found = getattr(found, attribute)
        return found
    raise _import_error(target, missing or ModuleNotFoundError(f"no module in {target!r}"))


def _import_error(target: str, error: BaseException) -> TargetModelError:
    first = (str(error).splitlines() or [""])[0]
    return TargetModelError(f"model.{TARGET}: cannot import {target!r}: {type(error).__name__}: {first}")


def constructor_arguments(spec: Mapping[str, Any], factory: Any, input_shape: Shape, num_classes: int) -> dict[str, Any]:
    """The keyword arguments `factory` gets: the config's, with num_classes and in_channels filled in where
    its signature names them and the config does not."""
    arguments = {
        key: value for key, value in spec.items() if key not in NOT_ARGUMENTS and not (key in OPTIONAL and value is None)
    }
    try:
        named = inspect.signature(factory).parameters
    except (TypeError, ValueError):  # a callable without a signature (a builtin): only what is written
        return arguments
    filled = {"num_classes": num_classes, "in_channels": input_shape[0]}
    return {**{key: value for key, value in filled.items() if key in named}, **arguments}


def build(spec: Mapping[str, Any], input_shape: Shape, num_classes: int) -> nn.Module:
    """The module `spec` names, built with its arguments (TargetModelError when it cannot be).

    Lazy modules get their shapes from one forward pass of zeros, so the optimizer sees real parameters.
    """
    target = spec[TARGET]
    factory = locate(target)
    if not callable(factory):
        raise TargetModelError(f"model.{TARGET}: {target} is a {type(factory).__name__}, not a class or function")
    arguments = constructor_arguments(spec, factory, input_shape, num_classes)
    written = ", ".join(f"{key}={value!r}" for key, value in arguments.items())
    try:
        inspect.signature(factory).bind(**arguments)
    except TypeError as error:
        raise TargetModelError(f"model: {target} does not take ({written}): {error}") from None
    except ValueError:  # no signature to check against: the call itself will say
        pass
    try:
        model = factory(**arguments)
    except Exception as error:
        raise TargetModelError(f"model: {target}({written}) failed: {_first_line(error)}") from None
    if not isinstance(model, nn.Module):
        raise TargetModelError(f"model: {target}({written}) returned a {type(model).__name__}, not a torch.nn.Module")
    if any(isinstance(parameter, nn.parameter.UninitializedParameter) for parameter in model.parameters()):
        with torch.no_grad():
            model.eval()(torch.zeros(CHECK_BATCH, *input_shape))
        model.train()
    return model


def checked_parameters(spec: Mapping[str, Any], input_shape: Shape, num_classes: int, loss: str) -> int:
    """The model built and run on one batch of the data's shape (TargetModelError naming the target and
    the shapes), and its trainable parameters. Checked once per model, data shape and loss in a process."""
    return _checked(json.dumps(dict(spec), sort_keys=True), tuple(input_shape), num_classes, loss)


@functools.lru_cache(maxsize=64)
def _checked(spec_json: str, input_shape: Shape, num_classes: int, loss: str) -> int:
    spec = json.loads(spec_json)
    target = spec[TARGET]
    with torch.random.fork_rng(devices=[]):  # the planning process's random state stays as it was
        torch.manual_seed(0)
        model = build(spec, input_shape, num_classes).eval()
        batch = torch.randn(CHECK_BATCH, *input_shape)  # normalised data: about zero mean, unit spread
        shape = tuple(batch.shape)
        try:
            with torch.no_grad():
                output = model(batch)
        except Exception as error:
            raise TargetModelError(f"model: {target} fails on a batch of the data's shape {shape}: {_first_line(error)}") from None
    if not isinstance(output, torch.Tensor):
        raise TargetModelError(f"model: {target} returns a {type(output).__name__} for a batch of shape {shape}, not one tensor")
    expected = (CHECK_BATCH, num_classes)
    if tuple(output.shape) != expected:
        raise TargetModelError(
            f"model: {target} returns shape {tuple(output.shape)} for a batch of shape {shape}; expected {expected}, "
            f"one score per class of the data ({num_classes} classes)"
        )
    _check_loss(target, output, loss)
    return sum(parameter.numel() for parameter in model.parameters() if parameter.requires_grad)


def _check_loss(target: str, output: torch.Tensor, loss: str) -> None:
    """A loss that takes (log-)probabilities given other scores trains on nonsense: said before it starts."""
    if loss not in LOSS_OUTPUTS:
        return
    takes, row_sums = LOSS_OUTPUTS[loss]
    if not torch.allclose(row_sums(output), torch.ones(output.shape[0]), atol=1e-3):
        raise TargetModelError(
            f"trainer.loss: {loss} takes {takes}, and {target} returns other scores (logits?); "
            "set trainer.loss=cross_entropy for a model that returns logits"
        )


def _first_line(error: BaseException) -> str:
    return f"{type(error).__name__}: {(str(error).splitlines() or [''])[0]}"
