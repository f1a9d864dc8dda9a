"""Every study composes with every option of every config group; `xN` scaling; variant composition.

Like lightning-hydra-template's test that composes every config: a new YAML in conf/ that does not
validate against the schema (or does not build its model) fails here before anyone runs it.
"""

from __future__ import annotations

import functools
from pathlib import Path

import pytest
import yaml
from omegaconf import OmegaConf
from pydantic import TypeAdapter, ValidationError

from sweeps.config.compose import Composer, scale
from sweeps.config.sources import CONF_DIR, Configs
from sweeps.errors import SweepError
from sweeps.plan.build import plan_study
from trainables.image.sources import SOURCES, data_shape
from trainables.kinds import kind


def first_question(study: str) -> str:
    return str(OmegaConf.load(CONF_DIR / "study" / f"{study}.yaml").study.questions[0].id)


def study_kind(study: str) -> str:
    """The trainable a study's trials run on (`trainable:` in its file, else config.yaml's)."""
    written = OmegaConf.load(CONF_DIR / "study" / f"{study}.yaml").get("trainable")
    return str(written or OmegaConf.load(CONF_DIR / "config.yaml").trainable)


@functools.cache  # reads two YAML files; asked ~250 times at collection
def fits(kind_name: str, group: str, option: str) -> bool:
    """Whether an option's own YAML is a valid `group` section of that trainable's trial config.

    Groups a trial config does not have (tracking, resources) fit every kind. An image model cannot
    fit a text study (and vice versa), so the matrix below pairs each study with the options of its kind.
    """
    field = kind(kind_name).schema.model_fields.get(group)
    if field is None:
        return True
    values = OmegaConf.to_container(OmegaConf.load(CONF_DIR / group / f"{option}.yaml"), resolve=False)
    values.pop("defaults", None)
    try:
        TypeAdapter(field.annotation).validate_python(values)
    except ValidationError:
        return False
    return True


STUDIES = Configs().studies()
KIND_OF = {study: study_kind(study) for study in STUDIES}
KINDS = sorted(set(KIND_OF.values()))
OPTIONS = Configs().groups()
CONFIG_GROUPS = sorted(OPTIONS)
OPTIONS_OF = {
    study: {group: [o for o in options if fits(KIND_OF[study], group, o)] for group, options in OPTIONS.items()}
    for study in STUDIES
}


def test_conf_has_studies_and_every_group() -> None:
    assert "jhu_fashion" in STUDIES
    assert study_kind("jhu_fashion") == "image"
    for group, options in OPTIONS.items():
        assert options, f"conf/{group}/ has no options"
    for study in STUDIES:
        assert first_question(study)
        for group in CONFIG_GROUPS:
            assert OPTIONS_OF[study][group], f"{study}: no {group} option fits its trainable"


@pytest.mark.parametrize("group", CONFIG_GROUPS)
def test_every_option_fits_some_trainable(group: str) -> None:
    orphans = [o for o in OPTIONS[group] if not any(fits(k, group, o) for k in KINDS)]
    assert orphans == []  # an option no study's trainable accepts is a typo or dead config


def test_image_options_do_not_fit_text_studies() -> None:
    if "text" not in KINDS:
        pytest.skip("no text study")
    assert fits("image", "model", "jhu_baseline") and not fits("text", "model", "jhu_baseline")
    assert fits("image", "data", "mnist") and not fits("text", "data", "mnist")
    assert fits("image", "optim", "adam") and fits("text", "optim", "adam")


# Every study × every option of every group (of its trainable). One plan_study call per combination
# costs ~0.5 s of Hydra composition (~250 combinations), so each study is planned once, from a copy
# of its file whose questions are replaced by one question per group with a grid over all of that
# group's options: each option then composes on top of the study's baseline (its defaults and
# `baseline:` values) and every trial is validated and its model built. Planned offline: each data
# set's stand-in must exist and fit the models too (test_standins_have_the_shape_of_their_data_set:
# online shapes are the same).
def matrix_study(study: str) -> str:
    text = (CONF_DIR / "study" / f"{study}.yaml").read_text()
    config = yaml.safe_load(text)
    config["study"]["questions"] = [
        {"id": f"all_{group}", "text": f"every {group} option", "grid": {group: options}}
        for group, options in OPTIONS_OF[study].items()
    ]
    header = "# @package _global_\n"
    assert text.startswith(header)
    return header + yaml.safe_dump(config, sort_keys=False)


@pytest.mark.parametrize("study", STUDIES)
def test_every_study_composes_with_every_group_option(conf_dir: Path, study: str) -> None:
    (conf_dir / "study" / f"{study}.yaml").write_text(matrix_study(study))

    plan = plan_study(study, ["offline=true"], conf_dir=conf_dir)

    options_of = OPTIONS_OF[study]
    assert [q.id for q in plan.questions] == [f"all_{group}" for group in options_of]
    for question, (group, options) in zip(plan.questions, options_of.items(), strict=True):
        assert [v.overrides for v in question.variants] == [{group: option} for option in options]
        for variant, option in zip(question.variants, options, strict=True):
            config = plan.trial(variant.trial).config
            if group in config and "name" in config[group]:
                assert config[group]["name"] == option  # the option really was composed
    for trial in plan.trials:
        assert trial.parameters > 0
        assert trial.config["data"]["source"] == trial.config["data"]["standin"]


