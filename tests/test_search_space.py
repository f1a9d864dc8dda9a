"""Hydra's sweep grammar → a plain search space (one pure function, table-tested as Hydra's Optuna
sweeper does), and that space → Ray Tune's domains when a search runs."""

from __future__ import annotations

import pytest
from optuna.distributions import BaseDistribution, CategoricalDistribution, FloatDistribution, IntDistribution
from ray.tune.search.optuna import OptunaSearch
from ray.tune.search.sample import Categorical, Float, Integer, LogUniform, Uniform

from sweeps.config.search_space import Choice, Domain, Interval, search_space
from sweeps.errors import SweepError
from sweeps.run.search import tune_space


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("choice(1, 2, 3)", Choice((1, 2, 3))),
        ("choice(jhu_bn, fashion_cnn)", Choice(("jhu_bn", "fashion_cnn"))),  # a config group's options
        ("choice(true, false)", Choice((True, False))),
        ("range(1, 5)", Choice((1, 2, 3, 4))),  # Hydra's range: stop excluded
        ("range(8, 33, 8)", Choice((8, 16, 24, 32))),
        ("range(0.5, 2.0, 0.5)", Choice((0.5, 1.0, 1.5))),
        ("interval(0.0, 0.5)", Interval(0.0, 0.5)),
        ("interval(1, 4)", Interval(1.0, 4.0)),
        ("tag(log, interval(0.0001, 0.1))", Interval(0.0001, 0.1, log=True)),
        ("int(interval(2, 10))", Interval(2, 10, integer=True)),
        ("int(interval(2.5, 10.5))", Interval(2, 10, integer=True)),  # Hydra's cast truncates
        ("tag(log, int(interval(16, 256)))", Interval(16, 256, log=True, integer=True)),
        ("int(tag(log, interval(16, 256)))", Interval(16, 256, log=True, integer=True)),
        ("float(interval(2, 10))", Interval(2.0, 10.0)),
    ],
)
def test_grammar_to_domain(expression: str, expected: Domain) -> None:
    assert search_space({"key": expression})["key"] == expected


def test_keys_are_kept_as_written() -> None:
    space = search_space({"optim.lr": "tag(log, interval(1e-4, 1e-2))", "model": "choice(a, b)"})
    assert list(space) == ["optim.lr", "model"]


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("0.1", "is not a search expression"),
        ("choice(", "q13.search.space.key"),
        ("tag(log, interval(0, 1))", "positive lower bound"),
    ],
)
def test_bad_expressions_name_the_key(expression: str, message: str) -> None:
    with pytest.raises(SweepError, match=message) as caught:
        search_space({"key": expression}, "q13.search.space")
    assert "q13.search.space.key" in str(caught.value) and "\n" not in str(caught.value)


@pytest.mark.parametrize(
    ("domain", "kind", "expected"),
    [
        (Choice((1, 2, 3)), Categorical, [1, 2, 3]),
        (Choice(("jhu_bn", "fashion_cnn")), Categorical, ["jhu_bn", "fashion_cnn"]),
        (Interval(0.0, 0.5), Uniform, (0.0, 0.5)),
        (Interval(0.0001, 0.1, log=True), LogUniform, (0.0001, 0.1)),
        (Interval(2, 10, integer=True), Uniform, (2, 11)),  # Tune's randint excludes `upper`
        (Interval(16, 256, log=True, integer=True), LogUniform, (16, 257)),
    ],
)
def test_domain_to_tune(domain: Domain, kind: type, expected: object) -> None:
    converted = tune_space({"key": domain})["key"]
    if kind is Categorical:
        assert isinstance(converted, Categorical) and converted.categories == expected
    else:
        assert isinstance(converted, Integer if isinstance(domain, Interval) and domain.integer else Float)
        assert isinstance(converted.get_sampler(), kind) and (converted.lower, converted.upper) == expected


# What Hydra's Optuna sweeper (`create_optuna_distribution_from_override`) makes of each interval: integer
# bounds after Hydra's casts → an integer distribution including both bounds, the `log` tag → its log form.
@pytest.mark.parametrize(
    ("expression", "sweeper"),
    [
        ("interval(0.0, 0.5)", FloatDistribution(0.0, 0.5)),
        ("interval(32, 256)", FloatDistribution(32.0, 256.0)),  # Hydra parses interval bounds as floats
        ("tag(log, interval(0.0001, 0.1))", FloatDistribution(0.0001, 0.1, log=True)),
        ("int(interval(2, 10))", IntDistribution(2, 10)),
        ("tag(log, int(interval(16, 256)))", IntDistribution(16, 256, log=True)),
        ("choice(1, 2, 3)", CategoricalDistribution((1, 2, 3))),
        ("choice(jhu_bn, fashion_cnn)", CategoricalDistribution(("jhu_bn", "fashion_cnn"))),
    ],
)
def test_optuna_samples_as_hydras_sweeper_does(expression: str, sweeper: BaseDistribution) -> None:
    """The whole way, grammar → domain → Tune → the distribution Ray's OptunaSearch hands Optuna."""
    assert OptunaSearch.convert_search_space(tune_space(search_space({"key": expression}))) == {"key": sweeper}
