"""The text trainable (trainables/text/): AUC against scikit-learn, TF-IDF against scikit-learn's own
fit, the models on sparse input, resume, the CSV checks, and that no dense corpus matrix is made.

Trial configs are validated by the kind's schema, so they are what a trial really gets; the corpus is
the bundled generated sample (a few thousand rows: seconds per test).
"""

from __future__ import annotations

import copy
import csv
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import scipy.sparse as sp
import torch
from helpers.epoch_reports import Run, Stop, results
from helpers.parameters import count_parameters
from sklearn.feature_extraction.text import CountVectorizer, TfidfVectorizer
from sklearn.metrics import roc_auc_score

import trainables.text.features as features_module
from sweeps.plan.build import plan_study
from trainables.callback import Checkpoint, EpochReport
from trainables.errors import DataUnavailableError
from trainables.kinds import kind
from trainables.text.corpus import CorpusError, read_csv_corpus
from trainables.text.features import build_features, fit_vectorizer
from trainables.text.loop import train
from trainables.text.metrics import auc_metrics, labelwise_accuracy, roc_auc_per_label
from trainables.text.models import build_model, sparse_batch
from trainables.text.sample import SAMPLE_LABELS, generate_sample
from trainables.text.schema import TextTrialConfig

pytestmark = pytest.mark.usefixtures("torch_threads")  # train() sets torch's thread count

EPOCHS = 3
ROWS = 3000  # sample rows: 2,250 train, 600 validation, 150 test
WIDTH = 3000  # TF-IDF columns
LABELS = len(SAMPLE_LABELS)


def trial(architecture: str = "mlp", source: str = "toxic_sample", path: str = "toxic/train.csv", **trainer: Any) -> dict[str, Any]:
    model = {"name": "text_mlp", "architecture": "mlp", "hidden": 32, "dropout": 0.25}
    if architecture == "logistic_regression":
        model = {"name": "text_logreg", "architecture": "logistic_regression"}
    config = {
        "trainable": "text",
        "seed": 1,
        "data": {
            "name": "toxic_comments",
            "source": source,
            "standin": "toxic_sample",
            "path": path,
            "text_column": "comment_text",
            "label_columns": list(SAMPLE_LABELS),
            "validation_split": 0.2,
            "test_split": 0.05,
            "sample_size": ROWS,
            "features": {"max_features": WIDTH, "word_ngrams": [1, 2], "min_df": 2, "sublinear_tf": True},
        },
        "model": model,
        "optim": {"name": "adam", "lr": 0.01},
        "trainer": {"epochs": EPOCHS, "batch_size": 32, "test_batch_size": 256, "loss": "bce", **trainer},
    }
    return TextTrialConfig.model_validate(config).model_dump(mode="json")


def run(config: dict[str, Any], data_root: Path, resume: Checkpoint | None = None) -> Run:
    """Every report of one text `train` call."""
    recorder = Run()
    train(config, data_root, recorder, resume=resume)
    return recorder


@pytest.fixture(scope="module")
def mlp_run(tmp_path_factory: pytest.TempPathFactory) -> Run:
    return run(trial("mlp"), tmp_path_factory.mktemp("data"))


# --- metrics ------------------------------------------------------------------------------------


def test_auc_matches_scikit_learn_per_label_and_mean() -> None:
    rng = np.random.default_rng(0)
    rows = 500
    labels = (rng.random((rows, 5)) < [0.5, 0.2, 0.05, 0.01, 0.3]).astype(np.float32)
    scores = np.round(labels * rng.random((rows, 5)) + rng.random((rows, 5)), 1)  # rounded: many ties
    labels[:, 3] = 0.0  # one class only: AUC is undefined there
    per_label = roc_auc_per_label(scores, labels)
    for column in (0, 1, 2, 4):
        assert per_label[column] == pytest.approx(roc_auc_score(labels[:, column], scores[:, column]), abs=1e-12)
    assert np.isnan(per_label[3])

    names = ["a", "b", "c", "d", "e"]
    metrics = auc_metrics("val", scores, labels, names)
    defined = [0, 1, 2, 4]
    assert metrics["val_auc"] == pytest.approx(roc_auc_score(labels[:, defined], scores[:, defined], average="macro"))
    assert set(metrics) == {"val_auc", "val_auc_a", "val_auc_b", "val_auc_c", "val_auc_e"}  # d has no AUC


def test_labelwise_accuracy_cuts_each_sigmoid_at_one_half() -> None:
    logits = np.array([[2.0, -1.0], [-0.5, 0.1]])
    labels = np.array([[1.0, 1.0], [0.0, 1.0]])
    assert labelwise_accuracy(logits, labels) == 0.75


# --- features -----------------------------------------------------------------------------------


