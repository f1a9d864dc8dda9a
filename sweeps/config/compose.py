"""Hydra composition: a study plus the user's overrides → the baseline; a question's variant → a trial.

Overrides use Hydra's grammar. A variant applies on top of the baseline: a config-group key
(`optim: adam`) re-picks that group, which then starts from the option's own defaults (the user's
`optim.lr=…` is for the baseline's optimizer, not for Adam); a dotted key sets one value, and a value
written `xN` multiplies the baseline's value by N.
"""

from __future__ import annotations

import copy
import math
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any, cast

import yaml
from hydra import compose
from hydra.core.global_hydra import GlobalHydra
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import Override, OverrideType
from hydra.errors import HydraException
from hydra.types import RunMode
from omegaconf import DictConfig, ListConfig, OmegaConf, open_dict
from omegaconf.errors import OmegaConfBaseException

from sweeps.config.override_text import override_value
from sweeps.config.sources import STUDY_GROUP, Configs
from sweeps.errors import SweepError

_RELATIVE = re.compile(r"^x(?P<factor>\d+(\.\d*)?(e[-+]?\d+)?|\.\d+(e[-+]?\d+)?)$", re.IGNORECASE)


class Composer:
    """Composes the baseline of one study and the trial config of each of its variants.

    Hydra composes once per plan: the baseline (the study, its `baseline:` values and the user's
    overrides) together with every other option of a config group that the study's questions name,
    each under a private package. A variant is then that baseline with its switched groups replaced
    by those options and its values set — no composition per variant.
    """

    def __init__(self, study: str, overrides: Sequence[str], configs: Configs | None = None) -> None:
        self._configs = configs = configs or Configs()
        configs.open_course()
        self.groups = configs.catalogue()  # group → its options
        studies = self.groups.pop(STUDY_GROUP, [])
        if study not in studies:
            raise SweepError(f"study: unknown study {study!r}; allowed: {', '.join(studies)}")
        self._study = study
        study_file = self._study_file()
        user = parse_overrides(overrides)
        overrides = [*_study_baseline(study_file, self._study_choices, user, self.groups), *overrides]
        parsed = parse_overrides(overrides)  # the user's come last and win
        self._overrides = [(override.key_or_group, text) for override, text in parsed]
        for override, _ in parsed:
            if override.key_or_group in self.groups and override.type == OverrideType.CHANGE:
                self._check_option(override.key_or_group, override.value(), "overrides")
        options = _named_options(study_file, self.groups)
        try:
            composed = self._hydra_compose([*overrides, *_alternatives(options)], return_hydra_config=True)
        except SweepError:
            self._check_overrides(parsed)  # names an unknown key with what is allowed
            raise
        choices = composed.hydra.runtime.choices
        self._choices = {group: choices[group] for group in self.groups if group in choices}  # `~model` removes one
        self._options: dict[tuple[str, str], DictConfig] = {}  # (group, option) → its config, as composed alone
        with open_dict(composed):
            alternatives = composed.pop(_ALTERNATIVES, {})
            del composed["hydra"]
        for group, option in options:
            self._options[(group, option)] = alternatives[group][option]
        self.baseline = composed
        self._trial_base = copy.deepcopy(composed)  # what a variant starts from: the baseline less the study's text
        with open_dict(self._trial_base):
            del self._trial_base["study"]

    def _check_overrides(self, parsed: list[tuple[Override, str]]) -> None:
        """Unknown keys, named with what is allowed, instead of Hydra's own message."""
        group_choices = [text for o, text in parsed if o.key_or_group in self.groups and o.type == OverrideType.CHANGE]
        skeleton = self._hydra_compose(group_choices)
        for override, _ in parsed:
            key = override.key_or_group
            if override.type == OverrideType.CHANGE and key not in self.groups:
                if OmegaConf.select(skeleton, key, default=_MISSING) is _MISSING:
                    raise SweepError(f"{key}: unknown key; allowed: {_siblings(skeleton, key)}")

    def variant(self, variant: Mapping[str, Any], context: str) -> tuple[DictConfig, dict[str, Any]]:
        """The composed config of one variant, and its overrides with relative values made absolute."""
        groups = {key: value for key, value in variant.items() if key in self.groups}
        values = {key: value for key, value in variant.items() if key not in self.groups}
        for group, option in groups.items():
            self._check_option(group, option, context)
        config = copy.deepcopy(self._trial_base)
        # Only a group switched to another option starts from that option's defaults: the user's and the
        # study's values for that group are left behind with the option they were written for.
        with open_dict(config):
            for group, option in groups.items():
                if option != self._choices.get(group):
                    config[group] = self._option(group, option, context)
        for key in values:
            if OmegaConf.select(config, key, default=_MISSING) is _MISSING:
                raise SweepError(f"{context}: {key}: unknown key; allowed: {_siblings(config, key)}")
        absolute = {key: self._absolute(key, value, context) for key, value in values.items()}
        for key, value in absolute.items():
            OmegaConf.update(config, key, value, force_add=False)
        return config, {**groups, **absolute}

    def _option(self, group: str, option: str, context: str) -> DictConfig:
        """`group`'s `option` as Hydra composes it alone (one composition for one the study did not name)."""
        if (group, option) not in self._options:
            composed = self._hydra_compose(_alternatives([(group, option)]), context=context)
            self._options[(group, option)] = composed[_ALTERNATIVES][group][option]
        return copy.deepcopy(self._options[(group, option)])

    def _absolute(self, key: str, value: Any, context: str) -> Any:
        return absolute(OmegaConf.select(self.baseline, key, default=None), value, f"{context}: {key}")

    def _check_option(self, group: str, option: Any, context: str) -> None:
        options = self.groups[group]
        if option not in options:
            where = group if context == "overrides" else f"{context}: {group}"
            raise SweepError(f"{where}: unknown option {option!r}; allowed: {', '.join(options)}")

    def _study_file(self) -> DictConfig:
        with one_line_errors("study"):
            return self._configs.read("study", self._study)

    def _study_choices(self) -> dict[str, str]:
        """The option of each config group that the study picks: config.yaml's defaults, then the study's."""
        with self._configs.loader(), one_line_errors("study"):
            defaults = GlobalHydra.instance().config_loader().compute_defaults_list(
                "config", [*self._configs.search_path, f"+study={self._study}"], RunMode.RUN
            )
        return {group: str(option) for group, option in defaults.overrides.known_choices.items() if group in self.groups}

    def _hydra_compose(self, overrides: list[str], context: str = "overrides", return_hydra_config: bool = False) -> DictConfig:
        with self._configs.loader(), one_line_errors(context):
            return compose(
                "config",
                overrides=[*self._configs.search_path, f"+study={self._study}", *overrides],
                return_hydra_config=return_hydra_config,
            )


