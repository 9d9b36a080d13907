"""The durable copy of the store: an SQLite file in the data directory.

The in-memory ``Store`` is the source of truth while the daemon runs; this
module writes the documents and views it reports as changed and reads one
document back when the store asks for it (``load_document``, on a second,
read-only connection, so that the writer never waits for it).  Nothing here
knows about Twisted: ``Database.write`` may run on any one thread other
than the one that copied the batch.

Why SQLite: it is in the standard library, its transactions are atomic and
survive ``kill -9`` and power loss (WAL journal, ``synchronous=FULL``), one
commit can carry the changes of many requests (group commit), and a damaged
file is detected rather than silently half-read.  In ``--durability sync``
commits go to the journal first (``journal.py``) and reach this database
in checkpoints.

Texts are stored once per distinct content, keyed by their SHA-256, and
documents and views refer to them by digest.  A view's shadow is nearly
always the master text of the moment, or a recent one, so ten editors of a
1 MB document cost one 1 MB write per commit, not eleven; each text's
reference count (a column of its row) says when it is no longer used and
can be deleted in the same transaction.  Nothing about the rows is kept in
memory but for the documents the store holds, so start-up reads nothing
but the schema and a few counts (docs/operating.md, "Memory and disk").
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import secrets
import sqlite3
from collections import Counter
from pathlib import Path
from typing import Any

from mobwrite.core.revisions import Pruned, RevisionRow, SnapshotRow
from mobwrite.core.store import Store, ViewKey
from mobwrite.storage.rows import (
    Batch,
    DocumentRow,
    HistoryChange,
    StorageError,
    StoredDocument,
    StoredLog,
    StoredTail,
    ViewRow,
    put,
)

DATABASE_NAME = "mobwrite.sqlite3"
# Held (flock) while a daemon uses the directory: one daemon per directory.
LOCK_NAME = DATABASE_NAME + ".lock"
# mobwrite-3 keys documents and views by name (mobwrite-2 had rowid tables);
# mobwrite-2 counts each text's references in its row (mobwrite-1 counted
# them in memory at load).  An older file is upgraded at open.
FORMAT = "mobwrite-3"
OLD_FORMATS = ("mobwrite-1", "mobwrite-2")
# A file up to this size is checked whole at open (PRAGMA quick_check reads
# every page); a bigger one is checked page by page as it is read.
QUICK_CHECK_BYTES = 64 << 20

# A document's row, and its views' rows (by name, then user), each in a
# table keyed by name without a rowid: a load reads one B-tree page of each,
# where a rowid table and an index on the name took two.
_DOCUMENTS = """CREATE TABLE {} (
    name TEXT PRIMARY KEY, text BLOB NOT NULL, lasttime REAL NOT NULL) WITHOUT ROWID"""
_VIEWS = """CREATE TABLE {} (
    user TEXT NOT NULL, name TEXT NOT NULL,
    shadow BLOB NOT NULL, backup_shadow BLOB NOT NULL,
    client_version INTEGER NOT NULL, server_version INTEGER NOT NULL,
    backup_server_version INTEGER NOT NULL,
    edit_stack TEXT NOT NULL, lasttime REAL NOT NULL,
    PRIMARY KEY (name, user)) WITHOUT ROWID"""
_INDEXES = """
CREATE INDEX views_by_time ON views (lasttime);
CREATE INDEX documents_by_time ON documents (lasttime)"""
_SCHEMA = f"""
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE texts (digest BLOB PRIMARY KEY, body BLOB NOT NULL, refs INTEGER NOT NULL);
{_DOCUMENTS.format("documents")};
{_VIEWS.format("views")};
{_INDEXES}
"""
# Revision logs (docs/history.md); added to a database made before them.
# Authors and changes are UTF-8 with lone surrogates passed, as texts are.
_HISTORY_SCHEMA = """
CREATE TABLE revisions (
    name TEXT NOT NULL, number INTEGER NOT NULL, time REAL NOT NULL,
    author BLOB NOT NULL, kind TEXT NOT NULL, change BLOB NOT NULL,
    PRIMARY KEY (name, number)) WITHOUT ROWID;
