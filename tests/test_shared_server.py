"""A class sharing one tracking server on PostgreSQL: `sweep server --backend-store-uri postgresql://…` with a
real PostgreSQL started by the test (tests/helpers/postgres.py; skipped where it is not installed), several
`sweep run`s of different studies at once and two of the same study, nothing lost or duplicated."""

from __future__ import annotations

import os
import signal
import subprocess
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from helpers.loopback import free_port, wait_until_up
from helpers.postgres import PASSWORD, Postgres, missing, postgres_binaries, running_postgres
from helpers.run_counts import each_trial_once
from helpers.sweep_cli import SweepCli
from mlflow.entities import Metric
from mlflow.tracking import MlflowClient

from sweeps.errors import SweepError
from sweeps.run.preflight import check_store

MISSING = missing()
pytestmark = [pytest.mark.slow, pytest.mark.skipif(MISSING is not None, reason=MISSING or "")]

CREDENTIALS = {"MLFLOW_TRACKING_USERNAME": "teacher", "MLFLOW_TRACKING_PASSWORD": "a-long-enough-password"}
EPOCHS = 2
# Two students' studies, small: study → (overrides, trials); cloudmesh_mlp runs twice at once (two terminals).
STUDIES = {
    "cloudmesh_mlp": (("data=synthetic", "data.size=1000", "data.test_size=200"), 3),
    "toxic_comments": (("--questions", "q02"), 3),
}


@pytest.fixture(scope="module")
def postgres() -> Iterator[Postgres]:
    binaries = postgres_binaries()
    assert binaries is not None  # else skipped above
    with running_postgres(binaries) as server:
        yield server


def test_a_refused_login_stops_the_server_before_it_starts_in_one_line(sweep: SweepCli, postgres: Postgres) -> None:
    uri = postgres.uri(password="not-the-password")
    result = sweep("server", "--port", str(free_port()), "--backend-store-uri", uri, timeout=60)
    assert result.returncode == 2 and result.stderr.count("\n") == 1, result.stderr
    assert f"--backend-store-uri: cannot log in to postgresql://sweeps:***@127.0.0.1:{postgres.port}/sweeps" in result.stderr
    assert 'password authentication failed for user "sweeps"' in result.stderr and "not-the-password" not in result.stderr
    result = sweep("server", "--port", str(free_port()), "--backend-store-uri", postgres.uri("no_such_database"), timeout=60)
    assert result.returncode == 2 and 'database "no_such_database" does not exist' in result.stderr, result.stderr
    assert list(sweep.workdir.iterdir()) == []  # nothing started, nothing written


def test_the_password_may_come_from_pgpassword_instead_of_the_uri(postgres: Postgres, monkeypatch: pytest.MonkeyPatch) -> None:
    bare = postgres.uri().replace(f":{PASSWORD}@", "@")  # postgresql://sweeps@127.0.0.1:PORT/sweeps
    monkeypatch.delenv("PGPASSWORD", raising=False)
    monkeypatch.setenv("PGPASSFILE", str(postgres.folder / "no-such-pgpass"))  # not the user's own ~/.pgpass
    with pytest.raises(SweepError, match="--backend-store-uri: cannot log in to .*password"):
        check_store(bare, write=True, key="--backend-store-uri")
    monkeypatch.setenv("PGPASSWORD", PASSWORD)  # libpq's own variable, which `mlflow server` inherits
    check_store(bare, write=True, key="--backend-store-uri")


@contextmanager
def serving(sweep: SweepCli, store: str, *options: str, env: dict[str, str] | None = None) -> Iterator[str]:
    """`sweep server` on `store` on a free loopback port, answering; its URL. Stopped at the end."""
    port = free_port()
    server = sweep.popen(
        "server", "--port", str(port), "--backend-store-uri", store, *options,
        "--artifacts-destination", str(sweep.workdir / "artifacts"), stdout=subprocess.DEVNULL, env=env,
    )  # fmt: skip
    try:
        wait_until_up(f"http://127.0.0.1:{port}/health", server)
        yield f"http://127.0.0.1:{port}"
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=60)


def test_with_auth_strangers_are_refused_and_a_login_writes_to_postgresql(
    sweep: SweepCli, postgres: Postgres, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("flask_wtf", reason="MLflow's basic-auth app needs mlflow[auth]")
    store = postgres.create_database("with_auth")
    with serving(sweep, store, "--auth", env=CREDENTIALS) as tracking:
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(f"{tracking}/api/2.0/mlflow/experiments/search?max_results=1", timeout=30)
        assert refused.value.code == 401
        for key, value in CREDENTIALS.items():  # what `sweep run` has in its environment
            monkeypatch.setenv(key, value)
        client = MlflowClient(tracking)
        run = client.create_run(client.create_experiment("served"))
        client.log_batch(run.info.run_id, metrics=[Metric("val_acc", 0.5, 0, 1)])
    assert postgres.query("with_auth", "SELECT r.run_uuid, m.value FROM runs r JOIN metrics m USING (run_uuid)") == [(run.info.run_id, 0.5)]
    assert sorted(path.name for path in sweep.workdir.glob("*.db")) == ["basic_auth.db"]  # the users, where it started


def test_concurrent_sweeps_of_several_studies_record_each_trial_once(sweep: SweepCli, postgres: Postgres) -> None:
    store = postgres.create_database("class_runs")
    with serving(sweep, store) as tracking:
        common = ("offline=true", f"trainer.epochs={EPOCHS}", f"tracking.uri={tracking}")
        drivers = ["cloudmesh_mlp", "cloudmesh_mlp", "toxic_comments"]
        processes = [sweep.popen("run", study, *common, *STUDIES[study][0]) for study in drivers]
        outputs = [process.communicate(timeout=900)[0] for process in processes]
        assert [process.returncode for process in processes] == [0] * len(drivers), outputs

        # The two sweeps of one study: a trial one of them trains, the other skips (its lease), naming the other.
        for output, other in zip(outputs[:2], reversed(processes[:2]), strict=True):
            skipped = [line for line in output.splitlines() if "running in another sweep" in line]
            assert all(line.endswith(f"pid {other.pid}), skipped") for line in skipped), skipped
        for study, (_, trials) in STUDIES.items():
            each_trial_once(tracking, study, trials, EPOCHS)
    # The runs are PostgreSQL's rows, and no SQLite store was written.
    counted = postgres.query("class_runs", "SELECT e.name, COUNT(*) FROM runs JOIN experiments e USING (experiment_id) GROUP BY e.name")
    assert dict(counted) == {study: trials for study, (_, trials) in STUDIES.items()}
    assert not list(sweep.workdir.glob("*.db"))