def tie_free_cut(texts: list[str], analyzer: str, ngrams: tuple[int, int]) -> int:
    """A vocabulary size whose last kept term is strictly more frequent than the first one dropped."""
    counts = CountVectorizer(analyzer=analyzer, ngram_range=ngrams, min_df=2).fit_transform(texts)
    totals = np.sort(np.asarray(counts.sum(axis=0)).ravel())[::-1]
    return next(k for k in range(len(totals) // 4, len(totals)) if totals[k - 1] > totals[k])


@pytest.mark.parametrize(
    ("analyzer", "ngrams", "cut"),
    [("word", (1, 2), False), ("word", (1, 2), True), ("char_wb", (2, 4), True)],
    ids=["word-every-term", "word-most-frequent", "char-most-frequent"],
)
def test_chunked_fit_equals_scikit_learns_fit(monkeypatch: pytest.MonkeyPatch, analyzer: str, ngrams: tuple[int, int], cut: bool) -> None:
    monkeypatch.setattr(features_module, "CHUNK_ROWS", 300)  # four chunks
    texts = generate_sample(1200).texts
    fit, other = texts[:1000], texts[1000:]
    max_features = tie_free_cut(fit, analyzer, ngrams) if cut else 10**6
    options = {"analyzer": analyzer, "ngram_range": ngrams, "sublinear_tf": True, "dtype": np.float32}
    reference = TfidfVectorizer(**options, min_df=2, max_features=max_features)
    expected = reference.fit_transform(fit)
    ours = fit_vectorizer(TfidfVectorizer(analyzer=analyzer, ngram_range=ngrams, sublinear_tf=True, dtype=np.float32), fit, max_features, 2)
    assert ours.vocabulary_ == reference.vocabulary_
    assert len(ours.vocabulary_) == min(max_features, len(ours.vocabulary_)) and (not cut or len(ours.vocabulary_) == max_features)
    np.testing.assert_array_equal(ours.idf_, reference.idf_)
    assert abs(ours.transform(fit) - expected).max() == 0.0
    assert abs(ours.transform(other) - reference.transform(other)).max() == 0.0


def test_features_are_sparse_and_batches_hold_only_their_non_zeros() -> None:
    corpus = generate_sample(1200)
    cfg = trial()["data"]["features"] | {"char_ngrams": [2, 3], "char_max_features": 1000}
    features = build_features(cfg, corpus.texts[:1000], corpus.texts[1000:1100], corpus.texts[1100:])
    assert features.width == WIDTH + 1000
    for matrix, rows in ((features.train, 1000), (features.val, 100), (features.test, 100)):
        assert sp.issparse(matrix) and matrix.format == "csr" and matrix.dtype == np.float32
        assert matrix.shape == (rows, features.width)
        assert matrix.nnz < 0.05 * rows * features.width  # sparse in fact, not only in type
    index = np.array([5, 999, 0, 17])
    rows = features.train[index]
    batch = sparse_batch(rows, torch.device("cpu"))
    assert batch.rows == 4
    assert batch.values.numel() == batch.columns.numel() == rows.nnz  # the batch's non-zeros, nothing more
    assert int(batch.columns.max()) < features.width


def test_training_never_densifies_a_matrix(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("a sparse matrix was made dense")

    for cls in (sp.csr_matrix, sp.csr_array, sp.coo_matrix, sp.csc_matrix):
        monkeypatch.setattr(cls, "toarray", refuse)
        monkeypatch.setattr(cls, "todense", refuse)
    monkeypatch.setattr(torch.Tensor, "to_dense", refuse)
    for architecture in ("logistic_regression", "mlp"):
        recorder = run(trial(architecture, epochs=1), tmp_path)
        assert recorder.reports[-1].metrics["val_auc"] > 0.5


# --- models and training ------------------------------------------------------------------------


def test_parameters_are_counted_at_plan_time_as_built() -> None:
    def parameters(config: dict[str, Any]) -> int:
        return kind("text").parameters(config, Path("data"))  # counted from the settings: no file is read

    logreg, mlp = trial("logistic_regression"), trial("mlp")
    assert parameters(logreg) == WIDTH * LABELS + LABELS
    assert parameters(mlp) == (WIDTH * 32 + 32) + (32 * LABELS + LABELS)
    char = copy.deepcopy(mlp)
    char["data"]["features"] |= {"char_ngrams": [2, 4], "char_max_features": 500}
    assert parameters(char) == ((WIDTH + 500) * 32 + 32) + (32 * LABELS + LABELS)
    for config, width in ((logreg, WIDTH), (mlp, WIDTH), (char, WIDTH + 500)):
        assert count_parameters(build_model(config["model"], width, LABELS)) == parameters(config)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda c: c["model"].update(hidden=None), r"^model\.hidden: the mlp needs the units of its hidden layer \(got None\)$"),
        (lambda c: c["model"].update(architecture="logistic_regression"),
         r"^model\.hidden: a logistic regression has no hidden layer \(got 32\)"),
        (lambda c: c["data"]["features"].update(char_ngrams=[2, 4]),
         r"^data\.features\.char_max_features: required with data\.features\.char_ngrams"),
        (lambda c: c["data"].update(label_columns=["toxic", "rude"]),
         r"^data\.label_columns: the toxic_sample stand-in has no label 'rude'; allowed: toxic, "),
        (lambda c: c["data"].update(label_columns=["toxic", "toxic"]), r"^data\.label_columns: 'toxic' is listed twice$"),
        (lambda c: c["data"].update(validation_split=0.5, test_split=0.5),
         r"^data\.test_split: validation_split \+ test_split must leave rows"),
    ],
    ids=["mlp-without-hidden", "logreg-with-hidden", "char-without-width", "unknown-label", "repeated-label", "no-train-rows"],
)
def test_bad_settings_are_one_line_errors_at_plan_time(change: Any, message: str) -> None:
    config = trial("mlp")
    change(config)
    with pytest.raises(ValueError, match=message):
        kind("text").parameters(config, Path("data"))


