"""The in-memory store: documents, views and buffers (docs/protocol.md §7).

The store is the source of truth while the daemon runs.  It records which
documents and views changed so that persistence can write exactly those,
and it expires what has idled too long.  It never reads a clock: every
method that needs the time takes ``now``.

Other modules read the store through its read-only mappings and change it
only through its methods: ``document``/``create_view`` for the engine,
``add_document``/``add_view`` for a load from storage (no change recorded),
``remove_document``/``discard_view``, and ``take_changes``/``put_back``
for the committer.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType

from mobwrite.core.changes import ChangeError
from mobwrite.core.delta import Splice
from mobwrite.core.revisions import EDIT, Appended, Pruned, RevisionLog, SnapshotRow

ViewKey = tuple[str, str]

# The pushes of a view loaded from storage: never stored, so unknown.
UNKNOWN_PUSHES: tuple[tuple[int, str], ...] = ()

# Bookkeeping bytes charged against MAX_BUFFERED_BYTES for each buffer and
# each slot, so that empty fragments cannot pile up buffers for free.
ENTRY_OVERHEAD = 100


# A weak reference slot: the engine keeps per-document caches that must not
# outlive the document.
@dataclass(slots=True, eq=False, weakref_slot=True)
class Document:
    """A named shared text; ``text`` is None while the document is null."""

    name: str
    text: str | None
    lasttime: float
    views: int = 0


@dataclass(slots=True, eq=False)
class View:
    """What the server knows of one user's copy of one document."""

    user: str
    document: Document
    lasttime: float
    shadow: str = ""
    backup_shadow: str = ""
    client_version: int = 0
    server_version: int = 0
    backup_server_version: int = 0
    edit_stack: list[tuple[int, str]] = field(default_factory=list)
    delta_ok: bool = True
    # The states pushed over since the client's last request, each as its
    # server version and shadow before the push (docs/websocket.md); None if
    # none, UNKNOWN_PUSHES for a view loaded from storage (pushes unknown).
    pushes: tuple[tuple[int, str], ...] | None = None

    @property
    def key(self) -> ViewKey:
        return (self.user, self.document.name)


@dataclass(slots=True, eq=False)
class Buffer:
    """An unfinished request split into numbered fragments."""

    size: int
    lasttime: float
    slots: dict[int, bytes] = field(default_factory=dict)

    @property
    def held_bytes(self) -> int:
        """Bytes charged for the slots (the buffer's own charge is separate)."""
        return sum(len(data) + ENTRY_OVERHEAD for data in self.slots.values())


@dataclass
class Changes:
    """Names of documents and keys of views changed since the last take, and
    in order what happened to revision logs: ``(name, appended)`` for rows
    to write, ``(name, pruned)`` for rows to drop (and a base snapshot to
    write), ``(name, None)`` when a document's log went."""

    documents: set[str] = field(default_factory=set)
    views: set[ViewKey] = field(default_factory=set)
    revisions: list[tuple[str, Appended | Pruned | None]] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.documents or self.views or self.revisions)

    def copy(self) -> Changes:
        return Changes(set(self.documents), set(self.views), list(self.revisions))


def _buffer_cost(name: bytes) -> int:
    """The charge for holding a buffer at all."""
    return ENTRY_OVERHEAD + len(name)


def _slot_cost(old: bytes | None, data: bytes) -> int:
    """The change in charge when *data* fills a slot that held *old*."""
    return len(data) + (ENTRY_OVERHEAD if old is None else -len(old))


