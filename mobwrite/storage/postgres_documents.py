"""Many daemons on one PostgreSQL database: each request is one transaction.

``SharedDocuments.run`` executes one request the way the embedded daemon
does, with the same engine, but over a store that fetches from the
database each document and view the engine asks for, the first time it
asks in the transaction: it first takes the document's advisory
transaction lock (so requests for one document run one at a time, on
whichever daemon), then reads the document's version and, only if the
cached text is of another version, its text and its revision log's tail,
then the view's row.  The changed rows and the revisions the changes made
are written, their documents' versions raised and a notification sent on
the channel ``mobwrite`` (delivered at commit), all in the same
transaction, in pipeline mode: two round trips, ``BEGIN`` going with the
first lock and read, ``COMMIT`` with the writes; the reply leaves only
after it committed.
HTTP API calls run the same way (``answer_api``).

Views are not kept between requests (any daemon may have changed them);
texts are, with their version and their log's tail, within the worker's
share of MAX_MEMORY (least recently used dropped first: the database holds
them) and until idle for CACHE_IDLE.  On any failure the transaction is
rolled back and every document it touched forgets its cached text, so what
the daemon holds is never trusted beyond what committed.
``docs/postgresql.md`` explains why this can neither lose an edit nor let
two daemons diverge.
"""

from __future__ import annotations

import hashlib
import math
import select
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from functools import partial
from typing import Any, TypeVar

import psycopg
from psycopg import errors, pq
from psycopg_pool import ConnectionPool

from mobwrite.core.access import Grant
from mobwrite.core.api import Answer, Api, Call
from mobwrite.core.cache import StoredUse
from mobwrite.core.engine import Engine
from mobwrite.core.events import Report, ignore
from mobwrite.core.revisions import RevisionError, RevisionLog, RevisionRow
from mobwrite.core.store import Document, Store, View, ViewKey
from mobwrite.logs import logger
from mobwrite.settings import Settings
from mobwrite.storage.postgres import (
    decode,
    encode,
    read_logs,
    revision_row,
    view_row,
    write_history,
    write_views,
)
from mobwrite.storage.postgres_space import StoredSpace
from mobwrite.storage.rows import DocumentRow, snapshot

log = logger("storage")

CHANNEL = "mobwrite"
# A transaction that lost a deadlock is run again, up to this many times.
ATTEMPTS = 3
# Documents whose old revisions one housekeeping pass prunes at most.
PRUNED_PER_PASS = 100
# A notification's payload: a letter for its kind, the sending daemon's id, a
# space, then the changed document's name (CHANGE) or a presence message.
CHANGE, PRESENCE = "c", "p"

# A document's version, its text and revision log's tail (only if the cached
# text is of another version: the newest revision and newest snapshot's number).
_COLUMNS = """d.version, CASE WHEN d.version = %(cached)s THEN NULL ELSE d.body END,
    d.lasttime, d.started, r.number, r.time, r.author, r.kind, r.change, s.number"""
_TAIL = """LEFT JOIN LATERAL (SELECT number, time, author, kind, change
        FROM mobwrite_revisions WHERE name = d.name AND d.version <> %(cached)s
        ORDER BY number DESC LIMIT 1) r ON true
    LEFT JOIN LATERAL (SELECT max(number) AS number FROM mobwrite_snapshots
        WHERE name = d.name AND d.version <> %(cached)s) s ON true"""
_DOCUMENT = f"SELECT {_COLUMNS} FROM mobwrite_documents d {_TAIL} WHERE d.name = %(name)s"
_VIEW = """SELECT username, name, shadow, backup_shadow, client_version, server_version,
    backup_server_version, edit_stack, lasttime FROM mobwrite_views
    WHERE name = %s AND username = %s"""
_VIEW_COLUMNS = """v.username, v.name, v.shadow, v.backup_shadow, v.client_version,
    v.server_version, v.backup_server_version, v.edit_stack, v.lasttime"""
