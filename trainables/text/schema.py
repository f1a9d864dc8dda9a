"""Typed configs of a text-classification trial, checked before any trial starts.

The strict base and the optimizers are shared (trainables/schema.py); data, features, model and
trainer are the text classifier's own. Rules across fields (a logistic regression has no hidden
layer, the stand-in's label columns) are checked by the kind's plan-time hook (kind.py).
"""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Literal

from pydantic import Field, field_validator

from trainables.schema import OptimConfig, PositiveInt, Probability, Strict, TrialBase

CSV_SOURCE = "toxic_comments"  # a CSV file under paths.data_root (data.path)
SAMPLE_SOURCE = "toxic_sample"  # the bundled generator (trainables/text/sample.py): offline=true
TextSource = Literal["toxic_comments", "toxic_sample"]

NgramRange = Annotated[list[PositiveInt], Field(min_length=2, max_length=2)]  # [shortest, longest] n


def _ordered(value: list[int] | None) -> list[int] | None:
    if value is not None and value[0] > value[1]:
        raise ValueError("the shortest n-gram must not be longer than the longest")
    return value


class FeaturesConfig(Strict):
    """TF-IDF features (scikit-learn), fitted on the training split only."""

    max_features: PositiveInt  # word n-gram vocabulary: the most frequent terms; the model's input width
    word_ngrams: NgramRange = Field(default_factory=lambda: [1, 1])  # unigrams only
    char_ngrams: NgramRange | None = None  # e.g. [2, 4]: character n-grams inside word boundaries too
    char_max_features: PositiveInt | None = None  # their vocabulary, appended to the word columns
    sublinear_tf: bool = True  # 1 + log(tf) instead of raw counts
    min_df: PositiveInt = 1  # documents a term must occur in

    _word_order = field_validator("word_ngrams")(_ordered)
    _char_order = field_validator("char_ngrams")(_ordered)


class TextDataConfig(Strict):
    name: TextSource
    source: TextSource  # what is loaded: `name`, or its stand-in when offline=true
    standin: TextSource  # offline counterpart; `source` records the choice
    path: str  # toxic_comments: the CSV, relative to paths.data_root unless absolute
    text_column: str
    label_columns: Annotated[list[str], Field(min_length=1)]  # 0/1 columns, one sigmoid output each
    validation_split: Annotated[float, Field(gt=0.0, lt=1.0)]  # the rows' last fraction (before the test rows)
    test_split: Annotated[float, Field(ge=0.0, lt=1.0)] = 0.0  # the very last rows; 0: no test metrics
    sample_size: PositiveInt = 4000  # toxic_sample only: rows generated
    features: FeaturesConfig


class TextModelConfig(Strict):
    name: str
    architecture: Literal["logistic_regression", "mlp"]
    hidden: PositiveInt | None = None  # mlp only: units of its hidden layer
    dropout: Probability = 0.0  # mlp only: after the hidden layer's ReLU
    note: str | None = None  # why this model; prose, not in the trial id


class TextTrainerConfig(Strict):
    epochs: PositiveInt
    batch_size: PositiveInt
    test_batch_size: PositiveInt  # evaluation batches: only their rows are ever turned into tensors
    loss: Literal["bce"]  # binary cross-entropy of each label's sigmoid output, averaged over labels


class TextTrialConfig(TrialBase):
    """A multi-label text classifier's trial (trainables/text/loop.py)."""

    NOT_HASHED: ClassVar[dict[str, Any]] = {"data": {"standin"}, "model": {"note"}}

    trainable: Literal["text"]  # required, so it is part of the trial id
    data: TextDataConfig
    model: TextModelConfig
    optim: OptimConfig
    trainer: TextTrainerConfig
