"""The state every front end shares: the engine, its store and durability.

TCP connections and HTTP requests hand complete requests to
``RequestAnswerer.answer`` and send back what its Deferred yields.  The
reply to a request that changed anything waits until the committer says
the change is durable (docs/protocol.md §15.4); only then are the documents it
changed announced to the listener (the WebSocket push, docs/websocket.md).
"""

from __future__ import annotations

from collections.abc import Collection, Hashable, Sequence
from typing import Any, Protocol

from twisted.internet import defer
from twisted.internet.interfaces import IReactorTime

from mobwrite.core.engine import Engine
from mobwrite.core.events import Event, Report
from mobwrite.core.store import Store, ViewKey
from mobwrite.logs import logger

log = logger("server")

# How loudly each engine event is logged, and its message.
EVENT_LOG: dict[Event, tuple[str, str]] = {
    Event.VIEWS_FULL: ("warn", "MAX_VIEWS ({limit}) reached: a request wanting {wanted} new views got an empty answer"),
    Event.BUFFERS_FULL: ("warn", "buffered bytes at their limit ({held}): fragment dropped"),
    Event.BUFFER_TOO_LARGE: ("info", "a buffer claiming {size} slots was refused"),
    Event.BUFFER_TOO_DEEP: ("warn", "a buffer nested deeper than {depth} levels was dropped"),
    Event.TOO_LONG: ("info", "a change from {user!r} to {name!r} was refused: it would pass "
                     "MAX_CHARS ({limit} characters); nothing was cut"),
    Event.MEMORY_FULL: ("info", "a change from {user!r} to {name!r} was refused: the documents "
                        "in use hold MAX_MEMORY; nothing was cut"),
    Event.DISK_FULL: ("info", "a new document {name!r} from {user!r} was refused: storage "
                      "holds MAX_STORED; nothing was cut"),
    Event.RAW_REFUSED: ("info", "raw text from {user!r} for {name!r} refused: {error}"),
    Event.DELTA_REFUSED: ("debug", "delta from {user!r} for {name!r} refused: {error}"),
    Event.RAW_REPLY: ("debug", "sent the whole text of {name!r} to {user!r}"),
    Event.PATCH_FAILED: ("debug", "{failed} patches from {user!r} found no place in {name!r}"),
    Event.READ_ONLY: ("info", "an edit of {name!r} by {user!r} was dropped: read-only token"),
    Event.ACCESS_REFUSED: ("info", "refused a request to the {transport} from {peer} "
                                   "(subject {subject!r}): {reason}"),
}


class Unavailable(Exception):
    """A request refused, unapplied, because the storage cannot be reached (the
    database is down).  Whoever raises it logs the outage once, so front ends
    refuse the request without a traceback."""


class Answerer(Protocol):
    """What a front end needs: a complete request in, its answer out."""

    def answer(self, request: bytes, may_write: bool = True,
               origin: Hashable = None, author: str | None = None,
               coarse: bool = False) -> defer.Deferred[bytes]:
        """The response to *request*, once what it changed is durable.

        With *may_write* false its edits never reach the masters.  *origin*
        names the sender to the change listener, which does not tell a
        sender about its own changes.  *author* (a token's subject) signs
        its revisions, else each view's user id does.  A sender that takes
        *coarse* deltas (docs/websocket.md) may be answered with them.
        """

    def push(self, views: Sequence[ViewKey],
             coarse: Collection[ViewKey] = ()) -> defer.Deferred[list[str | None]]:
        """Bring each view to its master as an empty sync would; fire, once that
        is durable, with each view's answer block to push ("" when it was up
        to date, None when its client must sync instead).  The clients of the
        views in *coarse* take coarse deltas."""

    def pushed(self, view: ViewKey, version: int) -> None:
        """The client of *view* holds server version *version* after a push."""


class ChangeListener(Protocol):
    """Told which documents a request changed, once the change is durable."""

    def changed(self, documents: frozenset[str], origin: Hashable) -> None:
        """*documents* changed by the request *origin* sent."""


class NoListener:
    """Nobody listens for changes (no WebSocket push)."""

    def changed(self, documents: frozenset[str], origin: Hashable) -> None:
        pass


class Committer(Protocol):
    """Makes the store's recorded changes durable."""

    def durable(self) -> defer.Deferred[None]:
        """Fire once every change recorded so far is safely stored."""


class MemoryOnly:
    """The committer for a daemon without persistence: forget the changes."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def durable(self) -> defer.Deferred[None]:
        self.store.take_changes()
        self.store.stored()
        return defer.succeed(None)


def report_event(event: Event, **fields: Any) -> None:
    """Log an engine event at its level."""
    level, message = EVENT_LOG[event]
    getattr(log, level)(message, event=event, **fields)


def fan_out(*reports: Report) -> Report:
    """One report that passes every engine event to each of *reports*."""

    def report(event: Event, **fields: Any) -> None:
        for each in reports:
            each(event, **fields)

    return report


class RequestAnswerer:
    """Answers complete requests for every front end."""

    def __init__(
        self, engine: Engine, clock: IReactorTime, committer: Committer,
        listener: ChangeListener | None = None,
    ) -> None:
        self.engine = engine
        self.clock = clock
        self.committer = committer
        self.listener = listener or NoListener()

    def answer(self, request: bytes, may_write: bool = True,
               origin: Hashable = None, author: str | None = None,
               coarse: bool = False) -> defer.Deferred[bytes]:
        """The response to *request*, once what it changed is durable."""
        outcome = self.engine.handle(request, self.clock.seconds(), may_write, author, coarse)
        if not outcome.changed:
            return defer.succeed(outcome.body)
        return self.commit(outcome.documents, origin).addCallback(lambda _: outcome.body)

    def push(self, views: Sequence[ViewKey],
             coarse: Collection[ViewKey] = ()) -> defer.Deferred[list[str | None]]:
        """Each view's push (``Engine.push``), once the views' new state is durable:
        a crash never leaves a client holding a push its view does not know."""
        shared: dict[tuple[int, bool], tuple[str, str]] = {}
        blocks = [self.engine.push(user, name, shared, (user, name) in coarse)
                  for user, name in views]
        if not any(blocks):
            return defer.succeed(blocks)
        return self.committer.durable().addCallback(lambda _: blocks)

    def pushed(self, view: ViewKey, version: int) -> None:
        self.engine.pushed(*view, version)

    def commit(self, documents: frozenset[str], origin: Hashable = None) -> defer.Deferred[None]:
        """Fire once every change recorded so far is durable, having told the
        listener that *documents* changed (not when storing fails)."""
        durable = self.committer.durable()
        if documents:
            durable.addCallback(lambda _: self.listener.changed(documents, origin))
        return durable
