"""The bad-input matrix: every kind of bad input and broken environment, across `sweep plan`, `run`, `report`,
`ui` and `server`, gives exactly one line on stderr, `sweep: error: …` naming the key, path or URI, exit code
2 and no traceback, and changes nothing: no file written, no store created, no Ray started, no server started.

Each case runs the real command in-process (`sweeps.cli.main`: about a second where it composes a plan) in a
fresh working directory. `run_plan` (where Ray starts) and the exec of an MLflow server are replaced by an
assertion, so a case that gets past every check fails instead of starting either. A read-only folder is read-only for an
unprivileged user; run as root, such a case runs with that user's effective ids (root may write anywhere).
Study files with errors are checked through `plan_study` on a copy of conf/ (the command reads conf/ itself).
"""

from __future__ import annotations

import os
import shutil
import socket
import stat
import tempfile
import textwrap
import time
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from helpers.loopback import free_port

from sweeps.cli import main
from sweeps.config.sources import CONF_DIR
from sweeps.errors import SweepError
from sweeps.plan.build import plan_study

STUDY = "jhu_fashion"
Q = ("--questions", "q01")  # one question: the overrides set the baseline, and a plan of one composes fast
NOBODY = 65534  # the unprivileged user and group a read-only folder is read-only for


@dataclass(frozen=True)
class Case:
    command: str  # plan, run, report, ui, server: the tally is by command
    name: str
    argv: tuple[str, ...]  # `{cwd}`: the working directory; `{free}`: a port nothing listens on; `{busy}`: one held
    names: str  # what the line must name: the key, option, path or URI
    setup: Callable[[Path], None] | None = None  # the broken environment, made in the working directory
    workdir: str = "."  # where the command runs, under the case's folder
    unprivileged: bool = False
    within: float = 30.0  # seconds: a broken environment is reported at once, not after MLflow's retries

    @property
    def id(self) -> str:
        return f"{self.command}: {self.name}"


# --- broken environments -------------------------------------------------------------------------------


def garbage_store(cwd: Path) -> None:
    (cwd / "mlflow.db").write_bytes(b"this is not a database\n" * 200)


def empty_store(cwd: Path) -> None:
    (cwd / "mlflow.db").write_bytes(b"")


def other_database(cwd: Path) -> None:
    import sqlite3

    with sqlite3.connect(cwd / "mlflow.db") as connection:
        connection.execute("CREATE TABLE notes (text TEXT)")
    connection.close()