def test_mlp_on_sparse_input_trains_and_beats_logistic_regression(mlp_run: Run, tmp_path: Path) -> None:
    logreg = run(trial("logistic_regression"), tmp_path)
    mlp_losses = [report.metrics["train_loss"] for report in mlp_run.reports]
    assert mlp_losses == sorted(mlp_losses, reverse=True) and mlp_losses[-1] < 0.5 * mlp_losses[0]  # it learns
    for key in ("train_loss", "val_loss"):
        assert mlp_run.reports[-1].metrics[key] < logreg.reports[-1].metrics[key]
    assert mlp_run.reports[-1].metrics["val_auc"] >= 0.9  # the sample's labels are learnable from its words


def test_reports_every_metric_the_runner_logs(mlp_run: Run) -> None:
    per_label = {f"val_auc_{name}" for name in SAMPLE_LABELS}
    epoch_keys = {"train_loss", "train_acc", "val_loss", "val_acc", "val_auc", "epoch_seconds", "eval_seconds", "examples_per_second"}
    assert mlp_run.epochs == [1, 2, 3]
    for report in mlp_run.reports:
        assert epoch_keys | per_label <= set(report.metrics)
        assert all(0.0 <= report.metrics[key] <= 1.0 for key in per_label | {"val_auc", "val_acc", "train_acc"})
    final = mlp_run.reports[-1]
    phases = {f"phase_{name}_seconds" for name in ("data_load", "features", "build", "train", "test")}
    assert phases | {"test_loss", "test_acc", "test_auc"} | {f"test_auc_{name}" for name in SAMPLE_LABELS} <= set(final.metrics)
    assert final.confusion_matrix is None
    assert not any(key.startswith(("test_", "phase_")) for report in mlp_run.reports[:-1] for key in report.metrics)


def test_without_a_test_split_there_are_no_test_metrics(tmp_path: Path) -> None:
    config = trial("logistic_regression", epochs=1)
    config["data"]["test_split"] = 0.0
    final = run(config, tmp_path).reports[-1].metrics
    assert not any(key.startswith("test_") for key in final) and "phase_test_seconds" not in final


def test_resume_after_interruption_equals_uninterrupted(mlp_run: Run, tmp_path: Path) -> None:
    config = trial("mlp")  # dropout 0.25: the resumed run must continue the RNG, not restart it
    kept: list[Checkpoint] = []

    def interrupted(report: EpochReport) -> None:
        kept.append(report.checkpoint())
        raise Stop

    with pytest.raises(Stop):
        train(config, tmp_path, interrupted)
    resumed = run(config, tmp_path, resume=kept[0])
    assert resumed.epochs == [2, 3]
    assert [results(r) for r in resumed.reports] == [results(r) for r in mlp_run.reports[1:]]
    for name, tensor in mlp_run.weights.items():
        assert torch.equal(resumed.weights[name], tensor), name

    again = run(config, tmp_path, resume=mlp_run.checkpoints[-1])  # finished, stopped before reporting it
    assert again.epochs == [EPOCHS] and results(again.reports[0]) == results(mlp_run.reports[-1])


def test_another_seed_gives_another_model(mlp_run: Run, tmp_path: Path) -> None:
    config = trial("mlp")
    config["seed"] = 2
    other = run(config, tmp_path)
    assert results(other.reports[0]) != results(mlp_run.reports[0])


# --- the CSV ------------------------------------------------------------------------------------

