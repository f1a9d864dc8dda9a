"""The `sweep` command: plan and run a study (a whole question set) from its Hydra configs."""

from __future__ import annotations

import argparse
import json
import signal
import sys
from collections.abc import Sequence

from sweeps.compose import available_studies
from sweeps.errors import SweepError

EXIT_BAD_INPUT = 2
EXIT_FAILED_TRIALS = 1
EXIT_INTERRUPTED = 130  # as a shell reports Ctrl-C

_OVERRIDES_HELP = (
    "Hydra overrides of the study's baseline, e.g. offline=true trainer.epochs=1 optim.lr=0.05 optim=adam "
    "tracking.uri=sqlite:////abs/path/mlflow.db resources.cpus_per_trial=2. Each question's variants apply on "
    "top of the baseline; a variant written xN multiplies the baseline's value."
)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sweep",
        description="Run a whole deep-learning question set: Hydra configs → deduplicated trials → Ray Tune → MLflow.",
        epilog=f"Studies: {', '.join(available_studies())}.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    plan = commands.add_parser(
        "plan",
        help="show every question, its variants and the unique trials (no training, nothing written)",
        description="Compose and validate every trial of STUDY and show what `sweep run` would do. "
        "Reads the MLflow store to mark trials new, partial or finished; starts no Ray and writes nothing.",
    )
    run = commands.add_parser(
        "run",
        help="run every trial the plan says is not finished yet, on Ray Tune, recorded in MLflow",
        description="Run the unfinished trials of STUDY on Ray Tune (local by default), one MLflow run per "
        "trial. Interrupted? Run the same command again: finished trials are skipped and interrupted ones "
        "resume from their last epoch's checkpoint.",
    )
    for command in (plan, run):
        command.add_argument("study", metavar="STUDY", help=f"a study in conf/study/: {', '.join(available_studies())}")
        command.add_argument("overrides", nargs="*", metavar="OVERRIDE", help=_OVERRIDES_HELP)
        command.add_argument(
            "--questions", metavar="IDS", help="only these questions, comma-separated (e.g. q01,q03)"
        )
    plan.add_argument("--json", action="store_true", help="print the plan as one JSON object (../shared/contracts.md)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)  # `sweep plan … | head` ends quietly
    args = _parser().parse_args(argv)
    try:
        return _COMMANDS[args.command](args)
    except SweepError as error:
        print(f"sweep: error: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT


def _plan(args: argparse.Namespace) -> int:
    from sweeps.plan import plan_study
    from sweeps.plan_text import print_plan
    from sweeps.tracking import apply_statuses

    plan = plan_study(args.study, args.overrides, _question_ids(args))
    apply_statuses(plan)
    if args.json:
        json.dump(plan.to_json(), sys.stdout, indent=2)
        print()
    else:
        print_plan(plan, sys.stdout)
    return 0


def _run(args: argparse.Namespace) -> int:
    from sweeps.plan import plan_study
    from sweeps.tracking import apply_statuses

    plan = plan_study(args.study, args.overrides, _question_ids(args))
    apply_statuses(plan)
    from sweeps.runner import prepare_data, run_plan  # imports Ray: only once the plan is valid

    prepare_data(plan)
    summary = run_plan(plan)
    if summary.interrupted:
        return EXIT_INTERRUPTED
    return EXIT_FAILED_TRIALS if summary.failed else 0


def _question_ids(args: argparse.Namespace) -> list[str] | None:
    return [part.strip() for part in args.questions.split(",") if part.strip()] if args.questions else None


_COMMANDS = {"plan": _plan, "run": _run}

if __name__ == "__main__":
    raise SystemExit(main())
