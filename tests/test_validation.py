"""Bad input is a SweepError: one line naming the key and what is allowed (or the bound it broke).

Command-line overrides are checked against conf/ as shipped; study files against a copy of conf/
in tmp_path with one extra study written into it.
"""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import pytest

from sweeps.config.sources import CONF_DIR
from sweeps.errors import SweepError
from sweeps.plan.build import plan_study
from sweeps.trials import Plan

STUDY = "jhu_fashion"
FAST = ["q01"]  # overrides set the baseline; one question is enough to check them

OPTIMIZERS = ("adadelta", "adagrad", "adam", "rmsprop", "sgd")
DATA_SETS = ("cluttered_objects", "digits", "fashion_mnist", "garments", "mnist", "mnist_5k", "synthetic")


def allowed_items(message: str) -> list[str]:
    """The comma-separated names after `allowed:` (a trailing `(in …)` context dropped)."""
    match = re.search(r"allowed: (.*?)(?: \(in [^)]*\))?$", message)
    assert match, f"no 'allowed:' list in {message!r}"
    return [item.strip() for item in match.group(1).split(",")]


def plan_error(overrides: list[str], questions: list[str] | None = FAST, study: str = STUDY) -> str:
    with pytest.raises(SweepError) as caught:
        plan_study(study, overrides, questions=questions)
    message = str(caught.value)
    assert "\n" not in message, message
    assert message.strip() == message and message
    return message


# (id, overrides, the key as the message names it, phrases it must contain, names it must allow)
BAD_OVERRIDES: list[tuple[str, list[str], str, tuple[str, ...], tuple[str, ...]]] = [
    ("negative lr", ["optim.lr=-1"], "optim.lr", ("greater than 0", "-1"), ()),
    ("zero lr", ["optim.lr=0"], "optim.lr", ("greater than 0",), ()),
    ("dropout above 1", ["model.dropout=1.5"], "model.dropout", ("less than or equal to 1", "1.5"), ()),
    ("dropout below 0", ["model.dropout=-0.1"], "model.dropout", ("greater than or equal to 0", "-0.1"), ()),
    ("zero batch", ["trainer.batch_size=0"], "trainer.batch_size", ("greater than or equal to 1",), ()),
    ("text epochs", ["trainer.epochs=abc"], "trainer.epochs", ("integer", "abc"), ()),
    ("unknown optimizer", ["optim=foo"], "optim", ("'foo'",), OPTIMIZERS),
    ("unknown data set", ["data=cifar"], "data", ("'cifar'",), DATA_SETS),
    ("unknown model", ["model=nope"], "model", ("'nope'",), ("jhu_baseline", "jhu_bn", "jhu_extra_conv")),
    ("typo in key", ["optim.lrr=1"], "optim.lrr", ("unknown key",), ("lr", "momentum")),
    ("key of another optimizer", ["optim=adam", "optim.momentum=0.5"], "optim.momentum", ("unknown key",), ("lr", "betas")),
    ("added top-level key", ["+foo=1"], "foo", ("unknown key",), ("data", "model", "optim", "seed", "offline")),
    ("unknown loss", ["trainer.loss=hinge"], "trainer.loss", ("'hinge'", "'nll'", "'cross_entropy'", "'mse'"), ()),
    ("tracking uri", ["tracking.uri=/tmp/x"], "tracking.uri", ("/tmp/x", "sqlite:///", "http://"), ()),
    ("layer type", ["model.layers.0.type=zzz"], "model.layers[0].type", ("'zzz'",), ("conv2d", "dense", "relu")),
    ("negative seed", ["seed=-1"], "seed", ("greater than or equal to 0",), ()),
    ("offline not a bool", ["offline=maybe"], "offline", ("boolean", "maybe"), ()),
    ("relative on the command line", ["optim.lr=x2"], "optim.lr", ("x2",), ()),
    ("betas bound", ["optim=adam", "optim.betas=[0.9,1.5]"], "optim.betas", ("less than or equal to 1",), ()),
    ("missing interpolation", ["optim.lr=${nope}"], "nope", ("not found",), ()),
]


@pytest.mark.parametrize(
    ("overrides", "key", "phrases", "allowed"),
    [case[1:] for case in BAD_OVERRIDES],
    ids=[case[0] for case in BAD_OVERRIDES],
)
def test_bad_override_names_key_and_what_is_allowed(
    overrides: list[str], key: str, phrases: tuple[str, ...], allowed: tuple[str, ...]
) -> None:
    message = plan_error(overrides)
    assert key in message
    for phrase in phrases:
        assert phrase in message
    if allowed:
        items = allowed_items(message)
        for name in allowed:
            assert name in items, f"{name!r} not among allowed {items}"


