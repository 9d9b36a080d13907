"""What storage reads and writes: rows copied from the store, in batches.

A row is the state of one document or one view at the moment it was
copied; a batch maps each changed name to its row, or to None for a row to
delete.  Rows are plain tuples of immutable values, so a batch copied on the
reactor thread can be written on another while the store moves on.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import NamedTuple

from mobwrite.core.store import Changes, Store, ViewKey


class StorageError(Exception):
    """The data directory cannot be used; the message says why and what to do."""


# Rows are named tuples, not frozen dataclasses: ``snapshot`` builds them on
# the reactor thread for every commit, and a tuple is five times cheaper.
class DocumentRow(NamedTuple):
    name: str
    text: str
    lasttime: float


class ViewRow(NamedTuple):
    user: str
    name: str
    shadow: str
    backup_shadow: str
    client_version: int
    server_version: int
    backup_server_version: int
    edit_stack: tuple[tuple[int, str], ...]
    lasttime: float


@dataclass
class Batch:
    """Rows to write (or, as None, to delete), copied from the store."""

    documents: dict[str, DocumentRow | None] = field(default_factory=dict)
    views: dict[ViewKey, ViewRow | None] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.documents) + len(self.views)

    def merge(self, later: Batch) -> None:
        """Add the rows of *later*, which replace those of the same name."""
        self.documents.update(later.documents)
        self.views.update(later.views)


@dataclass(frozen=True)
class StoredDocument:
    """One document as stored: its row (None if null) and its views' rows."""

    name: str
    document: DocumentRow | None
    views: tuple[ViewRow, ...]


def snapshot(store: Store, changes: Changes) -> Batch:
    """Copy the current state of everything *changes* names."""
    batch = Batch()
    documents, views = store.documents, store.views
    for name in changes.documents:
        document = documents.get(name)
        batch.documents[name] = (
            None if document is None or document.text is None
            else DocumentRow(name, document.text, document.lasttime))
    for key in changes.views:
        view = views.get(key)
        batch.views[key] = None if view is None else ViewRow(
            view.user, view.document.name, view.shadow, view.backup_shadow,
            view.client_version, view.server_version, view.backup_server_version,
            tuple(view.edit_stack), view.lasttime)
    return batch


def put(store: Store, documents: Iterable[DocumentRow], views: Iterable[ViewRow]) -> None:
    """Load stored rows into *store* (documents first, then their views)."""
    for row in documents:
        store.add_document(row.name, row.text, row.lasttime)
    for view in views:
        store.add_view(view.user, view.name, view.lasttime, view.shadow, view.backup_shadow,
                       view.client_version, view.server_version,
                       view.backup_server_version, list(view.edit_stack))


def overlay(stored: StoredDocument | None, name: str, batch: Batch) -> StoredDocument | None:
    """*stored* (document *name* as an older copy holds it) with the rows of
    *batch*, which are newer, applied."""
    document = stored.document if stored is not None else None
    views = {row.user: row for row in stored.views} if stored is not None else {}
    if name in batch.documents:
        document = batch.documents[name]
    for (user, view_name), row in batch.views.items():
        if view_name == name:
            if row is None:
                views.pop(user, None)
            else:
                views[user] = row
    if document is None and not views:
        return None
    return StoredDocument(name, document, tuple(views.values()))
