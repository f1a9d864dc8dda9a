"""Hydra's sweep grammar → Ray Tune search space: one pure function, table-tested (as Hydra's Optuna sweeper)."""

from __future__ import annotations

import pytest
from ray.tune.search.sample import Categorical, Float, LogUniform, Uniform

from sweeps.errors import SweepError
from sweeps.search_space import search_space


@pytest.mark.parametrize(
    ("expression", "kind", "expected"),
    [
        ("choice(1, 2, 3)", Categorical, [1, 2, 3]),
        ("choice(jhu_bn, fashion_cnn)", Categorical, ["jhu_bn", "fashion_cnn"]),  # a config group's options
        ("choice(true, false)", Categorical, [True, False]),
        ("range(1, 5)", Categorical, [1, 2, 3, 4]),  # Hydra's range: stop excluded
        ("range(8, 33, 8)", Categorical, [8, 16, 24, 32]),
        ("range(0.5, 2.0, 0.5)", Categorical, [0.5, 1.0, 1.5]),
        ("interval(0.0, 0.5)", Uniform, (0.0, 0.5)),
        ("interval(1, 4)", Uniform, (1.0, 4.0)),
        ("tag(log, interval(0.0001, 0.1))", LogUniform, (0.0001, 0.1)),
    ],
)
def test_grammar_to_tune_domain(expression: str, kind: type, expected: object) -> None:
    domain = search_space({"key": expression})["key"]
    if kind is Categorical:
        assert isinstance(domain, Categorical) and domain.categories == expected
    else:
        assert isinstance(domain, Float) and isinstance(domain.get_sampler(), kind)
        assert (domain.lower, domain.upper) == expected


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
