"""Optimizers by config name; every other key of the config is passed to the torch class as is."""

from __future__ import annotations

import inspect
from collections.abc import Iterable, Mapping
from typing import Any

import torch

OPTIMIZERS: dict[str, type[torch.optim.Optimizer]] = {
    "sgd": torch.optim.SGD,
    "adam": torch.optim.Adam,
    "rmsprop": torch.optim.RMSprop,
    "adadelta": torch.optim.Adadelta,
    "adagrad": torch.optim.Adagrad,
}


def capturable(name: str) -> bool:
    """Whether the optimizer's step can be captured in a CUDA graph: SGD keeps no step count; the
    others need `capturable=True` (their step count on the device), which Adagrad does not offer."""
    return name == "sgd" or "capturable" in inspect.signature(OPTIMIZERS[name]).parameters


def build_optimizer(params: Iterable[torch.nn.Parameter], cfg: Mapping[str, Any], graph_safe: bool = False) -> torch.optim.Optimizer:
    """The configured optimizer; `graph_safe`: its state on the device, as a captured step needs."""
    kwargs = {key: value for key, value in cfg.items() if key != "name"}
    if "betas" in kwargs:
        kwargs["betas"] = tuple(kwargs["betas"])
    if graph_safe and "capturable" in inspect.signature(OPTIMIZERS[cfg["name"]]).parameters:
        kwargs["capturable"] = True
    return OPTIMIZERS[cfg["name"]](params, **kwargs)
