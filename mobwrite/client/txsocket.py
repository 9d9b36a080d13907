"""The gateway's WebSocket for Twisted programs (docs/websocket.md), on ``twisted.web.websocket``.

A ``SocketPeer`` matches each answer to the oldest request waiting for one
and keeps the names of the notices that arrive in between; Twisted answers
the server's pings by itself.
"""

from __future__ import annotations

from collections import deque

from twisted.internet import defer
from twisted.python.failure import Failure
from twisted.web.websocket import WebSocketTransport

from mobwrite.client.errors import ProtocolFailure, Unreachable
from mobwrite.core.presence import PRESENCE, PRESENCE_ERROR, PRESENCE_ID
from mobwrite.core.push import DELTA, ERROR, notice_names, token_message


class SocketPeer:
    """Our end of one WebSocket to a MobWrite gateway."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.transport: WebSocketTransport | None = None
        self.answers: deque[defer.Deferred[bytes]] = deque()
        self.owed: set[str] = set()
        self.notified: defer.Deferred[None] | None = None
        self.lost: str | None = None

    def buildProtocol(self, url: str) -> SocketPeer:
        return self

    def negotiationStarted(self, transport: WebSocketTransport) -> None:
        self.transport = transport

    def negotiationFinished(self) -> None:
        pass

    def pongReceived(self, payload: bytes) -> None:
        pass

    def textMessageReceived(self, message: str) -> None:
        if message.startswith((PRESENCE, PRESENCE_ID, PRESENCE_ERROR, DELTA)):
            # This client neither shows presence nor asks for deltas.
            return
        names = notice_names(message)
        if names is not None:
            self.owed.update(names)
            self._wake()
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
            waiting.errback(Unreachable(self.lost))
        self._wake()

    def _fail(self, problem: str) -> None:
        self.lost = problem
        self.close()

    def _wake(self) -> None:
        notified, self.notified = self.notified, None
        if notified is not None and not notified.called:
            notified.callback(None)

    def exchange(self, request: bytes) -> defer.Deferred[bytes]:
        """Send one request; fire with its answer (ending with a blank line)."""
        if self.lost is not None or self.transport is None:
            return defer.fail(Unreachable(self.lost or f"{self.url} is not connected"))
        waiting: defer.Deferred[bytes] = defer.Deferred()
        self.answers.append(waiting)
        self.transport.sendTextMessage(request.decode("utf-8"))
        return waiting

    def send_token(self, token: str) -> None:
        """Give the server the access token for the requests that follow (no answer comes)."""
        assert self.transport is not None
        self.transport.sendTextMessage(token_message(token))

    async def next_notice(self) -> set[str]:
        """Wait for a notice (unless one came already); the names owed."""
        if not self.owed and self.lost is None:
            notified = self.notified = defer.Deferred()
            try:
                await notified
            finally:
                if self.notified is notified:
                    self.notified = None
        if self.lost is not None and not self.owed:
            raise Unreachable(self.lost)
        owed, self.owed = self.owed, set()
        return owed

    def close(self) -> None:
        if self.transport is not None:
            self.transport.loseConnection()
