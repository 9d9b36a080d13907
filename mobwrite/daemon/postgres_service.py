"""A daemon that shares its documents with other daemons through PostgreSQL.

With ``--database`` the daemon keeps no store of its own: every request
runs in one transaction in one of a few worker threads (``storage/postgres_documents.py``),
and its reply is sent only after that transaction committed.  A failed transaction
fails the request (no acknowledgement: TCP closes, HTTP answers 503) and
nothing else.  ``ChangeFeed`` hears, through LISTEN/NOTIFY, every document
any daemon changed, for whatever pushes changes to browsers.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Hashable, Sequence
from queue import SimpleQueue
from typing import Any

import psycopg
from psycopg_pool import ConnectionPool
from twisted.application.service import MultiService, Service
from twisted.internet import defer
from twisted.internet.threads import deferToThreadPool
from twisted.python.failure import Failure
from twisted.python.threadpool import ThreadPool

from mobwrite.core.events import Event, Report
from mobwrite.core.store import ViewKey
from mobwrite.logs import logger
from mobwrite.settings import Settings
from mobwrite.storage.committer import IStorageReactor
from mobwrite.storage.postgres import read_all, upgrade
from mobwrite.storage.postgres_documents import SharedDocuments, listen
from mobwrite.storage.rows import DocumentRow, ViewRow

log = logger("storage")

# Requests a daemon runs at once, each in its own transaction and thread,
# with its own cache of texts.
WORKERS = 4
# Connections per daemon: one per worker, one for dumps.
CONNECTIONS = WORKERS + 1
# How long a request waits for a connection before it fails.
CONNECT_TIMEOUT = 2.0
# How long start-up waits for the database before it gives up.
START_TIMEOUT = 5.0

Changed = Callable[[str], None]
# A buffer fragment line (b: or B:) anywhere in a request.
_BUFFER = re.compile(rb"(?:^|[\r\n])[bB]:")


class ChangeFeed(Service):
    """Tells subscribers the name of each document any daemon changed."""

    def __init__(self, url: str, reactor: IStorageReactor) -> None:
        self.url = url
        self.reactor = reactor
        self.subscribers: list[Changed] = []
        self.stopping = threading.Event()
        self.thread: threading.Thread | None = None

    def subscribe(self, callback: Changed) -> Callable[[], None]:
        """Call *callback* (on the reactor) with each changed document's name;
        returns what unsubscribes it."""
        self.subscribers.append(callback)
        return lambda: self.subscribers.remove(callback)

    def _changed(self, name: str) -> None:
        for callback in list(self.subscribers):
            try:
                callback(name)
            except Exception:
                log.failure("a change subscriber failed")

    def startService(self) -> None:
        Service.startService(self)
        self.stopping.clear()
        self.thread = threading.Thread(target=listen, name="mobwrite-listen", daemon=True, args=(
            self.url, lambda name: self.reactor.callFromThread(self._changed, name),
            self.stopping, lambda error: self.reactor.callFromThread(
                log.warn, "listening for changes: {error}; listening again", error=error)))
        self.thread.start()

    def stopService(self) -> None:
        Service.stopService(self)
        self.stopping.set()
        if self.thread is not None:
            self.thread.join()


class SharedDaemon(MultiService):
    """The pool, the worker threads and the change feed of a daemon on PostgreSQL."""

    def __init__(self, settings: Settings, reactor: IStorageReactor, report: Report) -> None:
        super().__init__()
        self.settings = settings
        self.reactor = reactor
        self.pool: ConnectionPool[Any] = ConnectionPool(
            settings.database, min_size=1, max_size=CONNECTIONS, open=False,
            timeout=CONNECT_TIMEOUT, kwargs={"autocommit": True},
            check=ConnectionPool.check_connection)
        # Engine events come from the worker thread: report them on the reactor.
        self.workers = [SharedDocuments(
            self.pool, settings,
            lambda event, **fields: reactor.callFromThread(_report, report, event, fields))
            for _ in range(WORKERS)]
        self.idle: SimpleQueue[SharedDocuments] = SimpleQueue()
        for worker in self.workers:
            self.idle.put(worker)
        self.threads = ThreadPool(1, CONNECTIONS, "mobwrite-shared")
        self.feed = ChangeFeed(settings.database, reactor)
        self.feed.setServiceParent(self)
        self.failing: str | None = None
        self.opened = False

    def privilegedStartService(self) -> None:
        # Reach the database before the ports open: a wrong URL stops start-up.
        self._open()
        super().privilegedStartService()

    def startService(self) -> None:
        self._open()
        self.threads.start()
        super().startService()

    def _open(self) -> None:
        if self.opened:
            return
        location = self.settings.database.rsplit("@", 1)[-1]
        try:
            # One plain connection first: its error says what is wrong, the pool's would not.
            with psycopg.connect(self.settings.database, autocommit=True,
                                 connect_timeout=int(START_TIMEOUT)) as connection:
                found = upgrade(connection)
            self.pool.open(wait=True, timeout=START_TIMEOUT)
        except Exception as error:
            self.pool.close()
            raise SystemExit(f"cannot use the database {location}: {error}") from None
        self.opened = True
        log.info("storage: documents shared in PostgreSQL at {location} "
                 "(schema version {found} found)", location=location, found=found)

    def stopService(self) -> defer.Deferred[None]:
        stopped: defer.Deferred[None] = defer.maybeDeferred(super().stopService)
        return stopped.addBoth(self._stopped)

    def _stopped(self, result: object) -> None:
        self.threads.stop()
        self.pool.close()
        transactions = sum(worker.transactions for worker in self.workers)
        held = sum(worker.held for worker in self.workers)
        log.info("storage: disconnected from PostgreSQL after {transactions} transactions "
                 "holding document locks {held:.3f} ms on average",
                 transactions=transactions, held=1000 * held / max(1, transactions))

    def _in_thread(self, work: Callable[..., Any], *args: Any) -> defer.Deferred[Any]:
        return deferToThreadPool(self.reactor, self.threads, work, *args)

    def answer(self, request: bytes, may_write: bool = True,
               origin: Hashable = None, author: str | None = None) -> defer.Deferred[bytes]:
        """The reply to *request*, once its transaction committed; with *may_write*
        false its edits never reach the masters.  Changes reach the push hub
        through the change feed (every daemon's, this one's included), so
        *origin* is not needed here; no history is kept in shared mode, so
        neither is *author* (docs/history.md)."""
        done = self._in_thread(self._run, request, self.reactor.seconds(), may_write)
        return done.addCallbacks(self._answered, self._failed)

    def push(self, views: Sequence[ViewKey]) -> defer.Deferred[list[str | None]]:
        """No pushed deltas in shared mode (the views live in the database): every
        socket is sent notices, and syncs."""
        return defer.succeed([None] * len(views))

    def pushed(self, view: ViewKey, version: int) -> None:
        """Nothing was pushed (see ``push``)."""

    def _run(self, request: bytes, now: float, may_write: bool) -> tuple[bytes, list[str]]:
        """Run *request* on an idle worker; buffer fragments always on the first, which
        holds the daemon's unfinished buffers."""
        if _BUFFER.search(request):
            return self.workers[0].run(request, now, may_write)
        worker = self.idle.get()
        try:
            return worker.run(request, now, may_write)
        finally:
            self.idle.put(worker)

    def _answered(self, result: tuple[bytes, list[str]]) -> bytes:
        self.failing = None
        return result[0]

    def _failed(self, failure: Failure) -> Failure:
        self.failing = failure.getErrorMessage()
        return failure

    def failure(self) -> str | None:
        """Why the latest request's transaction failed, until one succeeds."""
        return self.failing

    def rows(self) -> defer.Deferred[tuple[list[DocumentRow], list[ViewRow]]]:
        """Every stored row, from one snapshot of the database."""
        return self._in_thread(self._read_rows)

    def _read_rows(self) -> tuple[list[DocumentRow], list[ViewRow]]:
        with self.pool.connection() as connection:
            return read_all(connection)

    def housekeeping(self) -> None:
        """Expire old views and unviewed documents (run now and then, on any daemon)."""
        self._in_thread(self.workers[0].expire, self.reactor.seconds(), self.settings
                        ).addCallbacks(self._expired, self._not_expired)

    def _expired(self, counts: tuple[int, int]) -> None:
        if any(counts):
            log.info("housekeeping: {views} views and {documents} documents expired",
                     views=counts[0], documents=counts[1])

    def _not_expired(self, failure: Failure) -> None:
        log.failure("housekeeping in PostgreSQL failed", failure)


def _report(report: Report, event: Event, fields: dict[str, Any]) -> None:
    report(event, **fields)