HEADER = "id,comment_text,toxic,insult\n"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("id,comment_text,toxic\n1,fine,0\n",
         r"train\.csv line 1 \(header\), column 'insult': missing; the header has id, comment_text, toxic$"),
        (HEADER + "1,fine,0,0\n2,too short,1\n",
         r"train\.csv row 2 \(line 3\), column 'insult': missing \(the row has 3 fields, the header 4\)$"),
        (HEADER + "1,fine,2,0\n", r"train\.csv row 1 \(line 2\), column 'toxic': a label must be 0 or 1 \(got '2'\)$"),
        (HEADER + '1,"two\nlines",0,0\n2,fine,0,yes\n',
         r"train\.csv row 2 \(line 4\), column 'insult': a label must be 0 or 1 \(got 'yes'\)$"),
        (HEADER + "1,fine,0,\n", r"train\.csv row 1 \(line 2\), column 'insult': a label must be 0 or 1 \(got ''\)$"),
        (HEADER + "1,fine,0,0\n2,  ,1,0\n", r"train\.csv row 2 \(line 3\), column 'comment_text': the text is empty$"),
        ("", r"train\.csv: the file is empty; it needs a header row naming its columns$"),
        (HEADER, r"train\.csv: no rows after the header$"),
    ],
    ids=["missing-column", "short-row", "label-2", "label-after-multiline-text", "empty-label", "empty-text", "empty-file", "header-only"],
)
def test_malformed_csv_is_one_line_naming_row_and_column(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "train.csv"
    path.write_text(content)
    with pytest.raises(CorpusError, match=message) as error:
        read_csv_corpus(path, "comment_text", ["toxic", "insult"])
    assert "\n" not in str(error.value)
    data = trial(source="toxic_comments", path=str(path))["data"] | {"label_columns": ["toxic", "insult"]}
    with pytest.raises(DataUnavailableError, match=message):  # `sweep run` stops on it before any trial
        kind("text").ensure_available(data, tmp_path)


def test_missing_csv_names_file_and_folder(tmp_path: Path) -> None:
    data = trial(source="toxic_comments")["data"]
    with pytest.raises(DataUnavailableError, match=rf"missing train\.csv in {tmp_path / 'toxic'}; copy the CSV there"):
        kind("text").ensure_available(data, tmp_path)


def test_reads_quoted_multiline_texts_and_labels(tmp_path: Path) -> None:
    path = tmp_path / "train.csv"
    path.write_text(HEADER + '7,"a, quoted\ncomment",1, 0\n8,plain,0,1\n')
    corpus = read_csv_corpus(path, "comment_text", ["insult", "toxic"])  # any order, any subset
    assert corpus.texts == ["a, quoted\ncomment", "plain"]
    np.testing.assert_array_equal(corpus.labels, [[0.0, 1.0], [1.0, 0.0]])
    assert corpus.labels.dtype == np.float32 and corpus.label_names == ("insult", "toxic")


def test_a_csv_of_the_sample_trains_exactly_as_the_sample(tmp_path: Path) -> None:
    sample = generate_sample(ROWS)
    path = tmp_path / "toxic" / "train.csv"
    path.parent.mkdir()
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "comment_text", *SAMPLE_LABELS])
        for row, (text, labels) in enumerate(zip(sample.texts, sample.labels, strict=True)):
            writer.writerow([row, text, *(int(value) for value in labels)])
    from_csv = run(trial("logistic_regression", source="toxic_comments", epochs=1), tmp_path)
    generated = run(trial("logistic_regression", epochs=1), tmp_path)
    assert results(from_csv.reports[-1]) == results(generated.reports[-1])


# --- the stand-in and the study -----------------------------------------------------------------


def test_sample_is_the_same_every_time_and_validates_every_label() -> None:
    first, second = generate_sample(ROWS), generate_sample(ROWS)
    assert first.texts == second.texts and np.array_equal(first.labels, second.labels)
    validation = first.labels[int(0.75 * ROWS) : int(0.95 * ROWS)]
    assert (validation.sum(axis=0) >= 5).all()  # every label has positives to rank: an AUC each


def test_study_plans_offline_on_the_sample() -> None:
    plan = plan_study("toxic_comments", ["offline=true"])
    assert len(plan.trials) == 14
    assert {trial.config["trainable"] for trial in plan.trials} == {"text"}
    assert {trial.config["data"]["source"] for trial in plan.trials} == {"toxic_sample"}
    widths = {trial.config["data"]["features"]["max_features"] for trial in plan.trials}
    assert widths == {20000, 5000}
    for planned in plan.trials:
        width, hidden = planned.config["data"]["features"]["max_features"], planned.config["model"]["hidden"]
        expected = width * LABELS + LABELS if hidden is None else width * hidden + hidden + hidden * LABELS + LABELS
        assert planned.parameters == expected
