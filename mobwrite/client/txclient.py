"""A MobWrite client for Twisted programs: the same operations, returning Deferreds.

Raw TCP connects straight to an address (a name goes through a
``HostnameEndpoint``); gateways through ``twisted.web.client.Agent`` (part
of Twisted; ``https`` URLs need Twisted's TLS extra, ``pip install
"Twisted[tls]"``).

>>> from twisted.internet import reactor
>>> from mobwrite.client.txclient import TwistedClient
>>> client = TwistedClient(reactor, "http://127.0.0.1:8017/")
>>> d = client.download("notes")                          # doctest: +SKIP
>>> d.addCallback(print)                                  # doctest: +SKIP

or, in a coroutine: ``text = await client.download("notes")``.
Failures arrive as ``mobwrite.client.errors.ClientError`` exceptions.

A ``ws://`` URL keeps one WebSocket open (``twisted.web.websocket``; close
it with ``close``), and ``wait_for_change`` fires when the server pushes a
change notice.  After ``take_pushes(session)`` the server pushes the
changes themselves, applied to the session as they arrive (docs/websocket.md,
*Pushed deltas*); ``wait_for_change`` then also fires when one was applied.
"""

from __future__ import annotations

from collections.abc import Generator
from contextlib import suppress
from io import BytesIO
from typing import Any, TypeVar

from twisted.internet import defer, error
from twisted.internet.abstract import isIPAddress, isIPv6Address
from twisted.internet.endpoints import HostnameEndpoint, connectProtocol
from twisted.internet.interfaces import IConnector, IReactorTCP, IReactorTime
from twisted.internet.protocol import ClientFactory, Protocol
from twisted.python.failure import Failure
from twisted.web.client import (
    Agent,
    FileBodyProducer,
    ResponseDone,
    ResponseFailed,
    ResponseNeverReceived,
)
from twisted.web.http import PotentialDataLoss
from twisted.web.http_headers import Headers
from twisted.web.websocket import ConnectionRejected

from mobwrite.client import operations
from mobwrite.client.blocking import DEFAULT_TIMEOUT, MAX_RESPONSE_BYTES, form_body
from mobwrite.client.errors import ProtocolFailure, Unreachable
from mobwrite.client.message_size import MAX_MESSAGE_BYTES
from mobwrite.client.session import ClientSession
from mobwrite.client.txsocket import SocketPeer, metered_endpoint
from mobwrite.client.urls import ServerURL, parse_url

T = TypeVar("T")
# What failing to connect or to get an answer can raise, from endpoints or Agent.
_CONNECT_ERRORS = (error.ConnectError, error.DNSLookupError, error.TimeoutError,
                   ResponseNeverReceived, ResponseFailed, OSError)


class _Collector(Protocol):
    """Sends *request*, if any, and collects what arrives until the end, within the limit.

    Used for a raw TCP connection (ends when the server closes) and for an
    HTTP response body (ends with ``ResponseDone``).
    """

    def __init__(self, request: bytes, ends: tuple[type[Exception], ...], suffix: bytes) -> None:
        self.request = request
        self.ends = ends
        self.suffix = suffix
        self.chunks: list[bytes] = []
        self.received = 0
        # Set while a direct TCP connection is being made (``_Connecting``).
        self.connector: IConnector | None = None
        self.finished: defer.Deferred[bytes] = defer.Deferred(lambda _: self._abort())

    def _abort(self) -> None:
        if self.transport is None:
            if self.connector is not None:
                # Still connecting: give up (the failure it reports is ignored).
                with suppress(error.NotConnectingError):
                    self.connector.stopConnecting()
            return
        # A TCP transport can abort; an HTTP body's transport can only stop producing.
        for method in ("abortConnection", "stopProducing"):
            stop = getattr(self.transport, method, None)
            if stop is not None:
                stop()
                return

    def connectionMade(self) -> None:
        if self.request:
            assert self.transport is not None
            self.transport.write(self.request)

    def dataReceived(self, data: bytes) -> None:
        self.received += len(data)
        if self.received > MAX_RESPONSE_BYTES:
            self._abort()
            return
        self.chunks.append(data)

    def connectionLost(self, reason: Failure = None) -> None:  # type: ignore[assignment]
        if self.finished.called:
            return  # cancelled (timed out) before the connection went
        if self.received > MAX_RESPONSE_BYTES:
            self.finished.errback(ProtocolFailure(f"more than {MAX_RESPONSE_BYTES} bytes"))
        elif reason.check(*self.ends):
            self.finished.callback(b"".join(self.chunks) + self.suffix)
        else:
            self.finished.errback(ProtocolFailure(f"answer cut short: {reason.getErrorMessage()}"))