@pytest.mark.parametrize("option", [o for o in OPTIONS["data"] if fits("image", "data", o)])
def test_standins_have_the_shape_of_their_data_set(option: str) -> None:
    data = OmegaConf.to_container(OmegaConf.load(CONF_DIR / "data" / f"{option}.yaml"))
    assert data["source"] in SOURCES and data["standin"] in SOURCES
    assert data_shape({"source": data["standin"]}) == data_shape({"source": data["source"]})


# As the user writes it: group options as baseline overrides, planned with the study's first question.
# One call per study, each with a different option of every group (the matrix above covers every pair).
ROTATION = [
    pytest.param(
        study,
        [f"{group}={options[index % len(options)]}" for group, options in OPTIONS_OF[study].items()],
        id=study,
    )
    for index, study in enumerate(STUDIES)
]


@pytest.mark.parametrize(("study", "overrides"), ROTATION)
def test_group_options_as_baseline_overrides(study: str, overrides: list[str]) -> None:
    qid = first_question(study)
    plan = plan_study(study, overrides, questions=[qid])
    assert [q.id for q in plan.questions] == [qid]
    assert plan.trials and all(t.parameters > 0 for t in plan.trials)


# --- scale ------------------------------------------------------------------------------------

SCALES = [
    # (base, factor, expected)
    (256, 0.125, 32),
    (256, 8.0, 2048),
    (256, 1.0, 256),
    (10, 2.0, 20),
    (7, 1 / 7, 1),  # 7 × 0.142857… is 1 within float error
    (256, 0.3, 77),  # an int stays an int, rounded: 76.8 → 77
    (10, 0.33, 3),  # 3.3 → 3
    (5, 0.5, 3),  # halves round up: 2.5 → 3 (Python's round would give 2)
    (1, 0.75, 1),  # never below 1 (one epoch × 0.75 is still one epoch)
    (10, 0.01, 1),  # 0.1 → 1, not 0
    (0.01, 0.1, 0.001),
    (0.01, 10.0, 0.1),
    (0.1, 3.0, 0.3),  # 0.30000000000000004 in plain floats
    (0.7, 0.1, 0.07),  # 0.06999999999999999 in plain floats
    (1.0, 2.0, 2.0),
    (0.5, 2.0, 1.0),  # a float base stays a float even when the product is whole
]


@pytest.mark.parametrize(("base", "factor", "expected"), SCALES)
def test_scale(base: float, factor: float, expected: float) -> None:
    result = scale(base, factor, "where")
    assert result == expected
    assert type(result) is type(base)


@pytest.mark.parametrize(("base", "factor"), [(256, 0.0), (0, 2.0), (-3, 2.0), (5, -1.0)])
def test_scale_of_an_int_must_stay_a_positive_whole_number(base: int, factor: float) -> None:
    with pytest.raises(SweepError) as caught:
        scale(base, factor, "q06 trainer.batch_size")
    message = str(caught.value)
    assert message.startswith("q06 trainer.batch_size: ")
    assert f"x{factor:g} of {base}" in message
    assert "positive whole number" in message
    assert "\n" not in message


# --- variants on a composed baseline ------------------------------------------------------------


@pytest.fixture(scope="module")
def composer() -> Composer:
    return Composer("jhu_fashion", [])


@pytest.mark.parametrize("written", ["x0.1", "x.1", "x1e-1", "X0.1"])
def test_relative_spellings(composer: Composer, written: str) -> None:
    config, absolute = composer.variant({"optim.lr": written}, "test")
    assert absolute == {"optim.lr": 0.001}
    assert config.optim.lr == 0.001


@pytest.mark.parametrize("written", ["0.1x", "x", "xx2", "x-2", "2"])
def test_non_relative_strings_are_kept_as_written(composer: Composer, written: str) -> None:
    _, absolute = composer.variant({"optim.lr": written}, "test")
    assert absolute == {"optim.lr": written}  # not scaled: the schema rejects it later


def test_variants_do_not_leak_into_each_other(composer: Composer) -> None:
    first, _ = composer.variant({"optim.lr": 0.5, "trainer.epochs": 7}, "a")
    second, _ = composer.variant({"model.dropout": 0.1}, "b")
    assert (first.optim.lr, first.trainer.epochs) == (0.5, 7)
    assert (second.optim.lr, second.trainer.epochs, second.model.dropout) == (0.01, 10, 0.1)
    assert (composer.baseline.optim.lr, composer.baseline.trainer.epochs) == (0.01, 10)
    first.optim.lr = 123.0  # a caller mutating its config changes nothing for the next caller
    again, _ = composer.variant({"optim.lr": 0.5, "trainer.epochs": 7}, "a")
    assert again.optim.lr == 0.5


def test_group_variant_replaces_the_group(composer: Composer) -> None:
    config, absolute = composer.variant({"optim": "adam"}, "q04")
    assert absolute == {"optim": "adam"}
    assert config.optim.name == "adam" and "momentum" not in config.optim
    assert config.model.name == "jhu_baseline"  # the rest of the baseline is kept


def test_dropout_interpolation_follows_the_variant(composer: Composer) -> None:
    config, _ = composer.variant({"model.dropout": 0.25}, "q05")
    resolved = OmegaConf.to_container(config.model, resolve=True)
    assert [layer["p"] for layer in resolved["layers"] if "p" in layer] == [0.25, 0.25]


def test_relative_value_needs_a_numeric_baseline(composer: Composer) -> None:
    with pytest.raises(SweepError) as caught:
        composer.variant({"trainer.loss": "x2"}, "ctx")
    message = str(caught.value)
    assert message.startswith("ctx: trainer.loss: x2 ")
    assert "numeric" in message and "'nll'" in message
