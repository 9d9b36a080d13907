"""A daemon that shares its documents with other daemons through PostgreSQL.

With ``--database`` the daemon keeps no store of its own: every request
runs in one transaction in one of a few worker threads (``storage/postgres_documents.py``),
and its reply is sent only after that transaction committed; so does each
HTTP API call.  A failed transaction fails the request (no acknowledgement:
TCP closes, HTTP answers 503) and nothing else; a database that cannot be
reached is logged once per outage.  The daemon's own sockets hear of its
changes at once; ``ChangeFeed`` hears, through LISTEN/NOTIFY, every document
another daemon changed, and the presence of its sockets (``shared_presence.py``).
"""

from __future__ import annotations

import re
import secrets
import threading
from collections.abc import Callable, Collection, Hashable, Sequence
from queue import SimpleQueue
from typing import Any, TypeVar

import psycopg
from psycopg_pool import ConnectionPool
from twisted.application.service import MultiService, Service
from twisted.internet import defer
from twisted.internet.threads import deferToThreadPool
from twisted.python.failure import Failure
from twisted.python.threadpool import ThreadPool

from mobwrite.core.access import Grant
from mobwrite.core.api import Answer, Call, error
from mobwrite.core.cache import Caches
from mobwrite.core.events import Event, Report
from mobwrite.core.store import ViewKey
from mobwrite.daemon.answering import Unavailable
from mobwrite.daemon.shared_presence import PresenceRelay
from mobwrite.daemon.status import Shared
from mobwrite.daemon.websocket import PushHub
from mobwrite.logs import logger
from mobwrite.settings import Settings
from mobwrite.storage.committer import IStorageReactor
from mobwrite.storage.postgres import read_all, upgrade
from mobwrite.storage.postgres_documents import (
    CHANGE,
    CHANNEL,
    PRESENCE,
    SharedDocuments,
    listen,
    shared_pool,
)
from mobwrite.storage.postgres_space import StoredSpace
from mobwrite.storage.rows import Rows

log = logger("storage")

# Connections per daemon besides one per worker (SHARED_WORKERS): one for
# dumps, one for presence and the status page.
SPARE_CONNECTIONS = 2
# How long a request waits for a connection before it fails.
CONNECT_TIMEOUT = 2.0
# How long start-up waits for the database before it gives up.
START_TIMEOUT = 5.0

Changed = Callable[[str], None]
T = TypeVar("T")
# A buffer fragment line (b: or B:) anywhere in a request.
_BUFFER = re.compile(rb"(?:^|[\r\n])[bB]:")


class ChangeFeed(Service):
    """Tells subscribers the name of each document another daemon changed
    (*me* is this daemon's id, which starts its own notifications)."""

    def __init__(self, url: str, reactor: IStorageReactor, me: str,
                 on_presence: Callable[[str, str], None] | None = None,
                 on_resume: Callable[[], None] | None = None) -> None:
        self.url = url
        self.reactor = reactor
        self.me = me
        self.on_presence = on_presence
        # Called when listening again after a loss: changes made meanwhile went unheard.
        self.on_resume = on_resume
        self.subscribers: list[Changed] = []
        # Whether the listening connection was lost and not made again yet.
        self.lost = False
        self.stopping = threading.Event()
        self.thread: threading.Thread | None = None

    def subscribe(self, callback: Changed) -> Callable[[], None]:
        """Call *callback* (on the reactor) with each changed document's name;
        returns what unsubscribes it."""
        self.subscribers.append(callback)
        return lambda: self.subscribers.remove(callback)

    def _notified(self, kind: str, sender: str, body: str) -> None:
        """In the listening thread: pass another daemon's notification to the reactor
        (this daemon's own, a third of what it hears with three daemons, never wakes it)."""
        if sender != self.me:
            self.reactor.callFromThread(self._heard, kind, sender, body)

    def _heard(self, kind: str, sender: str, body: str) -> None:
        if kind == CHANGE:
            self._changed(body)
        elif kind == PRESENCE and self.on_presence is not None:
            self.on_presence(sender, body)

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
            self.url, self._notified,
            self.stopping, lambda error: self.reactor.callFromThread(self._lost, error),
            lambda: self.reactor.callFromThread(self._listening)))
        self.thread.start()

    def _lost(self, error: Exception) -> None:
        if not self.lost:
            self.lost = True
            log.warn("listening for changes: {error}; listening again once it answers",
                     error=_first_line(str(error)))

    def _listening(self) -> None:
        if self.lost:
            self.lost = False
            log.info("listening for changes again")
            if self.on_resume is not None:
                self.on_resume()

    def stopService(self) -> None:
        Service.stopService(self)
        self.stopping.set()
        if self.thread is not None:
            self.thread.join()


