"""Hydra's sweep grammar → a Ray Tune search space (which Ray's OptunaSearch turns into Optuna's).

    choice(a, b, c)             → tune.choice([a, b, c])   (any values: numbers, group options, …)
    range(start, stop[, step])  → tune.choice(list)        (Hydra's range: stop excluded)
    interval(low, high)         → tune.uniform(low, high)
    tag(log, interval(lo, hi))  → tune.loguniform(lo, hi)
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import ChoiceSweep, IntervalSweep, RangeSweep
from hydra.errors import HydraException
from ray import tune

from sweeps.errors import SweepError


def search_space(space: Mapping[str, str], where: str = "search.space") -> dict[str, Any]:
    """Each `key: "choice(…)"` of a study's search block as a Ray Tune domain; bad grammar is a SweepError."""
    return {key: _domain(key, str(expression), where) for key, expression in space.items()}


def _domain(key: str, expression: str, where: str) -> Any:
    try:
        (override,) = OverridesParser.create().parse_overrides([f"{key}={expression}"])
    except HydraException as error:
        raise SweepError(f"{where}.{key}: {str(error).splitlines()[0]}") from None
    sweep = override.value()
    if isinstance(sweep, ChoiceSweep):
        return tune.choice(list(sweep.list))
    if isinstance(sweep, RangeSweep):
        step = 1 if sweep.step is None else sweep.step
        values = []
        value = sweep.start
        while value < sweep.stop:
            values.append(value)
            value += step
        return tune.choice(values)
    if isinstance(sweep, IntervalSweep):
        low, high = float(sweep.start), float(sweep.end)
        if "log" in sweep.tags:
            if low <= 0:
                raise SweepError(f"{where}.{key}: a log interval needs a positive lower bound (got {low:g})")
            return tune.loguniform(low, high)
        return tune.uniform(low, high)
    raise SweepError(
        f"{where}.{key}: {expression!r} is not a search expression; allowed: choice(…), range(…), "
        "interval(…), tag(log, interval(…))"
    )