# The document and one view in one round trip (either may be missing).
_DOCUMENT_AND_VIEW = f"""SELECT {_COLUMNS}, {_VIEW_COLUMNS} FROM (SELECT 1) AS one
    LEFT JOIN mobwrite_documents d ON d.name = %(name)s {_TAIL}
    LEFT JOIN mobwrite_views v ON v.name = %(name)s AND v.username = %(user)s"""
# The write and its notification in one round trip; the version is the new row's,
# the sequence's next, never reused (schema 4).
_PUT = """WITH put AS (INSERT INTO mobwrite_documents (name, body, lasttime, started)
    VALUES (%s, %s, %s, %s)
    ON CONFLICT (name) DO UPDATE SET body = excluded.body, lasttime = excluded.lasttime,
    started = excluded.started, version = excluded.version
    RETURNING name, version)
    SELECT version, pg_notify(%s, %s || name) FROM put"""
_DELETE = """WITH gone AS (DELETE FROM mobwrite_documents WHERE name = %s RETURNING name)
    SELECT pg_notify(%s, %s || name) FROM gone"""
_NAMES = """SELECT name FROM mobwrite_documents WHERE name > %s AND starts_with(name, %s)
    ORDER BY name LIMIT 200"""

T = TypeVar("T")


def shared_pool(url: str, size: int, timeout: float) -> ConnectionPool[Any]:
    """A closed pool of *size* autocommit connections to *url* for the workers, each
    checked before it is lent (``check_quietly``); *timeout*: how long a request waits
    for one.  All are opened with the pool: one opened on demand would make the first
    requests under load wait for a new server process."""
    return ConnectionPool(url, min_size=size, max_size=size, open=False, timeout=timeout,
                          kwargs={"autocommit": True}, check=check_quietly)


def check_quietly(connection: psycopg.Connection[Any]) -> None:
    """Raise if *connection* is broken, with no round trip while it looks sound.

    An idle connection of ours hears nothing from the server unless its session ended
    (a shutdown, a restart, a terminated backend: the server says why, then closes),
    or a setting changed; only then is it checked with an empty statement, which
    raises if it is gone.  A request on a connection that breaks later fails as
    any other failed transaction does.
    """
    if connection.pgconn.status != pq.ConnStatus.OK or _heard(connection.fileno()):
        ConnectionPool.check_connection(connection)


def _heard(descriptor: int) -> bool:
    """Whether socket *descriptor* has something to read (or was closed), now."""
    poller = select.poll()
    poller.register(descriptor, select.POLLIN)
    return bool(poller.poll(0))


