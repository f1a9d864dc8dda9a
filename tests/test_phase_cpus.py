"""How many CPUs each Ray trial of a grid asks for (sweeps.run.experiment.phase_cpus): a phase with fewer
trials than the local Ray's CPUs shares them out; a cluster, a GPU trial or a full grid keeps
`resources.cpus_per_trial`. A trial's threads are its CPUs, so threads never outnumber cores."""

from __future__ import annotations

import pytest

from sweeps.config.schema import ResourcesConfig
from sweeps.plan.build import plan_study
from sweeps.run.experiment import grid, phase_cpus


@pytest.mark.parametrize(
    ("resources", "ray_trials", "cpus"),
    [
        (ResourcesConfig(num_cpus=2), 1, 2.0),  # a lone stage trial: both cores
        (ResourcesConfig(num_cpus=2), 2, 1.0),
        (ResourcesConfig(num_cpus=2), 20, 1.0),  # a full grid: one each, as asked
        (ResourcesConfig(num_cpus=16), 3, 5.0),  # 16 // 3: the 16th core stays free
        (ResourcesConfig(num_cpus=16, cpus_per_trial=8), 3, 8.0),  # never less than asked
        (ResourcesConfig(num_cpus=2, gpus_per_trial=0.5), 1, 1.0),  # a GPU trial: its CPUs feed the GPU only
        (ResourcesConfig(address="auto"), 1, 1.0),  # a cluster: the nodes are not this machine's
    ],
)
def test_a_grid_with_fewer_trials_than_cpus_shares_them(resources: ResourcesConfig, ray_trials: int, cpus: float) -> None:
    assert phase_cpus(resources, ray_trials) == cpus


def test_the_payloads_threads_are_the_cpus_the_grid_asks_for() -> None:
    plan = plan_study("jhu_fashion", ["offline=true", "resources.num_cpus=4"], questions=["q08"])  # two trials
    options, cpus, share = grid(plan, plan.trials, None)
    payloads = [options["search_alg"].suggest(str(index))["pack"] for index in range(options["num_samples"])]
    assert cpus == 2.0 and [payload["threads"] for payload in payloads] == [2, 2]
    assert share is not None and {payload["share"] for payload in payloads} == {str(share.path)}  # their tail's cores
    share.close()
