"""``/healthz``: whether the store can still write to its data directory.

The probe creates, fsyncs and removes a small file in the data directory,
in a worker thread so a hung disk cannot stall the reactor, and asks the
storage whether its latest write failed.  Its answer is
bounded in time: a probe that takes too long reports failure, and
concurrent checks share the one probe in flight, so a stuck disk holds at
most one thread.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path

from twisted.internet import defer, threads
from twisted.internet.interfaces import IReactorThreads, IReactorTime
from twisted.python.failure import Failure
from twisted.web import resource, server
from twisted.web.server import Request

from mobwrite.logs import logger

log = logger("health")

PROBE_TIMEOUT = 5.0


def probe_directory(directory: Path) -> str | None:
    """Write, fsync and remove a file in *directory*; the problem, or None."""
    try:
        handle, name = tempfile.mkstemp(prefix=".healthz-", dir=directory)
        try:
            os.write(handle, b"ok\n")
            os.fsync(handle)
        finally:
            os.close(handle)
            os.unlink(name)
    except OSError as error:
        return f"data directory {directory} is not writable: {error.strerror or error}"
    return None


class IProbeReactor(IReactorTime, IReactorThreads):
    """What the probe needs of a reactor: a thread pool, and timeouts."""


class HealthProbe:
    """Checks the data directory, one probe at a time, each bounded in time.

    Without a directory (nothing is stored) every check is healthy.
    """

    def __init__(self, directory: Path | None, reactor: IProbeReactor,
                 timeout: float = PROBE_TIMEOUT,
                 storage_failure: Callable[[], str | None] = lambda: None) -> None:
        self.directory = directory
        self.reactor = reactor
        self.timeout = timeout
        self.storage_failure = storage_failure
        self._waiting: list[defer.Deferred[str | None]] = []
        self._probing = False
        self.problem: str | None = None

    def check(self) -> defer.Deferred[str | None]:
        """Fires with None when healthy, else with the reason it is not."""
        if self.directory is None:
            return defer.succeed(None)
        waiter: defer.Deferred[str | None] = defer.Deferred()
        self._waiting.append(waiter)
        if not self._probing:
            self._probing = True
            threads.deferToThreadPool(
                self.reactor, self.reactor.getThreadPool(), probe_directory, self.directory,
            ).addBoth(self._probed)
        return waiter.addTimeout(self.timeout, self.reactor, onTimeoutCancel=self._too_slow)

    def _too_slow(self, result: object, timeout: float) -> str:
        problem = f"data directory {self.directory} gave no answer within {timeout:g} s"
        self._note(problem)
        return problem

    def _note(self, problem: str | None) -> None:
        """Log when health changes, not on every check."""
        if problem != self.problem:
            if problem is None:
                log.info("healthy again: {directory} is writable", directory=self.directory)
            else:
                log.warn("unhealthy: {problem}", problem=problem)
        self.problem = problem

    def _probed(self, result: str | None | Failure) -> None:
        self._probing = False
        if isinstance(result, Failure):
            log.failure("the health probe failed", result)
            result = f"the health probe failed: {result.getErrorMessage()}"
        if result is None and (failure := self.storage_failure()) is not None:
            result = f"the latest write to the store failed: {failure}"
        self._note(result)
        waiting, self._waiting = self._waiting, []
        for waiter in waiting:
            if not waiter.called:
                waiter.callback(result)


class HealthResource(resource.Resource):
    """``GET /healthz``: 200 ``ok``, or 503 with the reason."""

    isLeaf = True

    def __init__(self, probe: HealthProbe) -> None:
        super().__init__()
        self.probe = probe

    def render_GET(self, request: Request) -> int:
        gone: list[Failure] = []
        request.notifyFinish().addErrback(gone.append)
        self.probe.check().addCallback(self._answer, request, gone)
        return server.NOT_DONE_YET

    def _answer(self, problem: str | None, request: Request, gone: list[Failure]) -> None:
        if gone:
            return
        if problem is not None:
            request.setResponseCode(503)
        request.setHeader(b"content-type", b"text/plain; charset=utf-8")
        request.setHeader(b"cache-control", b"no-store")
        request.write(((problem or "ok") + "\n").encode("utf-8"))
        request.finish()
