"""Presence across the daemons on one database, carried by PostgreSQL notifications.

Every ``RELAY_INTERVAL`` a daemon tells the others (``NOTIFY`` on the
channel its changes use) whose presence moved on its sockets since the last
time: each such socket's published name, colour and carets and the
documents it follows, or that it closed.  A socket whose presence moves
faster is told once per interval, with its latest state.  Every ``REFRESH``
seconds a daemon says again who is on it, and a daemon drops the people of
another it has not heard of for ``FORGOTTEN`` seconds (that daemon stopped
or lost its database).  Nothing is stored: a notification is delivered to
the daemons listening at that moment, and is gone.

A message stays under PostgreSQL's payload limit (``MAX_PAYLOAD`` bytes):
the documents of a socket that follows too many to fit are cut from the
message (its people on those documents are not shown elsewhere).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable

from twisted.application.service import Service
from twisted.internet import defer
from twisted.internet.interfaces import IReactorTime
from twisted.internet.task import LoopingCall
from twisted.python.failure import Failure

from mobwrite.core.presence import PRESENCE, Published, message_presence
from mobwrite.daemon.websocket import PushHub
from mobwrite.logs import logger

log = logger("websocket")

RELAY_INTERVAL = 0.25
REFRESH = 30.0
FORGOTTEN = 3 * REFRESH
# PostgreSQL refuses a payload of 8000 bytes or more; the sender's prefix goes first.
MAX_PAYLOAD = 7900
# Messages one daemon sends per interval at most; the rest wait for the next.
MAX_PER_INTERVAL = 1000

Send = Callable[[list[str]], "defer.Deferred[None]"]


def presence_payload(ident: str, published: Published | None,
                     names: Iterable[str] = ()) -> str:
    """The message saying socket *ident* publishes *published* on *names* (None: it left)."""
    if published is None:
        return json.dumps({"id": ident}, separators=(",", ":"))
    kept: list[str] = []
    carets: dict[str, list[int]] = {}
    size = len(json.dumps({"id": ident, "name": published.name, "color": published.color,
                           "carets": {}, "documents": []}, separators=(",", ":")).encode())
    for name in sorted(names):
        caret = published.carets.get(name)
        cost = len(json.dumps(name).encode()) * (1 if caret is None else 2) + 30
        if size + cost > MAX_PAYLOAD:
            break
        size += cost
        kept.append(name)
        if caret is not None:
            carets[name] = list(caret)
    return json.dumps({"id": ident, "name": published.name, "color": published.color,
                       "carets": carets, "documents": kept}, separators=(",", ":"))


def read_payload(body: str) -> tuple[str, Published | None, frozenset[str]] | None:
    """What a presence message says (see ``presence_payload``); None if it is not one."""
    try:
        data = json.loads(body)
    except ValueError:
        return None
    if not isinstance(data, dict) or not isinstance(data.get("id"), str):
        return None
    if "name" not in data:
        return data["id"], None, frozenset()
    documents = data.get("documents")
    published = message_presence(PRESENCE + json.dumps(
        {key: data.get(key) for key in ("name", "color", "carets")}))
    if not isinstance(published, Published) or not isinstance(documents, list) or not all(
            isinstance(name, str) for name in documents):
        return None
    return data["id"], published, frozenset(documents)


class PresenceRelay(Service):
    """Tells the other daemons who is on this one's sockets, and shows theirs here."""

    def __init__(self, hub: PushHub, clock: IReactorTime, send: Send) -> None:
        self.hub = hub
        self.clock = clock
        self.send = send
        self.sending = False
        self.flushing = LoopingCall(self.flush)
        self.flushing.clock = clock
        self.refreshing = LoopingCall(self.refresh)
        self.refreshing.clock = clock

    def startService(self) -> None:
        Service.startService(self)
        self.flushing.start(RELAY_INTERVAL, now=False)
        self.refreshing.start(REFRESH, now=False)

    def stopService(self) -> None:
        Service.stopService(self)
        for loop in (self.flushing, self.refreshing):
            if loop.running:
                loop.stop()

    def flush(self) -> None:
        """Send what moved since the last flush (unless the last send is still going)."""
        hub = self.hub
        if self.sending or not (hub.moved or hub.departed):
            return
        messages = [presence_payload(ident, None) for ident in hub.departed[:MAX_PER_INTERVAL]]
        del hub.departed[:MAX_PER_INTERVAL]
        while hub.moved and len(messages) < MAX_PER_INTERVAL:
            socket = hub.moved.pop()
            published = hub.presence.published.get(socket)
            if published is not None:
                messages.append(presence_payload(
                    hub.presence.ids[socket], published,
                    hub.subscriptions.followed.get(socket, ())))
        self._send(messages)

    def refresh(self) -> None:
        """Say again who is here; forget the people elsewhere not heard of for long."""
        hub = self.hub
        hub.presence.forget_elsewhere(self.clock.seconds() - FORGOTTEN)
        hub.presence_changed()
        messages = [presence_payload(hub.presence.ids[socket], published,
                                     hub.subscriptions.followed.get(socket, ()))
                    for socket, published in hub.presence.published.items()]
        for start in range(0, len(messages), MAX_PER_INTERVAL):
            self._send(messages[start:start + MAX_PER_INTERVAL])

    def _send(self, messages: list[str]) -> None:
        if not messages:
            return
        self.sending = True
        self.send(messages).addErrback(self._not_sent).addBoth(self._sent)

    def _sent(self, result: object) -> None:
        self.sending = False

    @staticmethod
    def _not_sent(failure: Failure) -> None:
        # Presence is not stored: what could not be sent is simply not shown elsewhere.
        log.debug("presence not sent to the other daemons: {error}",
                  error=failure.getErrorMessage())

    def heard(self, sender: str, body: str) -> None:
        """Another daemon's message: show its person here, or their departure."""
        read = read_payload(body)
        if read is None:
            log.debug("an unreadable presence message from daemon {sender}", sender=sender)
            return
        ident, published, names = read
        presence = self.hub.presence
        if published is None:
            presence.leave((sender, ident))
        else:
            presence.arrive((sender, ident), published, names, self.clock.seconds())
        self.hub.presence_changed()
