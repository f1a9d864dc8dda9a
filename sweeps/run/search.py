"""Search questions: Optuna samples the study's space through Ray Tune, with ASHA stopping early.

Each sample is composed exactly like a grid variant (groups first, then values), so it is a trial
with a content-hash id, an MLflow run under the search's parent run, and a resumable checkpoint.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from ray import tune
from ray.tune.schedulers import ASHAScheduler
from ray.tune.search import ConcurrencyLimiter, Searcher
from ray.tune.search.optuna import OptunaSearch

from sweeps.config.compose import Composer
from sweeps.config.search_space import Choice, Domain, search_space
from sweeps.plan.build import planned_trial, trial_config
from sweeps.run.cores import core_share
from sweeps.run.experiment import fit, pack_payload
from sweeps.run.payload import PackPayload
from sweeps.run.recorder import Recorder
from sweeps.trials import Plan, PlannedQuestion, variant_name

if TYPE_CHECKING:
    from ray.tune.search.sample import Domain as TuneDomain


class _ComposingSearcher(Searcher):
    """Wraps Optuna's searcher: each suggested sample becomes a whole Ray trial's payload (a pack of one)."""

    def __init__(self, inner: Searcher, compose: Callable[[dict[str, Any]], PackPayload]) -> None:
        super().__init__(metric=inner.metric, mode=inner.mode)
        self._inner = inner
        self._compose = compose

    def set_search_properties(self, metric: str | None, mode: str | None, config: dict[str, Any], **spec: Any) -> bool:
        return self._inner.set_search_properties(metric, mode, config, **spec)

    def suggest(self, trial_id: str) -> dict[str, Any] | None:
        sample = self._inner.suggest(trial_id)
        if sample is None or sample == Searcher.FINISHED:
            return sample
        return {**sample, "pack": self._compose(sample)}

    def on_trial_result(self, trial_id: str, result: dict[str, Any]) -> None:
        self._inner.on_trial_result(trial_id, result)

    def on_trial_complete(self, trial_id: str, result: dict[str, Any] | None = None, error: bool = False) -> None:
        self._inner.on_trial_complete(trial_id, result=result, error=error)


def tune_space(space: Mapping[str, Domain]) -> dict[str, TuneDomain]:
    """The plain search space as Ray Tune's domains (which Ray's OptunaSearch turns into Optuna's)."""
    return {key: _tune_domain(domain) for key, domain in space.items()}


def _tune_domain(domain: Domain) -> TuneDomain:
    if isinstance(domain, Choice):
        return tune.choice(list(domain.values))
    if domain.integer:  # Tune's randint/lograndint exclude `upper`; the interval includes `high`
        upper = int(domain.high) + 1
        return tune.lograndint(int(domain.low), upper) if domain.log else tune.randint(int(domain.low), upper)
    return tune.loguniform(domain.low, domain.high) if domain.log else tune.uniform(domain.low, domain.high)


def run_search(
    plan: Plan, question: PlannedQuestion, composer: Composer, recorder: Recorder, parent_run: str, out: io.TextIOBase
) -> None:
    """Run `question`'s search to its end; its parent run is marked FINISHED unless interrupted."""
    search = question.config.search
    assert search is not None
    space = tune_space(search_space(search.space, f"{question.id}.search.space"))
    fixed, _ = composer.variant(search.fixed, f"{question.id}.search.fixed")
    epochs = int(fixed.trainer.epochs)
    share = core_share(plan.runtime.resources, plan.runtime.resources.cpus_per_trial, search.num_samples, search.max_concurrent)

    def compose(sample: dict[str, Any]) -> PackPayload:
        written = {**search.fixed, **sample}
        context = variant_name(f"{question.id} sample", sample)
        config, absolute = composer.variant(written, context)
        trial = trial_config(config, plan.runtime, context)
        name = variant_name(question.id, {key: _short(value) for key, value in absolute.items()})
        member = planned_trial(trial, plan.runtime, name, question.id, context)
        return pack_payload(plan, (member,), parent_run=parent_run, share=share)

    searcher: Searcher = _ComposingSearcher(OptunaSearch(seed=search.seed), compose)
    if search.max_concurrent:
        searcher = ConcurrencyLimiter(searcher, max_concurrent=search.max_concurrent)
    scheduler = None
    if search.scheduler.name == "asha":
        scheduler = ASHAScheduler(
            time_attr="training_iteration",  # one result per epoch
            max_t=epochs,
            grace_period=min(search.scheduler.grace_period, epochs),
            reduction_factor=search.scheduler.reduction_factor,
        )
    print(f"{plan.study}: {question.id} searches {search.num_samples} samples for the best {search.metric}.", file=out, flush=True)
    options: dict[str, Any] = {"search_alg": searcher, "scheduler": scheduler, "num_samples": search.num_samples}
    options |= {"metric": search.metric, "mode": search.mode}
    fit(plan, recorder, space, options, share=share)
    if not recorder.interrupted():
        recorder.close_search(parent_run)


def _short(value: Any) -> Any:
    return f"{value:.4g}" if isinstance(value, float) else value