def test_unknown_group_option_lists_every_option_of_the_group() -> None:
    message = plan_error(["optim=foo"])
    assert sorted(allowed_items(message)) == sorted(p.stem for p in (CONF_DIR / "optim").glob("*.yaml"))


def test_bad_override_grammar_is_one_line() -> None:
    message = plan_error(["optim.lr=["])
    assert message.startswith("overrides:")
    assert "hydra.cc" not in message  # the link on Hydra's second line is dropped


def test_bad_override_grammar_names_the_override() -> None:
    assert "optim.lr" in plan_error(["optim.lr=["])


@pytest.mark.parametrize(
    "override",
    [
        "~seed",
        "~offline",
        "~trainer.epochs",
        "~model",
        "~optim",
    ],
)
def test_deleting_a_required_key_is_a_sweep_error(override: str) -> None:
    message = plan_error([override])
    assert message.startswith(f"{override[1:]}: ")
    assert "required" in message


def test_null_path_is_a_sweep_error() -> None:
    assert "paths.data_root" in plan_error(["paths.data_root=null"])


def test_unknown_study_lists_the_studies() -> None:
    message = plan_error([], study="no_such_study")
    assert message.startswith("study:")
    assert "'no_such_study'" in message
    assert STUDY in allowed_items(message)


def test_unknown_question_lists_the_questions() -> None:
    message = plan_error([], questions=["q03", "q99"])
    assert "'q99'" in message
    items = allowed_items(message)
    assert items[:11] == ["q01", "q02", "q03", "q04", "q05", "q06", "q07", "q08", "q09", "q10", "q12"]
    assert "q99" not in items


# --- good edge cases -------------------------------------------------------------------------


def first_fashion_config(plan: Plan) -> dict:
    return next(t.config for t in plan.trials if t.config["data"]["name"] == "fashion_mnist")


@pytest.mark.parametrize("dropout", ["0", "1"])
def test_dropout_bounds_are_inclusive(dropout: str) -> None:
    plan = plan_study(STUDY, [f"model.dropout={dropout}"], questions=FAST)
    assert {t.config["model"]["dropout"] for t in plan.trials} == {float(dropout)}
    layers = first_fashion_config(plan)["model"]["layers"]
    assert [layer["p"] for layer in layers if "p" in layer] == [float(dropout)] * 2


def test_adam_baseline() -> None:
    optim = first_fashion_config(plan_study(STUDY, ["optim=adam"], questions=FAST))["optim"]
    assert optim == {"name": "adam", "lr": 0.001, "betas": [0.9, 0.999], "eps": 1e-08, "weight_decay": 0.0, "amsgrad": False}


def test_group_choice_then_its_value() -> None:
    optim = first_fashion_config(plan_study(STUDY, ["optim=rmsprop", "optim.lr=0.05"], questions=FAST))["optim"]
    assert (optim["name"], optim["lr"], optim["alpha"]) == ("rmsprop", 0.05, 0.99)


def test_last_of_repeated_overrides_wins() -> None:
    plan = plan_study(STUDY, ["trainer.epochs=2", "trainer.epochs=3"], questions=FAST)
    assert {t.config["trainer"]["epochs"] for t in plan.trials} == {3}


def test_tracking_uri_override_is_kept(tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path / 'x.db'}"
    assert plan_study(STUDY, [f"tracking.uri={uri}"], questions=FAST).runtime.tracking.uri == uri
    assert not (tmp_path / "x.db").exists()


# --- study files --------------------------------------------------------------------------------

STUDY_HEAD = """\
# @package _global_
study:
  name: {name}
  title: A study written by a test
  questions:
"""


def write_study(conf_dir: Path, name: str, questions: str) -> None:
    body = textwrap.indent(textwrap.dedent(questions).strip("\n"), "    ")
    (conf_dir / "study" / f"{name}.yaml").write_text(STUDY_HEAD.format(name=name) + body + "\n")


def study_error(conf_dir: Path, questions: str) -> str:
    write_study(conf_dir, "bad", questions)
    with pytest.raises(SweepError) as caught:
        plan_study("bad", conf_dir=conf_dir)
    message = str(caught.value)
    assert "\n" not in message, message
    return message


