"""Every `sweeps.*` tag name a run of a study carries in MLflow, in one place (a test fails on a `"sweeps.`
tag literal anywhere else). The first four, and the values of `sweeps.kind`, are the contract other tools
rely on (docs/contracts.md): they never change.
"""

from __future__ import annotations

# The contract's tags.
TRIAL_ID = "sweeps.trial_id"  # the plan's trial id (a content hash of the trial's config)
QUESTIONS = "sweeps.questions"  # comma-separated ids of the questions a run answers
STUDY = "sweeps.study"
RUN_ROLE = "sweeps.kind"  # what a run is: one of the three roles below
TRIAL_ROLE = "trial"  # one unique trial
SEARCH_ROLE = "search"  # a search question's parent run
SUMMARY_ROLE = "summary"  # a report's summary of one question
GROUP = "sweeps.group"  # trials that differ only in seed (a question's repeats) share it



def answers(question: str) -> str:
    """The tag, set to "true", of every run that answers `question` (trials, a search's parent, a summary):
    the MLflow UI's filter for one question's runs. `sweeps.questions` holds all of a run's ids, and a
    LIKE pattern on it cannot tell q1 from q10; MLflow's filters have no OR to list the four positions."""
    return f"sweeps.answers.{question}"


def answer_tags(questions: list[str]) -> dict[str, str]:
    return {answers(question): "true" for question in questions}


# What a trial run records about itself.
PARAMETERS = "sweeps.parameters"  # the model's trainable parameters
DATA_SOURCE = "sweeps.data_source"  # the source a run read
OFFLINE = "sweeps.offline"  # "true" when a run read a stand-in
CODE_HASH = "sweeps.code_hash"  # trainables.code.trial_code_hash: its kind's code (and its model's, from code) when it (last) trained
CONTINUED_FROM = "sweeps.continued_from"  # the trial whose last checkpoint this trial started from
NODE_ID = "sweeps.node_id"  # the Ray node this (part of the) trial ran on
RESUMED_FROM = "sweeps.resumed_from_epoch"  # the epoch a resumed trial continued after
RETRIES = "sweeps.retries"  # times the trial's worker failed and the trial was started again
GIT_DIRTY = "sweeps.git_dirty"  # "true": the checkout had uncommitted changes when the run was opened
SUPERSEDED = "sweeps.superseded"  # "true": a later run of the same trial (or search) replaces this one

# How a trial's run ended.
OUTCOME = "sweeps.outcome"  # finished, early_stopped, failed or diverged (sweeps.record.tracking.Outcome)
ERROR_FILE = "sweeps.error_file"  # a failed trial's error, as Ray Tune wrote it
ERROR = "sweeps.error"  # a failed trial's error in one line: its training function broke its contract
STOPPED_AT = "sweeps.stopped_at_epoch"  # the last epoch of a trial the scheduler stopped early
DIVERGED_AT = "sweeps.diverged_at_epoch"  # the epoch whose training loss was not finite

# Summary runs.
QUESTION = "sweeps.question"  # the one question a summary run is about
