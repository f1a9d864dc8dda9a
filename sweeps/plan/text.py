"""`sweep plan` for people: each question with its variants (a search's samples and a stage's trials once
the store has them), then the trial count by status."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from typing import TextIO

from sweeps.plan.packs import describe_packs, pending_packs
from sweeps.plan.prefixes import prefixes
from sweeps.trials import DONE, Plan, PlannedQuestion, PlannedTrial, overrides_text
from sweeps.words import plural

LABEL = 40  # characters of the label column


def print_plan(plan: Plan, out: TextIO) -> None:
    status = {trial.id: trial.status for trial in plan.trials}
    stale = {trial.id for trial in plan.trials if trial.stale}
    offline = " (offline: bundled stand-in data)" if plan.runtime.offline else ""
    print(f"{plan.study}: {plan.title}{offline}", file=out)
    starts = Counter[str]()  # a trial id → how many stages start from it
    for question in plan.questions:
        source = _stage_source(question, plan) if question.form == "stage" else None
        if source is not None:
            starts[source] += 1
    for question in plan.questions:
        print(f"\n{question.id}  {question.text}", file=out)
        if question.note:
            print(f"     note: {question.note}", file=out)
        config = question.config
        if config.search is not None:
            space = ", ".join(f"{key}={value}" for key, value in config.search.space.items())
            print(f"     search: {config.search.num_samples} samples of {space}", file=out)
            print(f"     best by {config.search.metric} ({config.search.mode}); scheduler {config.search.scheduler.name}", file=out)
            for sample in question.samples:
                trial = plan.trial(sample)
                label = trial.name.removeprefix(f"{question.id} ")
                marked = "  ← the stages start from it" if starts[sample] else ""
                print(f"     {label:<{LABEL}} {trial.id}  {state(trial)}{marked}", file=out)
        if config.from_ is not None:
            action = "fine-tunes" if config.train else "evaluates (no training)"
            source = _stage_source(question, plan)
            chosen = f": trial {source}" if source else ""
            print(f"     {action} the {config.from_.select} trial of {config.from_.question} by {config.from_.metric}{chosen}", file=out)
        for variant in question.variants:
            label = overrides_text(variant.overrides) or "(baseline)"
            if not variant.trials:
                print(f"     {label:<{LABEL}} (resolved once {question.depends_on[0]} has a finished trial)", file=out)
                continue
            reference = "  ← compared with" if variant.reference else ""
            if len(variant.trials) > 1:
                done = sum(status[trial] == "finished" for trial in variant.trials)
                old = sum(trial in stale for trial in variant.trials)
                diverged = sum(status[trial] == "diverged" for trial in variant.trials)
                shown = f"×{len(variant.trials)} seeds, {done} finished" + (f" ({old} stale)" if old else "")
                shown += f", {diverged} diverged" if diverged else ""
            else:
                shown = state(plan.trial(variant.trial))
            print(f"     {label:<{LABEL}} {variant.trial}  {shown}{reference}", file=out)
    sources = sorted({f"{t.config['data']['name']} → {t.config['data']['source']}" for t in [*plan.trials, *plan.resolved]})
    counts = Counter(status.values())
    print(f"\ndata: {', '.join(sources)}", file=out)
    grid = [question for question in plan.questions if question.form == "grid"]
    later = [_later(question, plan) for question in plan.questions if question.form != "grid"]
    print(
        f"{plural(sum(len(q.variants) for q in grid), 'question-variant')}, {plural(len(plan.trials), 'unique trial')}: "
        f"{counts['finished']} finished" + (f" ({len(stale)} stale)" if stale else "")
        + f", {counts['partial']} partial, {counts['new']} new"
        + (f", {counts['diverged']} diverged" if counts["diverged"] else "")
        + (f"; then {', '.join(later)}" if later else ""),
        file=out,
    )
    longer = prefixes(plan.trials)  # once: each trial's prefix key is a JSON dump of its config
    print(describe_packs(pending_packs(plan, longer)), file=out)
    continued = [trial for trial in plan.trials if trial.status not in DONE and trial.id in longer]
    if continued:
        print(f"prefix reuse: {plural(len(continued), 'trial')} continue a shorter trial's last checkpoint", file=out)
    print(f"MLflow: {plan.runtime.tracking.uri} · experiment {plan.study}", file=out)


def state(trial: PlannedTrial) -> str:
    """new, finished, partial (running or interrupted), or how the runner ended it: stopped early, failed,
    diverged at epoch k;
    `(stale)` when its run was trained by other code than this checkout's."""
    shown = {"early_stopped": "stopped early", "failed": "failed", "diverged": f"diverged at epoch {trial.diverged_at_epoch}"}.get(
        trial.outcome or "", trial.status
    )
    return shown + (" (stale)" if trial.stale else "")


def _later(question: PlannedQuestion, plan: Plan) -> str:
    """A search or stage for the count line: `q13 (search: 12 samples, 8 finished, 4 stopped early)`."""
    if question.form == "search":
        if not question.samples:
            return f"{question.id} (search, not run yet)"
        return f"{question.id} (search: {len(question.samples)} samples, {_counts(plan.trial(s) for s in question.samples)})"
    trials = [plan.trial(variant.trial) for variant in question.variants if variant.trials]
    if not trials:
        return f"{question.id} ({question.form}, waits for {', '.join(question.depends_on)})"
    return f"{question.id} ({question.form}: {len(trials)} trial{'s' * (len(trials) > 1)}, {_counts(trials)})"


def _counts(trials: Iterable[PlannedTrial]) -> str:
    return ", ".join(f"{count} {name}" for name, count in Counter(map(state, trials)).items())


def _stage_source(question: PlannedQuestion, plan: Plan) -> str | None:
    """The trial id a resolved stage starts from (its trials' `init_from`); None while unresolved."""
    first = question.variants[0].trials if question.variants else []
    return plan.trial(first[0]).config.get("init_from") if first else None
