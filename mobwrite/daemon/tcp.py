"""The raw TCP front end: one request per connection (docs/protocol.md §2.2).

The protocol reads lines until the first blank one, hands the request to
the shared server, writes the answer and closes.  The limits are set for a
person typing into telnet (docs/defaults.md):

- each line must end within TIMEOUT_TELNET of the previous line's end (or
  of connecting), so a silent connection, or one trickling bytes that never
  make a line, is closed TIMEOUT_TELNET after its last whole line;
- the whole request must be complete within TIMEOUT_TELNET_REQUEST of
  connecting, however steadily its lines come;
- a request over the size limits is closed at once.

All of these close with no answer and execute nothing.  A peer that does
not read its answer within REQUEST_DEADLINE is aborted.

The port checks no token (docs/security.md): whoever reaches it is
trusted.  A request starting with ``a:read-only`` (a relay such as the
WSGI gateway that checked a read-only token) runs without writing.
"""

from __future__ import annotations

from ipaddress import ip_address
from typing import cast

from twisted.internet import address
from twisted.internet.interfaces import (
    IAddress,
    IDelayedCall,
    IPushProducer,
    IReactorTime,
    ITCPTransport,
)
from twisted.internet.protocol import Factory, Protocol
from twisted.python.failure import Failure

from mobwrite.core.access import split_restriction
from mobwrite.daemon.answering import Answerer, Unavailable
from mobwrite.logs import logger
from mobwrite.settings import Settings

log = logger("tcp")


def _same_address(peer: IAddress, allowed: str) -> bool:
    if not isinstance(peer, (address.IPv4Address, address.IPv6Address)):
        return False
    try:
        return ip_address(peer.host.split("%")[0]) == ip_address(allowed)
    except ValueError:
        return peer.host == allowed


class RequestProtocol(Protocol):
    """Reads one request, answers it and closes.

    One timer per connection serves all three limits (line, whole
    request, unread answer): it is moved rather than replaced, as setting
    and cancelling a timer costs more than the rest of a short connection.
    """

    def __init__(self, factory: RequestFactory) -> None:
        self.factory = factory
        self.settings = factory.settings
        self.received = bytearray()
        self.scanned = 0
        self.answering = False
        self.replied = False
        self.started = self.last_line = 0.0
        self.timer: IDelayedCall | None = None

    @property
    def connection(self) -> ITCPTransport:
        """The transport, once connected (TCP and its wrappers abort and pause)."""
        assert self.transport is not None
        return self.transport  # type: ignore[return-value]

    def connectionMade(self) -> None:
        origin = self.settings.connection_origin
        if origin and not _same_address(peer := self.connection.getPeer(), origin):
            log.info("refused a connection from {peer}: not CONNECTION_ORIGIN", peer=peer)
            self.connection.abortConnection()
            return
        clock = self.factory.clock
        self.started = self.last_line = clock.seconds()
        self.timer = clock.callLater(
            min(self.settings.timeout_telnet, self.settings.timeout_telnet_request), self._check)

    def _check(self) -> None:
        """The timer: enforce whichever limit is due, or wait for the next one."""
        if self.replied:
            log.info("aborted a TCP connection whose peer did not read its answer")
            self.connection.abortConnection()
            return
        if self.answering:
            return
        now = self.factory.clock.seconds()
        deadline = self.started + self.settings.timeout_telnet_request
        line_due = self.last_line + self.settings.timeout_telnet
        if now >= deadline:
            self._give_up("past TIMEOUT_TELNET_REQUEST")
        elif now >= line_due:
            self._give_up("no whole line within TIMEOUT_TELNET")
        else:
            self.timer = self.factory.clock.callLater(min(deadline, line_due) - now, self._check)

    def dataReceived(self, data: bytes) -> None:
        if self.answering:
            return
        self.received += data
        if len(self.received) > self.settings.max_request_bytes:
            self._give_up("over MAX_REQUEST_BYTES")
            return
        scanned = self.scanned
        end = self._blank_line_end()
        if self.scanned != scanned:
            self.last_line = self.factory.clock.seconds()
        if end is not None:
            self._answer(bytes(self.received[:end]))
        elif len(self.received) - self.scanned > self.settings.max_line_bytes:
            self._give_up("a line over MAX_LINE_BYTES")

    def _blank_line_end(self) -> int | None:
        """Where the request ends, if a blank line has arrived."""
        while True:
            newline = self.received.find(b"\n", self.scanned)
            if newline < 0:
                return None
            line = self.received[self.scanned:newline]
            if newline - self.scanned > self.settings.max_line_bytes:
                return None
            self.scanned = newline + 1
            if not line.strip(b"\r"):
                return newline + 1

    def _answer(self, request: bytes) -> None:
        # No limit runs while the server answers (the timer, if it fires, waits).
        self.answering = True
        # Stop reading: bytes after the blank line are never read (docs/protocol.md §2.2).
        cast(IPushProducer, self.transport).pauseProducing()
        # The port is trusted: a relay that checked a read-only token says so first.
        read_only, request = split_restriction(request)
        self.factory.server.answer(request, not read_only).addCallbacks(
            self._reply, self._failed)

    def _reply(self, body: bytes) -> None:
        if body:
            self.connection.write(body)
        self.connection.loseConnection()
        # A peer that never reads its answer must not hold the connection
        # (and the answer's bytes) forever: it gets REQUEST_DEADLINE again.
        self.replied = True
        if self.timer is not None and self.timer.active():
            self.timer.reset(self.settings.request_deadline)
        else:
            self.timer = self.factory.clock.callLater(self.settings.request_deadline, self._check)

    def _failed(self, failure: Failure) -> None:
        if failure.check(Unavailable):
            log.debug("closed a TCP connection unanswered: {error}",
                      error=failure.getErrorMessage())
        else:
            log.failure("answering a TCP request failed", failure)
        self.connection.loseConnection()

    def _give_up(self, reason: str) -> None:
        """Close without answering: nothing of the request is executed."""
        log.debug("closed a TCP connection unanswered: {reason}", reason=reason)
        self.answering = True
        self._stop_timer()
        self.connection.loseConnection()

    def _stop_timer(self) -> None:
        if self.timer is not None and self.timer.active():
            self.timer.cancel()

    def connectionLost(self, reason: Failure = None) -> None:  # type: ignore[assignment]
        self._stop_timer()


class RequestFactory(Factory):
    """Builds request protocols (``ConnectionCap`` bounds how many are open)."""

    noisy = False

    def __init__(self, server: Answerer, settings: Settings, clock: IReactorTime) -> None:
        self.server = server
        self.settings = settings
        self.clock = clock

    def buildProtocol(self, addr: IAddress | None) -> Protocol:
        return RequestProtocol(self)
