"""Presence over WebSocket, without I/O: who is on which document, and where their caret is.

A socket publishes its presence (a display name, a colour, and a caret per
document) with a ``!presence:`` message; it then appears on every document
it follows (``mobwrite.core.push.Subscriptions``).  What changed on each
document since the last batch (arrivals and changes as entries, departures
as ``null``, a later change of the same person replacing the earlier one)
goes out as one update per document, written once and sent alike to every
follower, the publisher included (clients skip their own id, which the
daemon tells each socket at its first publish).  Only two kinds of reader
get an update of their own: one that starts following a document (it is
owed everyone already there) and one that is not reading (what it misses
is kept for it, one entry per person).  Nothing here is stored; a socket's
entries go when it closes.

Message formats and bounds: docs/websocket.md ("Presence").
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass
from typing import Generic, TypeVar

from mobwrite.core.push import Subscriptions

S = TypeVar("S", bound=Hashable)

PRESENCE = "!presence:"
# The message telling a socket its own id (sent once, at its first publish).
PRESENCE_ID = "!presence-id:"
# How the server's error about a presence message starts (it answers no request).
PRESENCE_ERROR = "!error:presence:"
# The longest presence message a client may send, in UTF-8 bytes.
MAX_PRESENCE_BYTES = 16384
# The longest display name, in characters.
MAX_NAME_CHARS = 64
# The most carets one message may give (one per document).
MAX_CARETS = 100
# A caret's offsets are UTF-16 code units; none is beyond this.
MAX_OFFSET = 2**31 - 1
COLOR = re.compile(r"#[0-9a-fA-F]{6}\Z")

Caret = tuple[int, int]


@dataclass(frozen=True)
class Published:
    """What one socket says of itself."""

    name: str
    color: str
    carets: dict[str, Caret]

    def entry(self, document: str) -> dict[str, object]:
        """This person as the others on *document* are shown them."""
        caret = self.carets.get(document)
        return {"name": self.name, "color": self.color,
                "caret": None if caret is None else list(caret)}

    def entry_json(self, document: str) -> str:
        return _json(self.entry(document))


def message_presence(message: str) -> Published | str | None:
    """What a ``!presence:`` message publishes, or why it is refused (an error's
    text); None if *message* is not a presence message."""
    if not message.startswith(PRESENCE):
        return None
    if len(message.encode("utf-8")) > MAX_PRESENCE_BYTES:
        return f"presence: over {MAX_PRESENCE_BYTES} bytes"
    try:
        data = json.loads(message[len(PRESENCE):])
    except ValueError:
        return "presence: not JSON"
    if not isinstance(data, dict):
        return "presence: not a JSON object"
    name, color, carets = data.get("name"), data.get("color"), data.get("carets", {})
    if not isinstance(name, str) or not name.strip():
        return "presence: name must be a non-empty string"
    name = name.strip()
    if len(name) > MAX_NAME_CHARS:
        return f"presence: name over {MAX_NAME_CHARS} characters"
    if any(unicodedata.category(char) in ("Cc", "Cs") for char in name):
        return "presence: name has control characters"
    if not isinstance(color, str) or not COLOR.match(color):
        return "presence: color must be #rrggbb"
    if not isinstance(carets, dict):
        return "presence: carets must be an object"
    if len(carets) > MAX_CARETS:
        return f"presence: over {MAX_CARETS} carets"
    read: dict[str, Caret] = {}
    for document, caret in carets.items():
        if not (isinstance(caret, list) and len(caret) == 2
                and all(type(offset) is int and 0 <= offset <= MAX_OFFSET
                        for offset in caret)):
            return "presence: a caret must be [start, end], offsets from 0"
        read[document] = (caret[0], caret[1])
    return Published(name, color.lower(), read)


def _json(value: object) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def update_message(update: dict[str, dict[str, str]]) -> str:
    """The ``!presence:`` message carrying *update*: document → person → the entry's
    JSON (``null`` for a departure), each entry written once for all its readers."""
    documents = (_json(name) + ":{" + ",".join(f'"{ident}":{entry}'
                                               for ident, entry in people.items()) + "}"
                 for name, people in sorted(update.items()))
    return PRESENCE + "{" + ",".join(documents) + "}"


def message_update(message: str) -> dict[str, dict[str, dict[str, object] | None]] | None:
    """The update a server's ``!presence:`` message carries, or None for any other."""
    if not message.startswith(PRESENCE):
        return None
    update = json.loads(message[len(PRESENCE):])
    return update if isinstance(update, dict) else None


@dataclass
class PresenceCounts:
    """What presence has done since start-up, for /metrics and /status."""

    published: int = 0
    refused: int = 0
    updates_sent: int = 0
    coalesced: int = 0


@dataclass(frozen=True)
class Elsewhere:
    """A person whose socket is on another daemon sharing the database."""

    ident: str
    published: Published
    # The documents the person follows there.
    names: frozenset[str]
    # When that daemon last said so.
    seen: float


