"""The gateway's WebSocket for Twisted programs (docs/websocket.md), on ``twisted.web.websocket``.

A ``SocketPeer`` matches each answer to the oldest request waiting for one
and keeps the names of the notices that arrive in between; after
``take_pushes(session)`` the server pushes deltas instead, applied to the
session as they arrive (docs/websocket.md, *Pushed deltas*).  Twisted
answers the server's pings by itself.  ``metered_endpoint`` connects it so that a
message over ``max_message_bytes`` closes the socket as it arrives
(``mobwrite.client.message_size``) rather than after Twisted has held it whole.
"""

from __future__ import annotations

from collections import deque
from typing import Any, cast

from twisted.internet import defer
from twisted.internet.interfaces import (
    IAddress,
    IProtocol,
    IProtocolFactory,
    IStreamClientEndpoint,
    ITCPTransport,
)
from twisted.internet.protocol import Factory
from twisted.protocols.policies import ProtocolWrapper, WrappingFactory
from twisted.python.failure import Failure
from twisted.web.client import URI
from twisted.web.iweb import IAgentEndpointFactory
from twisted.web.websocket import WebSocketClientEndpoint, WebSocketTransport
from zope.interface import implementer

from mobwrite.client.errors import ClientError, MessageTooLong, ProtocolFailure, Unreachable
from mobwrite.client.message_size import MessageMeter
from mobwrite.client.session import ClientSession
from mobwrite.core.presence import PRESENCE, PRESENCE_ERROR, PRESENCE_ID
from mobwrite.core.push import (
    ERROR,
    PUSH_COARSE,
    WEAKER_ASK,
    PushAsk,
    delta_blocks,
    notice_names,
    pushed_message,
    token_message,
)


