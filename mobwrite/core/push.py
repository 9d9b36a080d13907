"""Live push over WebSocket, without I/O: who follows which documents, and the messages.

A socket follows every document named in the answers it has received
(its ``F:`` lines).  When a commit changes documents, ``Subscriptions.changed``
marks each follower other than the committer as owing a notice and says
which followers newly owe one; a follower owes at most one notice at a
time, however many changes arrive before it is sent (they are coalesced
into it).  The adapter sends the notice once the socket is idle, so a
socket never gets more than one notice per request it makes.  A socket
that asked for deltas (``!push:deltas`` or ``!push:coarse``) is sent, in
place of the notice, the answer blocks an empty sync of those documents
would have brought.

The message formats are documented in docs/websocket.md.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Hashable, Iterable, Iterator
from dataclasses import dataclass
from typing import Generic, TypeVar

from mobwrite.core import request

S = TypeVar("S", bound=Hashable)

# Documents one socket may follow; names beyond it are not followed.
MAX_FOLLOWED = 1000

NOTICE = "!changed:"
DELTA = "!delta:"
# A client's message asking for deltas in place of notices.
PUSH_DELTAS = "!push:deltas"
# The same, from a client that also takes coarse deltas (docs/websocket.md).
PUSH_COARSE = "!push:coarse"
# What a client asks for when a daemon (older than the ask) refuses one:
# exact deltas in place of coarse ones, then nothing (notices stay).
WEAKER_ASK = {PUSH_COARSE: PUSH_DELTAS}
# A client's message saying which pushed versions it holds.
PUSHED = "!pushed:"
ERROR = "!error:"


class PushAsk:
    """A client's push ask not yet known to be taken (docs/websocket.md, *Pushed deltas*).

    A daemon takes an ask silently and refuses one it does not know with an
    ``!error:``; it answers in turn, so the first message due after the
    answers of the requests already in flight settles the ask.
    """

    def __init__(self) -> None:
        self.asked: str | None = None
        self.answers_first = 0

    def ask(self, asked: str, in_flight: int) -> None:
        """*asked* was sent while *in_flight* requests awaited their answers."""
        self.asked, self.answers_first = asked, in_flight

    def refused(self, message: str) -> str | None:
        """The ask *message* refuses, if it is the refusal of the pending ask."""
        if self.asked is None:
            return None
        if self.answers_first:
            self.answers_first -= 1
            return None
        asked, self.asked = self.asked, None
        return asked if message.startswith(ERROR) else None

# A client's message carrying its access token (docs/websocket.md); not a request.
TOKEN = "!token:"


@dataclass
class Counts:
    """What the push has done since start-up, for /metrics and /status."""

    notices_sent: int = 0
    notices_coalesced: int = 0
    deltas_sent: int = 0


class Subscriptions(Generic[S]):
    """Which subscribers follow which documents, and the notices they are owed."""

    def __init__(self, max_followed: int = MAX_FOLLOWED) -> None:
        self.max_followed = max_followed
        self.followers: dict[str, set[S]] = {}
        self.followed: dict[S, set[str]] = {}
        self.owed: dict[S, set[str]] = {}
        self.counts = Counts()

    def __len__(self) -> int:
        return len(self.followed)

    def add(self, subscriber: S) -> None:
        self.followed.setdefault(subscriber, set())

    def remove(self, subscriber: S) -> None:
        for name in self.followed.pop(subscriber, ()):
            followers = self.followers[name]
            followers.discard(subscriber)
            if not followers:
                del self.followers[name]
        self.owed.pop(subscriber, None)

    def follow(self, subscriber: S, names: Iterable[str]) -> int:
        """Follow *names* from now on; return how many were refused (over the cap)."""
        followed = self.followed.get(subscriber)
        if followed is None:
            return 0
        refused = 0
        for name in names:
            if name in followed:
                continue
            if len(followed) >= self.max_followed:
                refused += 1
                continue
            followed.add(name)
            self.followers.setdefault(name, set()).add(subscriber)
        return refused

    def changed(self, names: Iterable[str], committer: S | None = None) -> list[S]:
        """Record that *names* changed; return the followers that now owe a first notice.

        The committer is left out: the answer to its request already holds
        its own change.
        """
        woken: list[S] = []
        for name in names:
            for subscriber in self.followers.get(name, ()):
                if subscriber == committer:
                    continue
                owed = self.owed.get(subscriber)
                if owed is None:
                    self.owed[subscriber] = {name}
                    woken.append(subscriber)
                else:
                    self.counts.notices_coalesced += 1
                    owed.add(name)
        return woken

    def settle(self, subscriber: S, names: Collection[str]) -> None:
        """*subscriber* is syncing *names* now: what it was owed for them is paid."""
        owed = self.owed.get(subscriber)
        if owed is None:
            return
        owed.difference_update(names)
        if not owed:
            del self.owed[subscriber]

    def owes(self, subscriber: S) -> bool:
        return subscriber in self.owed

    def owed_names(self, subscriber: S) -> set[str]:
        return self.owed.get(subscriber, set())

    def take_some(self, subscriber: S, names: Iterable[str],
                  keep: Callable[[str], bool] | None = None) -> list[str]:
        """Those of *names* *subscriber* is owed, now paid; with *keep*, only the
        names it keeps (the others are dropped unsent)."""
        owed = self.owed.get(subscriber)
        if owed is None:
            return []
        taken = [name for name in names if name in owed]
        owed.difference_update(taken)
        if not owed:
            del self.owed[subscriber]
        return [name for name in taken if keep is None or keep(name)]

    def take(self, subscriber: S, keep: Callable[[str], bool] | None = None) -> list[str]:
        """The names of the notice *subscriber* is owed (sorted), now counted as sent;
        with *keep*, only the names it keeps (the others are dropped unsent)."""
        names = self.owed.pop(subscriber, None)
        if names and keep is not None:
            names = {name for name in names if keep(name)}
        if not names:
            return []
        self.counts.notices_sent += 1
        return sorted(names)


def synced_files(data: bytes, max_name_bytes: int) -> Iterator[tuple[str, str | None]]:
    """Each document a request or an answer names on its ``f:``/``F:`` lines, with
    the user id of the ``u:``/``U:`` line before it (None if there is none, or it
    is not a valid name)."""
    user = None
    for line in request.command_lines(data):
        letter = line[:2]
        if letter not in (b"u:", b"U:", b"F:", b"f:"):
            continue
        command = request.parse_command(line)
        name = None if command is None else request.parse_name(command.payload, max_name_bytes)
        if letter in (b"u:", b"U:"):
            user = name
        elif name is not None:
            yield name, user


def synced_names(data: bytes, max_name_bytes: int) -> set[str]:
    """The documents a request or an answer names on its ``f:``/``F:`` lines."""
    return {name for name, _ in synced_files(data, max_name_bytes)}


def synced_views(data: bytes, max_name_bytes: int) -> dict[str, str]:
    """The user id of each document a request names on its ``f:``/``F:`` lines."""
    return {name: user for name, user in synced_files(data, max_name_bytes) if user is not None}


def read_request(message: str, max_bytes: int, max_line_bytes: int) -> bytes | str:
    """The request one text message carries, or why it cannot run (an error's text)."""
    data = message.encode("utf-8")
    if len(data) > max_bytes:
        return f"over MAX_REQUEST_BYTES ({max_bytes})"
    if not request.is_complete(data):
        return "incomplete request: end it with a blank line"
    if any(len(line) > max_line_bytes for line in request.command_lines(data)):
        return f"a line over MAX_LINE_BYTES ({max_line_bytes})"
    return data


def answer_message(body: bytes) -> str:
    """The message carrying the answer *body*: the answer and its blank line."""
    return body.decode("utf-8") + "\n"


def notice_message(names: Iterable[str]) -> str:
    """The message telling a socket to sync *names*."""
    return "".join(f"{NOTICE}{name}\n" for name in names) + "\n"


def delta_message(blocks: Iterable[str]) -> str:
    """The message pushing answer *blocks* (``F:`` and ``d:`` lines) to a socket."""
    return DELTA + "\n" + "".join(block + "\n" for block in blocks) + "\n"


def delta_blocks(message: str) -> bytes | None:
    """The answer lines a pushed delta carries, or None if *message* is not one."""
    if not message.startswith(DELTA):
        return None
    return message.partition("\n")[2].encode("utf-8")


def pushed_message(held: Iterable[tuple[str, int]]) -> str:
    """The message saying that the client holds server version *m* of each
    (wire name, *m*) after applying a push."""
    return "".join(f"{PUSHED}{version}:{name}\n" for name, version in held)


def message_pushed(message: str, max_name_bytes: int) -> dict[str, int] | None:
    """The versions a ``!pushed:`` message says are held, by name (malformed lines
    are skipped), or None for any other message."""
    if not message.startswith(PUSHED):
        return None
    held = {}
    for line in message.splitlines():
        version, _, raw = line[len(PUSHED):].partition(":")
        name = request.parse_name(raw.encode("utf-8", "replace"), max_name_bytes)
        if line.startswith(PUSHED) and version.isdigit() and len(version) < 16 and name:
            held[name] = int(version)
    return held


def error_message(reason: str) -> str:
    """The message answering a request that was refused unrun."""
    return f"{ERROR}{reason}\n\n"


def token_message(token: str) -> str:
    """The message giving a socket the access token for its next requests."""
    return f"{TOKEN}{token}"


def message_token(message: str) -> str | None:
    """The token a ``!token:`` message carries (maybe empty), or None for any other."""
    if not message.startswith(TOKEN):
        return None
    return message[len(TOKEN):].strip()


def notice_names(message: str) -> list[str] | None:
    """The documents a notice names, or None if *message* is not a notice."""
    if not message.startswith(NOTICE):
        return None
    return [line[len(NOTICE):] for line in message.splitlines() if line.startswith(NOTICE)]
