"""sweeps: a course's question set as Hydra configs → unique trials on Ray Tune → MLflow → a report per question.

`sweeps.load(study)` reads a study's results for a notebook (sweeps.api). Importing the package imports
nothing else: the `sweep` command imports it, so its start-up stays fast.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sweeps.api import Results


def load(
    study: str, overrides: Sequence[str] = (), questions: Sequence[str] | None = None, conf: str | Path | None = None
) -> Results:
    """A study's results read from its MLflow store: `.table(q)`, `.history(q)`, `.runs()`, `.figure(q)`.

    `overrides` are the ones `sweep run` and `sweep report` take (offline=true, tracking.uri=…); `questions`
    limits them to some (with the ones they start from); `conf` is a course folder of your own, as `--conf`
    takes it (default: SWEEPS_CONF, if set). See sweeps.api.Results.
    """
    from sweeps.api import load as load_results  # pandas, matplotlib and MLflow: only when asked for

    return load_results(study, overrides, questions, conf)
