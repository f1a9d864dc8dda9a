"""The outbox in isolation: writes held in order while the server is away, sent when it answers, and the
bounds that stop a study. A fake clock and server; the real server going away is in test_tracking_outage.py."""

from __future__ import annotations

import pytest
import requests

from sweeps.record.outbox import RETRY_EVERY, OutageLimits, Outbox, TrackingAway
from sweeps.record.reachability import reason, unreachable


class FakeServer:
    """Records what reached it; while down, every request fails as a refused connection does."""

    def __init__(self) -> None:
        self.up = True
        self.received: list[str] = []
        self.now = 0.0
        self.back_at: float | None = None  # while down: the time it answers again
        self.lines: list[str] = []

    def write(self, what: str):  # noqa: ANN201
        def send() -> None:
            if not self.up:
                raise _refused()
            self.received.append(what)

        return send

    def outbox(self, hold_epochs: int = 100, wait_seconds: float = 60.0) -> Outbox:
        return Outbox(
            "http://127.0.0.1:5999", OutageLimits(hold_epochs, wait_seconds), answers=lambda: self.up,
            notify=self.lines.append, clock=lambda: self.now, sleep=self.sleep,
        )  # fmt: skip

    def sleep(self, seconds: float) -> None:
        self.now += seconds
        if self.back_at is not None and self.now >= self.back_at:
            self.up = True


def _refused() -> Exception:
    """What MLflow's client raises for a refused connection: its own error, raised while handling requests'."""
    try:
        raise requests.exceptions.ConnectionError("HTTPConnectionPool(host='127.0.0.1', port=5999): [Errno 111] Connection refused")
    except requests.exceptions.ConnectionError:
        try:
            raise RuntimeError("API request to http://127.0.0.1:5999/api/2.0/mlflow/runs/log-batch failed")
        except RuntimeError as error:
            return error


def test_writes_go_straight_through_while_the_server_answers() -> None:
    server = FakeServer()
    outbox = server.outbox()
    for epoch in (1, 2):
        outbox.send(server.write(f"epoch {epoch}"), epochs=1)
    assert server.received == ["epoch 1", "epoch 2"] and not outbox.away and server.lines == []


def test_held_in_order_while_away_and_sent_oldest_first_when_back() -> None:
    server = FakeServer()
    outbox = server.outbox()
    outbox.send(server.write("epoch 1"), epochs=1)
    server.up = False
    for epoch in (2, 3, 4):
        outbox.send(server.write(f"epoch {epoch}"), epochs=1)
        server.now += 1.0
    outbox.send(server.write("run ended"))
    assert server.received == ["epoch 1"] and outbox.held_epochs == 3 and outbox.away
    assert "does not answer" in server.lines[0]

    server.up = True
    server.now += RETRY_EVERY  # the next write tries again
    outbox.send(server.write("epoch 5"), epochs=1)
    assert server.received == ["epoch 1", "epoch 2", "epoch 3", "epoch 4", "run ended", "epoch 5"]
    assert outbox.held_epochs == 0 and outbox.flushed_epochs == 3 and not outbox.away
    assert "answers again" in server.lines[1] and "logged the 3 epochs held" in server.lines[1]


def test_an_away_server_is_asked_at_most_every_few_seconds() -> None:
    server = FakeServer()
    asked: list[float] = []
    outbox = Outbox("http://x", OutageLimits(), answers=lambda: asked.append(server.now) or False, clock=lambda: server.now)
    server.up = False
    for _ in range(20):  # 20 writes in 2 s: one try at most
        outbox.send(server.write("epoch"), epochs=1)
        server.now += 0.1
    assert len(asked) <= 1 and outbox.held_epochs == 20


def test_past_hold_epochs_the_study_stops_and_later_writes_are_still_held() -> None:
    server = FakeServer()
    outbox = server.outbox(hold_epochs=2)
    server.up = False
    outbox.send(server.write("epoch 1"), epochs=1)
    outbox.send(server.write("epoch 2"), epochs=1)
    with pytest.raises(TrackingAway, match=r"3 epochs wait to be logged, more than tracking.hold_epochs=2.*run the same command"):
        outbox.send(server.write("epoch 3"), epochs=1)
    outbox.send(server.write("run killed"))  # the study stopping: held, no second error
    server.up = True
    assert outbox.release() == 0  # one last try sends everything, in order
    assert server.received == ["epoch 1", "epoch 2", "epoch 3", "run killed"]


def test_a_call_waits_for_the_server_then_answers_after_the_held_writes() -> None:
    server = FakeServer()
    outbox = server.outbox(wait_seconds=60)
    server.up = False
    outbox.send(server.write("epoch 1"), epochs=1)

    def read() -> list[str]:
        if not server.up:
            raise _refused()
        return list(server.received)

    server.back_at = 20.0
    assert outbox.call(read) == ["epoch 1"]  # the held write went first
    assert 20 <= server.now < 20 + RETRY_EVERY + 1


def test_a_call_stops_the_study_after_wait_seconds() -> None:
    server = FakeServer()
    outbox = server.outbox(wait_seconds=30)
    server.up = False
    outbox.send(server.write("epoch 1"), epochs=1)
    with pytest.raises(TrackingAway, match=r"waited for it 3\d s, tracking.wait_seconds=30"):
        outbox.sync()
    assert 30 <= server.now <= 30 + RETRY_EVERY


def test_an_error_that_is_not_about_reaching_the_server_is_raised_not_held() -> None:
    server = FakeServer()
    outbox = server.outbox()

    def bad_request() -> None:
        raise ValueError("INVALID_PARAMETER_VALUE")

    with pytest.raises(ValueError):
        outbox.send(bad_request)
    assert not outbox.away and outbox.held_epochs == 0


def test_unreachable_reads_the_chain_and_reason_the_system_words() -> None:
    error = _refused()
    assert unreachable(error) and reason(error) == "Connection refused"
    assert not unreachable(ValueError("bad")) and reason(ValueError("bad")) == "ValueError"
