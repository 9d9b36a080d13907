"""What the store's cache charges for the memory it holds (docs/operating.md).

The store keeps a running count of the bytes its documents hold, so that
``MAX_MEMORY`` is checked without walking anything: each document is
charged for its text and revision log, each view for the texts it holds
apart from the master, and each is charged again whenever it changes.
The charges are estimates of what CPython holds (``sys.getsizeof`` of each
string and a fixed cost per object), a little on the high side.

A daemon on a shared database (docs/postgresql.md) has one store per
worker: ``Caches`` gives each an equal share of ``MAX_MEMORY`` and adds up
their figures for /metrics and /status.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from sys import getsizeof
from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    from mobwrite.core.changes import Change
    from mobwrite.core.revisions import RevisionLog
    from mobwrite.core.store import Document, Store, View

# The objects around a document or view (the record, its table entries, the
# store's order of use), measured with tracemalloc on CPython 3.11.
DOCUMENT_BYTES = 600
VIEW_BYTES = 700
# A revision's record and its change's tuples, besides the changed text.
REVISION_BYTES = 250
# A document that several views share keeps its recent changes for lagging
# views (core/recent.py): charged as one more copy of its text.
SHARED_FACTOR = 1
# A pass that frees memory goes this far below the budget, so that the next
# few new documents do not each start another pass.
LOW_WATER = 0.9


def text_bytes(text: str | None) -> int:
    """The memory a string holds (nothing for a null text)."""
    return 0 if text is None else getsizeof(text)


def document_bytes(document: Document) -> int:
    """What a document's text (and, if shared, its recent changes) holds."""
    text = text_bytes(document.text)
    return DOCUMENT_BYTES + text * (1 + (SHARED_FACTOR if document.views > 1 else 0))


def view_bytes(view: View) -> int:
    """What a view holds beyond the master: its shadows and edit stack."""
    master = view.document.text
    held = VIEW_BYTES
    shadow, backup = view.shadow, view.backup_shadow
    if shadow is not master:
        held += getsizeof(shadow)
    if backup is not shadow and backup is not master:
        held += getsizeof(backup)
    for _, line in view.edit_stack:
        held += getsizeof(line)
    return held


def log_bytes(log: RevisionLog) -> int:
    """What a revision log holds: its revisions' changes and its snapshots."""
    held = sum(text_bytes(text) for text in log.snapshot_texts())
    return held + sum(REVISION_BYTES + change_bytes(revision.change)
                      for revision in log.revisions)


def change_bytes(change: Change) -> int:
    """What one revision's change holds: the text it removed and added."""
    return sum(len(removed) + len(added) for _, removed, added in change)


@dataclass
class CacheCounts:
    """What the cache did since start-up, for /metrics."""

    loads: int = 0
    misses: int = 0
    evictions: int = 0


class StoredUse(NamedTuple):
    """What storage holds, as of its latest write: bytes used, documents."""

    bytes: int
    documents: int


class CacheFigures(NamedTuple):
    """What a daemon's memory holds and its cache did, for /metrics and /status."""

    documents: int
    views: int
    buffers: int
    buffered_bytes: int
    held_bytes: int
    max_memory: int
    # What storage holds (None: nothing is stored).
    stored: StoredUse | None
    counts: CacheCounts


def cache_figures(stores: Iterable[Store], max_memory: int,
                  stored: StoredUse | None) -> CacheFigures:
    """The figures of *stores* added up (read from any thread: sizes only)."""
    documents = views = buffers = buffered = held = loads = misses = evictions = 0
    for store in stores:
        documents += len(store.documents)
        views += len(store.views)
        buffers += len(store.buffers)
        buffered += store.buffered_bytes
        held += store.held_bytes
        counts = store.counts
        loads += counts.loads
        misses += counts.misses
        evictions += counts.evictions
    return CacheFigures(documents, views, buffers, buffered, held, max_memory, stored,
                        CacheCounts(loads, misses, evictions))


def store_figures(store: Store) -> CacheFigures:
    """The figures of the embedded daemon's one store."""
    stored = None if store.storage_use is None else store.storage_use()
    return cache_figures((store,), store.max_memory, stored)


@dataclass
class Caches:
    """The stores of a daemon's workers, each caching on its own, seen as one
    (each may hold its share of *max_memory*); *storage_use* says what
    storage holds."""

    max_memory: int
    storage_use: Callable[[], StoredUse] | None = None
    stores: list[Store] = field(default_factory=list)

    def share(self, workers: int) -> int:
        """The bytes each of *workers* stores may hold (0: no limit)."""
        return self.max_memory and max(1, self.max_memory // workers)

    def figures(self) -> CacheFigures:
        stored = None if self.storage_use is None else self.storage_use()
        return cache_figures(list(self.stores), self.max_memory, stored)