class SharedDaemon(MultiService):
    """The pool, the worker threads and the change feed of a daemon on PostgreSQL."""

    def __init__(self, settings: Settings, reactor: IStorageReactor, report: Report,
                 hub: PushHub, caches: Caches | None = None,
                 space: StoredSpace | None = None) -> None:
        super().__init__()
        self.settings = settings
        self.reactor = reactor
        self.listener = hub
        # This daemon's id in the notifications it sends.
        self.me = secrets.token_hex(8)
        # Requests run at once, each in its own transaction, thread and connection,
        # with its own cache of texts.
        workers = settings.shared_workers
        connections = workers + SPARE_CONNECTIONS
        self.pool: ConnectionPool[Any] = shared_pool(settings.database, connections,
                                                     CONNECT_TIMEOUT)
        # What the database holds (for MAX_STORED), and the workers' caches, each
        # with its share of MAX_MEMORY.
        self.space = StoredSpace() if space is None else space
        self.caches = Caches(settings.max_memory, self.space.use) if caches is None else caches
        # Engine events come from the worker thread: report them on the reactor.
        self.workers = [SharedDocuments(
            self.pool, settings,
            lambda event, **fields: reactor.callFromThread(_report, report, event, fields),
            self.me, self.caches.share(workers), self.space) for _ in range(workers)]
        self.caches.stores.extend(worker.store for worker in self.workers)
        self.idle: SimpleQueue[SharedDocuments] = SimpleQueue()
        for worker in self.workers:
            self.idle.put(worker)
        self.threads = ThreadPool(1, connections, "mobwrite-shared")
        self.relay = PresenceRelay(hub, reactor, self._notify)
        self.relay.setServiceParent(self)
        # After the feed was lost every followed document may have changed unheard:
        # its followers sync once to find out.
        self.feed = ChangeFeed(settings.database, reactor, self.me, self.relay.heard,
                               lambda: hub.changed(frozenset(hub.subscriptions.followers), None))
        self.feed.setServiceParent(self)
        self.failing: str | None = None
        # Requests refused since the database went away (None while it is there).
        self.refused: int | None = None
        self.location = settings.database.rsplit("@", 1)[-1]
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
        location = self.location
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
               origin: Hashable = None, author: str | None = None,
               coarse: bool = False) -> defer.Deferred[bytes]:
        """The reply to *request*, once its transaction committed; with *may_write*
        false its edits never reach the masters; *author* signs its revisions.
        The documents it changed are then told to the listener with *origin*
        (other daemons hear of them through the change feed).  Its deltas are
        exact even for a client that takes *coarse* ones (nothing is pushed here)."""
        done = self._in_thread(self._run, request, self.reactor.seconds(), may_write, author)
        return done.addCallbacks(self._answered, self._failed, callbackArgs=(origin,))

    def push(self, views: Sequence[ViewKey],
             coarse: Collection[ViewKey] = ()) -> defer.Deferred[list[str | None]]:
        """No pushed deltas in shared mode (the views live in the database): every
        socket is sent notices, and syncs."""
        return defer.succeed([None] * len(views))

    def pushed(self, view: ViewKey, version: int) -> None:
        """Nothing was pushed (see ``push``)."""

    def _run(self, request: bytes, now: float, may_write: bool,
             author: str | None) -> tuple[bytes, list[str]]:
        """Run *request* on an idle worker; buffer fragments always on the first, which
        holds the daemon's unfinished buffers."""
        if _BUFFER.search(request):
            return self.workers[0].run(request, now, may_write, author)
        worker = self.idle.get()
        try:
            return worker.run(request, now, may_write, author)
        finally:
            self.idle.put(worker)

    def _notify(self, messages: list[str]) -> defer.Deferred[None]:
        """Send *messages* (presence) to the other daemons, in one round trip."""
        return self._in_thread(self._notify_now, [PRESENCE + self.me + " " + message
                                                  for message in messages])

    def _notify_now(self, payloads: list[str]) -> None:
        with self.pool.connection() as connection:
            connection.execute("SELECT pg_notify(%s, payload) FROM unnest(%s::text[]) AS payload",
                               (CHANNEL, payloads))

    def answer_api(self, call: Call, grant: Grant | None, now: float) -> defer.Deferred[Answer]:
        """The answer to an HTTP API call, once its transaction committed (a 503
        that changed nothing if it failed)."""
        done = self._in_thread(self._run_api, call, grant, now)
        return done.addCallbacks(self._answered, self._failed, callbackArgs=(None,)
                                 ).addErrback(self._api_failed)

    def _run_api(self, call: Call, grant: Grant | None, now: float) -> tuple[Answer, list[str]]:
        worker = self.idle.get()
        try:
            return worker.answer_api(call, grant, now)
        finally:
            self.idle.put(worker)

    @staticmethod
    def _api_failed(failure: Failure) -> Answer:
        if not failure.check(Unavailable):
            log.failure("answering an API call failed", failure)
            return error(500, "internal error; nothing was changed")
        return error(503, "the database cannot be reached; nothing was changed: try again")

    def _answered(self, result: tuple[T, list[str]], origin: Hashable) -> T:
        self.failing = None
        if self.refused is not None:
            log.info("storage: PostgreSQL at {location} answers again ({refused} requests "
                     "were refused meanwhile)", location=self.location, refused=self.refused)
            self.refused = None
        if result[1]:
            self.listener.changed(frozenset(result[1]), origin)
        return result[0]

    def _failed(self, failure: Failure) -> Failure:
        """A failed transaction: one that could not reach the database becomes
        ``Unavailable`` (logged once per outage, so no traceback per request)."""
        self.failing = failure.getErrorMessage()
        if not failure.check(psycopg.OperationalError, psycopg.InterfaceError):
            return failure
        if self.refused is None:
            self.refused = 0
            log.warn("storage: PostgreSQL at {location} cannot be reached ({error}); requests "
                     "are refused without acknowledgement until it answers again",
                     location=self.location, error=_first_line(self.failing))
        self.refused += 1
        return Failure(Unavailable("the database cannot be reached"))

    def failure(self) -> str | None:
        """Why the latest request's transaction failed, until one succeeds."""
        return self.failing

    def rows(self) -> defer.Deferred[Rows]:
        """Every stored row, from one snapshot of the database."""
        return self._in_thread(self._read_rows)

    def _read_rows(self) -> Rows:
        with self.pool.connection() as connection:
            return read_all(connection)

    def housekeeping(self) -> None:
        """Expire old views and unviewed documents, and prune old revisions (run now
        and then, on any daemon)."""
        self._in_thread(self._housekeeping, self.reactor.seconds()
                        ).addCallbacks(self._expired, self._not_expired)

    def _housekeeping(self, now: float) -> tuple[int, int, int]:
        worker = self.workers[0]
        return (*worker.expire(now, self.settings), worker.prune(now))

    def holdings(self) -> defer.Deferred[Shared]:
        """What this daemon holds, for its status page."""
        return self._in_thread(self._holdings)

    def _holdings(self) -> Shared:
        daemons = None
        try:
            with self.pool.connection() as connection:
                # Each daemon keeps one connection listening on the channel.
                counted = connection.execute(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                    "AND query = %s", (f"LISTEN {CHANNEL}",)).fetchone()
            daemons = None if counted is None else int(counted[0])
        except psycopg.Error:
            pass  # the page says the count is unknown
        return Shared(self.location, daemons, [
            document for worker in self.workers for document in list(worker.store.held.values())],
            self.caches.figures())

    def evict_idle(self) -> None:
        """Drop the cached texts no request used for CACHE_IDLE, in every worker
        (each in its turn, between its requests)."""
        self._in_thread(self._evict_idle, self.reactor.seconds()
                        ).addCallbacks(self._evicted, self._not_evicted)

    def _evict_idle(self, now: float) -> int:
        return sum(worker.evict_idle(now, self.settings.cache_idle) for worker in self.workers)

    def _evicted(self, count: int) -> None:
        if count:
            log.info("housekeeping: {idle} idle documents left memory after CACHE_IDLE; "
                     "{held} bytes held", idle=count, held=self.caches.figures().held_bytes)

    @staticmethod
    def _not_evicted(failure: Failure) -> None:
        log.failure("dropping idle documents from memory failed", failure)

    def _expired(self, counts: tuple[int, int, int]) -> None:
        if counts[:2] != (0, 0):
            log.info("housekeeping: {views} views and {documents} documents expired",
                     views=counts[0], documents=counts[1])
        if counts[2]:
            log.debug("housekeeping: old revisions of {documents} documents pruned",
                      documents=counts[2])

    def _not_expired(self, failure: Failure) -> None:
        if failure.check(psycopg.OperationalError):
            log.warn("housekeeping in PostgreSQL failed: {error}",
                     error=_first_line(failure.getErrorMessage()))
        else:
            log.failure("housekeeping in PostgreSQL failed", failure)


def _first_line(message: str) -> str:
    return message.strip().split("\n", 1)[0]


def _report(report: Report, event: Event, fields: dict[str, Any]) -> None:
    report(event, **fields)

