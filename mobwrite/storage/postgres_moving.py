"""A PostgreSQL database dumped, and a dump loaded into one, a batch of rows at a time.

``mobwrite dump postgresql://...`` reads every row in one ``REPEATABLE READ``
read-only transaction (one consistent snapshot, while daemons go on writing)
through server-side cursors, ``BATCH`` rows per round trip, and makes each
row's dump line as it comes.  ``mobwrite load --database`` writes the rows as
the file is read, ``BATCH`` per statement, in one transaction: a file that
proves damaged or a row the database refuses leaves the database empty.
Either way a few batches of rows are held at once, whatever the store's size.

The dump's order is by code point; rows are sorted by their names' UTF-8
bytes (``convert_to``), which is that order in any database encoding and
collation.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import psycopg

from mobwrite.storage.dump import DumpRow, RevisionLine, SnapshotLine, dump_stream
from mobwrite.storage.postgres import (
    _DOCUMENTS,
    _PUT_DOCUMENT,
    _PUT_REVISION,
    _PUT_SNAPSHOT,
    _PUT_VIEW,
    _REVISIONS,
    _SNAPSHOTS,
    _VIEWS,
    _without_password,
    document_row,
    document_values,
    revision_row,
    revision_values,
    snapshot_row,
    snapshot_values,
    upgrade,
    view_row,
    view_values,
)
from mobwrite.storage.rows import DocumentRow, StorageError, ViewRow

# Rows per round trip when dumping, and per statement when loading.
BATCH = 500

_BY_NAME = " ORDER BY convert_to(name, 'UTF8')"


def dump_database(url: str, timeout: float) -> Iterator[bytes]:
    """The dump of the database at *url*, line by line, from one snapshot (StorageError
    if it cannot be read)."""
    with _connected(url, timeout) as connection, connection.transaction():
        connection.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        rows = _Reader(connection, BATCH)
        yield from dump_stream(
            (document_row(row) for row in rows.read(_DOCUMENTS + _BY_NAME)),
            (view_row(row) for row in rows.read(
                _VIEWS + _BY_NAME + ", convert_to(username, 'UTF8')")),
            (RevisionLine(row[0], revision_row(row[1:])) for row in rows.read(
                _REVISIONS + _BY_NAME + ", number")),
            (SnapshotLine(row[0], snapshot_row(row[1:])) for row in rows.read(
                _SNAPSHOTS + _BY_NAME + ", number")))


@contextmanager
def _connected(url: str, timeout: float) -> Iterator[psycopg.Connection[Any]]:
    """An autocommit connection to *url*; any error of its becomes a StorageError."""
    try:
        with psycopg.connect(url, autocommit=True, connect_timeout=max(1, int(timeout))) \
                as connection:
            yield connection
    except psycopg.Error as error:
        raise StorageError(f"PostgreSQL at {_without_password(url)}: {error}") from None


class _Reader:
    """Reads queries' rows through server-side cursors, *batch* rows per round trip."""

    def __init__(self, connection: psycopg.Connection[Any], batch: int) -> None:
        self.connection = connection
        self.batch = batch
        self.cursors = 0

    def read(self, query: str) -> Iterator[Sequence[Any]]:
        self.cursors += 1
        with self.connection.cursor(name=f"mobwrite_dump_{self.cursors}") as cursor:
            cursor.itersize = self.batch
            cursor.execute(query)
            yield from cursor


def load_database(url: str, rows: Iterable[DumpRow], timeout: float = 10.0) -> str:
    """Write *rows* (a dump's, in its order) into the database at *url*, which must hold
    no document or view, in one transaction, BATCH rows per statement (StorageError
    if it cannot); where it wrote them, for a message."""
    with _connected(url, timeout) as connection:
        upgrade(connection)
        with connection.transaction():
            found = connection.execute(
                "SELECT (SELECT count(*) FROM mobwrite_documents), "
                "(SELECT count(*) FROM mobwrite_views)").fetchone()
            if found is not None and found != (0, 0):
                raise StorageError(
                    f"{_without_password(url)} already holds {found[0]} documents and "
                    f"{found[1]} views: load only into an empty store")
            _Writer(connection, BATCH).write(rows)
    return _without_password(url)


class _Writer:
    """Writes dump rows in the running transaction, *batch* at a time per table."""

    def __init__(self, connection: psycopg.Connection[Any], batch: int) -> None:
        self.connection = connection
        self.batch = batch
        self.pending: dict[str, list[tuple[Any, ...]]] = {
            statement: [] for statement in (_PUT_DOCUMENT, _PUT_VIEW, _PUT_REVISION,
                                            _PUT_SNAPSHOT)}

    def write(self, rows: Iterable[DumpRow]) -> None:
        for row in rows:
            if isinstance(row, DocumentRow):
                self._put(_PUT_DOCUMENT, document_values(row))
            elif isinstance(row, ViewRow):
                self._put(_PUT_VIEW, view_values(row))
            elif isinstance(row, RevisionLine):
                self._put(_PUT_REVISION, revision_values(*row))
            else:
                self._put(_PUT_SNAPSHOT, snapshot_values(*row))
        # Documents first: revisions and snapshots refer to them.
        for statement in self.pending:
            self._flush(statement)

    def _put(self, statement: str, values: tuple[Any, ...]) -> None:
        pending = self.pending[statement]
        pending.append(values)
        if len(pending) >= self.batch:
            if statement in (_PUT_REVISION, _PUT_SNAPSHOT):
                self._flush(_PUT_DOCUMENT)
            self._flush(statement)

    def _flush(self, statement: str) -> None:
        pending = self.pending[statement]
        if pending:
            with self.connection.cursor() as cursor:
                cursor.executemany(statement, pending)
            pending.clear()