class TooLong(ValueError):
    """A master text over MAX_CHARS: the change is refused, nothing is cut."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"longer than MAX_CHARS ({limit} characters)")
        self.limit = limit


def normalize(text: str) -> str:
    """Line breaks as LF."""
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    return text


def over_limit(text: str, max_chars: int) -> bool:
    """Whether *text* has more than *max_chars* UTF-16 code units (0 = no limit).

    Counted as a browser counts a string's length, so that an emoji is two.
    """
    if not max_chars or 2 * len(text) <= max_chars:
        return False
    if len(text) > max_chars:
        return True
    return len(text.encode("utf-16-le", "surrogatepass")) // 2 > max_chars


class Store:
    """Documents, views and buffers, with change tracking and expiry."""

    def __init__(self, max_chars: int = 10_000_000, history: bool = True,
                 keep: float | None = None) -> None:
        self.max_chars = max_chars
        # Whether each master's changes are kept as revisions (docs/history.md),
        # and for how many seconds (None: forever).
        self.history = history
        self.keep = keep
        self._logs: dict[str, RevisionLog] = {}
        self._documents: dict[str, Document] = {}
        self._views: dict[ViewKey, View] = {}
        self._buffers: dict[tuple[bytes, int], Buffer] = {}
        self.buffered_bytes = 0
        self._changes = Changes()
        # The documents changed since ``begin_request``, while one is running.
        self._request_documents: set[str] | None = None
        # Live read-only views of the tables, for readers (pages, metrics, tests).
        self.documents: Mapping[str, Document] = MappingProxyType(self._documents)
        self.views: Mapping[ViewKey, View] = MappingProxyType(self._views)
        self.buffers: Mapping[tuple[bytes, int], Buffer] = MappingProxyType(self._buffers)

    # Documents

    def document(self, name: str, now: float) -> Document:
        """The document called *name*, created null if unknown."""
        document = self._documents.get(name)
        if document is None:
            document = self._documents[name] = Document(name, None, now)
        return document

    def add_document(self, name: str, text: str | None, lasttime: float) -> Document:
        """Put a stored document in (a load: no change is recorded).

        An existing document of that name keeps its views and takes the text.
        """
        document = self._documents.get(name)
        if document is None:
            document = self._documents[name] = Document(name, text, lasttime)
        else:
            document.text, document.lasttime = text, lasttime
        return document

    def set_text(self, document: Document, text: str | None, now: float, author: str = "",
                 kind: str = EDIT, found: Sequence[Splice] = (), fold: bool = True) -> None:
        """Assign a master text (normalized), recording a change if it differs.

        A changed text becomes a revision of the document's log by *author*
        of *kind*; *found* is the change as splices of the old text, if the
        caller knows it (docs/history.md); with *fold* false the change is a
        revision of its own that no later edit folds into.  A null text
        drops the log.
        ``TooLong`` if the text is over MAX_CHARS; the document is then unchanged.
        """
        if text is not None:
            text = normalize(text)
            if over_limit(text, self.max_chars):
                raise TooLong(self.max_chars)
        document.lasttime = now
        old = document.text
        if text != old:
            document.text = text
            self._document_changed(document.name)
            if text is None:
                self._drop_log(document.name)
            elif self.history:
                self._record(document.name, old or "", text, author, now, kind, found, fold)

    def _record(self, name: str, old: str, text: str, author: str, now: float, kind: str,
                found: Sequence[Splice], fold: bool) -> None:
        log = self._logs.get(name)
        queue = self._changes.revisions
        if log is None:
            log = self._logs[name] = RevisionLog(old)
            # A new log replaces anything stored under the name, from its base text.
            queue.append((name, None))
            queue.append((name, Pruned(0, SnapshotRow(0, old))))
        if not fold:
            log.close()
        try:
            appended = log.append(text, author, now, kind, found)
        except (ChangeError, UnicodeError):
            # A text the log cannot count (a lone surrogate in a raw text):
            # its history starts again from this text rather than fail the edit.
            del self._logs[name]
            self._record(name, text, text, author, now, kind, (), fold)
            return
        if not fold:
            log.close()
        if appended is not None:
            queue.append((name, appended))
        if self.keep == 0:
            self._prune(name, log, now, 0)

    def _prune(self, name: str, log: RevisionLog, now: float, keep: float) -> None:
        pruned = log.prune(now, keep)
        if pruned is not None:
            self._changes.revisions.append((name, pruned))

    def prune_revisions(self, now: float) -> None:
        """Drop the revisions older than the store's ``keep`` (docs/history.md)."""
        if self.keep is not None:
            for name, log in self._logs.items():
                self._prune(name, log, now, self.keep)

    def revisions(self, name: str) -> RevisionLog | None:
        """The revision log of document *name*, if it has one."""
        return self._logs.get(name)

    def add_log(self, name: str, log: RevisionLog) -> None:
        """Put a stored revision log in (a load: no change is recorded)."""
        self._logs[name] = log

    def _drop_log(self, name: str) -> None:
        if self._logs.pop(name, None) is not None:
            self._changes.revisions.append((name, None))

    def remove_document(self, name: str) -> bool:
        """Forget a document no view uses; a stored text is recorded as deleted."""
        document = self._documents.get(name)
        if document is None or document.views:
            return False
        del self._documents[name]
        self._drop_log(name)
        if document.text is not None:
            self._document_changed(name)
        return True

    # Views

    def find_view(self, user: str, name: str) -> View | None:
        return self._views.get((user, name))

    def create_view(self, user: str, name: str, now: float) -> View:
        """A new view of *name* (created null if unknown) for *user*."""
        return self._attach(View(user, self.document(name, now), now))

    def add_view(
        self, user: str, name: str, lasttime: float, shadow: str, backup_shadow: str,
        client_version: int, server_version: int, backup_server_version: int,
        edit_stack: list[tuple[int, str]],
    ) -> View:
        """Put a stored view in (a load: no change is recorded); its document
        is created null if it is not in yet."""
        document = self._documents.get(name)
        if document is None:
            document = self._documents[name] = Document(name, None, lasttime)
        old = self._views.pop((user, name), None)
        if old is not None:
            old.document.views -= 1
        return self._attach(View(
            user, document, lasttime, shadow, backup_shadow, client_version,
            server_version, backup_server_version, edit_stack, pushes=UNKNOWN_PUSHES))

    def _attach(self, view: View) -> View:
        view.document.views += 1
        self._views[view.key] = view
        return view

    def touch_view(self, view: View) -> None:
        """Record that a view's state changed and must be persisted."""
        self._changes.views.add(view.key)

    def discard_view(self, key: ViewKey) -> None:
        view = self._views.pop(key, None)
        if view is not None:
            view.document.views -= 1
            self._changes.views.add(key)

    # Changes

    def _document_changed(self, name: str) -> None:
        self._changes.documents.add(name)
        if self._request_documents is not None:
            self._request_documents.add(name)

    def begin_request(self) -> None:
        """Start noting the documents one request changes (``end_request`` says which)."""
        self._request_documents = set()

    def end_request(self) -> frozenset[str]:
        """The documents changed since ``begin_request``; stop noting them."""
        changed, self._request_documents = self._request_documents, None
        return frozenset(changed or ())

    @property
    def changed(self) -> bool:
        """Whether any change was recorded since the last take."""
        return bool(self._changes)

    def pending(self) -> Changes:
        """A copy of the changes recorded since the last take."""
        return self._changes.copy()

    def take_changes(self) -> Changes:
        """Hand over the changes recorded so far and start a new record."""
        changes, self._changes = self._changes, Changes()
        return changes

    def put_back(self, changes: Changes) -> None:
        """Record *changes* (taken, but not stored after all) again."""
        self._changes.documents |= changes.documents
        self._changes.views |= changes.views
        # Older rows go first: a folded row replaces the one before it.
        self._changes.revisions[:0] = changes.revisions

    # Buffers

    def fragment_cost(self, name: bytes, size: int, index: int, data: bytes) -> int:
        """How much storing this fragment would add to ``buffered_bytes``."""
        buffer = self._buffers.get((name, size))
        if buffer is None:
            return _buffer_cost(name) + _slot_cost(None, data)
        return _slot_cost(buffer.slots.get(index), data)

    def buffer(self, name: bytes, size: int, now: float) -> Buffer:
        key = (name, size)
        buffer = self._buffers.get(key)
        if buffer is None:
            buffer = self._buffers[key] = Buffer(size, now)
            self.buffered_bytes += _buffer_cost(name)
        buffer.lasttime = now
        return buffer

    def fill_slot(self, buffer: Buffer, index: int, data: bytes) -> None:
        self.buffered_bytes += _slot_cost(buffer.slots.get(index), data)
        buffer.slots[index] = data

    def drop_buffer(self, name: bytes, size: int) -> None:
        buffer = self._buffers.pop((name, size), None)
        if buffer is not None:
            self.buffered_bytes -= buffer.held_bytes + _buffer_cost(name)

    # Expiry

    def expire(
        self, now: float, timeout_view: float, timeout_text: float,
        timeout_buffer: float,
    ) -> Iterator[tuple[str, str]]:
        """Forget idle views, unused documents and stale buffers.

        A *timeout_text* of 0 keeps documents until they are deleted.  Yields
        ``(kind, name)`` for each thing removed, for logging.
        """
        for key, view in list(self._views.items()):
            if view.lasttime < now - timeout_view:
                self.discard_view(key)
                yield "view", f"{key[0]}/{key[1]}"
        for name, document in list(self._documents.items()) if timeout_text else ():
            if (document.views == 0 and document.lasttime < now - timeout_text
                    and self.remove_document(name)):
                yield "document", name
        for (buffer_name, size), buffer in list(self._buffers.items()):
            if buffer.lasttime < now - timeout_buffer:
                self.drop_buffer(buffer_name, size)
                yield "buffer", buffer_name.decode("utf-8", "replace")