CREATE TABLE snapshots (
    name TEXT NOT NULL, number INTEGER NOT NULL, body BLOB NOT NULL,
    PRIMARY KEY (name, number));
"""
_BEFORE_HISTORY = {"meta", "texts", "documents", "views"}
# What upgrades a mobwrite-1 file (its reference counts are then counted once).
_UPGRADE_1 = "ALTER TABLE texts ADD COLUMN refs INTEGER NOT NULL DEFAULT 0"
# What upgrades a mobwrite-2 file: its documents and views copied into
# tables keyed by name (mobwrite-2 kept them in rowid tables), in key order
# so that the new tables' pages are filled one after the other.
_UPGRADE_2 = f"""
{_DOCUMENTS.format("documents_3")};
INSERT INTO documents_3 (name, text, lasttime)
    SELECT name, text, lasttime FROM documents ORDER BY name;
DROP TABLE documents;
ALTER TABLE documents_3 RENAME TO documents;
{_VIEWS.format("views_3")};
INSERT INTO views_3 SELECT * FROM views ORDER BY name, user;
DROP TABLE views;
ALTER TABLE views_3 RENAME TO views;
{_INDEXES}
"""
_TABLES = _BEFORE_HISTORY | {"revisions", "snapshots"}
_PUT_COUNT = "UPDATE meta SET value = ? WHERE key = ?"
_PUT_REVISION = "INSERT OR REPLACE INTO revisions VALUES (?, ?, ?, ?, ?, ?)"
_PUT_SNAPSHOT = "INSERT OR REPLACE INTO snapshots VALUES (?, ?, ?)"
# Upserts update a stored row in place, so its primary key index is left
# alone: fewer pages written per commit than INSERT OR REPLACE.
_UPSERT_DOCUMENT = """
INSERT INTO documents VALUES (?, ?, ?) ON CONFLICT (name)
DO UPDATE SET text = excluded.text, lasttime = excluded.lasttime"""
_UPSERT_VIEW = """
INSERT INTO views VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (name, user)
DO UPDATE SET shadow = excluded.shadow, backup_shadow = excluded.backup_shadow,
    client_version = excluded.client_version, server_version = excluded.server_version,
    backup_server_version = excluded.backup_server_version,
    edit_stack = excluded.edit_stack, lasttime = excluded.lasttime"""

_SELECT_TEXTS = "SELECT digest, body FROM texts"
_ADD_REFERENCES = "UPDATE texts SET refs = refs + ? WHERE digest = ?"
_INSERT_TEXT = "INSERT INTO texts VALUES (?, ?, ?)"
_DROP_UNUSED = "DELETE FROM texts WHERE digest = ? AND refs <= 0"
_DOCUMENT_DIGEST = "SELECT text FROM documents WHERE name = ?"
_VIEW_DIGESTS = "SELECT shadow, backup_shadow FROM views WHERE user = ? AND name = ?"
# A document's row and its revision log's tail (the newest snapshot's
# number, the newest revision), from one page of each table.
_SELECT_DOCUMENT_AND_TAIL = """
SELECT d.text, d.lasttime, s.number, r.number, r.time, r.author, r.kind, r.change
FROM documents d
LEFT JOIN (SELECT max(number) AS number FROM snapshots WHERE name = ?1) s ON 1
LEFT JOIN (SELECT number, time, author, kind, change FROM revisions WHERE name = ?1
           ORDER BY number DESC LIMIT 1) r ON 1