# (id, the questions YAML, phrases the message must contain)
BAD_STUDIES: list[tuple[str, str, tuple[str, ...]]] = [
    (
        "grid and variants",
        """
        - id: q01
          text: t
          grid: {optim.lr: [x1]}
          variants: [{optim.lr: 0.1}]
        """,
        ("q01", "exactly one of `grid`", "`variants`"),
    ),
    (
        "neither grid nor variants",
        """
        - id: q01
          text: t
        """,
        ("q01", "exactly one of `grid`", "`variants`"),
    ),
    (
        "duplicate ids",
        """
        - id: q01
          text: t
          grid: {optim.lr: [x1]}
        - id: q01
          text: u
          grid: {optim.lr: [x2]}
        """,
        ("unique", "repeated: q01"),
    ),
    (
        "reference matches no variant",
        """
        - id: q01
          text: t
          grid: {optim.lr: [x1, x2]}
          reference: {optim.lr: x10}
        """,
        ("q01.reference", "matches none"),
    ),
    (
        "relative value on a string",
        """
        - id: q01
          text: t
          grid: {trainer.loss: [x2]}
        """,
        ("q01", "trainer.loss", "x2", "numeric", "'nll'"),
    ),
    (
        "relative value on a bool",
        """
        - id: q01
          text: t
          grid: {optim.nesterov: [x2]}
        """,
        ("q01", "optim.nesterov", "numeric"),
    ),
    (
        "batch size scaled to zero",
        """
        - id: q01
          text: t
          grid: {trainer.batch_size: [x1, x0]}
        """,
        ("q01", "trainer.batch_size", "x0 of 256", "not a positive whole number"),
    ),
    (
        "empty grid values",
        """
        - id: q01
          text: t
          grid: {trainer.batch_size: []}
        """,
        ("q01", "at least one value"),
    ),
    (
        "bad question id",
        """
        - id: Q-1
          text: t
          grid: {trainer.batch_size: [x1]}
        """,
        ("study.questions.0.id", "Q-1"),
    ),
    (
        "misspelt question key",
        """
        - id: q01
          text: t
          gird: {optim: [sgd]}
        """,
        ("study.questions.0.gird", "unknown key"),
    ),
    (
        "unknown key in a variant",
        """
        - id: q01
          text: t
          grid: {trainer.batchsize: [1]}
        """,
        ("q01", "trainer.batchsize", "unknown key", "batch_size"),
    ),
    (
        "unknown group option in a variant",
        """
        - id: q01
          text: t
          grid: {optim: [sgd, nadam]}
        """,
        ("q01", "optim", "'nadam'", "adam", "rmsprop"),
    ),
    (
        "out-of-bound value in a variant",
        """
        - id: q01
          text: t
          grid: {optim.lr: [0.1, -1]}
        """,
        ("optim.lr", "greater than 0", "q01 optim.lr=-1"),
    ),
    (
        "layer that does not fit",
        """
        - id: q01
          text: t
          grid: {model.layers.0.kernel: [50]}
        """,
        ("model.layers[0]", "kernel 50", "q01"),
    ),
]


@pytest.mark.parametrize(("questions", "phrases"), [c[1:] for c in BAD_STUDIES], ids=[c[0] for c in BAD_STUDIES])
def test_bad_study_file(conf_dir: Path, questions: str, phrases: tuple[str, ...]) -> None:
    message = study_error(conf_dir, questions)
    for phrase in phrases:
        assert phrase in message


def test_good_study_with_explicit_variants(conf_dir: Path) -> None:
    write_study(
        conf_dir,
        "good",
        """
        - id: q01
          text: t
          variants: [{optim.lr: x2, trainer.epochs: 3}, {optim: adam}]
          reference: {optim: adam}
        - id: q02
          text: u
          grid: {trainer.batch_size: [x0.5, x1]}
        """,
    )
    plan = plan_study("good", conf_dir=conf_dir)
    assert plan.study == "good"
    q01, q02 = plan.questions
    assert [v.overrides for v in q01.variants] == [{"optim.lr": 0.02, "trainer.epochs": 3}, {"optim": "adam"}]
    assert [v.reference for v in q01.variants] == [False, True]
    assert [v.overrides for v in q02.variants] == [{"trainer.batch_size": 128}, {"trainer.batch_size": 256}]
    assert len(plan.trials) == 4


def test_relative_int_is_rounded_in_a_study(conf_dir: Path) -> None:
    # compose.scale: an int stays an int, rounded (256 × 0.3 = 76.8 → 77), never below 1.
    write_study(
        conf_dir,
        "rounded",
        """
        - id: q01
          text: t
          grid: {trainer.batch_size: [x0.3], trainer.epochs: [x0.01]}
        """,
    )
    (variant,) = plan_study("rounded", conf_dir=conf_dir).questions[0].variants
    assert variant.overrides == {"trainer.batch_size": 77, "trainer.epochs": 1}
    assert all(type(value) is int for value in variant.overrides.values())


@pytest.mark.parametrize("where", ["grid", "reference"])
def test_relative_value_on_unknown_key_names_the_allowed_keys(conf_dir: Path, where: str) -> None:
    questions = (
        """
        - id: q01
          text: t
          grid: {optim.lrr: [x1, x2]}
        """
        if where == "grid"
        else """
        - id: q01
          text: t
          grid: {optim.lr: [x1, x2]}
          reference: {optim.lrr: x1}
        """
    )
    message = study_error(conf_dir, questions)
    assert "unknown key" in message
    assert "lr" in allowed_items(message)
