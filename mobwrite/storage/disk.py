"""Storage in a data directory: the SQLite database and the commit journal.

Both implementations open the database and replay whatever the journal
holds (a daemon may have run with ``--durability sync`` before), so that
switching modes never loses a journaled edit.  ``SnapshotStorage`` then
writes straight to the database without waiting for the disk;
``JournalStorage`` makes each write one fdatasynced journal record and
moves the records into the database in checkpoints, on a thread of their
own (``checkpoint.py``).
"""

from __future__ import annotations

from pathlib import Path

from mobwrite.core.cache import StoredUse
from mobwrite.core.store import Store, ViewKey
from mobwrite.storage.checkpoint import Checkpointer
from mobwrite.storage.contract import Opened
from mobwrite.storage.dump import store_rows
from mobwrite.storage.journal import CHECKPOINT_BYTES, JOURNAL_NAMES, Journal, recover
from mobwrite.storage.rows import (
    Batch,
    Rows,
    StorageError,
    StoredDocument,
    StoredLog,
    apply_history,
    overlay,
    up_to,
)
from mobwrite.storage.sqlite import Database


class SnapshotStorage:
    """The database alone: fast, and a crash may lose the latest writes."""

    waits_for_disk = False

    def __init__(self, directory: Path, fsync: bool = False) -> None:
        self.database = Database(directory, fsync=fsync)
        first, second = (Journal(directory, b"", name) for name in JOURNAL_NAMES)
        self.journals = (first, second)
        self.location = str(self.database.path)

    def open(self, store: Store) -> Opened:
        """Open the directory; *store* loads its documents on demand (``load_document``)."""
        try:
            self.database.open()
            for journal in self.journals:
                journal.identity = self.database.identity
            replay = recover(self.database, *self.journals)
            self._opened()
        except StorageError:
            self._release()
            raise
        return Opened(self.database.documents, self.database.views, replay.records,
                      replay.damage)

    def use(self) -> StoredUse:
        """The bytes the database uses and the documents it holds, as of the latest write."""
        return StoredUse(self.database.used_bytes, self.database.documents)

    def names(self, prefix: str, after: str, limit: int) -> list[str]:
        """The store's catalogue (core/store.py): stored names, in order."""
        return self.database.names(prefix, after, limit)

    def stale(self, views_before: float, documents_before: float | None,
              limit: int = 1000) -> tuple[list[ViewKey], list[str]]:
        """Stored views and documents idle long enough to expire (see ``Database.stale``)."""
        return self.database.stale(views_before, documents_before, limit)

    def rows(self) -> Rows:
        """Every stored row (for a dump); call it on the writer thread."""
        copy = Store(max_chars=0)
        self.database.load(copy)
        return store_rows(copy)

    def _opened(self) -> None:
        """What follows a successful load (nothing here)."""

    def load_document(self, name: str) -> StoredDocument | None:
        return self.database.load_document(name)

    def load_log(self, name: str, head: int) -> StoredLog:
        return self.database.load_log(name, head)

    def write(self, batch: Batch) -> None:
        self.database.write(batch)

    def maintain(self) -> None:
        """Nothing to do in the background."""

    def failure(self) -> str | None:
        return None

    def close(self) -> None:
        self._release()

    def _release(self) -> None:
        for journal in self.journals:
            journal.close()
        self.database.close()


class JournalStorage(SnapshotStorage):
    """Journal first, database in checkpoints: nothing acknowledged is lost."""

    waits_for_disk = True

    def __init__(self, directory: Path, checkpoint_bytes: int = CHECKPOINT_BYTES) -> None:
        super().__init__(directory, fsync=True)
        # The rows journaled since the last checkpoint stay in memory (loads
        # read them): twice *checkpoint_bytes* bounds them too.
        self.checkpointer = Checkpointer(self.database, self.journals,
                                         max_bytes=checkpoint_bytes)
        # Documents stored, those journaled since the last checkpoint included.
        self.documents = 0

    def _opened(self) -> None:
        for journal in self.journals:
            journal.start(self.database.generation)
        self.documents = self.database.documents

    def use(self) -> StoredUse:
        # Journaled rows count before their checkpoint: they are on disk already.
        return StoredUse(self.database.used_bytes + self.checkpointer.journaled_bytes(),
                         self.documents)

    def load_document(self, name: str) -> StoredDocument | None:
        # Rows journaled since the last checkpoint are newer than the database's;
        # taken first, so that a checkpoint in between loses none of them.
        journaled = self.checkpointer.journaled(name)
        return overlay(self.database.load_document(name), name, journaled)

    def load_log(self, name: str, head: int) -> StoredLog:
        journaled = self.checkpointer.journaled(name).history
        logs = {name: self.database.load_log(name, head)}
        apply_history(logs, journaled)
        return up_to(logs.get(name), head)

    def write(self, batch: Batch) -> None:
        if not batch:
            # Only documents let go: nothing to journal.
            self.checkpointer.forget(batch.forget)
            return
        pending = self.checkpointer.pending.documents
        frozen = self.checkpointer.frozen.documents
        added = 0
        for name, row in batch.documents.items():
            if name in pending:
                existed = pending[name] is not None
            elif name in frozen:
                existed = frozen[name] is not None
            else:
                existed = self.database.holds(name)
            added += (row is not None) - existed
        self.checkpointer.write(batch)
        self.documents += added
        self.checkpointer.forget(batch.forget)

    def names(self, prefix: str, after: str, limit: int) -> list[str]:
        # Documents journaled since the last checkpoint, created or deleted, count too.
        journaled = self.checkpointer.journaled_documents()
        deleted = sum(row is None for row in journaled.values())
        stored = set(self.database.names(prefix, after, limit + deleted))
        for name, row in journaled.items():
            if row is None:
                stored.discard(name)
            elif name.startswith(prefix) and name > after:
                stored.add(name)
        return sorted(stored)[:limit]

    def stale(self, views_before: float, documents_before: float | None,
              limit: int = 1000) -> tuple[list[ViewKey], list[str]]:
        # A document journaled since the last checkpoint is not idle, whatever
        # the database says.
        views, names = super().stale(views_before, documents_before, limit)
        recent = self.checkpointer.journaled_names()
        return ([key for key in views if key[1] not in recent],
                [name for name in names if name not in recent])

    def rows(self) -> Rows:
        self.checkpointer.checkpoint()
        return super().rows()

    def maintain(self) -> None:
        self.checkpointer.maintain()

    def failure(self) -> str | None:
        return self.checkpointer.failing

    def close(self) -> None:
        try:
            self.checkpointer.checkpoint()
        finally:
            self._release()
