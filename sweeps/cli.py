"""The `sweep` command: plan and run a study (a whole question set) from its Hydra configs."""

from __future__ import annotations

import argparse
import json
import signal
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

from sweeps.config.sources import CONF_VARIABLE, Configs, course_folder
from sweeps.errors import StudyStopped, SweepError
from sweeps.process import bound_mlflow_retries, keep_ray_on_loopback, quiet_libraries, quiet_optuna

EXIT_BAD_INPUT = 2
EXIT_FAILED_TRIALS = 1
EXIT_STOPPED = 3  # the run stopped cleanly on a fault of its environment; the same command resumes it
EXIT_INTERRUPTED = 130  # as a shell reports Ctrl-C

_OVERRIDES_HELP = (
    "Hydra overrides of the study's baseline, e.g. offline=true trainer.epochs=1 optim.lr=0.05 optim=adam "
    "tracking.uri=sqlite:////abs/path/mlflow.db resources.cpus_per_trial=2. Each question's variants apply on "
    "top of the baseline; a variant written xN multiplies the baseline's value."
)


class _OneLineParser(argparse.ArgumentParser):
    """Usage errors as one line and exit code 2, like every other bad input (`sweep --help` for usage)."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_BAD_INPUT, f"sweep: error: {message} (see `{self.prog} --help`)\n")


def _parser() -> argparse.ArgumentParser:
    studies = ", ".join(Configs().studies())
    parser = _OneLineParser(
        prog="sweep",
        description="Run a whole deep-learning question set: Hydra configs → deduplicated trials → Ray Tune → MLflow.",
        epilog=f"Built-in studies: {studies}; a course folder of your own adds its studies (--conf DIR). "
        "Each command takes Hydra overrides of the study's "
        "baseline (offline=true trainer.epochs=1 …): see `sweep plan --help`.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND", parser_class=_OneLineParser)
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
    report = commands.add_parser(
        "report",
        help="write the answer to every question (tables, figures) from the runs in MLflow (no training)",
        description="Read STUDY's runs back from MLflow and write index.html, report.md, benchmark.md and PNG "
        "figures (one section per question), and log each question's figures to its summary run in MLflow.",
    )
    report.add_argument("--out", metavar="DIR", help="the report folder (default: reports/STUDY)")
    for command in (plan, run, report):
        command.add_argument("study", metavar="STUDY", help=f"a built-in study ({studies}) or one in --conf DIR's study/")
        command.add_argument("overrides", nargs="*", default=[], metavar="OVERRIDE", help=_OVERRIDES_HELP)
        command.add_argument(
            "--questions", metavar="IDS", help="only these questions, comma-separated (e.g. q01,q03)"
        )
    plan.add_argument("--json", action="store_true", help="print the plan as one JSON object (docs/contracts.md)")
    run.add_argument(
        "--rerun",
        choices=["stale"],
        help="stale: train again the finished trials (and searches) whose code changed since they ran "
        "(their code hash differs); the old runs are kept, tagged sweeps.superseded",
    )
    ui = commands.add_parser(
        "ui",
        help="serve the MLflow UI of the configured store on 127.0.0.1 (Ctrl-C stops it)",
        description="Start the MLflow UI for the tracking store the configs and OVERRIDEs name, bound to "
        "127.0.0.1 only, and print its URL and the filter that lists one question's runs.",
    )
    ui.add_argument("overrides", nargs="*", default=[], metavar="OVERRIDE", help="e.g. tracking.uri=sqlite:////abs/path/mlflow.db")
    ui.add_argument("--port", type=int, default=5000, help="the port to listen on (default: 5000)")
    for command in (plan, run, report, ui):
        command.add_argument(
            "--conf",
            metavar="DIR",
            help="a course folder of your own: its study/, model/, data/, optim/ and trainer/ configs beside the "
            f"built-in ones (default: ${CONF_VARIABLE}, if set)",
        )
    init = commands.add_parser(
        "init",
        help="write a starter course folder (a study with two questions, a model, a README) to DIR",
        description="Write a course folder of your own to DIR: study/, model/ and README.md. "
        "`sweep plan --conf DIR STUDY` plans it as it stands. Refuses to overwrite a file that is there.",
    )
    init.add_argument("folder", metavar="DIR", help="the course folder (created if missing)")
    server = commands.add_parser(
        "server",
        help="start the MLflow tracking server that runs on a cluster log to (tracking.uri=http://HOST:PORT)",
        description="Start `mlflow server` the way a cluster's head runs it: a SQLite store (or PostgreSQL, for a class "
        "sharing one server), artifacts served through the server, bound to 127.0.0.1 unless --host says otherwise. "
        "Runs in the foreground.",
    )
    server.add_argument("--host", default="127.0.0.1", help="the interface to listen on (default: 127.0.0.1, this machine only)")
    server.add_argument("--port", type=int, default=5000, help="the port to listen on (default: 5000)")
    server.add_argument(
        "--backend-store-uri",
        default="sqlite:///mlflow.db",
        metavar="URI",
        help="runs, params and metrics: sqlite:///FILE or postgresql://USER@HOST:5432/DATABASE, its password in "
        "~/.pgpass or PGPASSWORD (default: sqlite:///mlflow.db)",
    )
    server.add_argument(
        "--artifacts-destination",
        default="mlartifacts",
        metavar="DIR|URI",
        help="where the server keeps artifacts: a folder or s3://bucket/prefix (default: mlartifacts)",
    )
    server.add_argument(
        "--auth",
        action="store_true",
        help="MLflow's basic-auth app; the admin's credentials come from MLFLOW_TRACKING_USERNAME and "
        "MLFLOW_TRACKING_PASSWORD in the environment, the variables `sweep run` logs in with",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)  # `sweep plan … | head` ends quietly
    parser = _parser()
    args, extra = parser.parse_known_args(argv)
    unknown = [arg for arg in extra if arg.startswith("-") and not arg.startswith("~")]
    takes_overrides = hasattr(args, "overrides")
    if unknown or (extra and not takes_overrides):
        parser.error(f"unrecognized arguments: {' '.join(unknown or extra)}")
    if takes_overrides:
        args.overrides += extra  # overrides after an option (`sweep plan S --json offline=true`)
    quiet_libraries()
    bound_mlflow_retries()
    try:
        return _COMMANDS[args.command](args)
    except SweepError as error:
        print(f"sweep: error: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except StudyStopped as stopped:
        print(f"sweep: stopped: {stopped}", file=sys.stderr)
        return EXIT_STOPPED
    except Exception as error:
        from sweeps.record.reachability import reason, unreachable

        if not unreachable(error):
            raise
        print(
            f"sweep: error: tracking.uri: the MLflow server stopped answering ({reason(error)}); "
            "start it again, then run the same command",
            file=sys.stderr,
        )
        return EXIT_BAD_INPUT


def _plan(args: argparse.Namespace) -> int:
    from sweeps.plan.build import plan_study
    from sweeps.plan.estimate import estimate_plan
    from sweeps.plan.from_store import complete_plan
    from sweeps.plan.packs import pending_packs
    from sweeps.plan.prefixes import prefixes
    from sweeps.plan.text import print_plan
    from sweeps.run.preflight import check_local_resources, check_store
    from sweeps.run.rerun import stale_note

    plan = plan_study(args.study, args.overrides, _question_ids(args), course=course_folder(args.conf))
    check_local_resources(plan.runtime.resources)
    check_store(plan.runtime.tracking.uri, write=False)
    study_runs = complete_plan(plan)  # statuses, a search's samples, a stage's trials: read from the store
    estimate = estimate_plan(plan, study_runs)
    if args.json:
        document = plan.to_json()
        continued = prefixes(plan.trials)
        pack_of = {member.id: pack.id for pack in pending_packs(plan, continued) for member in pack.members}
        for trial in document["trials"]:
            if trial["id"] in pack_of:
                trial["pack"] = pack_of[trial["id"]]  # the Ray trial it would train in (its own id: alone)
            if trial["id"] in continued:
                trial["continues"] = continued[trial["id"]].id  # starts from that trial's last checkpoint
        json.dump({**document, "estimate": estimate.to_json()}, sys.stdout, indent=2)
        print()
    else:
        print_plan(plan, sys.stdout)
        note = stale_note(plan)
        if note:
            print(note)
        print(estimate.describe())
    return 0


def _run(args: argparse.Namespace) -> int:
    from sweeps.plan.build import plan_study
    from sweeps.record.store import apply_statuses
    from sweeps.run.preflight import check_cluster, check_folder, check_local_resources, check_store

    plan = plan_study(args.study, args.overrides, _question_ids(args), course=course_folder(args.conf))
    check_local_resources(plan.runtime.resources)
    check_cluster(plan.runtime.resources.address)
    check_store(plan.runtime.tracking.uri, write=True)
    check_folder(plan.runtime.paths.storage, "paths.storage")
    known = apply_statuses(plan)
    keep_ray_on_loopback(plan.runtime.resources.address)
    from sweeps.run.phases import prepare_data, run_plan  # imports Ray: only once the plan is valid

    quiet_optuna()
    prepare_data(plan)
    summary = run_plan(plan, rerun_stale=args.rerun == "stale", known=known)
    if summary.interrupted:
        return EXIT_INTERRUPTED
    return EXIT_FAILED_TRIALS if summary.failed else 0


def _report(args: argparse.Namespace) -> int:
    from sweeps.plan.build import plan_study
    from sweeps.report.write import write_report
    from sweeps.run.preflight import check_folder, check_store

    plan = plan_study(args.study, args.overrides, _question_ids(args), course=course_folder(args.conf))
    out = Path(args.out or Path("reports") / plan.study)
    check_folder(str(out), "--out", "give --out a folder you can write to")
    check_store(plan.runtime.tracking.uri, write=True)  # each question's summary run is logged to it
    report = write_report(plan, out)
    print(f"{plan.study}: {report.describe()}")
    return 0


def _ui(args: argparse.Namespace) -> int:
    from sweeps.serve.ui import configured_uri, start

    return start(configured_uri(args.overrides, Configs(course=course_folder(args.conf))), args.port, sys.stdout)


def _init(args: argparse.Namespace) -> int:
    from sweeps.config.starter import STARTER_STUDY, write_starter

    written = write_starter(Path(args.folder))
    print(f"{args.folder}: wrote {', '.join(str(path) for path in written)}")
    print(f"plan it: sweep plan --conf {args.folder} {STARTER_STUDY} offline=true")
    return 0


def _server(args: argparse.Namespace) -> int:
    from sweeps.serve.server import ServerOptions, serve

    serve(ServerOptions(args.host, args.port, args.backend_store_uri, args.artifacts_destination, args.auth))


def _question_ids(args: argparse.Namespace) -> list[str] | None:
    if args.questions is None:
        return None
    ids = [part.strip() for part in args.questions.split(",") if part.strip()]
    if not ids:
        raise SweepError(f"--questions: no question id in {args.questions!r}; give ids comma-separated, e.g. --questions q01,q03")
    return ids


_COMMANDS = {"plan": _plan, "run": _run, "report": _report, "ui": _ui, "server": _server, "init": _init}

if __name__ == "__main__":
    raise SystemExit(main())
