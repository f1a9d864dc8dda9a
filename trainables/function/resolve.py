"""Which kind of trainable a trial config's `trainable` names: a built-in one (trainables/kinds.py), an
importable training function (`MODULE:FUNCTION`), or a name an installed package registers under the
entry point group `sweeps.trainables` (its object a `Kind`, or a training function).

A training function's module is imported when it is named: a plan reports one that does not import, or
is not callable, before anything trains.
"""

from __future__ import annotations

import functools
import importlib
import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from importlib.metadata import EntryPoint, entry_points
from pathlib import Path
from typing import Any

from trainables.function.checked import checked
from trainables.function.schema import FunctionTrialConfig
from trainables.kinds import KINDS, Kind, Train, kind

ENTRY_POINT_GROUP = "sweeps.trainables"
CALLED_WITH = ("config", "data_root", "report", "placement", "resume")  # a training function's arguments, in order


@dataclass(frozen=True)
class FunctionKind(Kind):
    """A training function as a kind: its trials validated by FunctionTrialConfig, each trained alone."""

    function: Callable[..., None] | None = None  # the user's Train (`trainer` names it)

    @property
    def train(self) -> Train:
        """The function, with its reports checked against the contract as it runs (checked.py)."""
        assert self.function is not None
        return checked(self.function, self.trainer)


def trainable_kind(name: str) -> Kind:
    """The kind `name` names; ValueError with one line when it names none (or does not import)."""
    if name in KINDS:
        return kind(name)
    if ":" in name:
        return _function_kind(name, _imported(name))
    registered = {point.name: point for point in entry_points(group=ENTRY_POINT_GROUP)}
    if name in registered:
        return _registered(registered[name])
    allowed = ", ".join([*KINDS, *sorted(registered)])
    raise ValueError(f"trainable: unknown trainable {name!r}; allowed: {allowed}, or MODULE:FUNCTION (a training function)")


def module_file(kind_: Kind) -> Path:
    """The source file of the module that holds a kind's training function."""
    module = importlib.import_module(kind_.trainer.partition(":")[0])
    if getattr(module, "__file__", None) is None:
        raise ValueError(f"trainable: {kind_.trainer}: its module has no source file to hash")
    return Path(str(module.__file__)).resolve()


@functools.cache
def _imported(path: str) -> Callable[..., None]:
    module_name, _, attribute = path.partition(":")
    try:
        module = importlib.import_module(module_name)
    except Exception as error:  # the user's module: any error it raises on import is theirs to see
        first = (str(error).strip().splitlines() or [""])[0]
        raise ValueError(f"trainable: {path} does not import: {type(error).__name__}: {first}") from None
    found: Any = module
    for part in attribute.split("."):
        if not hasattr(found, part):
            raise ValueError(f"trainable: {path}: module {module_name} has no {attribute!r}")
        found = getattr(found, part)
    if not callable(found):
        raise ValueError(f"trainable: {path} is not callable (a {type(found).__name__})")
    _check_arguments(path, found)
    return found


def _check_arguments(path: str, function: Callable[..., Any]) -> None:
    """A function the contract's call `train(config, data_root, report, placement, resume)` would not fit."""
    try:
        signature = inspect.signature(function)
    except ValueError:  # no signature to read (a C function): its call will tell
        return
    try:
        signature.bind(*CALLED_WITH)
    except TypeError:
        raise ValueError(f"trainable: {path} takes {signature}; it is called as train({', '.join(CALLED_WITH)})") from None


def _registered(point: EntryPoint) -> Kind:
    """An entry point's kind: its object when that is a Kind, else its training function's."""
    try:
        loaded = point.load()
    except Exception as error:
        first = (str(error).strip().splitlines() or [""])[0]
        raise ValueError(f"trainable: {point.name} ({point.value}) does not import: {type(error).__name__}: {first}") from None
    if isinstance(loaded, Kind):
        return loaded
    if not callable(loaded):
        raise ValueError(f"trainable: {point.name} ({point.value}) is neither a Kind nor callable (a {type(loaded).__name__})")
    _check_arguments(point.name, loaded)
    return _function_kind(point.value.replace(" ", ""), loaded)


def _function_kind(path: str, function: Callable[..., None]) -> FunctionKind:
    return FunctionKind(
        schema=FunctionTrialConfig,
        trainer=path,
        parameters=_no_count,
        ensure_available=_nothing_to_fetch,
        function=function,
    )


def _no_count(config: Mapping[str, Any], data_root: Path) -> int:
    """A training function builds its own model: the plan cannot count its parameters (0: unknown)."""
    return 0


def _nothing_to_fetch(data: Mapping[str, Any], data_root: str | Path) -> None:
    """A training function reads (or fetches) its own data, when it trains."""
