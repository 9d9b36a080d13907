"""The in-memory store: documents, views and buffers (PROTOCOL.md 6).

The store is the source of truth while the daemon runs.  It records which
documents and views changed so that persistence can write exactly those,
and it expires what has idled too long.  It never reads a clock: every
method that needs the time takes ``now``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from mobwrite.core.recent import History

ViewKey = tuple[str, str]

# Bookkeeping bytes charged against MAX_BUFFERED_BYTES for each buffer and
# each slot, so that empty fragments cannot pile up buffers for free.
ENTRY_OVERHEAD = 100


@dataclass(slots=True, eq=False)
class Document:
    """A named shared text; ``text`` is None while the document is null."""

    name: str
    text: str | None
    lasttime: float
    views: int = 0
    # Recent changes of the text, kept while several views share it.
    history: History | None = None


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
    """Names of documents and keys of views changed since the last take."""

    documents: set[str] = field(default_factory=set)
    views: set[ViewKey] = field(default_factory=set)

    def __bool__(self) -> bool:
        return bool(self.documents or self.views)


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

    def __init__(self, max_chars: int = 10_000_000) -> None:
        self.max_chars = max_chars
        self.documents: dict[str, Document] = {}
        self.views: dict[ViewKey, View] = {}
        self.buffers: dict[tuple[bytes, int], Buffer] = {}
        self.buffered_bytes = 0
        self.changes = Changes()

    # Documents

    def document(self, name: str, now: float) -> Document:
        """The document called *name*, created null if unknown."""
        document = self.documents.get(name)
        if document is None:
            document = self.documents[name] = Document(name, None, now)
        return document

    def set_text(self, document: Document, text: str | None, now: float) -> None:
        """Assign a master text (normalized), recording a change if it differs.

        ``TooLong`` if the text is over MAX_CHARS; the document is then unchanged.
        """
        if text is not None:
            text = normalize(text)
            if over_limit(text, self.max_chars):
                raise TooLong(self.max_chars)
        document.lasttime = now
        if text != document.text:
            document.text = text
            self.changes.documents.add(document.name)

    # Views

    def find_view(self, user: str, name: str) -> View | None:
        return self.views.get((user, name))

    def create_view(self, user: str, name: str, now: float) -> View:
        document = self.document(name, now)
        view = View(user, document, now)
        document.views += 1
        self.views[view.key] = view
        return view

    def touch_view(self, view: View) -> None:
        """Record that a view's state changed and must be persisted."""
        self.changes.views.add(view.key)

    def discard_view(self, key: ViewKey) -> None:
        view = self.views.pop(key, None)
        if view is not None:
            view.document.views -= 1
            self.changes.views.add(key)

    def take_changes(self) -> Changes:
        """Hand over the changes recorded so far and start a new record."""
        changes, self.changes = self.changes, Changes()
        return changes

    # Buffers

    def fragment_cost(self, name: bytes, size: int, index: int, data: bytes) -> int:
        """How much storing this fragment would add to ``buffered_bytes``."""
        buffer = self.buffers.get((name, size))
        if buffer is None:
            return _buffer_cost(name) + _slot_cost(None, data)
        return _slot_cost(buffer.slots.get(index), data)

    def buffer(self, name: bytes, size: int, now: float) -> Buffer:
        key = (name, size)
        buffer = self.buffers.get(key)
        if buffer is None:
            buffer = self.buffers[key] = Buffer(size, now)
            self.buffered_bytes += _buffer_cost(name)
        buffer.lasttime = now
        return buffer

    def fill_slot(self, buffer: Buffer, index: int, data: bytes) -> None:
        self.buffered_bytes += _slot_cost(buffer.slots.get(index), data)
        buffer.slots[index] = data

    def drop_buffer(self, name: bytes, size: int) -> None:
        buffer = self.buffers.pop((name, size), None)
        if buffer is not None:
            self.buffered_bytes -= buffer.held_bytes + _buffer_cost(name)

    # Expiry

    def expire(
        self, now: float, timeout_view: float, timeout_text: float,
        timeout_buffer: float,
    ) -> Iterator[tuple[str, str]]:
        """Forget idle views, unused documents and stale buffers.

        A *timeout_text* of 0 keeps documents until they are deleted.  Yields ``(kind, name)`` for each thing removed, for logging.
        """
        for key, view in list(self.views.items()):
            if view.lasttime < now - timeout_view:
                self.discard_view(key)
                yield "view", f"{key[0]}/{key[1]}"
        for name, document in list(self.documents.items()) if timeout_text else ():
            if document.views == 0 and document.lasttime < now - timeout_text:
                del self.documents[name]
                if document.text is not None:
                    self.changes.documents.add(name)
                yield "document", name
        for (buffer_name, size), buffer in list(self.buffers.items()):
            if buffer.lasttime < now - timeout_buffer:
                self.drop_buffer(buffer_name, size)
                yield "buffer", buffer_name.decode("utf-8", "replace")
