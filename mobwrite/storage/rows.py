"""What storage reads and writes: rows copied from the store, in batches.

A row is the state of one document or one view at the moment it was
copied; a batch maps each changed name to its row, or to None for a row to
delete.  A batch also carries, in order, what happened to revision logs
(docs/history.md): rows appended, revisions pruned, logs dropped.  Rows are plain tuples of immutable values, so a batch copied on the
reactor thread can be written on another while the store moves on.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import NamedTuple, Protocol

from mobwrite.core.revisions import (
    Appended,
    Pruned,
    RevisionError,
    RevisionLog,
    RevisionRow,
    SnapshotRow,
)
from mobwrite.core.store import Changes, Store, ViewKey
from mobwrite.logs import logger

_log = logger("storage")

# What happened to one document's revision log, applied in order: rows to
# write (a revision replaces the one of its number), revisions up to a base
# (and snapshots before it) to delete, or (None) the whole log to delete.
HistoryChange = tuple[str, Appended | Pruned | None]


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
    history: list[HistoryChange] = field(default_factory=list)
    # Documents the store let go (all stored before): storage may drop what it
    # keeps in memory about them.  Not rows: nothing is written for them.
    forget: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.documents) + len(self.views) + len(self.history)

    def merge(self, later: Batch) -> None:
        """Add the rows of *later*, which replace those of the same name."""
        self.documents.update(later.documents)
        self.views.update(later.views)
        self.history.extend(later.history)


@dataclass
class StoredLog:
    """The revision and snapshot rows of one document's log."""

    revisions: dict[int, RevisionRow] = field(default_factory=dict)
    snapshots: dict[int, SnapshotRow] = field(default_factory=dict)


def apply_history(logs: dict[str, StoredLog], changes: Iterable[HistoryChange]) -> None:
    """Apply *changes* to *logs* (rows by document), in order."""
    for name, change in changes:
        if change is None:
            logs.pop(name, None)
            continue
        log = logs.setdefault(name, StoredLog())
        if isinstance(change, Pruned):
            for number in [n for n in log.revisions if n <= change.base]:
                del log.revisions[number]
            for number in [n for n in log.snapshots if n < change.base]:
                del log.snapshots[number]
        else:
            log.revisions[change.row.number] = change.row
        if change.snapshot is not None:
            log.snapshots[change.snapshot.number] = change.snapshot


class Rows(NamedTuple):
    """Every row of a store: what a dump holds."""

    documents: list[DocumentRow]
    views: list[ViewRow]
    logs: dict[str, StoredLog]


def log_changes(logs: Mapping[str, StoredLog]) -> list[HistoryChange]:
    """The changes that write *logs* into a store holding none of them."""
    changes: list[HistoryChange] = []
    for name in sorted(logs):
        stored = logs[name]
        snapshots = dict(stored.snapshots)
        if not snapshots:
            continue
        base = min(snapshots)
        changes.append((name, Pruned(base, snapshots.pop(base))))
        for number in sorted(stored.revisions):
            changes.append((name, Appended(stored.revisions[number], False,
                                           snapshots.pop(number, None))))
    return changes


class StoredTail(NamedTuple):
    """The end of a stored revision log, all a store needs to append to it
    (``RevisionLog.tail``): the newest revision (None if none is kept) and
    the newest snapshot's number.  The rest is read when something reads
    the document's revisions (``load_log``)."""

    last: RevisionRow | None
    snapshot: int

    @property
    def head(self) -> int:
        """The number of the stored text's revision."""
        return self.snapshot if self.last is None else self.last.number


def tail_of(log: StoredLog | None) -> StoredTail | None:
    """The tail of *log* (None without a snapshot: no log to go on with)."""
    if log is None or not log.snapshots:
        return None
    last = log.revisions[max(log.revisions)] if log.revisions else None
    return StoredTail(last, max(log.snapshots))


def up_to(log: StoredLog | None, head: int) -> StoredLog:
    """The rows of *log* numbered up to *head*."""
    if log is None:
        return StoredLog()
    return StoredLog({n: row for n, row in log.revisions.items() if n <= head},
                     {n: row for n, row in log.snapshots.items() if n <= head})


def tail_after(tail: StoredTail | None, changes: Iterable[HistoryChange]) -> StoredTail | None:
    """*tail* once the newer *changes* (of its document) are applied, in order."""
    for _, change in changes:
        if change is None:
            tail = None
            continue
        snapshot = None if change.snapshot is None else change.snapshot.number
        if isinstance(change, Pruned):
            last = None if tail is None or (
                tail.last is not None and tail.last.number <= change.base) else tail.last
        else:
            last = change.row
        if tail is not None and (snapshot is None or tail.snapshot > snapshot):
            snapshot = tail.snapshot
        tail = None if snapshot is None else StoredTail(last, snapshot)
    return tail


