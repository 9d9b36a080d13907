"""What the store's cache charges for the memory it holds (docs/operating.md).

The store keeps a running count of the bytes its documents hold, so that
``MAX_MEMORY`` is checked without walking anything: each document is
charged for its text and revision log, each view for the texts it holds
apart from the master, and each is charged again whenever it changes.
The charges are estimates of what CPython holds (``sys.getsizeof`` of each
string and a fixed cost per object), a little on the high side.
"""

from __future__ import annotations

from dataclasses import dataclass
from sys import getsizeof
from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    from mobwrite.core.changes import Change
    from mobwrite.core.revisions import RevisionLog
    from mobwrite.core.store import Document, View

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