WHERE d.name = ?1"""
_SELECT_DOCUMENTS = "SELECT name, text, lasttime FROM documents"
_SELECT_VIEWS = """
SELECT user, name, shadow, backup_shadow, client_version, server_version,
    backup_server_version, edit_stack, lasttime FROM views"""
_WHERE_NAME = " WHERE name = ?"

# A stored row is named ("d", name) for a document, ("v", user, name) for a view.
RowKey = tuple[str, ...]
# What the writer knows of a row it wrote: its texts' digests, and the strings
# they were computed from (so that an unchanged object is not hashed again).
Known = tuple[tuple[bytes, ...], tuple[str, ...]]


def _encode(text: str) -> bytes:
    # surrogatepass: a lone surrogate must not make a commit fail forever.
    return text.encode("utf-8", "surrogatepass")


def _decode(body: bytes) -> str:
    return body.decode("utf-8", "surrogatepass")


class Database:
    """One SQLite file; open, load, then write batches from one thread at a time."""

    def __init__(self, directory: Path, fsync: bool = True) -> None:
        self.directory = directory
        self.path = directory / DATABASE_NAME
        self.fsync = fsync
        self.connection: sqlite3.Connection | None = None
        # The connection loads read through (never the writer's, which may be
        # inside a transaction on another thread).
        self.reader: sqlite3.Connection | None = None
        # The writer thread's reads (``holds``), which must not use the
        # writing connection while a checkpoint writes on another thread.
        self.lookup: sqlite3.Connection | None = None
        self.lock_fd = -1
        # Which database this is (so that a journal cannot be replayed into
        # another one), and the journal generation it holds everything before.
        self.identity = b""
        self.generation = 0
        # What the writer knows of the rows of the documents in memory, by
        # document; a row it does not know is read before it is replaced.
        self.known: dict[str, dict[RowKey, Known]] = {}
        # How many documents and views are stored, and the bytes the file
        # uses (pages not free), as of the latest write.
        self.documents = 0
        self.views = 0
        self.used_bytes = 0

    # Opening and loading

    def open(self) -> None:
        """Open (creating if new) and lock the database; refuse anything odd."""
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise StorageError(f"cannot create the data directory {self.directory}: {error}") from None
        self._lock()
        try:
            self._connect()
        except BaseException:
            self.close()
            raise

    def _lock(self) -> None:
        path = self.directory / LOCK_NAME
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as error:
            raise StorageError(f"cannot create {path}: {error}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            raise StorageError(
                f"{self.path} is in use by another process (another mobwrite daemon "
                "on the same --data-dir?)") from None
        self.lock_fd = fd

    def _connect(self) -> None:
        try:
            connection = sqlite3.connect(
                self.path, timeout=1.0, isolation_level=None, check_same_thread=False)
        except sqlite3.Error as error:
            raise StorageError(f"cannot open {self.path}: {error}") from None
        try:
            self._configure(connection)
        except sqlite3.OperationalError as error:
            connection.close()
            if "locked" in str(error):
                raise StorageError(
                    f"{self.path} is in use by another process (another mobwrite daemon "
                    "on the same --data-dir?)") from None
            raise StorageError(self._damaged(error)) from None
        except sqlite3.Error as error:
            connection.close()
            raise StorageError(self._damaged(error)) from None
        except StorageError:
            connection.close()
            raise
        self.connection = connection
        self.reader = self._read_only()
        self.lookup = self._read_only()

    def _read_only(self) -> sqlite3.Connection:
        try:
            reader = sqlite3.connect(
                f"{self.path.resolve().as_uri()}?mode=ro", uri=True, timeout=5.0,
                isolation_level=None, check_same_thread=False)
            reader.execute("PRAGMA query_only = 1")
        except sqlite3.Error as error:
            raise StorageError(f"cannot open {self.path} for reading: {error}") from None
        return reader

    def _damaged(self, reason: object) -> str:
        return (f"{self.path} is unreadable or damaged ({reason}); it was left as it is. "
                "Restore it from a backup, or move it away to start empty.")

    def _configure(self, connection: sqlite3.Connection) -> None:
        tables = {row[0] for row in connection.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table'")}
        if tables and tables not in (_TABLES, _BEFORE_HISTORY):
            raise StorageError(
                f"{self.path} is not a mobwrite database (tables: {sorted(tables)}); "
                "it was left as it is. Give another --data-dir.")
        mode = connection.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        if mode != "wal":
            raise StorageError(f"{self.path}: cannot use a write-ahead log (mode {mode})")
        connection.execute(f"PRAGMA synchronous = {'FULL' if self.fsync else 'NORMAL'}")
        # After a checkpoint, shrink a write-ahead log that one big batch blew up.
        connection.execute("PRAGMA journal_size_limit = 67108864")
        connection.execute("BEGIN IMMEDIATE")
        try:
            if not tables:
                for statement in _SCHEMA.split(";"):
                    if statement.strip():
                        connection.execute(statement)
                connection.execute("INSERT INTO meta VALUES ('format', ?)", (FORMAT,))
            else:
                row = connection.execute(
                    "SELECT value FROM meta WHERE key = 'format'").fetchone()
                if row is None or row[0] not in (FORMAT, *OLD_FORMATS):
                    raise StorageError(
                        f"{self.path} has format {row and row[0]!r}, not {FORMAT!r}; "
                        "it was left as it is.")
                if self.path.stat().st_size <= QUICK_CHECK_BYTES:
                    check = connection.execute("PRAGMA quick_check").fetchone()[0]
                    if check != "ok":
                        raise StorageError(self._damaged(check))
                if row[0] != FORMAT:
                    _upgrade(connection, row[0])
            if tables != _TABLES:
                for statement in _HISTORY_SCHEMA.split(";"):
                    if statement.strip():
                        connection.execute(statement)
            meta = dict(connection.execute(
                "SELECT key, value FROM meta WHERE key IN ('identity', 'journal')"))
            if "identity" not in meta:
                meta = {"identity": secrets.token_hex(8), "journal": "0"}
                connection.executemany("INSERT INTO meta VALUES (?, ?)", meta.items())
            self.identity = bytes.fromhex(meta["identity"])
            self.generation = int(meta["journal"])
            self.documents, self.views = _counts(connection)
            self._measure(connection)
            connection.execute("COMMIT")
        except BaseException:
            connection.execute("ROLLBACK")
            raise

    def _measure(self, connection: sqlite3.Connection) -> None:
        pages, = connection.execute("PRAGMA page_count").fetchone()
        free, = connection.execute("PRAGMA freelist_count").fetchone()
        size, = connection.execute("PRAGMA page_size").fetchone()
        self.used_bytes = (pages - free) * size

    def load(self, store: Store) -> tuple[int, int]:
        """Put every stored document and view into *store* (a dump's copy, on
        the writer's thread); return their counts."""
        # The writer's connection: a dump reads on the writer thread, between writes.
        assert self.connection is not None
        documents, views = self._read(
            self.connection, _SELECT_TEXTS, _SELECT_DOCUMENTS, _SELECT_VIEWS, ())
        logs = self._read_logs(self.connection, "", ())
        put(store, documents, views, logs)
        return len(documents), len(views)

    def _reading(self) -> sqlite3.Connection:
        assert self.reader is not None
        return self.reader

    def _read_logs(self, reader: sqlite3.Connection, where: str,
                   parameters: tuple[str | int, ...]) -> dict[str, StoredLog]:
        """The stored revision logs' rows (*where* chooses), by document."""
        logs: dict[str, StoredLog] = {}
        try:
            for name, number, time, author, kind, change in reader.execute(
                    "SELECT name, number, time, author, kind, change FROM revisions" + where,
                    parameters):
                logs.setdefault(name, StoredLog()).revisions[number] = RevisionRow(
                    number, time, _decode(author), kind, _decode(change))
            for name, number, body in reader.execute(
                    "SELECT name, number, body FROM snapshots" + where, parameters):
                logs.setdefault(name, StoredLog()).snapshots[number] = SnapshotRow(
                    number, _decode(body))
        except (sqlite3.Error, UnicodeDecodeError) as error:
            raise StorageError(f"{self.path} cannot be read ({error}); it was left as it is.") from None
        return logs

    def load_document(self, name: str) -> StoredDocument | None:
        """The stored document called *name*, its views and its revision log's
        tail, if any is stored (read in one transaction of the reading connection:
        one page of the documents, views and revisions tables, and of the
        snapshots' index, and the texts)."""
        reader = self._reading()
        reader.execute("BEGIN")
        try:
            found = reader.execute(_SELECT_DOCUMENT_AND_TAIL, (name,)).fetchone()
            views = reader.execute(_SELECT_VIEWS + _WHERE_NAME, (name,)).fetchall()
            digests = {digest for row in views for digest in row[2:4]}
            if found is not None:
                digests.add(found[0])
            texts = {digest: _decode(body) for digest, body in reader.execute(
                _SELECT_TEXTS + f" WHERE digest IN ({','.join('?' * len(digests))})",
                tuple(digests))}
        except (sqlite3.Error, UnicodeDecodeError) as error:
            raise StorageError(f"{self.path} cannot be read ({error}); it was left as it is.") from None
        finally:
            reader.execute("COMMIT")
        if found is None and not views:
            return None
        document = tail = None
        if found is not None:
            digest, lasttime, snapshot, number, *last = found
            document = DocumentRow(name, self._text(texts, digest, f"document {name!r}"), lasttime)
            if snapshot is not None:
                tail = StoredTail(None if number is None else RevisionRow(
                    number, last[0], _decode(last[1]), last[2], _decode(last[3])), snapshot)
        return StoredDocument(name, document, tuple(self._views(texts, views)), tail=tail)

    def load_log(self, name: str, head: int) -> StoredLog:
        """The rows of document *name*'s revision log numbered up to *head*
        (one transaction of the reading connection)."""
        reader = self._reading()
        reader.execute("BEGIN")
        try:
            logs = self._read_logs(reader, _WHERE_NAME + " AND number <= ?", (name, head))
        finally:
            reader.execute("COMMIT")
        return logs.get(name, StoredLog())

    def names(self, prefix: str, after: str, limit: int) -> list[str]:
        """The names of stored documents after *after* starting with *prefix*,
        in order, at most *limit* (on the reading connection)."""
        query, start = ("SELECT name FROM documents WHERE name > ? ORDER BY name LIMIT ?",
                        after) if after >= prefix else (
            "SELECT name FROM documents WHERE name >= ? ORDER BY name LIMIT ?", prefix)
        names: list[str] = []
        try:
            for name, in self._reading().execute(query, (start, limit)):
                if not name.startswith(prefix):
                    break
                names.append(name)
        except sqlite3.Error as error:
            raise StorageError(f"{self.path} cannot be read ({error})") from None
        return names

    def stale(self, views_before: float, documents_before: float | None,
              limit: int) -> tuple[list[ViewKey], list[str]]:
        """Up to *limit* stored views untouched since *views_before*, and
        documents untouched since *documents_before* that no other view uses
        (None: documents never expire), for expiry (on the reading connection)."""
        reader = self._reading()
        try:
            views = [(user, name) for user, name in reader.execute(
                "SELECT user, name FROM views WHERE lasttime < ? LIMIT ?",
                (views_before, limit))]
            # A document whose views all expire now expires with them.
            names = [] if documents_before is None else [name for name, in reader.execute(
                "SELECT name FROM documents WHERE lasttime < ? AND NOT EXISTS "
                "(SELECT 1 FROM views WHERE views.name = documents.name AND lasttime >= ?) "
                "LIMIT ?", (documents_before, views_before, limit))]
        except sqlite3.Error as error:
            raise StorageError(f"{self.path} cannot be read ({error})") from None
        return views, names

    def _read(self, reader: sqlite3.Connection, texts_query: str, documents_query: str,
              views_query: str, parameters: tuple[str, ...],
              ) -> tuple[list[DocumentRow], list[ViewRow]]:
        """The rows the queries select, with their texts (equal texts one string)."""
        try:
            texts = {digest: _decode(body) for digest, body in
                     reader.execute(texts_query, parameters)}
            documents = list(reader.execute(documents_query, parameters))
            views = list(reader.execute(views_query, parameters))
        except (sqlite3.Error, UnicodeDecodeError) as error:
            raise StorageError(f"{self.path} cannot be read ({error}); it was left as it is.") from None
        document_rows: list[DocumentRow] = []
        for name, digest, lasttime in documents:
            text = self._text(texts, digest, f"document {name!r}")
            document_rows.append(DocumentRow(name, text, lasttime))
        return document_rows, self._views(texts, views)

    def _views(self, texts: dict[bytes, str], views: list[tuple[Any, ...]]) -> list[ViewRow]:
        """The view rows *views* (as selected), with their texts."""
        view_rows: list[ViewRow] = []
        for (user, name, shadow, backup, client_version, server_version,
             backup_server_version, stack, lasttime) in views:
            where = f"view {user!r}/{name!r}"
            shadow_text = self._text(texts, shadow, where)
            backup_text = self._text(texts, backup, where)
            view_rows.append(ViewRow(
                user, name, shadow_text, backup_text, client_version, server_version,
                backup_server_version, tuple(self._edit_stack(stack, where)), lasttime))
        return view_rows

    def _text(self, texts: dict[bytes, str], digest: bytes, where: str) -> str:
        text = texts.get(digest)
        if text is None:
            raise StorageError(
                f"{self.path} is damaged: the text of {where} is missing; "
                "it was left as it is.")
        return text

    def _edit_stack(self, stack: str, where: str) -> list[tuple[int, str]]:
        try:
            entries = [(int(version), str(line)) for version, line in json.loads(stack)]
        except (ValueError, TypeError) as error:
            raise StorageError(f"{self.path} is damaged: the edit stack of {where}: {error}") from None
        return entries

    def holds(self, name: str) -> bool:
        """Whether document *name* has a committed row (on the writer
        thread, beside a checkpoint writing on another)."""
        assert self.lookup is not None
        return self.lookup.execute(_DOCUMENT_DIGEST, (name,)).fetchone() is not None

    def forget(self, names: list[str]) -> None:
        """Drop what the writer knows of these documents' rows (the store let
        them go); a later write reads them again."""
        for name in names:
            self.known.pop(name, None)

    # Writing

    def write(self, batch: Batch, generation: int | None = None) -> None:
        """Store *batch* in one transaction; on failure nothing is kept.

        With *generation*, the same transaction records that the journal
        records before that generation are all in the database.
        """
        assert self.connection is not None
        if not batch and generation is None:
            self.forget(batch.forget)
            return
        plan = _Plan(self)
        documents: list[tuple[str, bytes, float]] = []
        gone_documents: list[tuple[str]] = []
        for name, document in batch.documents.items():
            if document is None:
                plan.row(("d", name), None)
                gone_documents.append((name,))
            else:
                text, = plan.row(("d", name), (document.text,))
                documents.append((name, text, document.lasttime))
        views: list[tuple[str, str, bytes, bytes, int, int, int, str, float]] = []
        gone_views: list[ViewKey] = []
        for key, view in batch.views.items():
            if view is None:
                plan.row(("v", *key), None)
                gone_views.append(key)
                continue
            shadow, backup = plan.row(("v", *key), (view.shadow, view.backup_shadow))
            views.append((view.user, view.name, shadow, backup, view.client_version,
                          view.server_version, view.backup_server_version,
                          json.dumps(view.edit_stack), view.lasttime))
        connection = self.connection
        connection.execute("BEGIN IMMEDIATE")
        try:
            plan.count_references(connection)
            connection.executemany("DELETE FROM documents WHERE name = ?", gone_documents)
            connection.executemany(_UPSERT_DOCUMENT, documents)
            connection.executemany("DELETE FROM views WHERE user = ? AND name = ?", gone_views)
            connection.executemany(_UPSERT_VIEW, views)
            _write_history(connection, batch.history)
            if plan.documents or plan.views:
                connection.executemany(_PUT_COUNT, [
                    (str(self.documents + plan.documents), "documents"),
                    (str(self.views + plan.views), "views")])
            if generation is not None:
                connection.execute("UPDATE meta SET value = ? WHERE key = 'journal'",
                                    (str(generation),))
            self._measure(connection)
            connection.execute("COMMIT")
        except BaseException:
            connection.execute("ROLLBACK")
            raise
        plan.apply()
        self.forget(batch.forget)
        if generation is not None:
            self.generation = generation

    def close(self) -> None:
        for connection in (self.reader, self.lookup, self.connection):
            if connection is not None:
                connection.close()
        self.reader = self.lookup = self.connection = None
        if self.lock_fd >= 0:
            os.close(self.lock_fd)
            self.lock_fd = -1


def _counts(connection: sqlite3.Connection) -> tuple[int, int]:
    """How many documents and views are stored: as the file records them
    (each write keeps them), or counted once and recorded (a file that does
    not record them: older, or written by other means)."""
    counts = dict(connection.execute(
        "SELECT key, value FROM meta WHERE key IN ('documents', 'views')"))
    if len(counts) < 2:
        # A full scan of both tables: on a big file, seconds of reading,
        # and pages cached all over it that later loads then read ahead of.
        counts = {table: connection.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
                  for table in ("documents", "views")}
        connection.executemany("INSERT OR REPLACE INTO meta VALUES (?, ?)",
                               [(key, str(value)) for key, value in counts.items()])
    return int(counts["documents"]), int(counts["views"])


def _upgrade(connection: sqlite3.Connection, format_: str) -> None:
    """Make a file of an older *format_* a mobwrite-3 one, inside the open transaction."""
    if format_ == "mobwrite-1":
        _count_references(connection)
    for statement in _UPGRADE_2.split(";"):
        if statement.strip():
            connection.execute(statement)
    connection.execute("UPDATE meta SET value = ? WHERE key = 'format'", (FORMAT,))


def _count_references(connection: sqlite3.Connection) -> None:
    """Make a mobwrite-1 file a mobwrite-2 one: count each text's references."""
    connection.execute(_UPGRADE_1)
    counts: Counter[bytes] = Counter()
    counts.update(digest for digest, in connection.execute("SELECT text FROM documents"))
    for shadow, backup in connection.execute("SELECT shadow, backup_shadow FROM views"):
        counts[shadow] += 1
        counts[backup] += 1
    connection.executemany("UPDATE texts SET refs = ? WHERE digest = ?",
                           [(count, digest) for digest, count in counts.items()])
    connection.execute("DELETE FROM texts WHERE refs = 0")


def _write_history(connection: sqlite3.Connection, changes: list[HistoryChange]) -> None:
    """Apply the revision log *changes*, in order, inside the open transaction."""
    for name, change in changes:
        if change is None:
            connection.execute("DELETE FROM revisions WHERE name = ?", (name,))
            connection.execute("DELETE FROM snapshots WHERE name = ?", (name,))
            continue
        if isinstance(change, Pruned):
            connection.execute("DELETE FROM revisions WHERE name = ? AND number <= ?",
                               (name, change.base))
            connection.execute("DELETE FROM snapshots WHERE name = ? AND number < ?",
                               (name, change.base))
        else:
            row = change.row
            connection.execute(_PUT_REVISION, (name, row.number, row.time, _encode(row.author),
                                               row.kind, _encode(row.change)))
        if change.snapshot is not None:
            connection.execute(_PUT_SNAPSHOT, (name, change.snapshot.number,
                                               _encode(change.snapshot.text)))


class _Plan:
    """The digests and reference counts a batch leads to (counted in the
    transaction), and what the writer then knows of its rows."""

    def __init__(self, database: Database) -> None:
        self.database = database
        self.known: dict[RowKey, Known | None] = {}
        self.counts: dict[bytes, int] = {}
        self.texts: dict[bytes, str] = {}
        self.hashed: dict[int, bytes] = {}
        # How many documents and views the batch adds (or, below 0, deletes).
        self.documents = 0
        self.views = 0

    def row(self, key: RowKey, texts: tuple[str, ...] | None) -> tuple[bytes, ...]:
        """Plan to store *texts* for *key* (None: delete the row); their digests."""
        counts = self.counts
        known = self._known(key)
        old, previous = known if known is not None else ((), ())
        if key not in self.known:
            grows = (texts is not None) - bool(old)
            if key[0] == "d":
                self.documents += grows
            else:
                self.views += grows
        for digest in old:
            counts[digest] = counts.get(digest, 0) - 1
        if texts is None:
            self.known[key] = None
            return ()
        digests: list[bytes] = []
        for index, text in enumerate(texts):
            if index < len(previous) and previous[index] is text:
                digest = old[index]
                self.texts[digest] = text
            elif index and text == texts[0]:
                # A backup shadow equal to the shadow: comparing is cheaper than hashing.
                digest = digests[0]
            else:
                digest = self._digest(text)
            digests.append(digest)
            counts[digest] = counts.get(digest, 0) + 1
        stored = tuple(digests)
        self.known[key] = (stored, texts)
        return stored

    def _known(self, key: RowKey) -> Known | None:
        """What is stored for *key* now: as planned, as the writer knows, or as read."""
        if key in self.known:
            return self.known[key]
        known = self.database.known.get(key[-1], {}).get(key)
        if known is not None:
            return known
        connection = self.database.connection
        assert connection is not None
        if key[0] == "d":
            found = connection.execute(_DOCUMENT_DIGEST, key[1:]).fetchone()
        else:
            found = connection.execute(_VIEW_DIGESTS, key[1:]).fetchone()
        return None if found is None else (tuple(found), ())

    def _digest(self, text: str) -> bytes:
        # The same string object (a master and the shadows equal to it) is
        # hashed once per batch; the batch keeps it alive, so id() is safe.
        digest = self.hashed.get(id(text))
        if digest is None:
            digest = self.hashed[id(text)] = hashlib.sha256(_encode(text)).digest()
            self.texts[digest] = text
        return digest

    def count_references(self, connection: sqlite3.Connection) -> None:
        """Change the texts' reference counts, inside the transaction: insert
        the texts newly used, delete those no longer used."""
        for digest, change in self.counts.items():
            if change > 0:
                if not connection.execute(_ADD_REFERENCES, (change, digest)).rowcount:
                    connection.execute(_INSERT_TEXT,
                                       (digest, _encode(self.texts[digest]), change))
            elif change < 0:
                connection.execute(_ADD_REFERENCES, (change, digest))
                connection.execute(_DROP_UNUSED, (digest,))

    def apply(self) -> None:
        """After the commit: remember the rows written, count them."""
        database = self.database
        known = database.known
        for key, row in self.known.items():
            if row is None:
                rows = known.get(key[-1])
                if rows is not None:
                    rows.pop(key, None)
                    if not rows:
                        del known[key[-1]]
            else:
                known.setdefault(key[-1], {})[key] = row
        database.documents += self.documents
        database.views += self.views
