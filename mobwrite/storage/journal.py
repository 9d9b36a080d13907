"""The commit journal: each group commit is one record appended to a file.

In ``--durability sync`` a commit appends one record holding the batch's
rows to the current journal file and fdatasyncs it: one write and one
flush of a preallocated file, cheaper than an SQLite transaction.  Two
files, ``mobwrite.journal`` and ``mobwrite.journal.2``, take turns:
``checkpoint.py`` moves the rows of one into the database while commits go
to the other.  Every file records, with each record, the journal
generation it belongs to; the database records the generation it holds
everything before (``Database.write(..., generation=)``).

At start-up the records of the database's generation or later, from both
files, are replayed in generation order, each file until its first record
that is torn or invalid (a crash while appending), checkpointed at once,
and the files are started afresh.  Records of older generations are
already in the database and are skipped, so a crash between a checkpoint
and a file's reuse is harmless.  Valid records after an invalid one mean
damage, not a crash: it is reported and the file is kept aside.

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
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from mobwrite.core.revisions import Appended, Pruned, RevisionRow, SnapshotRow
from mobwrite.storage.rows import Batch, DocumentRow, StorageError, ViewRow
from mobwrite.storage.sqlite import DATABASE_NAME, Database

JOURNAL_NAME = "mobwrite.journal"
# The two files appended to in turn (``checkpoint.py``); the first keeps the
# name a single journal had, so older data directories recover.
JOURNAL_NAMES = (JOURNAL_NAME, JOURNAL_NAME + ".2")
MAGIC = b"MWJ1"
# magic, database identity, generation, sequence, payload length, CRC-32
_HEADER = struct.Struct("<4s8sQQII")
_HEAD_LENGTH = struct.Struct("<I")
# The file grows by whole preallocated chunks, so that an append changes no
# file size and fdatasync need not write the inode for it.
CHUNK = 4 << 20
# A file is checkpointed once it holds this much, or once its oldest record
# is this old (checkpoint.py).  When checkpoints held up the commits behind
# them, 64 MB halved the CPU per sync of ten editors on ten 1 MB documents
# (against 16 MB).
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
    """What start-up found in the journal files."""

    batch: Batch
    records: int = 0
    generation: int = 0
    damage: str | None = None
    # The files with valid records after a damaged one (to be set aside).
    damaged: list[Journal] = field(default_factory=list)


class Journal:
    """One journal file: read once at start-up, then appended to."""

    def __init__(self, directory: Path, identity: bytes, name: str = JOURNAL_NAME) -> None:
        self.path = directory / name
        self.identity = identity
        self.fd = -1
        self.generation = 0
        self.sequence = 0
        self.position = 0
        self.allocated = 0

    def read(self, generation: int) -> tuple[list[tuple[int, bytes]], str | None]:
        """The generation and payload of each record of *generation* or later,
        in order, and why later valid records were not taken (damage), if so."""
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            return [], None
        except OSError as error:
            raise StorageError(f"cannot read {self.path}: {error}") from None
        records: list[tuple[int, bytes]] = []
        position = sequence = 0
        previous = last = generation
        while (record := self._record(data, position, sequence)) is not None:
            record_generation, payload = record
            if sequence and record_generation < previous:
                break  # left from an earlier pass over the file
            previous = record_generation
            if record_generation >= generation:
                records.append(record)
                last = record_generation
            sequence += 1
            position += _HEADER.size + len(payload)
        if position == 0 and data[:4] == MAGIC and data[4:12] != self.identity:
            raise StorageError(
                f"{self.path} belongs to another database than {DATABASE_NAME} (was that "
                "moved away without it?); it was left as it is. Move it away too, or "
                "put its database back.")
        return records, self._damage(data, position, last)

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
        while (kept := self.path.with_name(f"{self.path.name}.damaged.{number}")).exists():
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


def replay(journals: Sequence[Journal], generation: int) -> Replay:
    """The rows of the records of *generation* or later in *journals*, merged
    in generation order (each file's records are in order, and the files'
    generations do not interleave: a switch always takes the next one)."""
    result = Replay(Batch(), generation=generation)
    found: list[tuple[int, bytes, Journal]] = []
    problems: list[str] = []
    for journal in journals:
        records, damage = journal.read(generation)
        found += [(record_generation, payload, journal) for record_generation, payload in records]
        if damage is not None:
            problems.append(damage)
            result.damaged.append(journal)
    found.sort(key=lambda record: record[0])
    for record_generation, payload, journal in found:
        try:
            result.batch.merge(decode(payload))
        except (ValueError, TypeError, IndexError) as error:
            raise StorageError(
                f"{journal.path} holds a record that cannot be read ({error}); "
                "it was left as it is.") from None
        result.records += 1
        result.generation = record_generation
    result.damage = "; ".join(problems) or None
    return result


def recover(database: Database, *journals: Journal) -> Replay:
    """Move the records of the journal files into the database (documents
    are then loaded from the database as they are needed).

    The replayed rows are checkpointed into the database, so that the
    journal can start over; a damaged file is then set aside (renamed).
    Returns what was replayed.
    """
    found = replay(journals, database.generation)
    if found.records:
        try:
            database.write(found.batch, generation=found.generation + 1)
        except sqlite3.Error as error:
            names = " and ".join(str(journal.path) for journal in journals)
            raise StorageError(
                f"cannot write the records of {names} to {database.path} ({error}); "
                "all were left as they are.") from None
    if found.damage:
        kept = ", ".join(str(journal.set_aside()) for journal in found.damaged)
        found.damage += f"; it was kept as {kept}"
    return found
