"""The commit journal: each group commit is one record appended to a file.

In ``--durability sync`` a commit appends one record holding the batch's
rows to ``mobwrite.journal`` and fdatasyncs it: one write and one flush of a
preallocated file, cheaper than an SQLite transaction.  Now and then (past
``CHECKPOINT_BYTES`` or ``CHECKPOINT_SECONDS``, and at shutdown) the rows
journaled since the last checkpoint are merged (later rows win: each is a
full state) and written to the database in one transaction, which also
records the journal generation they belong to; the journal then starts over
at its beginning with the next generation.

At start-up the records of the database's generation or later are replayed
in order until the first one that is torn or invalid (a crash while
appending), checkpointed at once, and the file is started afresh.  Records
of older generations are already in the database and are skipped, so a
crash between a checkpoint and the journal's restart is harmless.  Valid
records after an invalid one mean damage, not a crash: it is reported and
the file is kept aside.  After a checkpoint that failed, the records that
follow take the next generation, so that they replay even if the failed
transaction did reach the disk.

A record is a header (magic, database identity, generation, sequence,
payload length, CRC-32 of the payload) and a payload: the length of a JSON
head, the head (text lengths, then documents and views that refer to texts
by index), then the texts as UTF-8 (surrogatepass).  A string shared by
several rows is written once.  Like ``sqlite``, nothing here knows
about Twisted.
"""

from __future__ import annotations

import json
import os
import sqlite3
import struct
import threading
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from mobwrite.core.revisions import Appended, Pruned, RevisionRow, SnapshotRow
from mobwrite.storage.rows import Batch, DocumentRow, StorageError, ViewRow
from mobwrite.storage.sqlite import DATABASE_NAME, Database

JOURNAL_NAME = "mobwrite.journal"
MAGIC = b"MWJ1"
# magic, database identity, generation, sequence, payload length, CRC-32
_HEADER = struct.Struct("<4s8sQQII")
_HEAD_LENGTH = struct.Struct("<I")
# The file grows by whole preallocated chunks, so that an append changes no
# file size and fdatasync need not write the inode for it.
CHUNK = 4 << 20
# A checkpoint writes every row journaled since the last one to SQLite and
# holds up the commits behind it: with 1 MB documents, 16 MB journals
# checkpointed every second or so and doubled the p99 latency; 64 MB halved
# the CPU per sync of ten editors on ten 1 MB documents.
CHECKPOINT_BYTES = 64 << 20
CHECKPOINT_SECONDS = 30.0


def encode(batch: Batch) -> bytes:
    """The payload of one record holding *batch*."""
    texts: list[bytes] = []
    numbers: dict[int, int] = {}

    def number(text: str) -> int:
        # The batch keeps every text alive while this runs, so id() is safe.
        found = numbers.get(id(text))
        if found is None:
            found = numbers[id(text)] = len(texts)
            texts.append(text.encode("utf-8", "surrogatepass"))
        return found

    documents = [[name, None] if row is None else [name, number(row.text), row.lasttime]
                 for name, row in batch.documents.items()]
    views: list[list[object]] = []
    for (user, name), view in batch.views.items():
        if view is None:
            views.append([user, name])
            continue
        shadow = number(view.shadow)
        backup = shadow if view.backup_shadow == view.shadow else number(view.backup_shadow)
        views.append([user, name, shadow, backup, view.client_version, view.server_version,
                      view.backup_server_version, view.edit_stack, view.lasttime])
    history: list[list[object]] = []
    for name, change in batch.history:
        if change is None:
            history.append([name])
            continue
        snapshot = change.snapshot
        kept: list[object] = ([None, None] if snapshot is None
                              else [snapshot.number, number(snapshot.text)])
        if isinstance(change, Pruned):
            history.append([name, "p", change.base, *kept])
        else:
            history.append([name, "a", *change.row, change.folded, *kept])
    # ASCII JSON: lone surrogates in names or edits travel as \\u escapes.
    head = json.dumps([[len(text) for text in texts], documents, views, history],
                      separators=(",", ":")).encode("ascii")
    return b"".join([_HEAD_LENGTH.pack(len(head)), head, *texts])