@dataclass(frozen=True)
class StoredDocument:
    """One document as stored: its row (None if null) and its views' rows,
    and its revision log: whole (``log``) or only its tail (``tail``)."""

    name: str
    document: DocumentRow | None
    views: tuple[ViewRow, ...]
    log: StoredLog | None = None
    tail: StoredTail | None = None


def snapshot(store: Store, changes: Changes, forget: list[str] | None = None) -> Batch:
    """Copy the current state of everything *changes* names."""
    batch = Batch(history=changes.revisions, forget=forget or [])
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


def put(store: Store, documents: Iterable[DocumentRow], views: Iterable[ViewRow],
        logs: Mapping[str, StoredLog] | None = None) -> None:
    """Load stored rows into *store* (documents first, then their views, and
    the revision logs of the documents loaded).

    Log rows that do not make a log are left out with a warning: the
    document loads, and its next change starts a new log that replaces them.
    """
    for row in documents:
        store.add_document(row.name, row.text, row.lasttime)
        stored = logs.get(row.name) if logs else None
        if stored is not None and store.history:
            try:
                log = RevisionLog.from_rows(stored.revisions.values(), stored.snapshots.values())
            except RevisionError as error:
                _damaged(row.name, error, "its history starts again at its next change")
                continue
            store.add_log(row.name, log)
    for view in views:
        store.add_view(view.user, view.name, view.lasttime, view.shadow, view.backup_shadow,
                       view.client_version, view.server_version,
                       view.backup_server_version, list(view.edit_stack))


def overlay(stored: StoredDocument | None, name: str, batch: Batch) -> StoredDocument | None:
    """*stored* (document *name* as an older copy holds it) with the rows of
    *batch*, which are newer, applied (to its log's tail if it holds a tail)."""
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
    changes = [change for change in batch.history if change[0] == name]
    if document is None and not views:
        return None
    if stored is None or stored.log is None:
        return StoredDocument(name, document, tuple(views.values()), tail=tail_after(
            None if stored is None else stored.tail, changes))
    logs = {name: StoredLog(dict(stored.log.revisions), dict(stored.log.snapshots))}
    apply_history(logs, changes)
    return StoredDocument(name, document, tuple(views.values()), logs.get(name))


def put_stored(storage: Loading, store: Store, name: str) -> bool:
    """Put document *name*, as *storage* holds it, into *store* (the store's
    loader, core/store.py); False if nothing is stored under that name.

    A log stored as its tail goes in as a tail: the store asks for the
    whole log (``whole_log``) when something first reads its revisions.
    """
    stored = storage.load_document(name)
    if stored is None:
        return False
    document = stored.document
    put(store, () if document is None else (document,), stored.views,
        None if stored.log is None else {name: stored.log})
    tail = stored.tail
    if tail is not None and document is not None and store.history:
        try:
            log = RevisionLog.tail(document.text, tail.last, tail.head, tail.snapshot)
        except RevisionError as error:
            _damaged(name, error, "its history starts again at its next change")
            return True
        store.add_log(name, log, functools.partial(whole_log, storage, name, log.base, tail.head))
    return True


def whole_log(storage: Loading, name: str, base: int, head: int, tail: RevisionLog
              ) -> RevisionLog:
    """The whole log of document *name*, loaded as *tail* (of *base* and *head*
    then): the stored rows up to *head*, the tail's later ones.  A tail pruned
    since (its base moved) holds all there is; a damaged log stays the tail."""
    if tail.base != base:
        return tail
    older = storage.load_log(name, head)
    revisions, snapshots = tail.rows()
    try:
        whole = RevisionLog.from_rows(
            [*older.revisions.values(), *(row for row in revisions if row.number > head)],
            [*older.snapshots.values(), *(row for row in snapshots if row.number > head)],
            open_since=tail.open_since)
    except RevisionError as error:
        _damaged(name, error, _TAIL_ONLY)
        return tail
    if whole.text != tail.text:
        _damaged(name, "its revisions do not lead to its text", _TAIL_ONLY)
        return tail
    return whole


_TAIL_ONLY = "only its latest revision can be read"


def _damaged(name: str, error: object, outcome: str) -> None:
    _log.warn("the revisions of document {name} are damaged ({error}); {outcome}",
              name=name, error=str(error), outcome=outcome)


class Loading(Protocol):
    """What ``put_stored`` needs of a storage."""

    def load_document(self, name: str) -> StoredDocument | None: ...

    def load_log(self, name: str, head: int) -> StoredLog:
        """The stored rows of document *name*'s log numbered up to *head*."""
