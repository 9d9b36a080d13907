"""Presence over WebSocket, without I/O: who is on which document, and where their caret is.

A socket publishes its presence (a display name, a colour, and a caret per
document) with a ``!presence:`` message; it then appears on every document
it follows (``mobwrite.core.push.Subscriptions``).  Every other follower of
those documents owes an update listing what changed since its last one:
arrivals and changes as entries, departures as ``null``.  A follower owes
at most one update at a time: changes before it is sent join it, a later
change of the same person replacing the earlier one.  Nothing here is
stored; a socket's entries go when it closes.

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
    """The published presence of each socket, and the update each follower is owed.

    People on other daemons (``arrive``, ``leave``) are shown to the sockets
    here like the sockets' own publishers, but are owed nothing.
    """

    def __init__(self, subscriptions: Subscriptions[S]) -> None:
        self.subscriptions = subscriptions
        self.published: dict[S, Published] = {}
        self.ids: dict[S, str] = {}
        self.elsewhere: dict[Hashable, Elsewhere] = {}
        # Per document, the people elsewhere who follow it.
        self.elsewhere_on: dict[str, set[Hashable]] = {}
        # Per follower, per document, per person id: the entry's JSON text.
        self.owed: dict[S, dict[str, dict[str, str]]] = {}
        self.issued = 0

    def __len__(self) -> int:
        return len(self.published)

    def publish(self, subscriber: S, published: Published) -> list[S]:
        """*subscriber* says *published* of itself; return the followers newly owing."""
        if subscriber not in self.ids:
            self.issued += 1
            self.ids[subscriber] = f"p{self.issued}"
        self.published[subscriber] = published
        return self._tell(subscriber, self.subscriptions.followed.get(subscriber, ()),
                          published.entry_json)

    def followed(self, subscriber: S, names: set[str]) -> list[S]:
        """*subscriber* now follows *names* too: it is owed who is there, and they
        are owed it (if it has published); return who newly owes."""
        woken = []
        for name in names:
            for other in self.subscriptions.followers.get(name, ()):
                published = self.published.get(other)
                if other != subscriber and published is not None:
                    if self._owe(subscriber, name, self.ids[other],
                                 published.entry_json(name)):
                        woken.append(subscriber)
            for key in self.elsewhere_on.get(name, ()):
                person = self.elsewhere[key]
                if self._owe(subscriber, name, person.ident, person.published.entry_json(name)):
                    woken.append(subscriber)
        published = self.published.get(subscriber)
        if published is not None:
            woken += self._tell(subscriber, names, published.entry_json)
        return list(dict.fromkeys(woken))

    def remove(self, subscriber: S) -> list[S]:
        """*subscriber* closed (call before it leaves the subscriptions): its entries
        and what it was owed go; return the followers newly owing its departure."""
        self.owed.pop(subscriber, None)
        woken: list[S] = []
        if self.published.pop(subscriber, None) is not None:
            woken = self._tell(subscriber, self.subscriptions.followed.get(subscriber, ()),
                               lambda name: "null")
        self.ids.pop(subscriber, None)
        return woken

    def arrive(self, key: Hashable, published: Published, names: frozenset[str],
               now: float) -> list[S]:
        """The person *key* on another daemon publishes *published* on the documents
        *names* it follows there (or says it again, at *now*); return the
        followers here newly owing."""
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
        woken = self._tell_from(ident, None, told, published.entry_json)
        if old is not None:
            woken += self._tell_from(ident, None, old.names - names, lambda name: "null")
        return list(dict.fromkeys(woken))

    def leave(self, key: Hashable) -> list[S]:
        """The person *key* on another daemon is gone; return the followers newly owing."""
        person = self.elsewhere.pop(key, None)
        if person is None:
            return []
        self._index(key, person.names, add=False)
        return self._tell_from(person.ident, None, person.names, lambda name: "null")

    def forget_elsewhere(self, before: float) -> list[S]:
        """Drop the people elsewhere not heard of since *before* (their daemon
        stopped saying they are there); return the followers newly owing."""
        woken: list[S] = []
        for key in [key for key, person in self.elsewhere.items() if person.seen < before]:
            woken += self.leave(key)
        return list(dict.fromkeys(woken))

    def _index(self, key: Hashable, names: Iterable[str], add: bool) -> None:
        for name in names:
            keys = self.elsewhere_on.setdefault(name, set())
            if add:
                keys.add(key)
            else:
                keys.discard(key)
                if not keys:
                    del self.elsewhere_on[name]

    def owes(self, subscriber: S) -> bool:
        return subscriber in self.owed

    def take(self, subscriber: S, keep: Callable[[str], bool] | None = None) -> str | None:
        """The update message *subscriber* is owed, now counted as sent; with *keep*,
        only the documents it keeps."""
        update = self.owed.pop(subscriber, None)
        if update and keep is not None:
            update = {name: people for name, people in update.items() if keep(name)}
        return update_message(update) if update else None

    def _tell(self, subscriber: S, names: Iterable[str],
              entry: Callable[[str], str]) -> list[S]:
        return self._tell_from(self.ids[subscriber], subscriber, names, entry)

    def _tell_from(self, ident: str, subscriber: S | None, names: Iterable[str],
                   entry: Callable[[str], str]) -> list[S]:
        """Owe the followers of *names* but *subscriber* person *ident*'s *entry*."""
        woken = []
        for name in names:
            shown = entry(name)
            for other in self.subscriptions.followers.get(name, ()):
                if other != subscriber and self._owe(other, name, ident, shown):
                    woken.append(other)
        return woken

    def _owe(self, subscriber: S, name: str, ident: str, entry: str) -> bool:
        """Record the entry; True if *subscriber* owed nothing before.  (The hot path:
        every caret move runs it once per other follower.)"""
        owed = self.owed.get(subscriber)
        if owed is None:
            self.owed[subscriber] = {name: {ident: entry}}
            return True
        people = owed.get(name)
        if people is None:
            owed[name] = {ident: entry}
        else:
            people[ident] = entry
        return False