def decode(payload: bytes) -> Batch:
    """The batch in a payload written by ``encode``."""
    size, = _HEAD_LENGTH.unpack_from(payload)
    start = _HEAD_LENGTH.size
    # Records written before revision logs have no fourth part.
    lengths, documents, views, *rest = json.loads(payload[start:start + size])
    offset = start + size
    texts: list[str] = []
    for length in lengths:
        texts.append(payload[offset:offset + length].decode("utf-8", "surrogatepass"))
        offset += length
    batch = Batch()
    for name, text, *lasttime in documents:
        batch.documents[name] = None if text is None else DocumentRow(
            name, texts[text], *lasttime)
    for user, name, *row in views:
        batch.views[user, name] = None if not row else ViewRow(
            user, name, texts[row[0]], texts[row[1]], row[2], row[3], row[4],
            tuple((version, edit) for version, edit in row[5]), row[6])
    for name, *change in rest[0] if rest else ():
        if not change:
            batch.history.append((name, None))
            continue
        number, index = change[-2:]
        snapshot = None if number is None else SnapshotRow(number, texts[index])
        if change[0] == "p":
            batch.history.append((name, Pruned(change[1], snapshot)))
        else:
            batch.history.append((name, Appended(RevisionRow(*change[1:6]), change[6], snapshot)))
    return batch


@dataclass
class Replay:
    """What start-up found in the journal."""

    batch: Batch
    records: int = 0
    generation: int = 0
    damage: str | None = None


