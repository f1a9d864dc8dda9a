"""Per-question summary runs in the study's experiment: the section's figures and Markdown as artifacts.

They carry `sweeps.kind=summary` and no `sweeps.trial_id`, so they never count as trials, and
`sweeps.questions=<id>` and `sweeps.answers.<id>=true` so the question's filter in the MLflow UI lists its
summary next to its trials.
A later report finds a question's summary run by its tags and overwrites its artifacts: no duplicates.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path

from sweeps.record.store import client_for, search_all
from sweeps.record.tags import QUESTION, QUESTIONS, RUN_ROLE, STUDY, SUMMARY_ROLE, answer_tags
from sweeps.report.collect import StudyRecord
from sweeps.report.context import FIGURES

SECTION = "section.md"


def log_summary(study: StudyRecord, question: str, markdown: str, figures: Sequence[Path], run_id: str | None) -> str:
    """Log one question's section to its summary run (`run_id`, or a new one); returns the run's id."""
    client = client_for(study.plan.runtime.tracking.uri)
    if run_id is None:
        tags = {RUN_ROLE: SUMMARY_ROLE, QUESTION: question, QUESTIONS: question, **answer_tags([question]), STUDY: study.plan.study}
        run_id = client.create_run(study.experiment_id, run_name=f"{question} summary", tags=tags).info.run_id
    with tempfile.TemporaryDirectory() as folder:
        (Path(folder) / SECTION).write_text(markdown, encoding="utf-8")
        (Path(folder) / FIGURES).mkdir()
        for figure in figures:  # the layout the section's Markdown links to
            shutil.copyfile(figure, Path(folder) / FIGURES / figure.name)
        client.log_artifacts(run_id, folder)
    client.set_terminated(run_id, "FINISHED")
    return run_id


def summary_runs(study: StudyRecord) -> dict[str, str]:
    """Question id → the run id of its existing summary run."""
    client = client_for(study.plan.runtime.tracking.uri)
    found = search_all(client, [study.experiment_id], f"tags.`{RUN_ROLE}` = '{SUMMARY_ROLE}'")
    return {run.data.tags[QUESTION]: run.info.run_id for run in found if QUESTION in run.data.tags}
