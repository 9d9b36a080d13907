"""The durable copy of the store: an SQLite file in the data directory.

The in-memory ``Store`` is the source of truth while the daemon runs; this
module writes the documents and views it reports as changed and reads them
all back at start-up.  Nothing here knows about Twisted: ``Database.write``
may run on any one thread other than the one that copied the batch.

Why SQLite: it is in the standard library, its transactions are atomic and
survive ``kill -9`` and power loss (WAL journal, ``synchronous=FULL``), one
commit can carry the changes of many requests (group commit), and a damaged
file is detected rather than silently half-read.  In ``--durability sync``
commits go to the journal first (``journal.py``) and reach this database
in checkpoints.

Texts are stored once per distinct content, keyed by their SHA-256, and
documents and views refer to them by digest.  A view's shadow is nearly
always the master text of the moment, or a recent one, so ten editors of a
1 MB document cost one 1 MB write per commit, not eleven; the database
reference counts (kept in memory, rebuilt at load) say when a text is no
longer used and can be deleted in the same transaction.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import sqlite3
from pathlib import Path

from mobwrite.core.revisions import Pruned, RevisionRow, SnapshotRow
from mobwrite.core.store import Store, ViewKey
from mobwrite.storage.rows import (
    Batch,
    DocumentRow,
    HistoryChange,
    StorageError,
    StoredDocument,
    StoredLog,
    ViewRow,
    put,
)

DATABASE_NAME = "mobwrite.sqlite3"
FORMAT = "mobwrite-1"

_SCHEMA = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE texts (digest BLOB PRIMARY KEY, body BLOB NOT NULL);
CREATE TABLE documents (
    name TEXT PRIMARY KEY, text BLOB NOT NULL, lasttime REAL NOT NULL);
CREATE TABLE views (
    user TEXT NOT NULL, name TEXT NOT NULL,
    shadow BLOB NOT NULL, backup_shadow BLOB NOT NULL,
    client_version INTEGER NOT NULL, server_version INTEGER NOT NULL,
    backup_server_version INTEGER NOT NULL,
    edit_stack TEXT NOT NULL, lasttime REAL NOT NULL,
    PRIMARY KEY (user, name));
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
_TABLES = _BEFORE_HISTORY | {"revisions", "snapshots"}
_PUT_REVISION = "INSERT OR REPLACE INTO revisions VALUES (?, ?, ?, ?, ?, ?)"
_PUT_SNAPSHOT = "INSERT OR REPLACE INTO snapshots VALUES (?, ?, ?)"
# Upserts update a stored row in place, so its primary key index is left
# alone: fewer pages written per commit than INSERT OR REPLACE.
_UPSERT_DOCUMENT = """
INSERT INTO documents VALUES (?, ?, ?) ON CONFLICT (name)
DO UPDATE SET text = excluded.text, lasttime = excluded.lasttime"""
_UPSERT_VIEW = """
INSERT INTO views VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (user, name)
DO UPDATE SET shadow = excluded.shadow, backup_shadow = excluded.backup_shadow,
    client_version = excluded.client_version, server_version = excluded.server_version,
    backup_server_version = excluded.backup_server_version,
    edit_stack = excluded.edit_stack, lasttime = excluded.lasttime"""

_SELECT_TEXTS = "SELECT digest, body FROM texts"
# The texts one document and its views refer to.
_SELECT_TEXTS_OF = """
SELECT digest, body FROM texts WHERE digest IN (
    SELECT text FROM documents WHERE name = ?1
    UNION SELECT shadow FROM views WHERE name = ?1
    UNION SELECT backup_shadow FROM views WHERE name = ?1)"""
_SELECT_DOCUMENTS = "SELECT name, text, lasttime FROM documents"
_SELECT_VIEWS = """
SELECT user, name, shadow, backup_shadow, client_version, server_version,
    backup_server_version, edit_stack, lasttime FROM views"""
_WHERE_NAME = " WHERE name = ?"

# A stored row is named ("d", name) for a document, ("v", user, name) for a view.
RowKey = tuple[str, ...]


def _encode(text: str) -> bytes:
    # surrogatepass: a lone surrogate must not make a commit fail forever.
    return text.encode("utf-8", "surrogatepass")


def _decode(body: bytes) -> str:
    return body.decode("utf-8", "surrogatepass")


class Database:
    """One SQLite file; open, load, then write batches from a single thread."""

    def __init__(self, directory: Path, fsync: bool = True) -> None:
        self.directory = directory
        self.path = directory / DATABASE_NAME
        self.fsync = fsync
        self.connection: sqlite3.Connection | None = None
        # Which database this is (so that a journal cannot be replayed into
        # another one), and the journal generation it holds everything before.
        self.identity = b""
        self.generation = 0
        # The digests each stored row refers to, the strings they were
        # computed from (so an unchanged object is not hashed again), and
        # how many rows refer to each digest.
        self.row_digests: dict[RowKey, tuple[bytes, ...]] = {}
        self.row_texts: dict[RowKey, tuple[str, ...]] = {}
        self.references: dict[bytes, int] = {}

    # Opening and loading

    def open(self) -> None:
        """Open (creating if new) and lock the database; refuse anything odd."""
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise StorageError(f"cannot create the data directory {self.directory}: {error}") from None
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
        # Exclusive locking: a second daemon on the same directory fails to
        # start instead of writing over the first one's commits.
        connection.execute("PRAGMA locking_mode = EXCLUSIVE")
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
                if row is None or row[0] != FORMAT:
                    raise StorageError(
                        f"{self.path} has format {row and row[0]!r}, not {FORMAT!r}; "
                        "it was left as it is.")
                check = connection.execute("PRAGMA quick_check").fetchone()[0]
                if check != "ok":
                    raise StorageError(self._damaged(check))
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
            connection.execute("COMMIT")
        except BaseException:
            connection.execute("ROLLBACK")
            raise

    def load(self, store: Store) -> tuple[int, int]:
        """Put every stored document and view into *store*; return their counts."""
        assert self.connection is not None
        self.row_digests, self.row_texts, self.references = {}, {}, {}
        documents, views = self._read(_SELECT_TEXTS, _SELECT_DOCUMENTS, _SELECT_VIEWS, ())
        put(store, documents, views, self._read_logs())
        return len(documents), len(views)

    def _read_logs(self) -> dict[str, StoredLog]:
        """Every stored revision log's rows, by document."""
        assert self.connection is not None
        logs: dict[str, StoredLog] = {}
        try:
            for name, number, time, author, kind, change in self.connection.execute(
                    "SELECT name, number, time, author, kind, change FROM revisions"):
                logs.setdefault(name, StoredLog()).revisions[number] = RevisionRow(
                    number, time, _decode(author), kind, _decode(change))
            for name, number, body in self.connection.execute(
                    "SELECT name, number, body FROM snapshots"):
                logs.setdefault(name, StoredLog()).snapshots[number] = SnapshotRow(
                    number, _decode(body))
        except (sqlite3.Error, UnicodeDecodeError) as error:
            raise StorageError(f"{self.path} cannot be read ({error}); it was left as it is.") from None
        return logs

    def load_document(self, name: str) -> StoredDocument | None:
        """The stored document called *name* and its views, if any is stored."""
        assert self.connection is not None
        documents, views = self._read(
            _SELECT_TEXTS_OF, _SELECT_DOCUMENTS + _WHERE_NAME, _SELECT_VIEWS + _WHERE_NAME,
            (name,), remember=False)
        if not documents and not views:
            return None
        return StoredDocument(name, documents[0] if documents else None, tuple(views))

    def _read(self, texts_query: str, documents_query: str, views_query: str,
              parameters: tuple[str, ...], remember: bool = True,
              ) -> tuple[list[DocumentRow], list[ViewRow]]:
        """The rows the queries select, with their texts (remembered for writes)."""
        assert self.connection is not None
        try:
            texts = {digest: _decode(body) for digest, body in
                     self.connection.execute(texts_query, parameters)}
            documents = list(self.connection.execute(documents_query, parameters))
            views = list(self.connection.execute(views_query, parameters))
        except (sqlite3.Error, UnicodeDecodeError) as error:
            raise StorageError(f"{self.path} cannot be read ({error}); it was left as it is.") from None
        document_rows: list[DocumentRow] = []
        for name, digest, lasttime in documents:
            text = self._text(texts, digest, f"document {name!r}")
            document_rows.append(DocumentRow(name, text, lasttime))
            if remember:
                self._remember(("d", name), (digest,), (text,))
        view_rows: list[ViewRow] = []
        for (user, name, shadow, backup, client_version, server_version,
             backup_server_version, stack, lasttime) in views:
            where = f"view {user!r}/{name!r}"
            shadow_text = self._text(texts, shadow, where)
            backup_text = self._text(texts, backup, where)
            view_rows.append(ViewRow(
                user, name, shadow_text, backup_text, client_version, server_version,
                backup_server_version, tuple(self._edit_stack(stack, where)), lasttime))
            if remember:
                self._remember(("v", user, name), (shadow, backup), (shadow_text, backup_text))
        return document_rows, view_rows

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

    def _remember(self, key: RowKey, digests: tuple[bytes, ...],
                  texts: tuple[str, ...]) -> None:
        self.row_digests[key] = digests
        self.row_texts[key] = texts
        for digest in digests:
            self.references[digest] = self.references.get(digest, 0) + 1

    # Writing

    def write(self, batch: Batch, generation: int | None = None) -> None:
        """Store *batch* in one transaction; on failure nothing is kept.

        With *generation*, the same transaction records that the journal
        records before that generation are all in the database.
        """
        assert self.connection is not None
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
        new_texts, unused_texts = plan.changed_texts()
        connection = self.connection
        connection.execute("BEGIN IMMEDIATE")
        try:
            connection.executemany("INSERT OR REPLACE INTO texts VALUES (?, ?)", new_texts)
            connection.executemany("DELETE FROM texts WHERE digest = ?", unused_texts)
            connection.executemany("DELETE FROM documents WHERE name = ?", gone_documents)
            connection.executemany(_UPSERT_DOCUMENT, documents)
            connection.executemany("DELETE FROM views WHERE user = ? AND name = ?", gone_views)
            connection.executemany(_UPSERT_VIEW, views)
            _write_history(connection, batch.history)
            if generation is not None:
                connection.execute("UPDATE meta SET value = ? WHERE key = 'journal'",
                                    (str(generation),))
            connection.execute("COMMIT")
        except BaseException:
            connection.execute("ROLLBACK")
            raise
        plan.apply()
        if generation is not None:
            self.generation = generation

    def close(self) -> None:
        if self.connection is not None:
            self.connection.close()
            self.connection = None


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
    """The digests and reference counts a batch leads to, applied after commit."""

    def __init__(self, database: Database) -> None:
        self.database = database
        self.digests: dict[RowKey, tuple[bytes, ...]] = {}
        self.texts: dict[RowKey, tuple[str, ...] | None] = {}
        self.counts: dict[bytes, int] = {}
        self.bodies: dict[bytes, bytes] = {}
        self.hashed: dict[int, bytes] = {}

    def row(self, key: RowKey, texts: tuple[str, ...] | None) -> tuple[bytes, ...]:
        """Plan to store *texts* for *key* (None: delete the row); their digests."""
        counts = self.counts
        old = self.database.row_digests.get(key, ())
        for digest in old:
            counts[digest] = counts.get(digest, 0) - 1
        self.texts[key] = texts
        if texts is None:
            return ()
        previous = self.database.row_texts.get(key, ())
        digests: list[bytes] = []
        for index, text in enumerate(texts):
            if index < len(previous) and previous[index] is text:
                digest = old[index]
            elif index and text == texts[0]:
                # A backup shadow equal to the shadow: comparing is cheaper than hashing.
                digest = digests[0]
            else:
                digest = self._digest(text)
            digests.append(digest)
            counts[digest] = counts.get(digest, 0) + 1
        stored = self.digests[key] = tuple(digests)
        return stored

    def _digest(self, text: str) -> bytes:
        # The same string object (a master and the shadows equal to it) is
        # hashed once per batch; the batch keeps it alive, so id() is safe.
        digest = self.hashed.get(id(text))
        if digest is None:
            body = _encode(text)
            digest = self.hashed[id(text)] = hashlib.sha256(body).digest()
            self.bodies[digest] = body
        return digest

    def changed_texts(self) -> tuple[list[tuple[bytes, bytes]], list[tuple[bytes]]]:
        """The texts to insert (newly used) and to delete (no longer used)."""
        references = self.database.references
        new: list[tuple[bytes, bytes]] = []
        unused: list[tuple[bytes]] = []
        for digest, change in self.counts.items():
            before = references.get(digest, 0)
            if before == 0 and change > 0:
                new.append((digest, self.bodies[digest]))
            elif before > 0 and before + change == 0:
                unused.append((digest,))
        return new, unused

    def apply(self) -> None:
        database = self.database
        references = database.references
        for digest, change in self.counts.items():
            if change:
                total = references.get(digest, 0) + change
                if total:
                    references[digest] = total
                else:
                    references.pop(digest, None)
        for key, texts in self.texts.items():
            if texts is None:
                database.row_digests.pop(key, None)
                database.row_texts.pop(key, None)
            else:
                database.row_digests[key] = self.digests[key]
                database.row_texts[key] = texts
