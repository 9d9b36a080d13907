"""Many daemons on one PostgreSQL database: each request is one transaction.

``SharedDocuments.run`` executes one request the way the embedded daemon
does, with the same engine, but over a store that fetches from the
database each document and view the engine asks for, the first time it
asks in the transaction: it first takes the document's advisory
transaction lock (so requests for one document run one at a time, on
whichever daemon), then reads the document's version and, only if the
cached text is of another version, its text, then the view's row.  The
changed rows are written, their documents' versions raised and a
notification sent on the channel ``mobwrite`` (delivered at commit), all
in the same transaction; the reply leaves only after it committed.

Views are not kept between requests (any daemon may have changed them);
texts are, with their version.  On any failure the transaction is rolled
back and every document it touched forgets its cached text, so what the
daemon holds is never trusted beyond what committed.  ``docs/postgresql.md``
explains why this can neither lose an edit nor let two daemons diverge.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

import psycopg
from psycopg import errors
from psycopg_pool import ConnectionPool

from mobwrite.core.engine import Engine
from mobwrite.core.events import Report, ignore
from mobwrite.core.store import Document, Store, View, ViewKey
from mobwrite.settings import Settings
from mobwrite.storage.postgres import decode, encode, view_row, write_views
from mobwrite.storage.rows import DocumentRow, snapshot

CHANNEL = "mobwrite"
# A transaction that lost a deadlock is run again, up to this many times.
ATTEMPTS = 3
# Texts cached at most; beyond, the cache starts again empty.
CACHED_DOCUMENTS = 1000

_DOCUMENT = """SELECT version, CASE WHEN version = %s THEN NULL ELSE body END, lasttime
    FROM mobwrite_documents WHERE name = %s"""
_VIEW = """SELECT username, name, shadow, backup_shadow, client_version, server_version,
    backup_server_version, edit_stack, lasttime FROM mobwrite_views
    WHERE name = %s AND username = %s"""
_VIEW_COLUMNS = """v.username, v.name, v.shadow, v.backup_shadow, v.client_version,
    v.server_version, v.backup_server_version, v.edit_stack, v.lasttime"""
# The document and one view in one round trip (either may be missing).
_DOCUMENT_AND_VIEW = f"""SELECT d.version, CASE WHEN d.version = %s THEN NULL ELSE d.body END,
    d.lasttime, {_VIEW_COLUMNS} FROM (SELECT 1) AS one
    LEFT JOIN mobwrite_documents d ON d.name = %s
    LEFT JOIN mobwrite_views v ON v.name = %s AND v.username = %s"""
# The write and its notification in one round trip.
_PUT = """WITH put AS (INSERT INTO mobwrite_documents (name, body, lasttime) VALUES (%s, %s, %s)
    ON CONFLICT (name) DO UPDATE SET body = excluded.body, lasttime = excluded.lasttime,
    version = mobwrite_documents.version + 1 RETURNING name, version)
    SELECT version, pg_notify(%s, name) FROM put"""
_DELETE = """WITH gone AS (DELETE FROM mobwrite_documents WHERE name = %s RETURNING name)
    SELECT pg_notify(%s, name) FROM gone"""


def lock_key(name: str) -> int:
    """The advisory lock of document *name*: 64 bits of its hash, signed."""
    digest = hashlib.blake2b(name.encode("utf-8", "surrogatepass"), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


class FetchingStore(Store):
    """A store that fetches each document and view from the transaction on first use."""

    def __init__(self, max_chars: int, fetch: Callable[[str, str | None], None]) -> None:
        # Revisions are not kept in shared mode (docs/history.md).
        super().__init__(max_chars, history=False)
        self.fetch = fetch
        # True while a request runs (inside its transaction).
        self.fetching = False

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


class SharedDocuments:
    """Runs requests, one at a time, each in its own transaction."""

    def __init__(self, pool: ConnectionPool[Any], settings: Settings,
                 report: Report = ignore) -> None:
        self.pool = pool
        self.store = FetchingStore(settings.max_chars, self._fetch)
        self.engine = Engine(self.store, settings, report)
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

    def run(self, request: bytes, now: float, may_write: bool = True) -> tuple[bytes, list[str]]:
        """The reply to *request* and the documents it changed, once committed."""
        with self.lock, self.pool.connection() as connection:
            for attempt in range(1, ATTEMPTS + 1):
                try:
                    return self._transaction(connection, request, now, may_write)
                except (errors.DeadlockDetected, errors.SerializationFailure):
                    if attempt == ATTEMPTS:
                        raise
                finally:
                    self._forget_views()
        raise AssertionError("unreachable")

    def _transaction(self, connection: psycopg.Connection[Any], request: bytes,
                     now: float, may_write: bool) -> tuple[bytes, list[str]]:
        self.connection = connection
        self.store.fetching = True
        try:
            with connection.transaction():
                body = self.engine.handle(request, now, may_write).body
                changed = self._write(connection)
            if self.locked_at is not None:
                self.held += time.perf_counter() - self.locked_at
            self.transactions += 1
            return body, changed
        except BaseException:
            # Nothing of this transaction is trusted: fetch it all again.
            for name in self.locked:
                self.versions.pop(name, None)
            raise
        finally:
            self.store.fetching = False
            self.connection = None
            self.locked_at = None
            self.locked.clear()

    def _fetch(self, name: str, user: str | None) -> None:
        connection = self.connection
        if connection is None:
            raise RuntimeError("the shared store was used outside a transaction")
        if name not in self.locked:
            if self.locked_at is None:
                self.locked_at = time.perf_counter()
            connection.execute("SELECT pg_advisory_xact_lock(%s)", (lock_key(name),))
            self.locked.add(name)
            document = self.store.documents.get(name)
            cached = self.versions.pop(name, -1) if document is not None else -1
            if user is not None:
                self.fetched.add((user, name))
                both = connection.execute(_DOCUMENT_AND_VIEW, (cached, name, name, user)).fetchone()
                assert both is not None
                self._document(name, document, None if both[0] is None else both[:3])
                self._view(both[3:])
                return
            self._document(name, document, connection.execute(_DOCUMENT, (cached, name)).fetchone())
        if user is not None and (user, name) not in self.fetched:
            self.fetched.add((user, name))
            self._view(connection.execute(_VIEW, (name, user)).fetchone())

    def _document(self, name: str, document: Document | None, row: Sequence[Any] | None) -> None:
        """Bring the cached *document* to the database's *row* (None: no such row)."""
        if row is None:
            if document is not None:
                self.store.add_document(name, None, document.lasttime)
            return
        version, body, lasttime = row
        if body is None and document is not None:
            document.lasttime = lasttime
        else:
            self.store.add_document(name, decode(body), lasttime)
        self.versions[name] = version

    def _view(self, found: Sequence[Any] | None) -> None:
        if found is None or found[0] is None:
            return
        row = view_row(found)
        self.store.add_view(row.user, row.name, row.lasttime, row.shadow, row.backup_shadow,
                            row.client_version, row.server_version,
                            row.backup_server_version, list(row.edit_stack))

    def _write(self, connection: psycopg.Connection[Any]) -> list[str]:
        """Write what the request changed; the names of the documents among it."""
        batch = snapshot(self.store, self.store.take_changes())
        changed = sorted(batch.documents)
        for name in changed:
            row: DocumentRow | None = batch.documents[name]
            if row is None:
                connection.execute(_DELETE, (name, CHANNEL))
                self.versions.pop(name, None)
            else:
                written = connection.execute(
                    _PUT, (name, encode(row.text), row.lasttime, CHANNEL)).fetchone()
                assert written is not None
                self.versions[name] = written[0]
        write_views(connection, batch)
        return changed

    def _forget_views(self) -> None:
        """Drop the request's views (the database has them) and, past the bound, the texts."""
        for key in list(self.store.views):
            self.store.discard_view(key)
        if len(self.store.documents) > CACHED_DOCUMENTS:
            for name in list(self.store.documents):
                self.store.remove_document(name)
            self.versions.clear()
        self.fetched.clear()
        self.store.take_changes()

    def expire(self, now: float, settings: Settings) -> tuple[int, int]:
        """Delete views and unviewed documents untouched too long: how many of each.
        The daemon's own memory forgets old cached texts and stale buffers too."""
        with self.lock:
            with self.pool.connection() as connection, connection.transaction():
                views = connection.execute(
                    "DELETE FROM mobwrite_views WHERE lasttime < %s",
                    (now - settings.timeout_view,))
                # TIMEOUT_TEXT 0 (the default, "never") keeps documents until deleted.
                documents = connection.execute(
                    """DELETE FROM mobwrite_documents d WHERE %s > 0 AND lasttime < %s
                    AND NOT EXISTS (SELECT 1 FROM mobwrite_views v WHERE v.name = d.name)""",
                    (settings.timeout_text, now - settings.timeout_text))
            for kind, name in self.store.expire(now, settings.timeout_view,
                                                settings.timeout_text, settings.timeout_buffer):
                if kind == "document":
                    self.versions.pop(name, None)
            self.store.take_changes()
            return views.rowcount, documents.rowcount


def listen(url: str, on_change: Callable[[str], None], stopping: threading.Event,
           on_error: Callable[[Exception], None], poll: float = 0.5) -> None:
    """Call *on_change* with the name of each document any daemon changed, until
    *stopping* is set; a lost connection is reported and made again."""
    while not stopping.is_set():
        try:
            with psycopg.connect(url, autocommit=True) as connection:
                connection.execute(f"LISTEN {CHANNEL}")
                while not stopping.is_set():
                    for notice in connection.notifies(timeout=poll):
                        on_change(notice.payload)
        except psycopg.Error as error:
            on_error(error)
            stopping.wait(1.0)
