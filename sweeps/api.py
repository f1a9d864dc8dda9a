"""`sweeps.load(study)`: a study's results in a notebook, read from MLflow by the report's own code.

`table()` is the report's table as a DataFrame (a number column as `<title> mean` and `<title> std`, `n`
the finished runs a row summarises, the finding in `attrs`); `history()` the per-epoch metrics in long
form; `runs()` one row per trial run; `figure()` the report's matplotlib figure. Nothing is written.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd
from matplotlib.figure import Figure

from sweeps.config.sources import course_folder
from sweeps.plan.build import plan_study
from sweeps.report.collect import EPOCH_METRICS, StudyRecord, read_study
from sweeps.report.context import ReportContext
from sweeps.report.document import Image
from sweeps.report.sections import question_section, question_table, table_finding
from sweeps.report.table import STATUS, N, QuestionTable, TableRow
from sweeps.trials import Plan, PlannedQuestion


def load(
    study: str, overrides: Sequence[str] = (), questions: Sequence[str] | None = None, conf: str | Path | None = None
) -> Results:
    """The results of `study` under `overrides` (as `sweep report` takes them: offline=true, tracking.uri=…);
    `conf`: a course folder of the user's own, as `--conf` takes it (default: SWEEPS_CONF, if set).

    Raises SweepError on bad input, or when the store has no run of the study yet.
    """
    return Results(read_study(plan_study(study, list(overrides), questions, course=course_folder(conf))))


class Results:
    """A study's runs as read back from MLflow once; every method computes from them."""

    def __init__(self, study: StudyRecord) -> None:
        self.study = study

    @property
    def plan(self) -> Plan:
        """The plan, completed from the store (a search's samples and a stage's trials included)."""
        return self.study.plan

    @property
    def questions(self) -> list[str]:
        return [question.id for question in self.plan.questions]

    def table(self, question: str) -> pd.DataFrame:
        """The report's table of `question`: one row per variant (a search's or stage's: per run).

        A number column becomes `<title> mean` and `<title> std` (std: NaN for a single run), `n` counts the
        row's finished runs and `role` marks the reference (or a search's best). `attrs["finding"]` is the
        section's opening sentence; `attrs["comparisons"]` its Welch tests (label, against, p, n, against_n).
        """
        table = self._table(question)
        frame = pd.DataFrame([_frame_row(table, row) for row in table.rows], columns=_frame_columns(table))
        finding = table_finding(table)
        frame.attrs.update(
            question=question,
            finding=finding.sentence,
            comparisons=[dataclasses.asdict(comparison) for comparison in finding.comparisons],
        )
        return frame

    def history(self, question: str) -> pd.DataFrame:
        """Per-epoch metrics of every run in `question`'s table, one row per run and epoch (long form)."""
        table = self._table(question)
        records = []
        for row in table.rows:
            for run in row.runs:
                length = max((len(values) for values in run.curves.values()), default=0)
                for index in range(length):
                    metrics = {key: _at(run.curves.get(key, []), index) for key in EPOCH_METRICS}
                    records.append({
                        "trial_id": run.trial_id,
                        table.label: row.label,
                        "seed": _seed(run.params.get("seed")),
                        "status": run.status,
                        "epoch": run.first_epoch + index,
                        **metrics,
                    })
        columns = ["trial_id", table.label, "seed", "status", "epoch", *EPOCH_METRICS]
        return pd.DataFrame(records, columns=columns)

    def runs(self) -> pd.DataFrame:
        """One row per trial run: ids, name, status, then `params.*`, `tags.*` and the latest `metrics.*`."""
        records = [
            {
                "trial_id": run.trial_id,
                "run_id": run.run_id,
                "run_name": run.name,
                "status": run.status,
                **{f"params.{key}": value for key, value in sorted(run.params.items())},
                **{f"tags.{key}": value for key, value in sorted(run.tags.items())},
                **{f"metrics.{key}": value for key, value in sorted(run.metrics.items())},
            }
            for run in self.study.runs.values()
        ]
        return pd.DataFrame(records)

    def figures(self, question: str) -> dict[str, Figure]:
        """The figures of `question`'s report section, by file name without `.png` (e.g. `q03_curves`)."""
        context = ReportContext(self.study, folder=None)
        blocks = question_section(self._question(question), context)
        return {Path(block.path).stem: context.kept[block.path] for block in blocks if isinstance(block, Image)}

    def figure(self, question: str, name: str | None = None) -> Figure:
        """The section's first figure (a grid's curves, a search's trials over time, a stage's val accuracy),
        or the first whose name contains `name` (`curves`, `vs_optim_lr`, `confusion`, `val_acc`)."""
        drawn = self.figures(question)
        chosen = [key for key in drawn if name is None or name in key]
        if not chosen:
            raise KeyError(f"{question} has no figure{f' named like {name!r}' if name else ' (yet)'}; it has: {', '.join(drawn) or 'none'}")
        return drawn[chosen[0]]

    def _question(self, question: str) -> PlannedQuestion:
        if question not in self.questions:
            raise KeyError(f"no question {question!r} in {self.plan.study}; it has: {', '.join(self.questions)}")
        return self.plan.question(question)

    def _table(self, question: str) -> QuestionTable:
        table = question_table(self._question(question), self.study)
        if table is None:
            raise KeyError(f"{question}: no table for {self._question(question).form} questions")
        return table


def _frame_columns(table: QuestionTable) -> list[str]:
    names = [table.label, STATUS]
    for column in table.columns:
        names += [f"{column.title} mean", f"{column.title} std"] if column.numeric else [column.title]
    return [*names, N, "role"]


def _frame_row(table: QuestionTable, row: TableRow) -> list[Any]:
    values: list[Any] = [row.label, row.status]
    for column in table.columns:
        cell = row.cells.get(column.title)
        if column.numeric:
            values += [math.nan, math.nan] if cell is None else [cell.mean, math.nan if cell.std is None else cell.std]
        else:
            values.append(cell)
    return [*values, row.n, row.role]


def _at(values: list[float], index: int) -> float:
    return values[index] if index < len(values) else math.nan


def _seed(text: str | None) -> int | None:
    return None if text is None else int(text)
