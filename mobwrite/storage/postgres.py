"""Storage in a PostgreSQL database (``--database postgresql://...``).

The daemon creates its tables itself and records the schema's version in
``mobwrite_schema``; a database written by an older mobwrite is upgraded
at start-up, in one transaction, under an advisory lock so that daemons
starting together upgrade it once.  Texts are stored as UTF-8 bytes with
lone surrogates passed through (``bytea``: a PostgreSQL ``text`` can hold
neither a lone surrogate nor a NUL), so every string comes back exactly.

A batch is written in one transaction, and ``write`` returns only once it
has committed: PostgreSQL's commit is the durability, so replies wait for
it (``waits_for_disk``).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable, Sequence
from typing import Any

import psycopg
from psycopg_pool import ConnectionPool

from mobwrite.core.revisions import Pruned, RevisionRow, SnapshotRow
from mobwrite.core.store import Store
from mobwrite.storage.contract import Opened
from mobwrite.storage.rows import (
    Batch,
    DocumentRow,
    HistoryChange,
    Rows,
    StorageError,
    StoredDocument,
    StoredLog,
    ViewRow,
    put,
    up_to,
)

# Each entry upgrades the schema by one version; the daemon runs those the
# database has not seen.  Never edit an entry once released: add one.
MIGRATIONS: tuple[tuple[str, ...], ...] = (
    (
        """CREATE TABLE mobwrite_documents (
            name text PRIMARY KEY,
            body bytea NOT NULL,
            lasttime double precision NOT NULL)""",
        """CREATE TABLE mobwrite_views (
            name text NOT NULL,
            username text NOT NULL,
            shadow bytea NOT NULL,
            backup_shadow bytea NOT NULL,
            client_version bigint NOT NULL,
            server_version bigint NOT NULL,
            backup_server_version bigint NOT NULL,
            edit_stack text NOT NULL,
            lasttime double precision NOT NULL,
            PRIMARY KEY (name, username))""",
    ),
    # 2: each document's version, raised by every write, for the daemons' caches.
    ("ALTER TABLE mobwrite_documents ADD COLUMN version bigint NOT NULL DEFAULT 1",),
    # 3: revision logs (docs/history.md), removed with their document; ``started``
    # is when a document's last revision began while edits may fold into it.
    (
        "ALTER TABLE mobwrite_documents ADD COLUMN started double precision",
        """CREATE TABLE mobwrite_revisions (
            name text NOT NULL REFERENCES mobwrite_documents ON DELETE CASCADE,
            number bigint NOT NULL,
            time double precision NOT NULL,
            author bytea NOT NULL,
            kind text NOT NULL,
            change bytea NOT NULL,
            PRIMARY KEY (name, number))""",
        "CREATE INDEX mobwrite_revisions_time ON mobwrite_revisions (time)",
        """CREATE TABLE mobwrite_snapshots (
            name text NOT NULL REFERENCES mobwrite_documents ON DELETE CASCADE,
            number bigint NOT NULL,
            body bytea NOT NULL,
            PRIMARY KEY (name, number))""",
    ),
    # 4: versions drawn from one sequence, so never reused for a name, not even by a
    # document deleted and made again (a daemon caching the old one would trust it);
    # the sequence starts past every version stored.
    (
        "CREATE SEQUENCE mobwrite_versions",
        """SELECT setval('mobwrite_versions',
            (SELECT coalesce(max(version), 0) + 1 FROM mobwrite_documents), false)""",
        """ALTER TABLE mobwrite_documents
            ALTER COLUMN version SET DEFAULT nextval('mobwrite_versions')""",
    ),
)
SCHEMA_VERSION = len(MIGRATIONS)
# The advisory lock key that serialises schema upgrades ("mobw" in ASCII).
_UPGRADE_LOCK = 0x6D6F6277

_DOCUMENTS = "SELECT name, body, lasttime FROM mobwrite_documents"
_VIEWS = """SELECT username, name, shadow, backup_shadow, client_version, server_version,
    backup_server_version, edit_stack, lasttime FROM mobwrite_views"""
# A written document's version is the new row's: the sequence's next (schema 4).
_PUT_DOCUMENT = """INSERT INTO mobwrite_documents (name, body, lasttime) VALUES (%s, %s, %s)
    ON CONFLICT (name) DO UPDATE SET body = excluded.body, lasttime = excluded.lasttime,
    version = excluded.version"""
_REVISIONS = "SELECT name, number, time, author, kind, change FROM mobwrite_revisions"
_SNAPSHOTS = "SELECT name, number, body FROM mobwrite_snapshots"
_PUT_REVISION = """INSERT INTO mobwrite_revisions (name, number, time, author, kind, change)
    VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (name, number) DO UPDATE SET
    time = excluded.time, author = excluded.author, kind = excluded.kind,
    change = excluded.change"""
_PUT_SNAPSHOT = """INSERT INTO mobwrite_snapshots (name, number, body) VALUES (%s, %s, %s)
    ON CONFLICT (name, number) DO UPDATE SET body = excluded.body"""
_DELETE_VIEW = "DELETE FROM mobwrite_views WHERE name = %s AND username = %s"
_PUT_VIEW = """INSERT INTO mobwrite_views (username, name, shadow, backup_shadow,
    client_version, server_version, backup_server_version, edit_stack, lasttime)
    VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)
    ON CONFLICT (name, username) DO UPDATE SET shadow = excluded.shadow,
    backup_shadow = excluded.backup_shadow, client_version = excluded.client_version,
    server_version = excluded.server_version,
    backup_server_version = excluded.backup_server_version,
    edit_stack = excluded.edit_stack, lasttime = excluded.lasttime"""


def encode(text: str) -> bytes:
    # surrogatepass: a lone surrogate must not make a commit fail forever.
    return text.encode("utf-8", "surrogatepass")


def decode(body: bytes) -> str:
    return body.decode("utf-8", "surrogatepass")


def is_database_url(value: str) -> bool:
    """Whether *value* names a PostgreSQL database (the URL forms libpq accepts)."""
    return value.startswith(("postgresql://", "postgres://"))


def document_row(row: Sequence[Any]) -> DocumentRow:
    name, body, lasttime = row
    return DocumentRow(name, decode(body), lasttime)


def view_row(row: Sequence[Any]) -> ViewRow:
    user, name, shadow, backup, client, server, backup_server, stack, lasttime = row
    return ViewRow(user, name, decode(shadow), decode(backup), client, server, backup_server,
                   tuple((version, delta) for version, delta in json.loads(stack)), lasttime)


def revision_row(row: Sequence[Any]) -> RevisionRow:
    """A revision row as read (without its document's name)."""
    number, time, author, kind, change = row
    return RevisionRow(number, time, decode(author), kind, decode(change))


def snapshot_row(row: Sequence[Any]) -> SnapshotRow:
    """A snapshot row as read (without its document's name)."""
    number, body = row
    return SnapshotRow(number, decode(body))


def read_logs(connection: psycopg.Connection[Any], name: str | None = None
              ) -> dict[str, StoredLog]:
    """The revision logs' rows, of document *name* or of all, by document."""
    where, parameters = ("", ()) if name is None else (" WHERE name = %s", (name,))
    logs: dict[str, StoredLog] = {}
    for found in connection.execute(_REVISIONS + where, parameters):
        logs.setdefault(found[0], StoredLog()).revisions[found[1]] = revision_row(found[1:])
    for found in connection.execute(_SNAPSHOTS + where, parameters):
        logs.setdefault(found[0], StoredLog()).snapshots[found[1]] = snapshot_row(found[1:])
    return logs


def write_history(connection: psycopg.Connection[Any], changes: Iterable[HistoryChange]) -> None:
    """Apply the revision log *changes*, in order, in the current transaction
    (after the documents they belong to were written)."""
    for name, change in changes:
        if change is None:
            connection.execute("DELETE FROM mobwrite_revisions WHERE name = %s", (name,))
            connection.execute("DELETE FROM mobwrite_snapshots WHERE name = %s", (name,))
            continue
        if isinstance(change, Pruned):
            connection.execute("DELETE FROM mobwrite_revisions WHERE name = %s AND number <= %s",
                               (name, change.base))
            connection.execute("DELETE FROM mobwrite_snapshots WHERE name = %s AND number < %s",
                               (name, change.base))
        else:
            connection.execute(_PUT_REVISION, revision_values(name, change.row))
        if change.snapshot is not None:
            connection.execute(_PUT_SNAPSHOT, snapshot_values(name, change.snapshot))


def upgrade(connection: psycopg.Connection[Any]) -> int:
    """Bring the schema to ``SCHEMA_VERSION``; the version found before."""
    with connection.transaction():
        connection.execute("SELECT pg_advisory_xact_lock(%s)", (_UPGRADE_LOCK,))
        connection.execute(
            "CREATE TABLE IF NOT EXISTS mobwrite_schema (version integer NOT NULL)")
        found = connection.execute("SELECT max(version) FROM mobwrite_schema").fetchone()
        version = found[0] if found is not None and found[0] is not None else 0
        if version > SCHEMA_VERSION:
            raise StorageError(
                f"the database holds schema version {version}, newer than this mobwrite's "
                f"{SCHEMA_VERSION}: run a newer mobwrite, or give another --database")
        for statements in MIGRATIONS[version:]:
            for statement in statements:
                connection.execute(statement)
        if version < SCHEMA_VERSION:
            connection.execute("DELETE FROM mobwrite_schema")
            connection.execute("INSERT INTO mobwrite_schema VALUES (%s)", (SCHEMA_VERSION,))
    return version


def write_rows(connection: psycopg.Connection[Any], batch: Batch) -> None:
    """Apply *batch* in the connection's current transaction."""
    with connection.cursor() as cursor:
        gone = [(name,) for name, row in batch.documents.items() if row is None]
        if gone:
            cursor.executemany("DELETE FROM mobwrite_documents WHERE name = %s", gone)
        documents = [document_values(row) for row in batch.documents.values()
                     if row is not None]
        if documents:
            cursor.executemany(_PUT_DOCUMENT, documents)
    write_views(connection, batch)
    write_history(connection, batch.history)


def write_views(connection: psycopg.Connection[Any], batch: Batch,
                pipelined: bool = False) -> None:
    """Apply the view rows of *batch* in the connection's current transaction; with
    *pipelined* (the connection is in pipeline mode) one statement per row, each only
    queued, which costs less than ``executemany``'s own pipeline."""
    gone = [(name, user) for (user, name), row in batch.views.items() if row is None]
    views = [view_values(row) for row in batch.views.values() if row is not None]
    for statement, rows in ((_DELETE_VIEW, gone), (_PUT_VIEW, views)):
        if pipelined:
            for parameters in rows:
                connection.execute(statement, parameters)
        elif rows:
            with connection.cursor() as cursor:
                cursor.executemany(statement, rows)


def document_values(row: DocumentRow) -> tuple[Any, ...]:
    """The parameters of ``_PUT_DOCUMENT`` that write *row*."""
    return (row.name, encode(row.text), row.lasttime)


def revision_values(name: str, row: RevisionRow) -> tuple[Any, ...]:
    """The parameters of ``_PUT_REVISION`` that write *row* of document *name*'s log."""
    number, time, author, kind, change = row
    return (name, number, time, encode(author), kind, encode(change))


def snapshot_values(name: str, row: SnapshotRow) -> tuple[Any, ...]:
    """The parameters of ``_PUT_SNAPSHOT`` that write *row* of document *name*'s log."""
    return (name, row.number, encode(row.text))


def view_values(row: ViewRow) -> tuple[Any, ...]:
    """The parameters of ``_PUT_VIEW`` that write *row*."""
    return (row.user, row.name, encode(row.shadow), encode(row.backup_shadow),
            row.client_version, row.server_version, row.backup_server_version,
            json.dumps([list(entry) for entry in row.edit_stack]), row.lasttime)


def read_document(connection: psycopg.Connection[Any], name: str) -> StoredDocument | None:
    """Document *name* and its views as the connection's transaction sees them."""
    found = connection.execute(_DOCUMENTS + " WHERE name = %s", (name,)).fetchone()
    views = tuple(view_row(row) for row in connection.execute(
        _VIEWS + " WHERE name = %s ORDER BY username", (name,)))
    if found is None and not views:
        return None
    return StoredDocument(name, None if found is None else document_row(found), views)


def read_all(connection: psycopg.Connection[Any]) -> Rows:
    """Every document, view and revision log row (in one transaction, so consistent)."""
    with connection.transaction():
        connection.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        documents = [document_row(row) for row in connection.execute(_DOCUMENTS + " ORDER BY name")]
        views = [view_row(row) for row in connection.execute(_VIEWS + " ORDER BY name, username")]
        logs = read_logs(connection)
    return Rows(documents, views, logs)


class PostgresStorage:
    """Rows in PostgreSQL tables; every write one committed transaction."""

    waits_for_disk = True

    def __init__(self, url: str, connections: int = 4, timeout: float = 10.0) -> None:
        self.url = url
        self.location = _without_password(url)
        self.timeout = timeout
        self.pool = ConnectionPool(url, min_size=1, max_size=connections, open=False,
                                   timeout=timeout, kwargs={"autocommit": True})

    def open(self, store: Store) -> Opened:
        try:
            self.pool.open(wait=True, timeout=self.timeout)
            with self.pool.connection() as connection:
                upgrade(connection)
                rows = read_all(connection)
        except (psycopg.Error, StorageError) as error:
            # An unreachable server comes as the pool's PoolTimeout, a psycopg.Error.
            self.pool.close()
            raise StorageError(f"PostgreSQL at {self.location}: {error}") from None
        put(store, rows.documents, rows.views, rows.logs)
        return Opened(len(rows.documents), len(rows.views))

    def load_document(self, name: str) -> StoredDocument | None:
        with self.pool.connection() as connection, connection.transaction():
            stored = read_document(connection, name)
            if stored is None or stored.document is None:
                return stored
            # The whole log: this storage's documents all load at open anyway.
            return dataclasses.replace(stored, log=read_logs(connection, name).get(name))

    def load_log(self, name: str, head: int) -> StoredLog:
        # Its documents load with their whole log: asked only by the contract's tests.
        with self.pool.connection() as connection, connection.transaction():
            return up_to(read_logs(connection, name).get(name), head)

    def write(self, batch: Batch) -> None:
        with self.pool.connection() as connection, connection.transaction():
            write_rows(connection, batch)

    def maintain(self) -> None:
        """Nothing to do in the background: PostgreSQL vacuums by itself."""

    def failure(self) -> str | None:
        return None

    def close(self) -> None:
        self.pool.close()


def _without_password(url: str) -> str:
    """*url* fit for a log line: any password replaced by ***."""
    scheme, separator, rest = url.partition("://")
    credentials, at, host = rest.rpartition("@")
    if not at or ":" not in credentials:
        return url
    user = credentials.split(":", 1)[0]
    return f"{scheme}{separator}{user}:***@{host}"

