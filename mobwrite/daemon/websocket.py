"""The WebSocket front end: requests and answers over one socket, and live notices.

``/ws`` on the gateway port upgrades to a WebSocket (``twisted.web.websocket``).
Each text message is one complete request; each gets one answer message,
in order.  When a commit changes a document the socket follows, the socket
gets one notice once it is idle (``mobwrite.core.push`` decides who is owed
what), or, if it sent ``!push:deltas`` (or ``!push:coarse``: coarse deltas welcome,
in pushes and answers), the change itself: the hub pushes
each document's followers together, at most every ``PUSH_INTERVAL`` (longer
for many followers), once the views' new state is durable.  With access control on, every request is checked against the
socket's token (``mobwrite.daemon.socket_access``).  A ``!presence:``
message publishes who the socket's person is and where their carets are;
the others on the same documents get the changes at most every
``PRESENCE_INTERVAL`` (``mobwrite.core.presence``).  Message formats and
close codes: docs/websocket.md.

Bounds: a message over MAX_REQUEST_BYTES closes the socket (1009) before
it is buffered whole; at most ``MAX_QUEUED`` requests wait, beyond which
the socket's reading pauses, and it pauses too while the peer does not read
what was sent; a peer that does not answer a ping in time (a dead or
stalled one, whose pong cannot be read) is cut off.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable
from typing import Any, Protocol, cast

from twisted.application.service import Service
from twisted.internet.interfaces import IDelayedCall, IPushProducer, IReactorTime, ITCPTransport
from twisted.python.failure import Failure
from twisted.web import server
from twisted.web.http_headers import Headers
from twisted.web.websocket import WebSocketResource, WebSocketTransport
from wsproto import ConnectionType
from wsproto.handshake import H11Handshake
from wsproto.utilities import RemoteProtocolError
from zope.interface import implementer

from mobwrite.core import presence, push
from mobwrite.core.access import Refused
from mobwrite.core.origins import origin_allowed
from mobwrite.core.presence import Presence
from mobwrite.core.push import Subscriptions
from mobwrite.core.store import ViewKey
from mobwrite.daemon.answering import Answerer
from mobwrite.daemon.gateway import other_site
from mobwrite.daemon.services import BoundPorts
from mobwrite.daemon.socket_access import SocketGate
from mobwrite.logs import logger
from mobwrite.settings import Settings
from mobwrite.tokens import MAX_TOKEN_CHARS

log = logger("websocket")

# Requests read but not yet answered, beyond which the socket stops reading.
MAX_QUEUED = 4

# Seconds between presence updates: a socket is sent, and its changes are sent
# to others, at most this often (the excess joins the next update).
PRESENCE_INTERVAL = 0.1

# Pushed deltas (docs/websocket.md): a document's followers are pushed to at
# most every PUSH_INTERVAL seconds, or every PUSH_INTERVAL_PER_FOLLOWER per
# follower if that is longer (a crowd's pushes come in fewer, larger batches),
# but never less often than every MAX_PUSH_INTERVAL.
PUSH_INTERVAL = 0.02
PUSH_INTERVAL_PER_FOLLOWER = 0.001
MAX_PUSH_INTERVAL = 0.5

# Close codes (RFC 6455 7.4.1).
GOING_AWAY = 1001
UNSUPPORTED = 1003
POLICY_VIOLATION = 1008
TOO_BIG = 1009
INTERNAL_ERROR = 1011


class _Closable(Protocol):
    def loseConnection(self, code: int = 1000, reason: str = "") -> None: ...


def forget_handshake(request: server.Request) -> None:
    """Let an upgraded request drop what only the handshake read.

    The request never finishes, so its channel holds it for the socket's
    life; its headers, arguments and (empty) body are not read again, and
    they were about 1.6 KB of each idle socket's memory.
    """
    # One empty, never-written Headers for both.
    request.requestHeaders = request.responseHeaders = Headers()
    request.args = {}
    if request.content is not None:
        request.content.close()
        request.content = None


def handshake_fault(request: server.Request) -> str | None:
    """Why *request* is not a WebSocket handshake we can accept, or None if it is one.

    The same check ``WebSocketResource`` makes, made first so that a refusal
    is ours to log (Twisted logs it as an error, though it is the client's).
    """
    headers = [(name, value) for name, values in request.requestHeaders.getAllRawHeaders()
               for value in values]
    try:
        H11Handshake(ConnectionType.SERVER).initiate_upgrade_connection(headers, request.path)
    except RemoteProtocolError as error:
        return str(error)
    return None


def text_frame(message: str) -> bytes:
    """*message* as one whole, unmasked text frame, as a server sends it (RFC 6455
    5.2; no extension is ever negotiated): built once, written to many sockets."""
    payload = message.encode("utf-8")
    size = len(payload)
    if size < 126:
        header = bytes((0x81, size))
    elif size < 65536:
        header = bytes((0x81, 126)) + size.to_bytes(2, "big")
    else:
        header = bytes((0x81, 127)) + size.to_bytes(8, "big")
    return header + payload


class PushHub:
    """The open sockets, what they follow and who is present; told of every durable change.

    With *relaying* (a daemon sharing its database with others) it also keeps
    which sockets' presence moved, and who left, for the other daemons to hear.
    """

    def __init__(self, settings: Settings, clock: IReactorTime, relaying: bool = False) -> None:
        self.settings = settings
        self.clock = clock
        self.relaying = relaying
        self.subscriptions: Subscriptions[PushSocket] = Subscriptions()
        self.presence: Presence[PushSocket] = Presence(self.subscriptions)
        # Sockets whose presence moved, and the ids of the published sockets that
        # closed, since the other daemons were last told.
        self.moved: set[PushSocket] = set()
        self.departed: list[str] = []
        # The next batch of presence updates, every PRESENCE_INTERVAL while there are changes.
        self.presence_timer: IDelayedCall | None = None
        # Pushed deltas: per document, the sockets owed a push of it; the
        # documents to push at the next turn; those pushed too recently,
        # each with the call that ends its pause.
        self.push_due: dict[str, set[PushSocket]] = {}
        self.push_ready: set[str] = set()
        self.push_call: IDelayedCall | None = None
        self.cooling: dict[str, IDelayedCall] = {}

    def deltas_owed(self, socket: PushSocket, names: Iterable[str]) -> None:
        """*socket* is owed a push of *names*: push each at the next turn, or once
        its document's pause since its last push ends."""
        for name in names:
            self.push_due.setdefault(name, set()).add(socket)
            if name not in self.cooling:
                self.push_ready.add(name)
        if self.push_ready and self.push_call is None:
            self.push_call = self.clock.callLater(0, self._push)

    def _cooled(self, name: str) -> None:
        del self.cooling[name]
        if name in self.push_due:
            self.push_ready.add(name)
            if self.push_call is None:
                self.push_call = self.clock.callLater(0, self._push)

    def _push(self) -> None:
        """Push every ready document to the sockets owed it, in one durable commit."""
        self.push_call = None
        ready, self.push_ready = self.push_ready, set()
        owed: dict[PushSocket, list[str]] = {}
        for name in ready:
            sockets = self.push_due.pop(name, set())
            followers = len(self.subscriptions.followers.get(name, ()))
            pause = min(MAX_PUSH_INTERVAL,
                        max(PUSH_INTERVAL, followers * PUSH_INTERVAL_PER_FOLLOWER))
            self.cooling[name] = self.clock.callLater(pause, self._cooled, name)
            for socket in sockets:
                owed.setdefault(socket, []).append(name)
        plans = []
        for socket, names in owed.items():
            plan = socket.take_push(names)
            if plan:
                plans.append((socket, plan))
            # Changes to its other documents since it was woken.
            socket.wake()
        if not plans:
            return
        keys = [key for _, plan in plans for key in plan]
        coarse = {key for socket, plan in plans if socket.coarse for key in plan}
        # Every socket holds the same answerer.
        plans[0][0].server.push(keys, coarse).addCallbacks(
            self._pushed, lambda failure: log.failure("pushing deltas failed", failure),
            callbackArgs=(plans,))

    def _pushed(self, blocks: list[str | None],
                plans: list[tuple[PushSocket, list[ViewKey]]]) -> None:
        at = 0
        for socket, plan in plans:
            mine = blocks[at:at + len(plan)]
            at += len(plan)
            try:
                socket.send_push(plan, mine)
            except Exception:
                log.failure("sending a pushed delta failed")

    def presence_changed(self) -> None:
        """Presence changed: send it with the next batch."""
        if self.presence_timer is None and self.presence.pending():
            self.presence_timer = self.clock.callLater(PRESENCE_INTERVAL, self._send_presence)

    def relay(self, socket: PushSocket) -> None:
        """*socket* published or follows more: the other daemons are to hear it."""
        if self.relaying:
            self.moved.add(socket)

    def depart(self, socket: PushSocket) -> None:
        """*socket* is closing (call before its presence is removed)."""
        if self.relaying:
            self.moved.discard(socket)
            if socket in self.presence.published:
                self.departed.append(self.presence.ids[socket])

    def _send_presence(self) -> None:
        """Send each reader its own update first (who was there when it began to
        follow; what it missed while not reading), then each document's changes,
        one message for all its followers."""
        self.presence_timer = None
        presence = self.presence
        for socket in list(presence.owed):
            try:
                socket.send_presence()
            except Exception:
                log.failure("sending a presence update failed")
        for name, people, message in presence.batch():
            frame = text_frame(message)
            for socket in list(self.subscriptions.followers.get(name, ())):
                try:
                    socket.send_shared_presence(name, people, frame)
                except Exception:
                    log.failure("sending a presence update failed")

    def changed(self, documents: frozenset[str], origin: Hashable) -> None:
        for socket in self.subscriptions.changed(documents, cast(Any, origin)):
            # A socket's failure must not fail the commit's own answer.
            try:
                socket.wake()
            except Exception:
                log.failure("sending a change notice failed")

    def close_all(self, code: int, reason: str) -> None:
        if self.presence_timer is not None:
            self.presence_timer.cancel()
            self.presence_timer = None
        for call in [self.push_call, *self.cooling.values()]:
            if call is not None and call.active():
                call.cancel()
        self.push_call = None
        self.cooling.clear()
        sockets = list(self.subscriptions.followed)
        if sockets:
            log.info("closing {count} WebSockets with {code}: {reason}",
                     count=len(sockets), code=code, reason=reason)
        for socket in sockets:
            socket.close(code, reason, quietly=True)


@implementer(IPushProducer)
class PushSocket:
    """One WebSocket: answers its requests in order and sends the notices it is owed."""

    # Slots: thousands of idle sockets each hold one of these.
    __slots__ = ("hub", "server", "clock", "settings", "request", "channel", "channel_lost",
                 "tcp", "reader", "ws", "wire_received", "wire_lost", "queue", "busy",
                 "closed", "sending_paused", "running", "noticed", "reading", "unread",
                 "pinged", "timer", "gate", "token", "views", "coarse", "__weakref__")

    def __init__(self, hub: PushHub, server: Answerer, clock: IReactorTime,
                 request: server.Request, gate: SocketGate | None = None,
                 token: str | None = None) -> None:
        self.hub = hub
        self.server = server
        self.clock = clock
        self.settings = hub.settings
        self.request = request
        self.channel = request.channel
        # What the connection's wrappers (the connection cap) do when it ends;
        # the upgrade replaces the channel's own, which is called too.
        self.channel_lost: Callable[[Failure], None] = self.channel.connectionLost
        self.tcp = cast(ITCPTransport, request.transport)
        self.reader = cast(IPushProducer, request.transport)
        self.ws: WebSocketTransport | None = None
        # Until the upgrade, the channel's own (replaced in negotiationFinished).
        self.wire_received: Callable[[bytes], None] = self.channel.dataReceived
        self.wire_lost: Callable[[Failure], None] = self.channel_lost
        # A list, not a deque: it is nearly always empty, and an empty deque is 600 bytes.
        self.queue: list[str] = []
        self.busy = self.closed = self.sending_paused = self.running = False
        # A notice was sent and no request has come since: the next one waits.
        self.noticed = False
        self.reading = True
        # Bytes read since the last complete message: bounds a message being assembled.
        self.unread = 0
        self.pinged = False
        self.timer: IDelayedCall | None = None
        # With access control on: the checker, and the token the socket holds.
        self.gate = gate
        self.token = token
        # Once the client asked for deltas: the user id of each document its
        # requests named (the view a push brings up to date); else None.
        self.views: dict[str, str] | None = None
        # The client takes coarse deltas, pushed or in answers (docs/websocket.md).
        self.coarse = False

    # What twisted.web.websocket calls

    def negotiationStarted(self, transport: WebSocketTransport) -> None:
        self.ws = transport

    def negotiationFinished(self) -> None:
        channel = self.channel
        self.wire_received, self.wire_lost = channel.dataReceived, channel.connectionLost
        channel.dataReceived = self._received  # type: ignore[method-assign]
        channel.connectionLost = self._lost  # type: ignore[method-assign]
        self.request.registerProducer(self, True)
        forget_handshake(self.request)
        self.hub.subscriptions.add(self)
        self.timer = self.clock.callLater(self.settings.websocket_ping_interval, self._tick)
        log.debug("WebSocket opened from {peer}", peer=self.tcp.getPeer())
        if self.gate is not None and self.token:
            refusal = self.gate.opening(self.token, self.tcp.getPeer())
            if refusal is not None:
                self.close(POLICY_VIOLATION, refusal.reason, quietly=True)

    def textMessageReceived(self, message: str) -> None:
        self.unread = 0
        if self.closed:
            return
        self.queue.append(message)
        self._next()

    def bytesMessageReceived(self, data: bytes | bytearray) -> None:
        self.close(UNSUPPORTED, "binary messages are not understood; send requests as text")

    def pongReceived(self, payload: bytes) -> None:
        # A pong is no part of a message: its frame (2 + 4 mask bytes + payload) is uncounted.
        self.unread = max(0, self.unread - 6 - len(payload))
        self.pinged = False
        if self.timer is not None and self.timer.active():
            self.timer.reset(self.settings.websocket_ping_interval)

    def connectionLost(self, reason: Failure) -> None:
        self.closed = True
        self.hub.depart(self)
        self.hub.presence.remove(self)
        self.hub.presence_changed()
        self.hub.subscriptions.remove(self)
        if self.timer is not None and self.timer.active():
            self.timer.cancel()
        log.debug("WebSocket from {peer} closed", peer=self.tcp.getPeer())

    # The byte stream under the WebSocket

    def _received(self, data: bytes) -> None:
        if self.closed:
            return
        self.unread += len(data)
        if self.unread > self.settings.max_request_bytes:
            self.close(TOO_BIG, f"a message over MAX_REQUEST_BYTES "
                                f"({self.settings.max_request_bytes})")
            return
        self.wire_received(data)

    def _lost(self, reason: Failure) -> None:
        self.closed = True
        self.wire_lost(reason)
        self.channel_lost(reason)

    # Requests and answers

    def _next(self) -> None:
        """Start answering the next request, unless one is being answered.

        An answer that is ready at once comes back here while the loop runs:
        the loop, not a nested call, takes the next request.
        """
        if self.running:
            return
        self.running = True
        try:
            self._run_queue()
        finally:
            self.running = False
        self._flow()
        self.wake()

    def _run_queue(self) -> None:
        limits = self.settings
        while not self.busy and self.queue and not self.closed:
            message = self.queue.pop(0)
            token = push.message_token(message)
            if token is not None:
                # In turn: it holds for the requests sent after it.  Cut short, a
                # token over the cap is still refused, and a socket holds no more.
                if self.gate is not None:
                    self.token = token[:MAX_TOKEN_CHARS + 1]
                continue
            asked = message.strip()
            if asked in (push.PUSH_DELTAS, push.PUSH_COARSE):
                if self.views is None:
                    self.views = {}
                self.coarse = self.coarse or asked == push.PUSH_COARSE
                continue
            held = push.message_pushed(message, limits.max_name_bytes)
            if held is not None:
                self._held(held)
                continue
            published = presence.message_presence(message)
            if isinstance(published, str):
                self.hub.presence.counts.refused += 1
                self._send(push.error_message(published))
                continue
            if published is not None:
                ident = self.hub.presence.publish(self, published)
                if ident is not None:
                    # Before any batch: the socket knows itself in the updates it is sent.
                    self._send(presence.PRESENCE_ID + ident)
                self.hub.presence_changed()
                self.hub.relay(self)
                continue
            read = push.read_request(message, limits.max_request_bytes, limits.max_line_bytes)
            if isinstance(read, str):
                if read.startswith("over MAX_REQUEST_BYTES"):
                    self.close(TOO_BIG, f"a message {read}")
                    return
                self._send(push.error_message(read))
                continue
            may_write, author = True, None
            if self.gate is not None:
                verdict, grant = self.gate.check(self.token, read, self.tcp.getPeer())
                if isinstance(verdict, Refused):
                    self._send(push.error_message(f"403 {verdict.reason}"))
                    continue
                may_write = verdict.may_write
                author = None if grant is None else grant.subject
            self.busy = True
            self.noticed = False
            if self.views is None:
                names = push.synced_names(read, limits.max_name_bytes)
            else:
                views = push.synced_views(read, limits.max_name_bytes)
                names = set(views)
                self._remember(views)
            self.hub.subscriptions.settle(self, names)
            self.server.answer(read, may_write, origin=self, author=author,
                               coarse=self.coarse).addCallbacks(self._answered, self._failed)

    def _answered(self, body: bytes) -> None:
        self.busy = False
        if self.closed:
            return
        self._send(push.answer_message(body))
        names = push.synced_names(body, self.settings.max_name_bytes)
        followed = self.hub.subscriptions.followed.get(self, set())
        new = names - followed
        refused = self.hub.subscriptions.follow(self, new)
        if new:
            self.hub.presence.followed(self, new & followed)
            self.hub.presence_changed()
            self.hub.relay(self)
        if refused:
            log.info("a WebSocket follows {limit} documents: {refused} more not followed",
                     limit=self.hub.subscriptions.max_followed, refused=refused)
        self._next()

    def _failed(self, failure: Failure) -> None:
        log.failure("answering a WebSocket request failed", failure)
        self.busy = False
        self.close(INTERNAL_ERROR, "internal error; the request may not have been applied")

    # Pushed deltas

    def _remember(self, views: dict[str, str]) -> None:
        """Note the user id of each document named, up to as many as a socket follows."""
        assert self.views is not None
        room = self.hub.subscriptions.max_followed
        for name, user in views.items():
            if name in self.views or len(self.views) < room:
                self.views[name] = user

    def _held(self, held: dict[str, int]) -> None:
        """The client holds these pushed versions: older pushes need no keeping."""
        if self.views is None:
            return
        for name, version in held.items():
            user = self.views.get(name)
            if user is not None:
                self.server.pushed((user, name), version)

    def _idle(self) -> bool:
        return not (self.busy or self.queue or self.sending_paused or self.closed)

    def take_push(self, names: list[str]) -> list[ViewKey]:
        """The views to push of *names* this socket is owed, now counted as sent;
        none while a request is being answered (it will wake again after it)."""
        if not self._idle() or self.views is None:
            return []
        taken = self.hub.subscriptions.take_some(
            self, names, None if self.gate is None else self.gate.readable(self.token))
        return [(self.views.get(name, ""), name) for name in taken]

    def send_push(self, plan: list[ViewKey], blocks: list[str | None]) -> None:
        """Send the pushed answer blocks, and a notice for the views that could not be pushed."""
        if self.closed:
            return
        pushed = [block for block in blocks if block]
        unpushed = [name for (_, name), block in zip(plan, blocks, strict=True) if block is None]
        if pushed:
            self.hub.subscriptions.counts.deltas_sent += 1
            self._send(push.delta_message(pushed))
        if unpushed:
            self.hub.subscriptions.counts.notices_sent += 1
            self._send(push.notice_message(unpushed))

    # Notices

    def wake(self) -> None:
        """Send the notice this socket is owed, if it is idle, its peer reads, and
        it has made a request since the last notice (one notice per request);
        a socket that asked for deltas is pushed them instead."""
        if not self._idle() or not self.hub.subscriptions.owes(self):
            return
        if self.views is not None:
            self.hub.deltas_owed(self, self.hub.subscriptions.owed_names(self))
            return
        if self.noticed:
            return
        names = self.hub.subscriptions.take(
            self, None if self.gate is None else self.gate.readable(self.token))
        if names:
            self.noticed = True
            self._send(push.notice_message(names))

    def send_presence(self) -> None:
        """Send the presence update of its own this socket is owed, unless its peer is
        not reading (then it waits, growing no more than one entry per person)."""
        if self.closed or self.sending_paused:
            return
        message = self.hub.presence.take(
            self, None if self.gate is None else self.gate.readable(self.token))
        if message is not None:
            self._send(message)

    def send_shared_presence(self, name: str, people: dict[str, str], frame: bytes) -> None:
        """Write *frame*, the update of document *name* every follower is sent, framed
        once for all of them; a socket whose peer is not reading keeps *people* for
        its own update instead."""
        if self.closed:
            return
        if self.sending_paused or self.hub.presence.owes(self):
            self.hub.presence.hold(self, name, people)
        elif self.gate is None or self.gate.readable(self.token)(name):
            self.hub.presence.counts.updates_sent += 1
            # Whole frames only ever go out, so one written here cannot split another.
            self.tcp.write(frame)

    # Flow control

    def _flow(self) -> None:
        """Read while the queue has room and the peer reads what we send."""
        wanted = len(self.queue) < MAX_QUEUED and not self.sending_paused
        if wanted != self.reading and not self.closed:
            self.reading = wanted
            if wanted:
                self.reader.resumeProducing()
            else:
                self.reader.pauseProducing()

    def pauseProducing(self) -> None:
        self.sending_paused = True
        self._flow()

    def resumeProducing(self) -> None:
        self.sending_paused = False
        self._flow()
        self.wake()
        self.hub.presence_changed()

    def stopProducing(self) -> None:
        self.closed = True

    # Liveness

    def _tick(self) -> None:
        if self.pinged:
            log.info("cut off a WebSocket from {peer}: no pong within {timeout:g} s",
                     peer=self.tcp.getPeer(), timeout=self.settings.websocket_ping_timeout)
            self.closed = True
            self.tcp.abortConnection()
            return
        self.pinged = True
        assert self.ws is not None
        self.ws.ping(b"mobwrite")
        self.timer = self.clock.callLater(self.settings.websocket_ping_timeout, self._tick)

    # Output

    def _send(self, message: str) -> None:
        assert self.ws is not None
        self.ws.sendTextMessage(message)

    def close(self, code: int, reason: str, quietly: bool = False) -> None:
        """Close with *code*; *reason* goes to the peer and (unless *quietly*) the log."""
        if self.closed:
            return
        if not quietly:
            log.info("closed a WebSocket from {peer} with {code}: {reason}",
                     peer=self.tcp.getPeer(), code=code, reason=reason)
        self.closed = True
        cast(_Closable, self.ws).loseConnection(code, reason)


class SocketResource(WebSocketResource):
    """``/ws``: checks the page's origin, then hands the connection to a ``PushSocket``."""

    isLeaf = True

    def __init__(self, hub: PushHub, server: Answerer, clock: IReactorTime,
                 ports: BoundPorts, gate: SocketGate | None = None) -> None:
        super().__init__(self)
        self.hub = hub
        self.answerer = server
        self.clock = clock
        self.ports = ports
        self.gate = gate

    def buildProtocol(self, request: server.Request) -> PushSocket:
        token = None
        if self.gate is not None:
            given = request.args.get(b"token") if request.args else None
            token = given[0].decode("latin-1") if given else None
        return PushSocket(self.hub, self.answerer, self.clock, request, self.gate, token)

    def render_GET(self, request: server.Request) -> bytes | int:
        upgrade = (request.getHeader(b"upgrade") or b"").lower()
        if upgrade != b"websocket":
            request.setResponseCode(426)
            request.setHeader(b"upgrade", b"websocket")
            request.setHeader(b"content-type", b"text/plain; charset=utf-8")
            return b"this is a WebSocket endpoint: open it with a WebSocket client\n"
        origin = request.getHeader(b"origin")
        shown = None if origin is None else origin.decode("latin-1")
        editor = other_site(request, self.ports, "editor")
        if not origin_allowed(shown, self.hub.settings.websocket_origins,
                              (editor,) if editor else ()):
            log.info("refused a WebSocket from a page of {origin!r}: not in WEBSOCKET_ORIGINS",
                     origin=shown)
            request.setResponseCode(403)
            request.setHeader(b"content-type", b"text/plain; charset=utf-8")
            return b"pages of this origin may not open a WebSocket here (WEBSOCKET_ORIGINS)\n"
        fault = handshake_fault(request)
        if fault is not None:
            log.info("refused a WebSocket handshake from {peer}: {fault}",
                     peer=request.getClientAddress(), fault=fault)
            request.setResponseCode(400)
            request.setHeader(b"content-type", b"text/plain; charset=utf-8")
            return f"not a WebSocket handshake we can accept: {fault}\n".encode()
        return super().render_GET(request)


class SocketsService(Service):
    """Says goodbye (1001) to every open socket when the daemon stops."""

    def __init__(self, hub: PushHub) -> None:
        self.hub = hub

    def stopService(self) -> None:
        Service.stopService(self)
        self.hub.close_all(GOING_AWAY, "the server is stopping; reconnect shortly")
