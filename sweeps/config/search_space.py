"""Hydra's sweep grammar → a plain search space, checked at plan time without Ray.

    choice(a, b, c)             → Choice((a, b, c))          (any values: numbers, group options, …)
    range(start, stop[, step])  → Choice(values)             (Hydra's range: stop excluded)
    interval(low, high)         → Interval(low, high)                   (floats: Hydra parses bounds as floats)
    int(interval(low, high))    → Interval(low, high, integer=True)     (whole numbers, both bounds included)
    tag(log, interval(lo, hi))  → Interval(lo, hi, log=True)            (also with int(…): a log-scaled integer)

The interval rules are those of Hydra's Optuna sweeper (`create_optuna_distribution_from_override`):
integer bounds after Hydra's casts give an integer distribution, the `log` tag its log form. A range
stays Hydra's own expansion (stop excluded), sampled as categories, so it means the same values in a
grid and in a search; the sweeper instead reads it as an integer distribution that includes `stop`.
`sweeps/run/search.py` turns these into Ray Tune domains only when the search runs.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import ChoiceSweep, IntervalSweep, RangeSweep
from hydra.errors import HydraException

from sweeps.errors import SweepError


@dataclass(frozen=True)
class Choice:
    """One of a finite list of values, sampled as categories."""

    values: tuple[Any, ...]


@dataclass(frozen=True)
class Interval:
    """A number in [low, high], sampled uniformly (on a log scale with `log`); a whole number with `integer`."""

    low: float
    high: float
    log: bool = False
    integer: bool = False


Domain = Choice | Interval


def search_space(space: Mapping[str, str], where: str = "search.space") -> dict[str, Domain]:
    """Each `key: "choice(…)"` of a study's search block as a domain, keys in written order.

    Bad grammar is a SweepError naming `<where>.<key>`.
    """
    return {key: _domain(key, str(expression), where) for key, expression in space.items()}


def _domain(key: str, expression: str, where: str) -> Domain:
    try:
        (override,) = OverridesParser.create().parse_overrides([f"{key}={expression}"])
    except HydraException as error:
        raise SweepError(f"{where}.{key}: {str(error).splitlines()[0]}") from None
    sweep = override.value()
    if isinstance(sweep, (ChoiceSweep, RangeSweep)):
        values = tuple(override.sweep_iterator())  # Hydra's own expansion of a range
        if not values:
            raise SweepError(f"{where}.{key}: {expression!r} has no values to choose from")
        bad = [value for value in values if isinstance(value, float) and not math.isfinite(value)]
        if bad:
            raise SweepError(f"{where}.{key}: every value must be a finite number (got {bad[0]:g})")
        return Choice(values)
    if isinstance(sweep, IntervalSweep):
        assert sweep.start is not None and sweep.end is not None  # Hydra's grammar: interval(start, end)
        integer = isinstance(sweep.start, int) and isinstance(sweep.end, int)  # int(interval(…)): Hydra casts both bounds
        low, high = (sweep.start, sweep.end) if integer else (float(sweep.start), float(sweep.end))
        log = "log" in sweep.tags
        if not (math.isfinite(low) and math.isfinite(high)):
            raise SweepError(f"{where}.{key}: an interval needs finite bounds (got {low:g}, {high:g})")
        if low >= high:
            raise SweepError(f"{where}.{key}: an interval needs its lower bound below its upper one (got {low:g}, {high:g})")
        if log and low <= 0:
            raise SweepError(f"{where}.{key}: a log interval needs a positive lower bound (got {low:g})")
        return Interval(low, high, log, integer)
    raise SweepError(
        f"{where}.{key}: {expression!r} is not a search expression; allowed: choice(…), range(…), "
        "interval(…), int(interval(…)), tag(log, interval(…))"
    )