class Presence(Generic[S]):
    """The published presence of each socket, each document's changes since the last
    batch, and the updates of readers owed one of their own.

    People on other daemons (``arrive``, ``leave``) are shown to the sockets
    here like the sockets' own publishers.
    """

    def __init__(self, subscriptions: Subscriptions[S]) -> None:
        self.subscriptions = subscriptions
        self.published: dict[S, Published] = {}
        self.ids: dict[S, str] = {}
        self.elsewhere: dict[Hashable, Elsewhere] = {}
        # Per document, the people elsewhere who follow it.
        self.elsewhere_on: dict[str, set[Hashable]] = {}
        # Per document, per person id: the entry's JSON text, changed since the last batch.
        self.changes: dict[str, dict[str, str]] = {}
        # Per reader owed an update of its own, per document, per person id: the entry's JSON.
        self.owed: dict[S, dict[str, dict[str, str]]] = {}
        self.issued = 0
        self.counts = PresenceCounts()

    def __len__(self) -> int:
        return len(self.published)

    def publish(self, subscriber: S, published: Published) -> str | None:
        """*subscriber* says *published* of itself; return its new id if this is its
        first publication (the socket is told it), else None."""
        new = None
        if subscriber not in self.ids:
            self.issued += 1
            new = self.ids[subscriber] = f"p{self.issued}"
        self.published[subscriber] = published
        self.counts.published += 1
        ident = self.ids[subscriber]
        for name in self.subscriptions.followed.get(subscriber, ()):
            self._change(name, ident, published.entry_json(name))
        return new

    def followed(self, subscriber: S, names: set[str]) -> None:
        """*subscriber* now follows *names* too: it is owed who is there, and the
        others are told of it (if it has published)."""
        for name in names:
            for other in self.subscriptions.followers.get(name, ()):
                published = self.published.get(other)
                if other != subscriber and published is not None:
                    self.hold(subscriber, name, {self.ids[other]: published.entry_json(name)})
            for key in self.elsewhere_on.get(name, ()):
                person = self.elsewhere[key]
                self.hold(subscriber, name, {person.ident: person.published.entry_json(name)})
        published = self.published.get(subscriber)
        if published is not None:
            for name in names:
                self._change(name, self.ids[subscriber], published.entry_json(name))

    def remove(self, subscriber: S) -> None:
        """*subscriber* closed (call before it leaves the subscriptions): its entries
        and what it was owed go, and its departure joins the next batch."""
        self.owed.pop(subscriber, None)
        if self.published.pop(subscriber, None) is not None:
            ident = self.ids[subscriber]
            for name in self.subscriptions.followed.get(subscriber, ()):
                self._change(name, ident, "null")
        self.ids.pop(subscriber, None)

    def arrive(self, key: Hashable, published: Published, names: frozenset[str],
               now: float) -> None:
        """The person *key* on another daemon publishes *published* on the documents
        *names* it follows there (or says it again, at *now*): the changes join
        the next batch."""
        old = self.elsewhere.get(key)
        if old is None:
            self.issued += 1
            ident = f"r{self.issued}"
        else:
            ident = old.ident
            self._index(key, old.names, add=False)
        self.elsewhere[key] = Elsewhere(ident, published, names, now)
        self._index(key, names, add=True)
        told = names if old is None or old.published != published else names - old.names
        for name in told:
            self._change(name, ident, published.entry_json(name))
        for name in old.names - names if old is not None else ():
            self._change(name, ident, "null")

    def leave(self, key: Hashable) -> None:
        """The person *key* on another daemon is gone: its departure joins the next batch."""
        person = self.elsewhere.pop(key, None)
        if person is not None:
            self._index(key, person.names, add=False)
            for name in person.names:
                self._change(name, person.ident, "null")

    def forget_elsewhere(self, before: float) -> None:
        """Drop the people elsewhere not heard of since *before* (their daemon
        stopped saying they are there)."""
        for key in [key for key, person in self.elsewhere.items() if person.seen < before]:
            self.leave(key)

    def _index(self, key: Hashable, names: Iterable[str], add: bool) -> None:
        for name in names:
            keys = self.elsewhere_on.setdefault(name, set())
            if add:
                keys.add(key)
            else:
                keys.discard(key)
                if not keys:
                    del self.elsewhere_on[name]

    def pending(self) -> bool:
        """True while a batch has something to send."""
        return bool(self.changes or self.owed)

    def batch(self) -> list[tuple[str, dict[str, str], str]]:
        """Each document's changes since the last batch, now taken: its name, the
        entries, and the one update message every follower of it is sent."""
        changes, self.changes = self.changes, {}
        return [(name, people, update_message({name: people}))
                for name, people in changes.items()]

    def hold(self, subscriber: S, name: str, people: dict[str, str]) -> None:
        """Keep *people* (entries of document *name*) for *subscriber*'s own update."""
        owed = self.owed.setdefault(subscriber, {})
        kept = owed.get(name)
        if kept is None:
            owed[name] = dict(people)
        else:
            kept.update(people)

    def owes(self, subscriber: S) -> bool:
        return subscriber in self.owed

    def take(self, subscriber: S, keep: Callable[[str], bool] | None = None) -> str | None:
        """The update message of its own *subscriber* is owed, now counted as sent;
        with *keep*, only the documents it keeps."""
        update = self.owed.pop(subscriber, None)
        if update and keep is not None:
            update = {name: people for name, people in update.items() if keep(name)}
        if not update:
            return None
        self.counts.updates_sent += 1
        return update_message(update)

    def _change(self, name: str, ident: str, entry: str) -> None:
        people = self.changes.get(name)
        if people is None:
            self.changes[name] = {ident: entry}
            return
        if ident in people:
            self.counts.coalesced += 1
        people[ident] = entry
