"""Storage that keeps rows in this process: the reference implementation.

It outlives a close and reopen of the same object, not the process; the
contract tests run it beside the disk implementations, and anything that
wants the storage behaviour without a data directory can use it.
"""

from __future__ import annotations

from mobwrite.core.store import Store
from mobwrite.storage.contract import Opened
from mobwrite.storage.rows import (
    Batch,
    StoredDocument,
    StoredLog,
    apply_history,
    overlay,
    tail_of,
    up_to,
)


class MemoryStorage:
    """Every row written so far, in a batch that holds no deletions."""

    location = "memory"
    waits_for_disk = False

    def __init__(self) -> None:
        self.rows = Batch()
        self.logs: dict[str, StoredLog] = {}

    def open(self, store: Store) -> Opened:
        """Nothing to open: *store* loads documents on demand (``load_document``)."""
        return Opened(sum(row is not None for row in self.rows.documents.values()),
                      sum(row is not None for row in self.rows.views.values()))

    def load_document(self, name: str) -> StoredDocument | None:
        # Equal texts are loaded as one string, as the identity fast paths
        # expect of a shadow equal to its master (docs/architecture.md).
        stored = overlay(None, name, self.rows)
        if stored is None:
            return None
        texts: dict[str, str] = {}
        document = stored.document
        if document is not None:
            document = document._replace(text=texts.setdefault(document.text, document.text))
        views = tuple(row._replace(
            shadow=texts.setdefault(row.shadow, row.shadow),
            backup_shadow=texts.setdefault(row.backup_shadow, row.backup_shadow))
            for row in stored.views)
        # Only the log's tail, as the database gives it.
        return StoredDocument(name, document, views, tail=tail_of(self.logs.get(name)))

    def load_log(self, name: str, head: int) -> StoredLog:
        return up_to(self.logs.get(name), head)

    def write(self, batch: Batch) -> None:
        self.rows.documents.update(batch.documents)
        self.rows.views.update(batch.views)
        apply_history(self.logs, batch.history)
        for name in [name for name, row in batch.documents.items() if row is None]:
            del self.rows.documents[name]
        for key in [key for key, row in batch.views.items() if row is None]:
            del self.rows.views[key]

    def maintain(self) -> None:
        """Nothing to do in the background."""

    def failure(self) -> str | None:
        return None

    def close(self) -> None:
        """Nothing to release: the rows stay for the next ``open``."""
