"""The state every front end shares: the engine, its store and durability.

TCP connections and HTTP requests hand complete requests to
``MobwriteServer.answer`` and send back what its Deferred yields.  The
reply to a request that changed anything waits until the committer says
the change is durable (PROTOCOL.md 15.4); only then are the documents it
changed announced to the listener (the WebSocket push, docs/websocket.md).
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any, Protocol

from twisted.internet import defer
from twisted.internet.interfaces import IReactorTime

from mobwrite.core.engine import Engine, Report
from mobwrite.core.store import Store
from mobwrite.logs import logger

log = logger("server")

# How loudly each engine event is logged, and its message.
_EVENTS = {
    "views_full": ("warn", "MAX_VIEWS ({limit}) reached: a request wanting {wanted} new views got an empty answer"),
    "buffers_full": ("warn", "buffered bytes at their limit ({held}): fragment dropped"),
    "buffer_too_large": ("info", "a buffer claiming {size} slots was refused"),
    "buffer_too_deep": ("warn", "a buffer nested deeper than {depth} levels was dropped"),
    "too_long": ("info", "a change from {user!r} to {name!r} was refused: it would pass "
                 "MAX_CHARS ({limit} characters); nothing was cut"),
    "raw_refused": ("info", "raw text from {user!r} for {name!r} refused: {error}"),
    "delta_refused": ("debug", "delta from {user!r} for {name!r} refused: {error}"),
    "raw_reply": ("debug", "sent the whole text of {name!r} to {user!r}"),
    "patch_failed": ("debug", "{failed} patches from {user!r} found no place in {name!r}"),
}


class Answerer(Protocol):
    """What a front end needs: a complete request in, its answer out."""

    def answer(self, request: bytes, origin: Hashable = None) -> defer.Deferred[bytes]:
        """The response to *request*, once what it changed is durable.

        *origin* names the sender to the change listener, which does not
        tell a sender about its own changes.
        """


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
        return defer.succeed(None)


def report_event(event: str, **fields: Any) -> None:
    """Log an engine event at its level."""
    level, message = _EVENTS[event]
    getattr(log, level)(message, event=event, **fields)


def fan_out(*reports: Report) -> Report:
    """One report that passes every engine event to each of *reports*."""

    def report(event: str, **fields: Any) -> None:
        for each in reports:
            each(event, **fields)

    return report


class MobwriteServer:
    """Answers complete requests for every front end."""

    def __init__(
        self, engine: Engine, clock: IReactorTime, committer: Committer,
        listener: ChangeListener | None = None,
    ) -> None:
        self.engine = engine
        self.clock = clock
        self.committer = committer
        self.listener = listener or NoListener()

    @property
    def store(self) -> Store:
        return self.engine.store

    def answer(self, request: bytes, origin: Hashable = None) -> defer.Deferred[bytes]:
        """The response to *request*, once what it changed is durable."""
        outcome = self.engine.handle(request, self.clock.seconds())
        if not outcome.changed:
            return defer.succeed(outcome.body)
        durable = self.committer.durable()
        if outcome.documents:
            durable.addCallback(lambda _: self.listener.changed(outcome.documents, origin))
        return durable.addCallback(lambda _: outcome.body)
