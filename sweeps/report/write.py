"""Writing a study's report folder and logging each question's summary run to MLflow."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from sweeps.record.store import question_filter
from sweeps.record.tags import OUTCOME
from sweeps.report.benchmark import benchmark_blocks
from sweeps.report.collect import RunRecord, StudyRecord, read_study
from sweeps.report.context import ReportContext
from sweeps.report.document import Block, Heading, Image, Paragraph
from sweeps.report.render import to_html, to_markdown
from sweeps.report.sections import question_section
from sweeps.report.sections.data import banner, data_section, data_sets
from sweeps.report.summary_runs import log_summary, summary_runs
from sweeps.trials import Plan

INDEX, MARKDOWN, BENCHMARK = "index.html", "report.md", "benchmark.md"


@dataclass(frozen=True)
class WrittenReport:
    folder: Path
    questions: int
    trial_status: Counter[str]  # finished, stopped early, running, killed, failed, diverged, missing → trials
    figures: list[Path]
    summary_runs: dict[str, str]  # question id → its summary run's id

    def describe(self) -> str:
        """One line for the terminal: what was written where."""
        return (
            f"{self.questions} questions ({trial_counts(self.trial_status)}), {len(self.figures)} figures → "
            f"{self.folder / INDEX}, {MARKDOWN}, {BENCHMARK}; {len(self.summary_runs)} summary runs in MLflow"
        )


def write_report(plan: Plan, folder: Path) -> WrittenReport:
    """index.html, report.md, benchmark.md and figures/ in `folder`; a summary run per question in MLflow."""
    study = read_study(plan)  # completes the plan: a search's samples and a stage's trials count too
    context = ReportContext(study, folder)
    trials = [*plan.trials, *plan.resolved]
    status = Counter(_ended(study.runs[trial.id]) if trial.id in study.runs else "missing" for trial in trials)
    sets = data_sets(study)
    opening = [*_header(study, status), *banner(study, sets), *data_section(sets, context)]
    sections = {question.id: question_section(question, context) for question in plan.questions}
    body = [*opening, *(block for blocks in sections.values() for block in blocks)]
    benchmark = benchmark_blocks(study)
    folder.mkdir(parents=True, exist_ok=True)
    page = [*body, Heading(2, "Benchmark", anchor="benchmark"), *benchmark]
    (folder / INDEX).write_text(to_html(page, f"{plan.title} ({plan.study})"), encoding="utf-8")
    (folder / MARKDOWN).write_text(to_markdown(body), encoding="utf-8")
    (folder / BENCHMARK).write_text(to_markdown([Heading(1, f"{plan.study}: benchmark"), *benchmark]), encoding="utf-8")
    existing = summary_runs(study)  # the files come first: they stand even if the store then fails
    logged = {
        question: log_summary(study, question, to_markdown(blocks), _figures(folder, blocks), existing.get(question))
        for question, blocks in sections.items()
    }
    return WrittenReport(folder, len(plan.questions), status, _figures(folder, body), logged)


def _header(study: StudyRecord, status: Counter[str]) -> list[Block]:
    plan = study.plan
    return [
        Heading(1, f"{plan.title} ({plan.study})"),
        Paragraph(
            f"{len(plan.questions)} questions, {trial_counts(status)}, read from "
            f"{plan.runtime.tracking.uri}, experiment {plan.study}. "
            f"Benchmark: {BENCHMARK}. A question's runs in the MLflow UI (`sweep ui`): "
            f"{question_filter(plan.questions[0].id)}."
        ),
    ]


def _ended(run: RunRecord) -> str:
    """How a run ended for the header: `stopped early` for a search's sample the scheduler stopped (a KILLED
    run in MLflow, as is one interrupted, which stays `killed`); else its status."""
    return "stopped early" if run.tags.get(OUTCOME) == "early_stopped" else run.status


def trial_counts(status: Counter[str]) -> str:
    """E.g. `8 unique trials: 7 finished, 1 missing`."""
    return f"{sum(status.values())} unique trials: " + ", ".join(f"{count} {name}" for name, count in sorted(status.items()))


def _figures(folder: Path, blocks: list[Block]) -> list[Path]:
    return list(dict.fromkeys(folder / block.path for block in blocks if isinstance(block, Image)))
