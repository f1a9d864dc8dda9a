"""Running: a plan's trials trained on Ray Tune, each result recorded as it arrives.

It owns the phases of a study in order (`phases`), the checks made before anything starts (`preflight`),
the Tune experiment of one grid (`experiment`), what a Ray trial's worker gets (`payload`) and runs (`worker`), searches
(`search`), a stage's source and weights (`stages`), the Tune callback that records results (`recorder`),
one driver per trial (`leases`), trials no node can place (`pending`), the live console and its progress
model (`console`, `progress`), and `--rerun` (`rerun`).
"""