class SocketPeer:
    """Our end of one WebSocket to a MobWrite gateway."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.transport: WebSocketTransport | None = None
        self.answers: deque[defer.Deferred[bytes]] = deque()
        self.owed: set[str] = set()
        self.notified: defer.Deferred[None] | None = None
        self.lost: str | None = None
        # Why the socket was given up, when it says more than that it was lost.
        self.failure: ClientError | None = None
        # The session pushed deltas go to; the documents pushes changed since
        # the last wait.
        self.session: ClientSession | None = None
        self.applied: set[str] = set()
        # The push ask not yet known to be taken.
        self.push_ask = PushAsk()

    def buildProtocol(self, url: str) -> SocketPeer:
        return self

    def negotiationStarted(self, transport: WebSocketTransport) -> None:
        self.transport = transport

    def negotiationFinished(self) -> None:
        pass

    def pongReceived(self, payload: bytes) -> None:
        pass

    def textMessageReceived(self, message: str) -> None:
        if message.startswith((PRESENCE, PRESENCE_ID, PRESENCE_ERROR)):
            # This client does not show presence.
            return
        blocks = delta_blocks(message)
        if blocks is not None:
            self._pushed(blocks)
            return
        names = notice_names(message)
        if names is not None:
            self.owed.update(names)
            self._wake()
            return
        if self._refused_ask(message):
            return
        if not self.answers:
            self._fail(f"{self.url} sent an answer nobody asked for")
            return
        waiting = self.answers.popleft()
        if message.startswith(ERROR):
            waiting.errback(ProtocolFailure(
                f"{self.url} refused the request: {message[len(ERROR):].strip()}"))
        else:
            waiting.callback(message.encode("utf-8"))

    def bytesMessageReceived(self, data: bytes | bytearray) -> None:
        self._fail(f"{self.url} sent a binary message")

    def connectionLost(self, reason: Failure) -> None:
        self.lost = self.lost or f"{self.url} closed the WebSocket"
        answers, self.answers = self.answers, deque()
        for waiting in answers:
            waiting.errback(self.failure or Unreachable(self.lost))
        self._wake()

    def _fail(self, problem: str) -> None:
        self.lost = problem
        self.close()

    def _wake(self) -> None:
        notified, self.notified = self.notified, None
        if notified is not None and not notified.called:
            notified.callback(None)

    def _pushed(self, blocks: bytes) -> None:
        """Apply a pushed delta to the session that asked for them (none did: ignore
        it); one read while a request waits for its answer is kept for after it."""
        if self.session is None:
            return
        self._acknowledge(self.session.apply_push(blocks, in_flight=bool(self.answers)))

    def _acknowledge(self, held: list[tuple[str, int]]) -> None:
        """Tell the server which pushed versions we hold, and wake a waiter."""
        if held and self.transport is not None and self.lost is None:
            self.applied.update(name for name, _ in held)
            self.transport.sendTextMessage(pushed_message(held))
            self._wake()

    def take_pushes(self, session: ClientSession) -> None:
        """Ask for deltas instead of notices (coarse ones welcome: the session keeps
        its typing through them), and apply them to *session* as they come."""
        self.session = session
        self._ask(PUSH_COARSE)

    def _ask(self, asked: str) -> None:
        assert self.transport is not None
        self.push_ask.ask(asked, len(self.answers))
        self.transport.sendTextMessage(asked)

    def _refused_ask(self, message: str) -> bool:
        """Whether *message* refused our push ask (``PushAsk``); if it did, ask
        for the weaker one, or keep to notices."""
        refused = self.push_ask.refused(message)
        if refused is None:
            return False
        weaker = WEAKER_ASK.get(refused)
        if weaker is None:
            self.session = None
        elif self.transport is not None and self.lost is None:
            self._ask(weaker)
        return True

    def exchange(self, request: bytes) -> defer.Deferred[bytes]:
        """Send one request; fire with its answer (ending with a blank line)."""
        if self.lost is not None or self.transport is None:
            return defer.fail(Unreachable(self.lost or f"{self.url} is not connected"))
        if self.session is not None:
            # Pushes held back for the previous answer, and applied after it.
            self._acknowledge(self.session.take_pushed())
        waiting: defer.Deferred[bytes] = defer.Deferred()
        self.answers.append(waiting)
        self.transport.sendTextMessage(request.decode("utf-8"))
        return waiting

    def send_token(self, token: str) -> None:
        """Give the server the access token for the requests that follow (no answer comes)."""
        assert self.transport is not None
        self.transport.sendTextMessage(token_message(token))

    async def next_notice(self) -> set[str]:
        """Wait for a notice (unless one came already) or a push applied; the names
        owed a sync (none when a push brought the change)."""
        self.applied.clear()
        if self.session is not None:
            self._acknowledge(self.session.take_pushed())
        if not self.owed and not self.applied and self.lost is None:
            notified = self.notified = defer.Deferred()
            try:
                await notified
            finally:
                if self.notified is notified:
                    self.notified = None
        if self.lost is not None and not self.owed:
            raise self.failure or Unreachable(self.lost)
        owed, self.owed = self.owed, set()
        return owed

    def close(self) -> None:
        if self.transport is not None:
            self.transport.loseConnection()


class _MeteredProtocol(ProtocolWrapper):
    """Passes the server's bytes on while its messages stay within the meter's limit."""

    def __init__(self, factory: _MeteredFactory, wrapped: IProtocol) -> None:
        super().__init__(factory, wrapped)
        self.meter = MessageMeter(factory.limit)
        self.peer = factory.peer

    def dataReceived(self, data: bytes) -> None:
        if self.meter.over:
            return
        if self.meter.feed(data):
            super().dataReceived(data)
            return
        self.peer.failure = MessageTooLong(self.peer.url, self.meter.limit)
        self.peer.lost = self.peer.lost or str(self.peer.failure)
        cast(ITCPTransport, self.transport).abortConnection()


class _MeteredFactory(WrappingFactory[_MeteredProtocol]):
    # One connection each: no "Starting factory" lines in the program's log.
    noisy = False

    def __init__(self, wrapped: Factory[Any], peer: SocketPeer, limit: int) -> None:
        super().__init__(wrapped)
        self.peer = peer
        self.limit = limit

    def buildProtocol(self, addr: IAddress | None) -> _MeteredProtocol:
        return _MeteredProtocol(self, self.wrappedFactory.buildProtocol(addr))


@implementer(IStreamClientEndpoint)
class _MeteredEndpoint:
    def __init__(self, endpoint: IStreamClientEndpoint, peer: SocketPeer, limit: int) -> None:
        self.endpoint = endpoint
        self.peer = peer
        self.limit = limit

    def connect(self, factory: IProtocolFactory) -> defer.Deferred[IProtocol]:
        connected = self.endpoint.connect(
            _MeteredFactory(cast(Factory[Any], factory), self.peer, self.limit))
        # The WebSocket endpoint wants the protocol its own factory built.
        return connected.addCallback(_unwrapped)


def _unwrapped(wrapper: IProtocol) -> IProtocol:
    return cast(_MeteredProtocol, wrapper).wrappedProtocol


@implementer(IAgentEndpointFactory)
class _MeteredEndpoints:
    def __init__(self, endpoints: IAgentEndpointFactory, peer: SocketPeer, limit: int) -> None:
        self.endpoints = endpoints
        self.peer = peer
        self.limit = limit

    def endpointForURI(self, uri: URI) -> IStreamClientEndpoint:
        return _MeteredEndpoint(self.endpoints.endpointForURI(uri), self.peer, self.limit)


def metered_endpoint(reactor: Any, peer: SocketPeer, connect_timeout: int,
                     max_message_bytes: int) -> WebSocketClientEndpoint:
    """An endpoint that connects *peer* to its URL and gives the socket up, failing
    with ``MessageTooLong``, once the server sends a message over *max_message_bytes*."""
    plain = WebSocketClientEndpoint.new(reactor, peer.url, connectTimeout=connect_timeout)
    return WebSocketClientEndpoint(
        _MeteredEndpoints(plain.endpointFactory, peer, max_message_bytes), peer.url)