class Journal:
    """The journal file: read once at start-up, then appended to."""

    def __init__(self, directory: Path, identity: bytes) -> None:
        self.path = directory / JOURNAL_NAME
        self.identity = identity
        self.fd = -1
        self.generation = 0
        self.sequence = 0
        self.position = 0
        self.allocated = 0

    def replay(self, generation: int) -> Replay:
        """The rows of the records of *generation* or later, merged in order."""
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            return Replay(Batch(), generation=generation)
        except OSError as error:
            raise StorageError(f"cannot read {self.path}: {error}") from None
        replay = Replay(Batch(), generation=generation)
        position = sequence = 0
        previous = generation
        while (record := self._record(data, position, sequence)) is not None:
            record_generation, payload = record
            if sequence and record_generation < previous:
                break  # left from an earlier pass over the file
            previous = record_generation
            if record_generation >= generation:
                try:
                    replay.batch.merge(decode(payload))
                except (ValueError, TypeError, IndexError) as error:
                    raise StorageError(
                        f"{self.path} holds a record that cannot be read ({error}); "
                        "it was left as it is.") from None
                replay.records += 1
                replay.generation = record_generation
            sequence += 1
            position += _HEADER.size + len(payload)
        if position == 0 and data[:4] == MAGIC and data[4:12] != self.identity:
            raise StorageError(
                f"{self.path} belongs to another database than {DATABASE_NAME} (was that "
                "moved away without it?); it was left as it is. Move it away too, or "
                "put its database back.")
        replay.damage = self._damage(data, position, replay.generation)
        return replay

    def _record(self, data: bytes, position: int, sequence: int) -> tuple[int, bytes] | None:
        """The generation and payload of a whole, valid record of this
        database with *sequence* at *position*, or None."""
        if position + _HEADER.size > len(data):
            return None
        magic, identity, generation, found, length, crc = _HEADER.unpack_from(data, position)
        start = position + _HEADER.size
        if (magic != MAGIC or identity != self.identity or found != sequence
                or start + length > len(data)):
            return None
        payload = data[start:start + length]
        return (generation, payload) if zlib.crc32(payload) == crc else None

    def _damage(self, data: bytes, stop: int, generation: int) -> str | None:
        """Why a later valid record of this pass was not replayed, if there is one."""
        marker = MAGIC + self.identity
        position = data.find(marker, stop + 1)
        while position >= 0:
            sequence = _HEADER.unpack_from(data, position)[3] if (
                position + _HEADER.size <= len(data)) else 0
            record = self._record(data, position, sequence)
            if record is not None and record[0] >= generation:
                return (f"{self.path} is damaged at byte {stop}: valid records after it "
                        "were not replayed")
            position = data.find(marker, position + 1)
        return None

    def set_aside(self) -> Path:
        """Rename the file (a damaged one, kept for inspection); return its new path."""
        number = 1
        while (kept := self.path.with_name(f"{JOURNAL_NAME}.damaged.{number}")).exists():
            number += 1
        try:
            os.replace(self.path, kept)
        except OSError as error:
            raise StorageError(f"cannot rename {self.path} to {kept}: {error}") from None
        return kept

    def start(self, generation: int) -> None:
        """Open the file emptied and preallocated, to append *generation*."""
        try:
            self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
            os.ftruncate(self.fd, 0)
            self.allocated = 0
            self._grow(CHUNK)
            directory = os.open(self.path.parent, os.O_RDONLY)
            try:
                os.fsync(directory)
            finally:
                os.close(directory)
        except OSError as error:
            self.close()
            raise StorageError(f"cannot prepare {self.path}: {error}") from None
        self.restart(generation)

    def restart(self, generation: int) -> None:
        """Append from the beginning again, as *generation*; shrink a file
        that one big batch blew up."""
        self.generation, self.sequence, self.position = generation, 0, 0
        if self.allocated > 2 * CHECKPOINT_BYTES:
            os.ftruncate(self.fd, CHECKPOINT_BYTES)
            os.fsync(self.fd)
            self.allocated = CHECKPOINT_BYTES

    def _grow(self, size: int) -> None:
        size = -(-size // CHUNK) * CHUNK
        os.posix_fallocate(self.fd, self.allocated, size - self.allocated)
        os.fsync(self.fd)
        self.allocated = size

    def append(self, batch: Batch) -> None:
        """Write *batch* as the next record and wait until it is on disk.

        On failure nothing advances: the next record is written in its place.
        """
        payload = encode(batch)
        header = _HEADER.pack(MAGIC, self.identity, self.generation, self.sequence,
                              len(payload), zlib.crc32(payload))
        end = self.position + len(header) + len(payload)
        if end > self.allocated:
            self._grow(end)
        written = os.pwritev(self.fd, [header, payload], self.position)
        if written != end - self.position:
            raise OSError(f"short write to {self.path} ({written} bytes)")
        os.fdatasync(self.fd)
        self.position = end
        self.sequence += 1

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


def recover(database: Database, journal: Journal) -> Replay:
    """Move the journal's records into the database (documents are then
    loaded from the database as they are needed).

    The replayed rows are checkpointed into the database, so that the
    journal can start over; a damaged journal is then set aside (renamed).
    Returns what was replayed.
    """
    replay = journal.replay(database.generation)
    if replay.records:
        try:
            database.write(replay.batch, generation=replay.generation + 1)
        except sqlite3.Error as error:
            raise StorageError(
                f"cannot write the records of {journal.path} to {database.path} ({error}); "
                "both were left as they are.") from None
    if replay.damage:
        replay.damage += f"; it was kept as {journal.set_aside()}"
    return replay


class Checkpointer:
    """Journals each batch, and moves what was journaled into the database.

    Used from the one storage thread, but for ``journaled``, which the
    store's loader calls on another: the rows journaled since the last
    checkpoint are also kept by document, under a lock, for it.
    """

    def __init__(self, database: Database, journal: Journal,
                 clock: Callable[[], float] = time.monotonic,
                 max_bytes: int = CHECKPOINT_BYTES,
                 max_seconds: float = CHECKPOINT_SECONDS) -> None:
        self.database = database
        self.journal = journal
        self.clock = clock
        self.max_bytes = max_bytes
        self.max_seconds = max_seconds
        self.pending = Batch()
        self.by_name: dict[str, Batch] = {}
        self.lock = threading.Lock()
        self.since = 0.0
        # After a failed checkpoint, the next waits as long as the age limit
        # (rather than being retried, and logged, after every commit).
        self.retry_at = 0.0
        self.failing: str | None = None

    def write(self, batch: Batch) -> None:
        """Journal *batch*; once this returns it is durable."""
        self.journal.append(batch)
        if not self.pending:
            self.since = self.clock()
        with self.lock:
            self.pending.merge(batch)
            by_name = self.by_name
            for name, document in batch.documents.items():
                by_name.setdefault(name, Batch()).documents[name] = document
            for key, view in batch.views.items():
                by_name.setdefault(key[1], Batch()).views[key] = view
            for change in batch.history:
                by_name.setdefault(change[0], Batch()).history.append(change)

    def journaled_documents(self) -> dict[str, DocumentRow | None]:
        """A copy of the document rows journaled since the last checkpoint."""
        with self.lock:
            return dict(self.pending.documents)

    def journaled_names(self) -> set[str]:
        """The documents with rows journaled since the last checkpoint."""
        with self.lock:
            return set(self.by_name)

    def journaled(self, name: str) -> Batch:
        """A copy of the rows of document *name* journaled since the last
        checkpoint (newer than the database's)."""
        with self.lock:
            rows = self.by_name.get(name)
            if rows is None:
                return Batch()
            return Batch(dict(rows.documents), dict(rows.views), list(rows.history))

    def due(self) -> bool:
        if not self.pending:
            return False
        now = self.clock()
        return now >= self.retry_at and (
            self.journal.position >= self.max_bytes or now - self.since >= self.max_seconds)

    def checkpoint(self) -> None:
        """Write the journaled rows to the database; restart the journal."""
        if not self.pending:
            return
        generation = self.journal.generation + 1
        try:
            self.database.write(self.pending, generation=generation)
        except BaseException as error:
            # The database may hold *generation* after all (a failed flush
            # that still reached the disk): later records use it, so that
            # they are replayed whatever the database says.
            self.journal.generation = generation
            self.retry_at = self.clock() + self.max_seconds
            self.failing = f"checkpoint failed: {error}"
            raise
        self.failing = None
        self.journal.restart(generation)
        with self.lock:
            self.pending = Batch()
            self.by_name = {}
