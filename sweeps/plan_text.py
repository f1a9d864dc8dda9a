"""`sweep plan` for people: each question with its variants, then the trial count by status."""

from __future__ import annotations

from collections import Counter
from typing import TextIO

from sweeps.plan import Plan


def print_plan(plan: Plan, out: TextIO) -> None:
    status = {trial.id: trial.status for trial in plan.trials}
    offline = " (offline: bundled stand-in data)" if plan.runtime.offline else ""
    print(f"{plan.study}: {plan.title}{offline}", file=out)
    for question in plan.questions:
        print(f"\n{question.id}  {question.text}", file=out)
        if question.note:
            print(f"     note: {question.note}", file=out)
        for variant in question.variants:
            label = " ".join(f"{key}={value}" for key, value in variant.overrides.items()) or "(baseline)"
            reference = "  ← compared with" if variant.reference else ""
            if len(variant.trials) > 1:
                done = sum(status[trial] == "finished" for trial in variant.trials)
                state = f"×{len(variant.trials)} seeds, {done} finished"
            else:
                state = status[variant.trial]
            print(f"     {label:<40} {variant.trial}  {state}{reference}", file=out)
    sources = sorted({f"{t.config['data']['name']} → {t.config['data']['source']}" for t in plan.trials})
    counts = Counter(status.values())
    print(f"\ndata: {', '.join(sources)}", file=out)
    print(
        f"{sum(len(q.variants) for q in plan.questions)} question-variants, {len(plan.trials)} unique trials: "
        f"{counts['finished']} finished, {counts['partial']} partial, {counts['new']} new",
        file=out,
    )
    print(f"MLflow: {plan.runtime.tracking.uri} · experiment {plan.study}", file=out)
