"""`sweep plan` for people: each question with its variants, then the trial count by status."""

from __future__ import annotations

from collections import Counter
from typing import TextIO

from sweeps.packs import describe_packs, pending_packs
from sweeps.plan import Plan
from sweeps.progress import plural


def print_plan(plan: Plan, out: TextIO) -> None:
    status = {trial.id: trial.status for trial in plan.trials}
    stale = {trial.id for trial in plan.trials if trial.stale}
    offline = " (offline: bundled stand-in data)" if plan.runtime.offline else ""
    print(f"{plan.study}: {plan.title}{offline}", file=out)
    for question in plan.questions:
        print(f"\n{question.id}  {question.text}", file=out)
        if question.note:
            print(f"     note: {question.note}", file=out)
        config = question.config
        if config.search is not None:
            space = ", ".join(f"{key}={value}" for key, value in config.search.space.items())
            print(f"     search: {config.search.num_samples} samples of {space}", file=out)
            print(f"     best by {config.search.metric} ({config.search.mode}); scheduler {config.search.scheduler.name}", file=out)
        if config.from_ is not None:
            action = "fine-tunes" if config.train else "evaluates (no training)"
            print(f"     {action} the {config.from_.select} trial of {config.from_.question} by {config.from_.metric}", file=out)
        for variant in question.variants:
            if not variant.trials:
                label = " ".join(f"{key}={value}" for key, value in variant.overrides.items())
                print(f"     {label:<40} (resolved once {config.from_.question} is done)", file=out)  # type: ignore[union-attr]
                continue
            label = " ".join(f"{key}={value}" for key, value in variant.overrides.items()) or "(baseline)"
            reference = "  ← compared with" if variant.reference else ""
            if len(variant.trials) > 1:
                done = sum(status[trial] == "finished" for trial in variant.trials)
                old = sum(trial in stale for trial in variant.trials)
                state = f"×{len(variant.trials)} seeds, {done} finished" + (f" ({old} stale)" if old else "")
            else:
                state = status[variant.trial] + (" (stale)" if variant.trial in stale else "")
            print(f"     {label:<40} {variant.trial}  {state}{reference}", file=out)
    sources = sorted({f"{t.config['data']['name']} → {t.config['data']['source']}" for t in plan.trials})
    counts = Counter(status.values())
    print(f"\ndata: {', '.join(sources)}", file=out)
    grid = [question for question in plan.questions if question.kind == "grid"]
    later = [f"{q.id} ({q.kind})" for q in plan.questions if q.kind != "grid"]
    print(
        f"{plural(sum(len(q.variants) for q in grid), 'question-variant')}, {plural(len(plan.trials), 'unique trial')}: "
        f"{counts['finished']} finished" + (f" ({len(stale)} stale)" if stale else "")
        + f", {counts['partial']} partial, {counts['new']} new"
        + (f"; then {', '.join(later)}" if later else ""),
        file=out,
    )
    print(describe_packs(pending_packs(plan)), file=out)
    print(f"MLflow: {plan.runtime.tracking.uri} · experiment {plan.study}", file=out)
