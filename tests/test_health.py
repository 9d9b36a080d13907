"""/healthz: 200 while the data directory takes writes, 503 with a reason otherwise."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from http_client import fetch_path
from twisted.internet.task import Clock

from benchmarks.daemon import Daemon
from mobwrite.daemon.health import HealthProbe, probe_directory


def test_probe_writes_and_removes_its_file(tmp_path: Path) -> None:
    """A writable directory is healthy and keeps no trace of the probe."""
    assert probe_directory(tmp_path) is None
    assert list(tmp_path.iterdir()) == []


def test_probe_reports_a_directory_that_is_a_file(tmp_path: Path) -> None:
    """A data directory replaced by a file (which stops root too) is reported."""
    path = tmp_path / "data"
    path.write_text("not a directory")
    problem = probe_directory(path)
    assert problem is not None
    assert problem.startswith(f"data directory {path} is not writable: Not a directory")


def test_health_flips_when_the_data_directory_stops_taking_writes(tmp_path: Path) -> None:
    """The real daemon answers 503 with the reason while its data directory is
    unusable, and 200 again once it is back."""
    daemon = Daemon(tmp_path).start()
    data = tmp_path / "data"
    try:
        healthy = fetch_path(daemon.ports["gateway"], "/healthz")
        assert (healthy.status, healthy.body) == (200, b"ok\n")
        assert healthy.headers["content-type"] == "text/plain; charset=utf-8"
        # Tests run as root, whom chmod does not stop: put a file where the directory was.
        shutil.rmtree(data)
        data.write_text("in the way")
        unhealthy = fetch_path(daemon.ports["gateway"], "/healthz")
        assert unhealthy.status == 503
        assert unhealthy.body.decode() == (
            f"data directory {data} is not writable: Not a directory\n")
        daemon.wait_for_log(r"unhealthy: data directory .* is not writable")
        assert fetch_path(daemon.ports["editor"], "/healthz").status == 404
        data.unlink()
        data.mkdir()
        assert fetch_path(daemon.ports["gateway"], "/healthz").status == 200
        daemon.wait_for_log(r"healthy again")
    finally:
        daemon.stop()


class StuckPool:
    """A thread pool whose work never finishes until the test says so."""

    def __init__(self) -> None:
        self.calls: list[Callable[[bool, Any], None]] = []

    def callInThreadWithCallback(self, on_result: Callable[[bool, Any], None],
                                 work: Callable[..., Any], *args: Any) -> None:
        self.calls.append(on_result)


class StuckReactor(Clock):
    """A clock with a thread pool that hangs, as on a dead disk."""

    def __init__(self) -> None:
        super().__init__()
        self.pool = StuckPool()

    def getThreadPool(self) -> StuckPool:
        return self.pool

    def callFromThread(self, function: Callable[..., Any], *args: Any) -> None:
        function(*args)


def test_a_hung_probe_answers_in_bounded_time(tmp_path: Path) -> None:
    """A probe that hangs reports failure after its timeout, and checks made
    meanwhile share it instead of starting more threads."""
    reactor = StuckReactor()
    probe = HealthProbe(tmp_path, reactor, timeout=5.0)
    first: list[str | None] = []
    second: list[str | None] = []
    probe.check().addCallback(first.append)
    reactor.advance(3)
    probe.check().addCallback(second.append)
    assert len(reactor.pool.calls) == 1
    reactor.advance(2)
    assert first == [f"data directory {tmp_path} gave no answer within 5 s"]
    assert second == []
    reactor.advance(3)
    assert second == first
    reactor.pool.calls[0](True, None)
    later: list[str | None] = []
    probe.check().addCallback(later.append)
    assert len(reactor.pool.calls) == 2
    reactor.pool.calls[1](True, None)
    assert later == [None]


class InlinePool(StuckPool):
    """A thread pool that runs the work at once, on the caller's thread."""

    def callInThreadWithCallback(self, on_result: Callable[[bool, Any], None],
                                 work: Callable[..., Any], *args: Any) -> None:
        on_result(True, work(*args))


def test_a_failing_store_is_unhealthy_even_if_the_directory_is_writable(
        tmp_path: Path) -> None:
    """When the storage's latest write failed, health says so until one succeeds."""
    reactor = StuckReactor()
    reactor.pool = InlinePool()
    failing: list[str | None] = ["database or disk is full"]
    probe = HealthProbe(tmp_path, reactor, storage_failure=lambda: failing[-1])
    answers: list[str | None] = []
    probe.check().addCallback(answers.append)
    failing.append(None)
    probe.check().addCallback(answers.append)
    assert answers == ["the latest write to the store failed: database or disk is full", None]


def test_nothing_stored_is_always_healthy() -> None:
    """With --durability memory there is no disk to check, and no thread is used."""
    reactor = StuckReactor()
    answers: list[str | None] = []
    HealthProbe(None, reactor).check().addCallback(answers.append)
    assert answers == [None]
    assert reactor.pool.calls == []