_ALTERNATIVES = "_sweeps_options_"  # the private package the named group options are composed under


def _alternatives(options: Sequence[tuple[str, str]]) -> list[str]:
    """Hydra overrides that compose each (group, option) under the private package."""
    return [f"+{group}@{_ALTERNATIVES}.{group}.{option}={option}" for group, option in options]


def _named_options(study_file: DictConfig, groups: Mapping[str, list[str]]) -> list[tuple[str, str]]:
    """Every existing (group, option) that the study's questions name: in grids, variant lists,
    references, comparisons, a search's fixed values and its `choice(…)` spaces. An unknown option is
    left for the question that names it to report."""
    from sweeps.config.search_space import Choice, search_space

    written: list[Any] = []
    questions = OmegaConf.select(study_file, "study.questions", default=None)
    listed = cast(list[Any], OmegaConf.to_container(questions)) if isinstance(questions, ListConfig) else []  # else: the schema names it
    for question in listed:
        if not isinstance(question, dict):
            continue
        written += [{key: value} for key, values in (question.get("grid") or {}).items() for value in values]
        written += list(question.get("variants") or []) + [question.get("reference") or {}]
        written += [compare.get("variant") or {} for compare in question.get("compare_with") or [] if isinstance(compare, dict)]
        search = question.get("search") or {}
        written.append(search.get("fixed") or {})
        for key, expression in (search.get("space") or {}).items():
            try:
                domain = search_space({key: str(expression)})[key]
            except SweepError:
                continue  # bad grammar: the plan reports it
            if isinstance(domain, Choice):
                written += [{key: value} for value in domain.values]
    named = {
        (group, option)
        for variant in written
        if isinstance(variant, dict)
        for group, option in variant.items()
        if group in groups and isinstance(option, str)
    }
    return sorted((group, option) for group, option in named if option in groups[group])