def truncated_store(cwd: Path) -> None:
    data = _VALID_STORE.read_bytes()
    (cwd / "mlflow.db").write_bytes(data[: len(data) // 2])


def valid_store(cwd: Path) -> None:
    shutil.copy(_VALID_STORE, cwd / "mlflow.db")


def _stamped(revision: str) -> Callable[[Path], None]:
    """A valid store whose schema revision (alembic_version) reads `revision`."""

    def setup(cwd: Path) -> None:
        import sqlite3

        valid_store(cwd)
        with closing(sqlite3.connect(cwd / "mlflow.db")) as connection, connection:
            connection.execute("UPDATE alembic_version SET version_num = ?", (revision,))

    return setup


old_schema_store = _stamped("451aebb31d03")  # MLflow's first migration: a store no MLflow 3 opens before an upgrade
newer_schema_store = _stamped("0123456789ab")  # a revision no migration of this MLflow knows


def read_only_folder(cwd: Path) -> None:
    (cwd / "ro").mkdir(mode=0o555)


def store_in_read_only_folder(cwd: Path) -> None:
    (cwd / "ro").mkdir()
    shutil.copy(_VALID_STORE, cwd / "ro" / "mlflow.db")
    (cwd / "ro").chmod(0o555)


def a_file(cwd: Path) -> None:
    (cwd / "afile").write_text("a file, not a folder\n")


def store_folder(cwd: Path) -> None:
    (cwd / "db").mkdir()


def _png(path: Path) -> None:
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (4, 4)).save(path)


def folder_without_train(cwd: Path) -> None:
    _png(cwd / "shapes" / "test" / "circle" / "a.png")


def folder_without_images(cwd: Path) -> None:
    for split in ("train", "test"):
        (cwd / "shapes" / split / "circle").mkdir(parents=True)
        (cwd / "shapes" / split / "circle" / "notes.txt").write_text("not an image\n")


def folders_with_other_classes(cwd: Path) -> None:
    _png(cwd / "shapes" / "train" / "circle" / "a.png")
    _png(cwd / "shapes" / "test" / "square" / "a.png")


def both(*setups: Callable[[Path], None]) -> Callable[[Path], None]:
    def setup(cwd: Path) -> None:
        for make in setups:
            make(cwd)

    return setup


_VALID_STORE = Path()  # an MLflow SQLite store with an empty experiment `jhu_fashion` (made once, `valid_store_file`)


def plan(name: str, *overrides: str, names: str, **options: object) -> Case:
    return Case("plan", name, ("plan", STUDY, *overrides, *Q), names, **options)  # type: ignore[arg-type]


def run(name: str, *overrides: str, names: str, **options: object) -> Case:
    return Case("run", name, ("run", STUDY, "offline=true", *overrides, *Q), names, **options)  # type: ignore[arg-type]


def report(name: str, *args: str, names: str, **options: object) -> Case:
    return Case("report", name, ("report", STUDY, *args, *Q), names, **options)  # type: ignore[arg-type]


def ui(name: str, *args: str, names: str, **options: object) -> Case:
    return Case("ui", name, ("ui", *args), names, **options)  # type: ignore[arg-type]


def server(name: str, *args: str, names: str, **options: object) -> Case:
    return Case("server", name, ("server", *args), names, **options)  # type: ignore[arg-type]


STORE = "tracking.uri=sqlite:///{cwd}/mlflow.db"
# The baseline's layer list replaced by a model from code (`+model._target_=…` names it).
FROM_CODE = ("~model.layers", "~model.width", "~model.dropout")
FOLDER = ("data.source=image_folder", "+data.path={cwd}/shapes", "+data.size=16")
UNREACHABLE = "tracking.uri=http://127.0.0.1:{free}"
SILENT = "tracking.uri=http://127.0.0.1:{busy}"  # accepts connections, never answers

CASES: list[Case] = [
    # --- plan: studies, commands, options --------------------------------------------------------------
    Case("plan", "unknown study", ("plan", "no_such_study"), "study"),
    Case("plan", "study as a path", ("plan", "../conf/config"), "study"),
    Case("plan", "empty study name", ("plan", ""), "study"),
    Case("plan", "no study", ("plan",), "STUDY"),
    Case("plan", "unknown option", ("plan", STUDY, "--bogus"), "--bogus"),
    Case("plan", "unknown command", ("plans", STUDY), "plans"),
    Case("plan", "no command", (), "COMMAND"),
    Case("plan", "questions ,,,", ("plan", STUDY, "--questions", ",,,"), "--questions"),
    # --- plan: config groups and keys ------------------------------------------------------------------
    plan("unknown optimizer", "optim=foo", names="optim"),
    plan("unknown data set", "data=cifar", names="data"),
    plan("unknown model", "model=nope", names="model"),
    plan("unknown trainer", "trainer=nope", names="trainer"),
    plan("unknown resources", "resources=nope", names="resources"),
    plan("unknown tracking", "tracking=nope", names="tracking"),
    plan("typo in a key", "optim.lrr=1", names="optim.lrr"),
    plan("added top-level key", "+foo=1", names="foo"),
    plan("key under a value", "trainer.epochs.x=1", names="trainer.epochs"),
    plan("key of another optimizer", "optim=adam", "optim.momentum=0.5", names="optim.momentum"),
    plan("unknown tracking key", "tracking.foo=1", names="tracking.foo"),
    plan("unknown resources key", "resources.cpu=2", names="resources.cpu"),
    # --- plan: types -----------------------------------------------------------------------------------
    plan("text epochs", "trainer.epochs=abc", names="trainer.epochs"),
    plan("fractional epochs", "trainer.epochs=1.5", names="trainer.epochs"),
    plan("bool batch size", "trainer.batch_size=true", names="trainer.batch_size"),
    plan("offline not a bool", "offline=maybe", names="offline"),
    plan("text seed", "seed=abc", names="seed"),
    plan("nesterov not a bool", "optim.nesterov=maybe", names="optim.nesterov"),
    plan("text dropout", "model.dropout=high", names="model.dropout"),
    plan("text validation split", "data.validation_split=x", names="data.validation_split"),
    plan("unknown loss", "trainer.loss=hinge", names="trainer.loss"),
    plan("one beta", "optim=adam", "optim.betas=[0.9]", names="optim.betas"),
    plan("list as crop", "data.crop=[1,2]", names="data.crop"),
    plan("dict as lr", "optim.lr={a:1}", names="optim.lr"),
    plan("list as lr", "optim.lr=[0.1]", names="optim.lr"),
    plan("unknown layer type", "model.layers.0.type=zzz", names="model.layers"),
    plan("text cpus per trial", "resources.cpus_per_trial=two", names="resources.cpus_per_trial"),
    # --- plan: bounds ----------------------------------------------------------------------------------
    plan("negative lr", "optim.lr=-1", names="optim.lr"),
    plan("zero lr", "optim.lr=0", names="optim.lr"),
    plan("dropout above 1", "model.dropout=1.5", names="model.dropout"),
    plan("dropout below 0", "model.dropout=-0.1", names="model.dropout"),
    plan("zero batch", "trainer.batch_size=0", names="trainer.batch_size"),
    plan("negative epochs", "trainer.epochs=-1", names="trainer.epochs"),
    plan("negative seed", "seed=-1", names="seed"),
    plan("validation split 1", "data.validation_split=1", names="data.validation_split"),
    plan("negative momentum", "optim.momentum=-0.5", names="optim.momentum"),
    plan("zero width", "model.width=0", names="model.width"),
    plan("threshold above 1", "trainer.threshold=2", names="trainer.threshold"),
    plan("kernel larger than the image", "model.layers.0.kernel=50", names="model.layers"),
    # --- plan: numbers that are not finite -------------------------------------------------------------
    plan("infinite lr", "optim.lr=inf", names="optim.lr"),
    plan("nan lr", "optim.lr=nan", names="optim.lr"),
    plan("minus infinite lr", "optim.lr=-inf", names="optim.lr"),
    plan("infinite width", "model.width=inf", names="model.width"),
    plan("nan width", "model.width=nan", names="model.width"),
    plan("nan dropout", "model.dropout=nan", names="model.dropout"),
    plan("infinite momentum", "optim.momentum=inf", names="optim.momentum"),
    plan("nan weight decay", "optim.weight_decay=nan", names="optim.weight_decay"),
    plan("nan mean", "data.mean=nan", names="data.mean"),
    plan("infinite std", "data.std=inf", names="data.std"),
    plan("nan threshold", "trainer.threshold=nan", names="trainer.threshold"),
    plan("nan in a layer", "model.layers.4.p=nan", names="model.layers.4.p"),
    plan("nan in adam's betas", "optim=adam", "optim.betas=[0.9,nan]", names="optim.betas"),
    plan("infinite cpus per trial", "resources.cpus_per_trial=inf", names="resources.cpus_per_trial"),
    plan("nan gpus per trial", "resources.gpus_per_trial=nan", names="resources.gpus_per_trial"),
    # --- plan: models from code and image folders ------------------------------------------------------
    plan("model that does not import", *FROM_CODE, "+model._target_=no_such_course.nets.Net", names="No module named 'no_such_course'"),
    plan("model not in its module", *FROM_CODE, "+model._target_=torchvision.models.resnett18", names="resnett18"),
    plan("constructor rejects its arguments", "~model.layers", "+model._target_=torch.nn.Flatten", names="torch.nn.Flatten"),
    plan("constructor without a required argument", *FROM_CODE, "+model._target_=torch.nn.Linear", names="in_features"),
    plan("forward fails on the data's shape", *FROM_CODE, "+model._target_=torch.nn.Linear", "+model.in_features=10",
         "+model.out_features=10", names="torch.nn.Linear fails on a batch of the data's shape (2, 1, 28, 28)"),  # fmt: skip
    plan("output is not one score per class", *FROM_CODE, "+model._target_=torch.nn.Flatten", names="(2, 784)"),
    plan("image folder that is not there", *FOLDER, names="data.path"),
    plan("image folder without train/", *FOLDER, names="has no train/", setup=folder_without_train),
    plan("image folder without images", *FOLDER, names="has no images", setup=folder_without_images),
    plan("image folder whose splits differ", *FOLDER, names="only in test/: square", setup=folders_with_other_classes),
    plan("image folder without a size", "data.source=image_folder", "+data.path={cwd}/shapes", names="data.size"),
    # --- plan: override grammar ------------------------------------------------------------------------
    plan("no key", "=5", names="'=5'"),
    plan("nothing but =", "=", names="'='"),
    plan("no value", "optim.lr", names="'optim.lr'"),
    plan("a bare word", "foo", names="'foo'"),
    plan("a bare number", "5", names="'5'"),
    plan("unclosed list", "optim.lr=[", names="optim.lr"),
    plan("unclosed call", "optim.lr=choice(1", names="optim.lr"),
    plan("a sweep", "optim.lr=choice(0.1,0.2)", names="optim.lr"),
    plan("an interval", "optim.lr=interval(0,1)", names="optim.lr"),
    plan("relative on the command line", "optim.lr=x2", names="optim.lr"),
    plan("missing interpolation", "optim.lr=${nope}", names="nope"),
    plan("recursive interpolation", "optim.lr=${optim.lr}", names="optim"),
    plan("delete what is not there", "~nonexistent", names="nonexistent"),
    plan("a space inside", "optim.lr=1 2", names="optim.lr"),
    # --- plan: required keys deleted -------------------------------------------------------------------
    plan("delete seed", "~seed", names="seed"),
    plan("delete model", "~model", names="model"),
    plan("delete optim", "~optim", names="optim"),
    plan("delete epochs", "~trainer.epochs", names="trainer.epochs"),
    plan("delete tracking", "~tracking", names="tracking"),
    plan("delete paths", "~paths", names="paths"),
    # --- plan: tracking and paths ----------------------------------------------------------------------
    plan("tracking uri without scheme", "tracking.uri=/tmp/x", names="tracking.uri"),
    plan("file tracking uri", "tracking.uri=file:///tmp/x", names="tracking.uri"),
    plan("empty tracking uri", "tracking.uri=", names="tracking.uri"),
    plan("unreachable server", UNREACHABLE, names="http://127.0.0.1:", within=10),
    plan("server that never answers", SILENT, names="http://127.0.0.1:", within=10),
    plan("garbage store", STORE, names="mlflow.db", setup=garbage_store),
    plan("truncated store", STORE, names="mlflow.db", setup=truncated_store),
    plan("empty store file", STORE, names="mlflow.db", setup=empty_store),
    plan("another sqlite database", STORE, names="mlflow.db", setup=other_database),
    plan("store is a folder", "tracking.uri=sqlite:///{cwd}/db", names="/db", setup=store_folder),
    plan("zero hold epochs", "tracking.hold_epochs=0", names="tracking.hold_epochs"),
    plan("data root a URI", "paths.data_root=s3://bucket/data", names="paths.data_root"),
    plan("null data root", "paths.data_root=null", names="paths.data_root"),
    plan("null storage", "paths.storage=null", names="paths.storage"),
    # --- plan: resources -------------------------------------------------------------------------------
    plan("more cpus than the machine", "resources.cpus_per_trial=100", names="resources.cpus_per_trial"),
    plan("more gpus than the machine", "resources.gpus_per_trial=64", names="resources.gpus_per_trial"),
    plan("more cpus than num_cpus", "resources.num_cpus=1", "resources.cpus_per_trial=2", names="resources.cpus_per_trial"),
    plan("ray client address", "resources.address=ray://head:10001", names="resources.address"),
    plan("address with a space", "resources.address=bad host", names="resources.address"),
    plan("zero cpus per trial", "resources.cpus_per_trial=0", names="resources.cpus_per_trial"),
    plan("negative gpus per trial", "resources.gpus_per_trial=-1", names="resources.gpus_per_trial"),
    plan("zero num_cpus", "resources.num_cpus=0", names="resources.num_cpus"),
    plan("zero pending timeout", "resources.pending_timeout=0", names="resources.pending_timeout"),
    # --- plan: questions -------------------------------------------------------------------------------
    Case("plan", "unknown question", ("plan", STUDY, "--questions", "q99"), "q99"),
    Case("plan", "one unknown question of two", ("plan", STUDY, "--questions", "q01,q99"), "q99"),
    Case("plan", "empty questions", ("plan", STUDY, "--questions", ""), "--questions"),
    Case("plan", "questions without a value", ("plan", STUDY, "--questions"), "--questions"),
    # --- run: each stops before Ray starts -------------------------------------------------------------
    run("unknown data set", "data=cifar", names="data"),
    run("infinite lr", "optim.lr=inf", names="optim.lr"),
    run("no key", "=5", names="'=5'"),
    run("more cpus than the machine", "resources.cpus_per_trial=100", names="resources.cpus_per_trial"),
    run("more gpus than the machine", "resources.gpus_per_trial=64", names="resources.gpus_per_trial"),
    run("unreachable server", UNREACHABLE, names="http://127.0.0.1:", within=10),
    run("garbage store", STORE, names="mlflow.db", setup=garbage_store),
    run("truncated store", STORE, names="mlflow.db", setup=truncated_store),
    run("store is a folder", "tracking.uri=sqlite:///{cwd}/db", names="/db", setup=store_folder),
    run("store of an older schema", STORE, names="mlflow db upgrade sqlite:///", setup=old_schema_store),
    run("store of a newer MLflow", STORE, names="written by an MLflow newer than", setup=newer_schema_store),
    run("read-only working folder", names="mlflow.db", setup=read_only_folder, workdir="ro", unprivileged=True),
    run("store in a read-only folder", "tracking.uri=sqlite:///{cwd}/ro/mlflow.db", names="/ro",
        setup=store_in_read_only_folder, unprivileged=True),  # fmt: skip
    run("storage in a read-only folder", "paths.storage={cwd}/ro/storage", names="paths.storage",
        setup=read_only_folder, unprivileged=True),  # fmt: skip
    run("storage under a file", "paths.storage={cwd}/afile/storage", names="afile", setup=a_file),
    run("store under a file", "tracking.uri=sqlite:///{cwd}/afile/mlflow.db", names="afile", setup=a_file),
    run("cluster nobody runs", "resources.address=127.0.0.1:{free}", names="resources.address", within=10),
    Case("run", "questions ,,,", ("run", STUDY, "--questions", ",,,"), "--questions"),
    run("model that does not import", *FROM_CODE, "+model._target_=no_such_course.nets.Net", names="no_such_course"),
    run("image folder without images", *FOLDER, "data.standin=image_folder", names="has no images", setup=folder_without_images),
    Case("run", "missing data files", ("run", STUDY, "data=mnist", "data.download=false", "paths.data_root={cwd}/data", *Q),
         "data.source=mnist"),  # fmt: skip
    # --- report ----------------------------------------------------------------------------------------
    report("no store", STORE, names="mlflow.db"),
    Case("report", "no experiment in the store", ("report", "convnetjs", STORE), "convnetjs", setup=valid_store),
    report("garbage store", STORE, names="mlflow.db", setup=garbage_store),
    report("truncated store", STORE, names="mlflow.db", setup=truncated_store),
    report("store is a folder", "tracking.uri=sqlite:///{cwd}/db", names="/db", setup=store_folder),
    report("store of an older schema", STORE, names="mlflow db upgrade sqlite:///", setup=old_schema_store),
    report("unreachable server", UNREACHABLE, names="http://127.0.0.1:", within=10),
    report("out is a file", STORE, "--out", "{cwd}/afile", names="afile", setup=both(valid_store, a_file)),
    report("out under a file", STORE, "--out", "{cwd}/afile/report", names="afile", setup=both(valid_store, a_file)),
    report("out in a read-only folder", STORE, "--out", "{cwd}/ro/report", names="--out",
           setup=both(valid_store, read_only_folder), unprivileged=True),  # fmt: skip
    report("store in a read-only folder", "tracking.uri=sqlite:///{cwd}/ro/mlflow.db", "--out", "{cwd}/report", names="/ro",
           setup=store_in_read_only_folder, unprivileged=True),  # fmt: skip
    report("unknown optimizer", "optim=foo", names="optim"),
    report("no key", "=5", names="'=5'"),
    Case("report", "questions ,,,", ("report", STUDY, "--questions", ",,,"), "--questions"),
    Case("report", "out without a value", ("report", STUDY, "--out"), "--out"),
    # --- ui --------------------------------------------------------------------------------------------
    ui("no store", STORE, names="mlflow.db"),
    ui("garbage store", STORE, names="mlflow.db", setup=garbage_store),
    ui("truncated store", STORE, names="mlflow.db", setup=truncated_store),
    ui("store is a folder", "tracking.uri=sqlite:///{cwd}/db", names="/db", setup=store_folder),
    ui("port in use", STORE, "--port", "{busy}", names="--port", setup=valid_store),
    ui("port 0", STORE, "--port", "0", names="--port", setup=valid_store),
    ui("port too large", STORE, "--port", "70000", names="--port", setup=valid_store),
    ui("port not a number", "--port", "abc", names="--port"),
    ui("tracking uri without scheme", "tracking.uri=/tmp/x", names="tracking.uri"),
    ui("unknown tracking key", "tracking.foo=1", names="tracking.foo"),
    ui("no key", "=5", names="'=5'"),
    ui("unknown option", "--json", names="--json"),
    # --- server ----------------------------------------------------------------------------------------
    server("port in use", "--port", "{busy}", names="--port"),
    server("port too large", "--port", "70000", names="--port"),
    server("port not a number", "--port", "x", names="--port"),
    server("host that is not this machine's", "--host", "192.0.2.1", "--port", "{free}", names="--host"),
    server("host that is no address", "--host", "no-such-host.invalid", "--port", "{free}", names="--host"),
    server("auth without credentials", "--auth", "--port", "{free}", names="--auth"),
    server("garbage store", "--port", "{free}", "--backend-store-uri", "sqlite:///{cwd}/mlflow.db", names="mlflow.db",
           setup=garbage_store),  # fmt: skip
    server("truncated store", "--port", "{free}", "--backend-store-uri", "sqlite:///{cwd}/mlflow.db", names="mlflow.db",
           setup=truncated_store),  # fmt: skip
    server("store without scheme", "--port", "{free}", "--backend-store-uri", "{cwd}/mlflow.db", names="--backend-store-uri"),
    server("store in a read-only folder", "--port", "{free}", "--backend-store-uri", "sqlite:///{cwd}/ro/mlflow.db",
           names="--backend-store-uri", setup=read_only_folder, unprivileged=True),  # fmt: skip
    server("artifacts under a file", "--port", "{free}", "--backend-store-uri", "sqlite:///{cwd}/mlflow.db",
           "--artifacts-destination", "{cwd}/afile/artifacts", names="--artifacts-destination", setup=a_file),  # fmt: skip
    server("an extra argument", "extra", names="extra"),
]


# --- the harness ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def valid_store_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An MLflow SQLite store as MLflow makes it, with the study's experiment and no run yet; copied by the cases."""
    from mlflow.tracking import MlflowClient

    global _VALID_STORE
    path = tmp_path_factory.mktemp("store") / "mlflow.db"
    MlflowClient(f"sqlite:///{path}").create_experiment(STUDY)
    _VALID_STORE = path
    return path


@pytest.fixture(scope="module")
def busy_port() -> Iterator[int]:
    """A port that accepts connections (the kernel completes them) and never answers."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(16)
        yield listener.getsockname()[1]


@pytest.fixture
def case_dir() -> Iterator[Path]:
    """A folder any user may enter (pytest's own are the owner's only), removed afterwards."""
    folder = Path(tempfile.mkdtemp(prefix="sweeps-bad-"))
    folder.chmod(0o755)
    yield folder
    for path in [folder, *folder.rglob("*")]:
        if path.is_dir():
            path.chmod(0o755)
    shutil.rmtree(folder)


@pytest.fixture(autouse=True)
def nothing_may_start(monkeypatch: pytest.MonkeyPatch) -> None:
    """Running a plan (which starts Ray) and exec-ing a server fail the case."""
    import sweeps.run.phases

    def started(what: str) -> Callable[..., None]:
        def fail(*args: object, **kwargs: object) -> None:
            raise AssertionError(f"{what} was started: the bad input got past every check")

        return fail

    monkeypatch.setattr(sweeps.run.phases, "run_plan", started("Ray"))
    monkeypatch.setattr(os, "execve", started("an MLflow server"))


def snapshot(root: Path) -> dict[str, tuple[bool, int, int, int]]:
    """Every path under `root` with its kind, size, mode and modification time."""
    found = {}
    for path in [root, *root.rglob("*")]:
        info = path.lstat()
        found[str(path.relative_to(root))] = (stat.S_ISDIR(info.st_mode), info.st_size, info.st_mode, info.st_mtime_ns)
    return found


def _chown(root: Path, uid: int) -> None:
    for path in [root, *root.rglob("*")]:
        os.chown(path, uid, uid)


@contextmanager
def effective_user(unprivileged: bool) -> Iterator[None]:
    """As root, an unprivileged user's effective ids for the block (a read-only folder stops only them)."""
    if not unprivileged or os.geteuid() != 0:
        yield
        return
    os.setegid(NOBODY)
    os.seteuid(NOBODY)
    try:
        yield
    finally:
        os.seteuid(0)
        os.setegid(0)


def run_case(case: Case, cwd: Path, ports: dict[str, int], monkeypatch: pytest.MonkeyPatch) -> tuple[int, float]:
    """The command's exit code, and how long it took."""
    places = {"{cwd}": str(cwd), **{f"{{{name}}}": str(port) for name, port in ports.items()}}
    argv = [_fill(arg, places) for arg in case.argv]
    monkeypatch.chdir(cwd / case.workdir)
    started = time.monotonic()
    with effective_user(case.unprivileged):
        try:
            code = main(argv)
        except SystemExit as exit:  # argparse's usage errors
            code = exit.code if isinstance(exit.code, int) else 1
    return code, time.monotonic() - started


def _fill(arg: str, places: dict[str, str]) -> str:
    for place, value in places.items():
        arg = arg.replace(place, value)
    return arg


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_bad_input_is_one_line_exit_2_and_changes_nothing(
    case: Case,
    case_dir: Path,
    valid_store_file: Path,
    busy_port: int,
    capfd: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    if case.setup is not None:
        case.setup(case_dir)
    if case.unprivileged:
        _chown(case_dir, NOBODY)
    before = snapshot(case_dir)
    capfd.readouterr()

    code, seconds = run_case(case, case_dir, {"free": free_port(), "busy": busy_port}, monkeypatch)
    out, err = capfd.readouterr()

    assert "Traceback" not in err, err
    lines = err.splitlines()
    assert len(lines) == 1, f"stderr has {len(lines)} lines:\n{err}"
    assert lines[0].startswith("sweep: error: "), lines[0]
    assert case.names in lines[0], f"{case.names!r} not named in {lines[0]!r}"
    assert code == 2, (code, err)
    assert out == "", out
    assert seconds < case.within, f"{seconds:.1f} s"
    assert snapshot(case_dir) == before, "the command changed its working folder"


# --- study files (read by the command from conf/; checked here on a copy) ------------------------------

STUDY_HEAD = """\
# @package _global_
study:
  name: bad
  title: A study written by a test
  questions:
"""

# (id, the study file's questions, what the one line must name)
BAD_STUDY_FILES: list[tuple[str, str, str]] = [
    ("YAML syntax error", '- id: q01\n  text: "unclosed\n  grid: {optim.lr: [x1]}', "bad.yaml:"),
    ("tab indentation", "- id: q01\n\ttext: t\n  grid: {optim.lr: [x1]}", "bad.yaml:"),
    ("questions not a list", "    q01: {text: t}", "study.questions"),
    ("empty question list", "    []", "study.questions"),
    ("question without text", "- id: q01\n  grid: {optim.lr: [x1]}", "study.questions.0.text"),
    ("unclosed choice", "- id: q13\n  text: t\n  search: {num_samples: 2, space: {optim.lr: 'choice(0.1, 0.2'}}",
     "q13.search.space.optim.lr"),
    ("interval of one bound", "- id: q13\n  text: t\n  search: {num_samples: 2, space: {optim.lr: 'interval(1)'}}",
     "q13.search.space.optim.lr"),
    ("log interval from 0", "- id: q13\n  text: t\n  search: {num_samples: 2, space: {optim.lr: 'tag(log, interval(0, 1))'}}",
     "q13.search.space.optim.lr"),
    ("infinite interval", "- id: q13\n  text: t\n  search: {num_samples: 2, space: {optim.lr: 'interval(0.1, inf)'}}",
     "q13.search.space.optim.lr"),
    ("reversed interval", "- id: q13\n  text: t\n  search: {num_samples: 2, space: {optim.lr: 'interval(1, 0.1)'}}",
     "q13.search.space.optim.lr"),
    ("float interval, whole number", "- id: q13\n  text: t\n  search: {num_samples: 2, space: {trainer.batch_size: 'interval(32, 256)'}}",
     "int(interval(32, 256))"),
    ("infinite choice", "- id: q13\n  text: t\n  search: {num_samples: 2, space: {optim.lr: 'choice(0.1, inf)'}}",
     "q13.search.space.optim.lr"),
    ("not a search expression", "- id: q13\n  text: t\n  search: {num_samples: 2, space: {optim.lr: '0.1'}}", "q13.search.space.optim.lr"),
    ("zero samples", "- id: q13\n  text: t\n  search: {num_samples: 0, space: {optim.lr: 'choice(0.1, 0.2)'}}", "num_samples"),
    ("unknown search key", "- id: q13\n  text: t\n  search: {num_samples: 2, space: {optim.lr: 'choice(0.1)'}, budget: 3}", "budget"),
    ("stage from an unknown question", "- id: q14\n  text: t\n  from: {question: q99}\n  variants: [{}]", "q99"),
    ("stages in a cycle", "- id: q14\n  text: t\n  from: {question: q15}\n  variants: [{}]\n"
     "- id: q15\n  text: u\n  from: {question: q14}\n  variants: [{}]", "cycle"),
    ("zero repeats", "- id: q01\n  text: t\n  repeats: 0\n  grid: {optim.lr: [x1]}", "repeats"),
    ("infinite value in a grid", "- id: q01\n  text: t\n  grid: {optim.lr: [.inf]}", "optim.lr"),
    ("unknown group option in a variant", "- id: q01\n  text: t\n  grid: {optim: [nadam]}", "nadam"),
]


@pytest.fixture
def conf_copy(tmp_path: Path) -> Path:
    copy = tmp_path / "conf"
    shutil.copytree(CONF_DIR, copy)
    return copy


@pytest.mark.parametrize(("questions", "names"), [c[1:] for c in BAD_STUDY_FILES], ids=[c[0] for c in BAD_STUDY_FILES])
def test_a_bad_study_file_is_one_line_naming_where(conf_copy: Path, questions: str, names: str) -> None:
    body = questions if questions.startswith(" ") else textwrap.indent(questions, "    ")
    (conf_copy / "study" / "bad.yaml").write_text(STUDY_HEAD + body + "\n")
    with pytest.raises(SweepError) as caught:
        plan_study("bad", conf_dir=conf_copy)
    message = str(caught.value)
    assert "\n" not in message and message.strip() == message, message
    assert names in message, message


def test_a_yaml_error_names_the_file_and_its_line(conf_copy: Path) -> None:
    (conf_copy / "study" / "bad.yaml").write_text(STUDY_HEAD + '    - id: q01\n      text: "unclosed\n')
    expected = rf"{conf_copy}/study/bad\.yaml:8: YAML syntax error: .* \(while scanning a quoted scalar at line 7\)"
    with pytest.raises(SweepError, match=expected):
        plan_study("bad", conf_dir=conf_copy)


def test_a_yaml_error_in_a_config_group_names_that_file(conf_copy: Path) -> None:
    (conf_copy / "optim" / "broken.yaml").write_text("name: sgd\nlr: [0.1\n")
    with pytest.raises(SweepError, match=r"optim/broken\.yaml:\d+: YAML syntax error"):
        plan_study(STUDY, ["optim=broken"], questions=["q01"], conf_dir=conf_copy)


# --- what a read-only place still allows: nothing is refused that would have worked ----------------------


@pytest.mark.parametrize("store", [False, True], ids=["no store yet", "a store there"])
def test_plan_in_a_read_only_folder_reads_and_writes_nothing(
    store: bool, case_dir: Path, valid_store_file: Path, capfd: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    (store_in_read_only_folder if store else read_only_folder)(case_dir)
    _chown(case_dir, NOBODY)
    before = snapshot(case_dir)
    monkeypatch.chdir(case_dir / "ro")
    with effective_user(True):
        code = main(["plan", STUDY, *Q])  # the default store: mlflow.db in the working folder
    out, err = capfd.readouterr()
    assert code == 0, err
    assert "2 unique trials: 0 finished, 0 partial, 2 new" in out
    assert snapshot(case_dir) == before
