"""The in-memory store: documents, views and buffers (docs/protocol.md §7).

The store is the source of truth while the daemon runs.  It records which
documents and views changed so that persistence can write exactly those,
and it expires what has idled too long.  It never reads a clock: every
method that needs the time takes ``now``.

It is also a cache (docs/operating.md, "Memory and disk"): given a
*loader*, a document not in memory is loaded, with its views and revision
log, when something names it; a document whose rows are all durable may be
let go when it idles or when the memory held passes ``max_memory``.

Other modules read the store through its read-only mappings and change it
only through its methods: ``document``/``create_view`` for the engine,
``add_document``/``add_view`` for a load from storage (no change recorded),
``remove_document``/``discard_view``, and ``take_changes``/``put_back``
for the committer.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType

from mobwrite.core.cache import (
    LOW_WATER,
    REVISION_BYTES,
    CacheCounts,
    StoredUse,
    change_bytes,
    document_bytes,
    log_bytes,
    text_bytes,
    view_bytes,
)
from mobwrite.core.changes import ChangeError
from mobwrite.core.delta import Splice, utf16_length
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
    # The document's views by user, and the bytes charged for its text.
    viewers: dict[str, View] = field(default_factory=dict)
    charge: int = 0

    @property
    def views(self) -> int:
        return len(self.viewers)


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
    # The bytes charged for what the view holds (core/cache.py).
    charge: int = 0
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


class LimitReached(ValueError):
    """A change the store cannot take: the change is refused, nothing is cut.

    *setting* names the limit; *notice* is what the writer is told on the
    ``x:`` line after the file's ``F`` line (docs/protocol.md §8.7).
    """

    def __init__(self, message: str, setting: str, notice: str) -> None:
        super().__init__(message)
        self.setting = setting
        self.notice = notice


class TooLong(LimitReached):
    """The text would pass MAX_CHARS (*limit* characters)."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"longer than MAX_CHARS allows ({limit} characters)", "MAX_CHARS",
                         f"too_long:{limit}")
        self.limit = limit


class NoRoom(LimitReached):
    """The server has no room for the change: *setting* is MAX_MEMORY or MAX_STORED."""

    def __init__(self, setting: str) -> None:
        super().__init__(f"the server is out of room ({setting})", setting,
                         f"no_room:{setting}")


# What a loader does: put the stored document *name* (its views and revision
# log too) into the store with ``add_document``/``add_view``/``add_log``, and
# say whether anything was stored under that name.
Loader = Callable[["Store", str], bool]
# What a catalogue does: the names of stored documents that start with
# *prefix* and sort after *after*, in order, at most *limit* of them.
Catalogue = Callable[[str, str, int], list[str]]


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
    return utf16_length(text) > max_chars