class _Connecting(ClientFactory):
    """Connects one collector, quietly (a factory logs each connection unless told
    not to); fails it with ``Unreachable`` if the connection cannot be made."""

    noisy = False

    def __init__(self, collector: _Collector, url: str) -> None:
        self.collector = collector
        self.url = url

    def buildProtocol(self, addr: object) -> _Collector:
        self.collector.connector = None
        return self.collector

    def clientConnectionFailed(self, connector: IConnector, reason: Failure) -> None:
        if not self.collector.finished.called:
            self.collector.finished.errback(
                Unreachable(f"cannot reach {self.url}: {reason.value}"))


class IClientReactor(IReactorTime, IReactorTCP):
    """What the client needs of a reactor: timeouts, and TCP connections."""


class TwistedClient:
    """Talks to one MobWrite server from inside a running reactor."""

    def __init__(self, reactor: IClientReactor, url: str, timeout: float = DEFAULT_TIMEOUT,
                 agent: Any = None, token: str | None = None,
                 max_message_bytes: int = MAX_MESSAGE_BYTES) -> None:
        self.reactor = reactor
        # (``ws://``) The longest message the server may send before the socket is given up.
        self.max_message_bytes = max_message_bytes
        # An access token: sent as a Bearer header, or in a socket's first message.
        self.token = token
        self.server: ServerURL = parse_url(url)
        # An address as written is connected to directly (``_tcp``).
        self._address = isIPAddress(self.server.host) or isIPv6Address(self.server.host)
        self.timeout = timeout
        self.agent = agent if agent is not None else Agent(reactor, connectTimeout=timeout)
        self.socket: SocketPeer | None = None
        # The session pushed deltas go to (``take_pushes``), on every socket opened.
        self.pushes_to: ClientSession | None = None

    def _tcp(self, request: bytes) -> defer.Deferred[bytes]:
        # Like the original tools: read until the server closes, then add one LF.
        collector = _Collector(request, (error.ConnectionDone,), b"\n")
        if not self._address:
            return defer.ensureDeferred(self._tcp_by_name(collector))
        # No name lookup (a thread hand-off per request), no endpoint's wrappers:
        # the cheapest request.
        collector.connector = self.reactor.connectTCP(
            self.server.host, self.server.port, _Connecting(collector, self.server.url),
            timeout=self.timeout)
        return self._bounded(collector.finished)

    async def _tcp_by_name(self, collector: _Collector) -> bytes:
        endpoint = HostnameEndpoint(self.reactor, self.server.host, self.server.port,
                                    timeout=self.timeout)
        try:
            await connectProtocol(endpoint, collector)
        except _CONNECT_ERRORS as failure:
            raise Unreachable(f"cannot reach {self.server.url}: {failure}") from None
        return await self._bounded(collector.finished)

    def _bounded(self, waiting: defer.Deferred[T]) -> defer.Deferred[T]:
        """*waiting*, failing with ``Unreachable`` once the timeout passes."""
        def timed_out(result: object, timeout: float) -> T:
            raise Unreachable(f"{self.server.url} did not answer within {timeout:g} s")
        return waiting.addTimeout(self.timeout, self.reactor, onTimeoutCancel=timed_out)

    async def _http(self, request: bytes) -> bytes:
        headers = Headers({b"Content-Type": [b"application/x-www-form-urlencoded"]})
        if self.token is not None:
            headers.addRawHeader(b"Authorization", f"Bearer {self.token}".encode("ascii"))
        try:
            response = await self._bounded(self.agent.request(
                b"POST", self.server.url.encode("ascii"), headers,
                FileBodyProducer(BytesIO(form_body(request)))))
        except _CONNECT_ERRORS as failure:
            raise Unreachable(f"cannot reach {self.server.url}: {failure}") from None
        body = _Collector(b"", (ResponseDone, PotentialDataLoss), b"")
        response.deliverBody(body)
        data = await self._bounded(body.finished)
        if response.code != 200:
            raise ProtocolFailure(
                f"{self.server.url} answered HTTP {response.code} {response.phrase.decode('latin-1')}")
        return data

    async def _connected(self) -> SocketPeer:
        """The open WebSocket, opened now if there is none."""
        if self.socket is not None and self.socket.lost is None:
            return self.socket
        peer = SocketPeer(self.server.url)
        endpoint = metered_endpoint(self.reactor, peer, max(1, round(self.timeout)),
                                    self.max_message_bytes)
        try:
            await self._bounded(defer.ensureDeferred(endpoint.connect(peer)))
        except ConnectionRejected as rejected:
            raise ProtocolFailure(f"{self.server.url} refused the WebSocket: "
                                  f"HTTP {rejected.response.code}") from None
        except _CONNECT_ERRORS as failure:
            raise Unreachable(f"cannot reach {self.server.url}: {failure}") from None
        if self.token is not None:
            peer.send_token(self.token)
        if self.pushes_to is not None:
            peer.take_pushes(self.pushes_to)
        self.socket = peer
        return peer

    async def _socket_exchange(self, request: bytes) -> bytes:
        peer = await self._connected()
        return await self._bounded(peer.exchange(request))

    def exchange_raw(self, request: bytes) -> defer.Deferred[bytes]:
        """Send one request; fire with the body in HTTP ``q`` form (ends with LF)."""
        if self.server.is_socket:
            return defer.ensureDeferred(self._socket_exchange(request))
        if self.server.is_tcp:
            return self._tcp(request)
        return defer.ensureDeferred(self._http(request))

    def take_pushes(self, session: ClientSession) -> defer.Deferred[None]:
        """(``ws://`` only) Have the server push deltas for *session*'s documents,
        applied to it as they arrive (while waiting or during another operation),
        instead of notices; fire once asked."""
        self.pushes_to = session
        if self.socket is not None and self.socket.lost is None:
            self.socket.take_pushes(session)
            return defer.succeed(None)
        async def connect() -> None:
            await self._connected()
        return defer.ensureDeferred(connect())

    def wait_for_change(self, seconds: float) -> defer.Deferred[set[str]]:
        """(``ws://`` only) Fire within *seconds* with the names the next change
        notice carries, with none once a pushed delta was applied (see
        ``take_pushes``), or with none once the time is up."""
        async def wait() -> set[str]:
            peer = await self._connected()
            return await peer.next_notice()
        return defer.ensureDeferred(wait()).addTimeout(
            seconds, self.reactor, onTimeoutCancel=lambda result, timeout: set())

    def close(self) -> None:
        """Close the WebSocket, if one is open."""
        if self.socket is not None:
            self.socket.close()
            self.socket = None

    def run(self, operation: Generator[bytes, bytes, T]) -> defer.Deferred[T]:
        """Drive an operation of ``mobwrite.client.operations``; fire with its result
        (cancelling it cancels the exchange in flight).

        Callbacks rather than a coroutine: one Deferred per exchange, the
        cheapest way through Twisted for a client making many requests.
        """
        exchanging: list[defer.Deferred[bytes]] = []
        result: defer.Deferred[T] = defer.Deferred(lambda _: exchanging[-1].cancel())

        def step(response: bytes | None) -> None:
            try:
                request = operation.send(response)  # type: ignore[arg-type]
            except StopIteration as finished:
                result.callback(finished.value)
                return
            except BaseException:
                result.errback()
                return
            exchanging[:] = [self.exchange_raw(request)]
            exchanging[0].addCallbacks(step, failed)

        def failed(failure: Failure) -> None:
            if not result.called:  # else cancelled already
                result.errback(failure)

        step(None)
        return result

    def exchange(self, request: bytes) -> defer.Deferred[bytes]:
        """Send one raw protocol request; fire with the checked answer."""
        return self.exchange_raw(request).addCallback(operations.checked)

    def download(self, name: str) -> defer.Deferred[str]:
        """Fire with the text of *name*; ``NullDocument`` if it does not exist."""
        return self.run(operations.download([name])).addCallback(lambda texts: texts[name])

    def upload(self, name: str, text: str, force: bool = False) -> defer.Deferred[None]:
        """Make *text* the content of *name*: merged as an edit, or forced."""
        return self.run(operations.upload(name, text, force))

    def nullify(self, *names: str) -> defer.Deferred[None]:
        """Delete documents."""
        return self.run(operations.nullify(list(names)))

    def sync(self, session: ClientSession) -> defer.Deferred[None]:
        """One sync of every document *session* shares."""
        return self.run(operations.sync(session))