def _study_baseline(
    study_file: DictConfig,
    study_choices: Callable[[], Mapping[str, str]],
    user: list[tuple[Override, str]],
    groups: Mapping[str, list[str]],
) -> list[str]:
    """The study's `baseline:` values as overrides. Like the user's, they give way to a group
    switched to another option, by a variant or by the user (`optim=adagrad` drops `optim.rho`).
    `study_choices` is asked only when the user picks an option of a group (it reads the defaults list)."""
    values = OmegaConf.select(study_file, "study.baseline", default=None)
    if values is None:
        return []
    picked = [override for override, _ in user if override.key_or_group in groups]
    choices = study_choices() if picked else {}
    switched = {override.key_or_group for override in picked if override.value() != choices.get(override.key_or_group)}
    baseline = cast(dict[str, Any], OmegaConf.to_container(values, resolve=True))  # `study.baseline:` is written as a mapping
    return [f"{key}={override_value(value)}" for key, value in baseline.items() if not _under_any(key, switched)]


def absolute(base: Any, value: Any, where: str) -> Any:
    """`value`, or — written `xN` — N times `base` (the baseline's, or a stage's source trial's, value)."""
    match = _RELATIVE.match(value) if isinstance(value, str) else None
    if match is None:
        return value
    if isinstance(base, bool) or not isinstance(base, (int, float)):
        raise SweepError(f"{where}: {value} needs a numeric value to multiply (got {base!r})")
    return scale(base, float(match["factor"]), where)


def scale(base: int | float, factor: float, where: str) -> int | float:
    """`base × factor`; an int stays an int, rounded, at least 1 (epochs 1 × 0.75 → 1, batch 256 × 0.125 → 32)."""
    product = base * factor
    if isinstance(base, int):
        if base >= 1 and factor > 0:
            return max(1, math.floor(product + 0.5))  # halves round up (5 × 0.5 → 3), not to even
        raise SweepError(f"{where}: x{factor:g} of {base} is not a positive whole number")
    return float(f"{product:.12g}")  # 0.01 × 0.1 is 0.001, not 0.0010000000000000002


_MISSING = object()


@contextmanager
def one_line_errors(context: str) -> Iterator[None]:
    """Hydra's and OmegaConf's errors as one line after `context`; a file that is not YAML: its file and line."""
    try:
        yield
    except (HydraException, OmegaConfBaseException) as error:
        raise SweepError(f"{context}: {_first_line(error)}") from None
    except yaml.YAMLError as error:
        raise SweepError(yaml_error(error)) from None


def parse_overrides(overrides: Sequence[str]) -> list[tuple[Override, str]]:
    """Each override with its text; a grammar error is one line naming the override."""
    parser = OverridesParser.create()
    parsed = []
    for text in overrides:
        try:
            (override,) = parser.parse_overrides([text])
        except HydraException as error:
            raise SweepError(f"overrides: {text!r}: {_first_line(error)}; {_GRAMMAR}") from None
        if not override.key_or_group:
            raise SweepError(f"overrides: {text!r}: no key before '='; {_GRAMMAR}")
        if override.is_sweep_override():
            raise SweepError(
                f"overrides: {text!r}: a sweep sets no baseline value; give one value "
                "(a search space belongs in a study's `search:` question)"
            )
        parsed.append((override, text))
    return parsed


_GRAMMAR = "write KEY=VALUE in Hydra's override grammar, e.g. optim.lr=0.05, optim=adam or ~model.note"


def yaml_error(error: yaml.YAMLError) -> str:
    """A YAML syntax error as one line: `FILE:LINE: YAML syntax error: what (while … at line N)`."""
    problem = getattr(error, "problem", None) or str(error).splitlines()[0]
    mark, context = getattr(error, "problem_mark", None), getattr(error, "context", None)
    started = getattr(error, "context_mark", None)
    where = f" ({context} at line {started.line + 1})" if context and started is not None else ""
    if mark is None:
        return f"YAML syntax error: {problem}{where}"
    return f"{mark.name}:{mark.line + 1}: YAML syntax error: {problem}{where}"


def _under_any(key: str, groups: Iterable[str]) -> bool:
    return any(key == group or key.startswith(f"{group}.") for group in groups)


def _siblings(config: DictConfig, key: str) -> str:
    parent_key = key.rpartition(".")[0]
    parent = OmegaConf.select(config, parent_key) if parent_key else config
    return ", ".join(str(k) for k in parent) if isinstance(parent, DictConfig) else "(none)"


def _first_line(error: Exception) -> str:
    return str(error).strip().splitlines()[0]