class Store:
    """Documents, views and buffers, with change tracking and expiry."""

    def __init__(self, max_chars: int = 10_000_000, history: bool = True,
                 keep: float | None = None, *, loader: Loader | None = None,
                 max_memory: int = 0, max_stored: int = 0,
                 storage_use: Callable[[], StoredUse] | None = None,
                 catalogue: Catalogue | None = None) -> None:
        self.max_chars = max_chars
        # Documents not in memory are loaded by *loader* (None: the store
        # holds everything there is, and never lets a document go).
        self.loader = loader
        # The bytes the cache may hold (0: no limit), and what it holds.
        self.max_memory = max_memory
        self.held_bytes = 0
        # The bytes storage may hold before new documents are refused (0: no
        # limit), and what it holds (after its latest write).
        self.max_stored = max_stored
        self.storage_use = storage_use
        # The names of the documents stored (for listings: most are not in memory).
        self.catalogue = catalogue
        self.counts = CacheCounts()
        # Names in order of use, least recent first.
        self._used: dict[str, None] = {}
        # The changes being written (taken, not yet stored), and the names
        # of documents let go since the committer last asked.
        self._writing: Changes | None = None
        self._evicted: list[str] = []
        # The last name the loader did not find, until a document of that name is made.
        self._missed: str | None = None
        # The documents and views looked at by the running request, if any.
        self._request_names: set[str] | None = None
        self._request_views: set[ViewKey] = set()
        # Whether each master's changes are kept as revisions (docs/history.md),
        # and for how many seconds (None: forever).
        self.history = history
        self.keep = keep
        self._logs: dict[str, RevisionLog] = {}
        # The bytes charged for each log, and for its last revision (which
        # the next edit may fold into).
        self._log_held: dict[str, int] = {}
        self._log_charges: dict[str, int] = {}
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
        """The document called *name* (loaded if stored), created null if unknown."""
        document = self.find(name)
        if document is None:
            document = self._new_document(name, None, now)
        return document

    def find(self, name: str) -> Document | None:
        """The document called *name*, loaded from storage if it is not in memory."""
        # Through the public mapping, which a subclass may make fetch (the shared store).
        document = self.documents.get(name)
        if document is None and self.loader is not None and name != self._missed:
            self.counts.loads += 1
            if not self.loader(self, name):
                # Not stored: the document about to be created need not look again.
                self.counts.misses += 1
                self._missed = name
            document = self._documents.get(name)
        if document is not None:
            self._use(name)
        return document

    def names(self, prefix: str, after: str, limit: int) -> list[str]:
        """The names of the non-null documents, in memory or stored, that start
        with *prefix* and sort after *after*, in order, at most *limit*."""
        documents = self._documents
        found = {name for name, document in documents.items()
                 if document.text is not None and name.startswith(prefix) and name > after}
        if self.catalogue is not None:
            found.update(name for name in self.catalogue(prefix, after, limit)
                         if name not in documents or documents[name].text is not None)
        return sorted(found)[:limit]

    def _use(self, name: str) -> None:
        if self.loader is not None:
            # The order of use matters only to a store that can let documents go.
            used = self._used
            used.pop(name, None)
            used[name] = None
        if self._request_names is not None:
            self._request_names.add(name)

    def _new_document(self, name: str, text: str | None, lasttime: float) -> Document:
        if name == self._missed:
            self._missed = None
        document = self._documents[name] = Document(name, text, lasttime)
        self._charge_document(document)
        self._use(name)
        return document

    def add_document(self, name: str, text: str | None, lasttime: float) -> Document:
        """Put a stored document in (a load: no change is recorded).

        An existing document of that name keeps its views and takes the text.
        """
        document = self._documents.get(name)
        if document is None:
            document = self._new_document(name, text, lasttime)
        else:
            document.text, document.lasttime = text, lasttime
            self._charge_document(document)
        return document

    def set_text(self, document: Document, text: str | None, now: float, author: str = "",
                 kind: str = EDIT, found: Sequence[Splice] = (), fold: bool = True) -> None:
        """Assign a master text (normalized), recording a change if it differs.

        A changed text becomes a revision of the document's log by *author*
        of *kind*; *found* is the change as splices of the old text, if the
        caller knows it (docs/history.md); with *fold* false the change is a
        revision of its own that no later edit folds into.  A null text
        drops the log.
        ``TooLong`` if the text is over MAX_CHARS; ``NoRoom`` if it would grow
        the memory held past MAX_MEMORY when nothing can be let go, or would
        create a document while storage holds MAX_STORED; the document is
        then unchanged.
        """
        if text is not None:
            text = normalize(text)
            if over_limit(text, self.max_chars):
                raise TooLong(self.max_chars)
            self._check_room(document, text)
        document.lasttime = now
        old = document.text
        if text != old:
            document.text = text
            self._charge_document(document)
            self._document_changed(document.name)
            if text is None:
                self._drop_log(document.name)
            elif self.history:
                self._record(document.name, old or "", text, author, now, kind, found, fold)

    def _check_room(self, document: Document, text: str) -> None:
        """Refuse (``NoRoom``) a text that needs memory or disk there is no room for."""
        old = document.text
        if (self.max_stored and old is None and self.storage_use is not None
                and self.storage_use().bytes >= self.max_stored):
            raise NoRoom("MAX_STORED")
        if not self.max_memory:
            return
        growth = text_bytes(text) - text_bytes(old)
        if growth > 0 and self.held_bytes + growth > self.max_memory:
            self.shrink(growth)
            if self.held_bytes + growth > self.max_memory:
                raise NoRoom("MAX_MEMORY")

    def _record(self, name: str, old: str, text: str, author: str, now: float, kind: str,
                found: Sequence[Splice], fold: bool) -> None:
        log = self._logs.get(name)
        queue = self._changes.revisions
        if log is None:
            log = self._logs[name] = RevisionLog(old)
            self._charge_log(name, log)
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
            self._charge_revision(name, log, appended)
        if self.keep == 0:
            self._prune(name, log, now, 0)

    def _prune(self, name: str, log: RevisionLog, now: float, keep: float) -> None:
        pruned = log.prune(now, keep)
        if pruned is not None:
            self._changes.revisions.append((name, pruned))
            self._charge_log(name, log)

    def prune_revisions(self, now: float) -> None:
        """Drop the revisions older than the store's ``keep`` (docs/history.md)."""
        if self.keep is not None:
            for name, log in self._logs.items():
                self._prune(name, log, now, self.keep)

    def revisions(self, name: str) -> RevisionLog | None:
        """The revision log of document *name* (loaded if stored), if it has one."""
        if name not in self._documents:
            self.find(name)
        return self._logs.get(name)

    def add_log(self, name: str, log: RevisionLog) -> None:
        """Put a stored revision log in (a load: no change is recorded)."""
        self._logs[name] = log
        self._charge_log(name, log)

    def _drop_log(self, name: str) -> None:
        if self._logs.pop(name, None) is not None:
            self._changes.revisions.append((name, None))
        self._log_charges.pop(name, None)
        self.held_bytes -= self._log_held.pop(name, 0)

    def remove_document(self, name: str) -> bool:
        """Forget a document no view uses; a stored text is recorded as deleted."""
        document = self._documents.get(name)
        if document is None or document.views:
            return False
        self._forget(document)
        self._drop_log(name)
        if document.text is not None:
            self._document_changed(name)
        return True

    def _forget(self, document: Document) -> None:
        del self._documents[document.name]
        self._used.pop(document.name, None)
        self.held_bytes -= document.charge

    # Views

    def find_view(self, user: str, name: str) -> View | None:
        """The view of *name* for *user*, with its document loaded if stored."""
        view = self._views.get((user, name))
        if view is None and name not in self._documents and self.loader is not None:
            self.find(name)
            view = self._views.get((user, name))
        if view is not None:
            self._use(name)
            if self._request_names is not None:
                self._request_views.add(view.key)
        return view

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
            document = self._new_document(name, None, lasttime)
        self._detach((user, name))
        return self._attach(View(
            user, document, lasttime, shadow, backup_shadow, client_version,
            server_version, backup_server_version, edit_stack, pushes=UNKNOWN_PUSHES))

    def _attach(self, view: View) -> View:
        document = view.document
        document.viewers[view.user] = view
        self._views[view.key] = view
        self._charge_view(view)
        self._charge_document(document)
        if self._request_names is not None:
            self._request_views.add(view.key)
        return view

    def _detach(self, key: ViewKey) -> View | None:
        view = self._views.pop(key, None)
        if view is not None:
            document = view.document
            del document.viewers[view.user]
            self.held_bytes -= view.charge
            self._charge_document(document)
        return view

    def touch_view(self, view: View) -> None:
        """Record that a view's state changed and must be persisted."""
        self._changes.views.add(view.key)
        if self._request_names is not None:
            self._request_views.add(view.key)

    def discard_view(self, key: ViewKey) -> None:
        if self._detach(key) is not None:
            self._changes.views.add(key)

    # Memory

    def _charge_document(self, document: Document) -> None:
        charge = document_bytes(document)
        self.held_bytes += charge - document.charge
        document.charge = charge

    def _charge_view(self, view: View) -> None:
        charge = view_bytes(view)
        self.held_bytes += charge - view.charge
        view.charge = charge

    def _charge_log(self, name: str, log: RevisionLog) -> None:
        charge = log_bytes(log)
        self.held_bytes += charge - self._log_held.get(name, 0)
        self._log_held[name] = charge
        self._log_charges.pop(name, None)

    def _charge_revision(self, name: str, log: RevisionLog, appended: Appended) -> None:
        """Charge a revision just appended (or folded into the last one)."""
        size = REVISION_BYTES + change_bytes(log.revisions[-1].change)
        last = self._log_charges.get(name, 0) if appended.folded else 0
        extra = size - last
        if appended.snapshot is not None:
            extra += text_bytes(appended.snapshot.text)
        self._log_charges[name] = size
        self._log_held[name] = self._log_held.get(name, 0) + extra
        self.held_bytes += extra

    def _unsaved_names(self) -> set[str]:
        names: set[str] = set()
        for changes in (self._changes, self._writing):
            if changes is not None:
                names |= changes.documents
                names.update(name for _, name in changes.views)
                names.update(name for name, _ in changes.revisions)
        return names

    def evict(self, names: Sequence[str]) -> list[str]:
        """Let go of the documents *names* whose changes are all stored and that
        no running request uses, with their views and logs (nothing is
        recorded: they stay as stored); return those let go."""
        if self.loader is None:
            return []
        unsaved = self._unsaved_names()
        busy = self._request_names or set()
        gone: list[str] = []
        for name in names:
            document = self._documents.get(name)
            if document is None or name in unsaved or name in busy:
                continue
            for view in list(document.viewers.values()):
                self._detach(view.key)
            self._forget(document)
            self._logs.pop(name, None)
            self._log_charges.pop(name, None)
            self.held_bytes -= self._log_held.pop(name, 0)
            gone.append(name)
        self.counts.evictions += len(gone)
        self._evicted.extend(gone)
        return gone

    def evict_idle(self, now: float, idle: float) -> list[str]:
        """Let go of the durable documents nobody has used for *idle* seconds."""
        cutoff = now - idle
        idle_names = [
            name for name, document in self._documents.items()
            if document.lasttime < cutoff
            and all(view.lasttime < cutoff for view in document.viewers.values())]
        return self.evict(idle_names)

    def shrink(self, room: int = 0) -> list[str]:
        """Past ``max_memory`` (with *room* bytes more held), let go of the least
        recently used durable documents until it is under it (with some room)."""
        if (not self.max_memory or self.held_bytes + room <= self.max_memory
                or self.loader is None):
            return []
        target = self.max_memory * LOW_WATER - room
        unsaved = self._unsaved_names() | (self._request_names or set())
        chosen: list[str] = []
        freed = 0
        for name in self._used:
            if self.held_bytes - freed <= target:
                break
            if name in unsaved:
                continue
            document = self._documents[name]
            freed += document.charge + self._log_held.get(name, 0) + sum(
                view.charge for view in document.viewers.values())
            chosen.append(name)
        return self.evict(chosen)

    def take_evicted(self) -> list[str]:
        """The documents let go since the last call (storage may drop what it
        keeps about them)."""
        evicted, self._evicted = self._evicted, []
        return evicted

    # Changes

    def _document_changed(self, name: str) -> None:
        self._changes.documents.add(name)
        if self._request_documents is not None:
            self._request_documents.add(name)

    def begin_request(self) -> None:
        """Start noting the documents one request changes (``end_request`` says
        which) and uses (none of them is let go while it runs)."""
        self._request_documents = set()
        self._request_names = set()

    def end_request(self) -> frozenset[str]:
        """The documents changed since ``begin_request``; stop noting them.

        The views the request touched are charged again for what they hold
        now, and past ``max_memory`` the least recently used documents go.
        """
        changed, self._request_documents = self._request_documents, None
        self._request_names = None
        views = self._views
        for key in self._request_views:
            view = views.get(key)
            if view is not None:
                self._charge_view(view)
        self._request_views.clear()
        if self.max_memory and self.held_bytes > self.max_memory:
            self.shrink()
        return frozenset(changed or ())

    @property
    def changed(self) -> bool:
        """Whether any change was recorded since the last take."""
        return bool(self._changes)

    def pending(self) -> Changes:
        """A copy of the changes recorded since the last take."""
        return self._changes.copy()

    def take_changes(self) -> Changes:
        """Hand over the changes recorded so far and start a new record; they
        count as being written until ``stored`` or ``put_back``."""
        changes, self._changes = self._changes, Changes()
        self._writing = changes
        return changes

    def stored(self) -> None:
        """The changes taken last are stored."""
        self._writing = None

    def put_back(self, changes: Changes) -> None:
        """Record *changes* (taken, but not stored after all) again."""
        self._writing = None
        self._changes.documents |= changes.documents
        self._changes.views |= changes.views
        # Older rows go first: a folded row replaces the one before it.
        self._changes.revisions[:0] = changes.revisions

    def expire_stored(self, views: Sequence[ViewKey], names: Sequence[str]) -> int:
        """Record as deleted the stored *views* and documents *names* that
        expired while not in memory (those in memory expire in ``expire``);
        return how many."""
        count = 0
        for key in views:
            if key[1] not in self._documents:
                self._changes.views.add(key)
                count += 1
        for name in names:
            if name not in self._documents:
                self._changes.documents.add(name)
                self._changes.revisions.append((name, None))
                count += 1
        return count

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
            self._count_buffered(_buffer_cost(name))
        buffer.lasttime = now
        return buffer

    def fill_slot(self, buffer: Buffer, index: int, data: bytes) -> None:
        self._count_buffered(_slot_cost(buffer.slots.get(index), data))
        buffer.slots[index] = data

    def drop_buffer(self, name: bytes, size: int) -> None:
        buffer = self._buffers.pop((name, size), None)
        if buffer is not None:
            self._count_buffered(-(buffer.held_bytes + _buffer_cost(name)))

    def _count_buffered(self, change: int) -> None:
        self.buffered_bytes += change
        self.held_bytes += change

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