def lock_key(name: str) -> int:
    """The advisory lock of document *name*: 64 bits of its hash, signed."""
    digest = hashlib.blake2b(name.encode("utf-8", "surrogatepass"), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


class FetchedDocuments(Mapping[str, Document]):
    """The store's documents, each looked up fetched first while a request runs."""

    def __init__(self, store: FetchingStore, documents: Mapping[str, Document]) -> None:
        self.store = store
        self.held = documents

    def __getitem__(self, name: str) -> Document:
        if self.store.fetching:
            self.store.fetch(name, None)
        return self.held[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self.held)

    def __len__(self) -> int:
        return len(self.held)


class FetchingStore(Store):
    """A store that fetches each document and view from the transaction on first use.

    A fetched document's revision log is only its tail (``RevisionLog.tail``,
    enough to append to) until something reads its revisions: the whole log
    is then loaded by *load_log*.  Every document may leave memory (between
    requests everything held is in the database); *max_memory* and
    *storage_use* are the store's.
    """

    def __init__(self, max_chars: int, keep: float | None,
                 fetch: Callable[[str, str | None], None],
                 load_log: Callable[[str], None], max_memory: int = 0, max_stored: int = 0,
                 storage_use: Callable[[], StoredUse] | None = None) -> None:
        super().__init__(max_chars, keep=keep, max_memory=max_memory, max_stored=max_stored,
                         storage_use=storage_use)
        self.evictable = True
        self.fetch = fetch
        self.load_log = load_log
        # True while a request runs (inside its transaction).
        self.fetching = False
        # The documents whose log is only its tail.
        self.tails: set[str] = set()
        # The time of the running request, and when each document held was last used.
        self.now = 0.0
        self.used_at: dict[str, float] = {}
        # The documents held, without fetching.
        self.held = self.documents
        self.documents = FetchedDocuments(self, self.held)

    def document(self, name: str, now: float) -> Document:
        self.fetch(name, None)
        return super().document(name, now)

    def find_view(self, user: str, name: str) -> View | None:
        self.fetch(name, user)
        return super().find_view(user, name)

    def create_view(self, user: str, name: str, now: float) -> View:
        self.fetch(name, user)
        return super().create_view(user, name, now)

    def discard_view(self, key: ViewKey) -> None:
        # Only outside a transaction (forgetting views after one) is nothing fetched.
        if self.fetching:
            self.fetch(key[1], key[0])
        super().discard_view(key)

    def revisions(self, name: str, whole: bool = True) -> RevisionLog | None:
        if self.fetching:
            self.fetch(name, None)
            if name in self.held:
                # In use: it may not leave memory while the request runs.
                self._use(name)
            if whole and name in self.tails:
                self.tails.discard(name)
                self.load_log(name)
        return super().revisions(name, whole)

    def put_log(self, name: str, log: RevisionLog | None, tail: bool) -> None:
        """Hold *log* (a stored one: no change recorded) as document *name*'s."""
        self.tails.discard(name)
        if log is None:
            self._logs.pop(name, None)
            self._log_charges.pop(name, None)
            self.held_bytes -= self._log_held.pop(name, 0)
            return
        self.add_log(name, log)
        if tail:
            self.tails.add(name)

    def open_since(self, name: str) -> float | None:
        """When document *name*'s last revision began, while edits may fold into it."""
        log = self._logs.get(name)
        return None if log is None else log.open_since

    def _use(self, name: str) -> None:
        super()._use(name)
        # Views are not kept, so a document's last use is the store's to remember.
        self.used_at[name] = self.now

    def _forget(self, document: Document) -> None:
        super()._forget(document)
        self.used_at.pop(document.name, None)
        self.tails.discard(document.name)

    def evict_idle(self, now: float, idle: float) -> list[str]:
        """Let go of the documents no request has used for *idle* seconds."""
        cutoff = now - idle
        return self.evict([name for name, used in self.used_at.items() if used < cutoff])


class SharedDocuments:
    """Runs requests, one at a time, each in its own transaction.

    *sender* (the daemon's id) starts the payload of every notification the
    worker sends, so that the daemon knows its own changes when it hears them.
    Its cached texts hold at most *max_memory* bytes (None: MAX_MEMORY);
    *space* is what the database holds, for MAX_STORED.
    """

    def __init__(self, pool: ConnectionPool[Any], settings: Settings,
                 report: Report = ignore, sender: str = "", max_memory: int | None = None,
                 space: StoredSpace | None = None) -> None:
        self.pool = pool
        keep = None if math.isinf(settings.history_keep) else settings.history_keep
        self.keep = keep
        self.space = StoredSpace() if space is None else space
        self.store = FetchingStore(
            settings.max_chars, keep, self._fetch, self._load_log,
            settings.max_memory if max_memory is None else max_memory,
            settings.max_stored, self._stored_use)
        self.engine = Engine(self.store, settings, report)
        self.api = Api(self.store, self.engine.differ, settings.max_name_bytes, Listing(self))
        self.notice = CHANGE + sender + " "
        # The version of each cached text.
        self.versions: dict[str, int] = {}
        self.connection: psycopg.Connection[Any] | None = None
        self.locked: set[str] = set()
        self.fetched: set[tuple[str, str]] = set()
        self.lock = threading.Lock()
        self.transactions = 0
        # Seconds the committed transactions held document locks, in all.
        self.held = 0.0
        self.locked_at: float | None = None

    def run(self, request: bytes, now: float, may_write: bool = True,
            author: str | None = None) -> tuple[bytes, list[str]]:
        """The reply to *request* and the documents it changed, once committed."""
        self.store.now = now
        return self.execute(lambda: self.engine.handle(request, now, may_write, author).body)

    def answer_api(self, call: Call, grant: Grant | None, now: float) -> tuple[Answer, list[str]]:
        """The answer to an HTTP API call and the documents it changed, once committed."""
        self.store.now = now
        return self.execute(lambda: self.api.answer(call, grant, now))

    def execute(self, work: Callable[[], T]) -> tuple[T, list[str]]:
        """What *work* returns, run over the store in one transaction that then
        writes what it changed and commits; and the documents it changed."""
        with self.lock, self.pool.connection() as connection:
            for attempt in range(1, ATTEMPTS + 1):
                try:
                    return self._transaction(connection, work)
                except (errors.DeadlockDetected, errors.SerializationFailure):
                    if attempt == ATTEMPTS:
                        raise
                finally:
                    self._forget_views()
        raise AssertionError("unreachable")

    def _transaction(self, connection: psycopg.Connection[Any],
                     work: Callable[[], T]) -> tuple[T, list[str]]:
        self.connection = connection
        self.store.fetching = True
        try:
            # Two round trips: BEGIN goes with the first lock and read, COMMIT with the
            # writes, in one pipeline (psycopg's transaction() would add two more).
            with connection.pipeline():
                connection.execute("BEGIN")
                result = work()
                changed, written = self._write(connection)
                connection.execute("COMMIT")
            for name, cursor in written:
                version = cursor.fetchone()
                assert version is not None
                self.versions[name] = version[0]
            if self.locked_at is not None:
                self.held += time.perf_counter() - self.locked_at
            self.transactions += 1
            return result, changed
        except BaseException:
            # Nothing of this transaction is trusted: fetch it all again.
            for name in self.locked:
                self.versions.pop(name, None)
            _roll_back(connection)
            raise
        finally:
            self.store.fetching = False
            self.connection = None
            self.locked_at = None
            self.locked.clear()

    def _fetch(self, name: str, user: str | None) -> None:
        connection = self._connection()
        if name not in self.locked:
            if self.locked_at is None:
                self.locked_at = time.perf_counter()
            connection.execute("SELECT pg_advisory_xact_lock(%s)", (lock_key(name),))
            self.locked.add(name)
            document = self.store.held.get(name)
            cached = self.versions.pop(name, -1) if document is not None else -1
            if user is not None:
                self.fetched.add((user, name))
                both = connection.execute(
                    _DOCUMENT_AND_VIEW, {"cached": cached, "name": name, "user": user}
                ).fetchone()
                assert both is not None
                self._document(name, document, None if both[0] is None else both[:10])
                self._view(both[10:])
                return
            self._document(name, document, connection.execute(
                _DOCUMENT, {"cached": cached, "name": name}).fetchone())
        if user is not None and (user, name) not in self.fetched:
            self.fetched.add((user, name))
            self._view(connection.execute(_VIEW, (name, user)).fetchone())

    def _connection(self) -> psycopg.Connection[Any]:
        if self.connection is None:
            raise RuntimeError("the shared store was used outside a transaction")
        return self.connection

    def _document(self, name: str, document: Document | None, row: Sequence[Any] | None) -> None:
        """Bring the cached *document* to the database's *row* (None: no such row)."""
        if row is None:
            self.store.counts.loads += 1
            self.store.counts.misses += 1
            if document is not None:
                self.store.add_document(name, None, document.lasttime)
                self.store.put_log(name, None, tail=False)
            return
        version, body, lasttime, started, number, when, author, kind, change, snapshot = row
        if body is None and document is not None:
            # The cached text, and its log, are the database's.
            document.lasttime = lasttime
        else:
            self.store.counts.loads += 1
            text = decode(body)
            self.store.add_document(name, text, lasttime)
            self.store.put_log(name, self._tail(name, text, started, snapshot, None if (
                number is None) else revision_row((number, when, author, kind, change))),
                tail=True)
        self.versions[name] = version

    @staticmethod
    def _tail(name: str, text: str, started: float | None, snapshot: int | None,
              last: RevisionRow | None) -> RevisionLog | None:
        """The tail of document *name*'s stored log (None if it has none)."""
        if snapshot is None:
            return None
        try:
            return RevisionLog.tail(text, last, snapshot if last is None else last.number,
                                    snapshot, started)
        except RevisionError as error:
            log.warn("the revisions of document {name} are damaged ({error}); "
                     "its history starts again at its next change", name=name, error=str(error))
            return None

    def _load_log(self, name: str) -> None:
        """Replace the tail of document *name*'s log by the whole stored log."""
        tail = self.store.revisions(name)
        stored = read_logs(self._connection(), name).get(name)
        if tail is None or stored is None:
            return
        try:
            whole = RevisionLog.from_rows(stored.revisions.values(), stored.snapshots.values(),
                                          open_since=tail.open_since)
        except RevisionError as error:
            log.warn("the revisions of document {name} are damaged ({error})",
                     name=name, error=str(error))
            return
        self.store.put_log(name, whole, tail=False)

    def _view(self, found: Sequence[Any] | None) -> None:
        if found is None or found[0] is None:
            return
        row = view_row(found)
        self.store.add_view(row.user, row.name, row.lasttime, row.shadow, row.backup_shadow,
                            row.client_version, row.server_version,
                            row.backup_server_version, list(row.edit_stack))

    def _write(self, connection: psycopg.Connection[Any]
               ) -> tuple[list[str], list[tuple[str, psycopg.Cursor[Any]]]]:
        """Write what the request changed: the names of the documents among it, and
        the cursors that will hold the new versions of those written (once the
        pipeline is synchronised)."""
        batch = snapshot(self.store, self.store.take_changes())
        changed = sorted(batch.documents)
        written = []
        for name in changed:
            row: DocumentRow | None = batch.documents[name]
            if row is None:
                connection.execute(_DELETE, (name, CHANNEL, self.notice))
                self.versions.pop(name, None)
            else:
                written.append((name, connection.execute(_PUT, (
                    name, encode(row.text), row.lasttime, self.store.open_since(name),
                    CHANNEL, self.notice))))
        write_views(connection, batch, pipelined=True)
        write_history(connection, batch.history)
        return changed, written

    def _forget_views(self) -> None:
        """Drop the request's views (the database has them) and, past the store's
        share of MAX_MEMORY, the least recently used texts."""
        store = self.store
        for key in list(store.views):
            store.discard_view(key)
        self.fetched.clear()
        # Committed or rolled back: nothing held is waiting to be written.
        store.take_changes()
        store.stored()
        store.shrink()
        self._forget_evicted()

    def _forget_evicted(self) -> None:
        for name in self.store.take_evicted():
            self.versions.pop(name, None)

    def _stored_use(self) -> StoredUse:
        """What the database holds now, read in the running transaction."""
        return self.space.current(self._connection())

    def evict_idle(self, now: float, idle: float) -> int:
        """Drop the texts no request used for *idle* seconds: how many."""
        with self.lock:
            gone = self.store.evict_idle(now, idle)
            self._forget_evicted()
            return len(gone)

    def expire(self, now: float, settings: Settings) -> tuple[int, int]:
        """Delete views and unviewed documents untouched too long: how many of each.
        The daemon's own memory forgets old cached texts and stale buffers too,
        and the documents stored are counted."""
        with self.lock:
            with self.pool.connection() as connection, connection.transaction():
                views = connection.execute(
                    "DELETE FROM mobwrite_views WHERE lasttime < %s",
                    (now - settings.timeout_view,))
                # TIMEOUT_TEXT 0 (the default, "never") keeps documents until deleted;
                # their revisions go with them (ON DELETE CASCADE).
                documents = connection.execute(
                    """DELETE FROM mobwrite_documents d WHERE %s > 0 AND lasttime < %s
                    AND NOT EXISTS (SELECT 1 FROM mobwrite_views v WHERE v.name = d.name)""",
                    (settings.timeout_text, now - settings.timeout_text))
                self.space.count(connection)
            for kind, name in self.store.expire(now, settings.timeout_view,
                                                settings.timeout_text, settings.timeout_buffer):
                if kind == "document":
                    self.versions.pop(name, None)
            self.store.take_changes()
            self.store.stored()
            return views.rowcount, documents.rowcount

    def prune(self, now: float) -> int:
        """Drop the revisions older than HISTORY_KEEP, of up to PRUNED_PER_PASS
        documents: how many documents had some."""
        if self.keep is None:
            return 0
        with self.lock, self.pool.connection() as connection:
            names = [found[0] for found in connection.execute(
                "SELECT DISTINCT name FROM mobwrite_revisions WHERE time <= %s LIMIT %s",
                (now - self.keep, PRUNED_PER_PASS))]
        for name in names:
            self.execute(partial(self._prune, name, now))
        return len(names)

    def _prune(self, name: str, now: float) -> None:
        """Prune document *name*'s log, in the running transaction."""
        revisions = self.store.revisions(name)
        pruned = None if revisions is None else revisions.prune(now, self.keep)
        if pruned is None:
            return
        connection = self._connection()
        write_history(connection, [(name, pruned)])
        # A new version: every daemon's cached copy of the log is stale.
        raised = connection.execute(
            "UPDATE mobwrite_documents SET version = nextval('mobwrite_versions') "
            "WHERE name = %s RETURNING version", (name,)).fetchone()
        if raised is not None:
            self.versions[name] = raised[0]


def _roll_back(connection: psycopg.Connection[Any]) -> None:
    """End the failed transaction left open on *connection*, if any (a statement failed,
    or the request did before COMMIT was sent); a broken connection is left for the
    pool to discard."""
    if connection.info.transaction_status == pq.TransactionStatus.IDLE:
        return
    try:
        connection.execute("ROLLBACK")
    except psycopg.Error:
        pass


class Listing:
    """The API's catalog in the database, read in the running transaction."""

    def __init__(self, documents: SharedDocuments) -> None:
        self.documents = documents

    def names(self, prefix: str, after: str) -> Iterator[str]:
        while True:
            found = [row[0] for row in self.documents._connection().execute(
                _NAMES, (after, prefix))]
            yield from found
            if not found:
                return
            after = found[-1]

    def views(self, name: str) -> int:
        counted = self.documents._connection().execute(
            "SELECT count(*) FROM mobwrite_views WHERE name = %s", (name,)).fetchone()
        return 0 if counted is None else int(counted[0])


Notice = Callable[[str, str, str], None]


def listen(url: str, on_notice: Notice, stopping: threading.Event,
           on_error: Callable[[Exception], None], on_listening: Callable[[], None],
           poll: float = 0.5) -> None:
    """Call *on_notice* with the kind (CHANGE or PRESENCE), the sender and the
    body of each notification any daemon sent, until *stopping* is set; a lost
    connection is reported, made again, and *on_listening* called once it is."""
    while not stopping.is_set():
        try:
            with psycopg.connect(url, autocommit=True) as connection:
                connection.execute(f"LISTEN {CHANNEL}")
                on_listening()
                while not stopping.is_set():
                    for notice in connection.notifies(timeout=poll):
                        head, _, body = notice.payload.partition(" ")
                        on_notice(head[:1], head[1:], body)
        except psycopg.Error as error:
            on_error(error)
            stopping.wait(1.0)
