"""The storage contract: what every durable copy of the store provides.

A daemon keeps its documents in the in-memory ``Store``; a ``Storage`` is
where their rows outlive the process.  Three implementations keep the same
promises, and ``tests/test_storage_contract.py`` holds them all to them:

- ``MemoryStorage`` (``memory.py``): rows in this process only, the
  reference implementation;
- ``SnapshotStorage`` (``disk.py``): the SQLite database, written without
  waiting for the disk;
- ``JournalStorage`` (``disk.py``): every write one fdatasynced journal
  record, checkpointed into the database now and then by a thread of its
  own (``checkpoint.py``).

The group committer (``committer.py``) copies changed rows on the reactor
thread and hands them to ``write`` on one storage thread; ``open`` runs
before that thread starts and ``close`` after it ended, so an
implementation never sees two calls at once.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from mobwrite.core.store import Store
from mobwrite.storage.rows import Batch, StoredDocument, StoredLog


@dataclass(frozen=True)
class Opened:
    """What ``open`` loaded: counts, journal records replayed, damage found."""

    documents: int
    views: int
    records: int = 0
    damage: str | None = None


class Storage(Protocol):
    """A durable copy of the store's documents and views."""

    # Where the rows are, for log lines.
    location: str
    # True if ``write`` returns only once the batch would survive a crash
    # (replies then wait for it); False if a crash may lose recent writes.
    waits_for_disk: bool

    def open(self, store: Store) -> Opened:
        """Open the medium (refusing a damaged one with ``StorageError``, and
        releasing what it took) and put every stored row into *store*, equal
        texts as one string (the identity fast paths expect it)."""

    def load_document(self, name: str) -> StoredDocument | None:
        """The document called *name* and its views as stored, or None; its
        revision log whole or (``tail``) only the end appending needs."""

    def load_log(self, name: str, head: int) -> StoredLog:
        """The rows of document *name*'s revision log numbered up to *head*
        (the rest of a log loaded as its tail)."""

    def write(self, batch: Batch) -> None:
        """Store *batch*: all of it or, raising, none of it."""

    def maintain(self) -> None:
        """Background work between writes (starting a checkpoint when one is due)."""

    def failure(self) -> str | None:
        """Why background work last failed, until it succeeds again."""

    def close(self) -> None:
        """Make everything written last (a final checkpoint), then release the
        medium, even if that checkpoint raises."""
