"""The TCP front end over a StringTransport and a fake clock: sizes, timers, origin."""

from __future__ import annotations

from twisted.internet import defer
from twisted.internet.address import IPv4Address
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport
from twisted.logger import capturedLogs

from mobwrite.core.engine import Engine
from mobwrite.core.store import Store
from mobwrite.daemon.answering import MemoryOnly, RequestAnswerer
from mobwrite.daemon.services import ConnectionCap, CountedProtocol
from mobwrite.daemon.tcp import RequestFactory, RequestProtocol
from mobwrite.settings import Settings

SETTINGS = Settings.defaults(timeout_telnet=2.0, request_deadline=10.0,
                             max_request_bytes=1000, max_line_bytes=300,
                             max_connections=3)
REQUEST = b"u:alice\nF:0:doc\nr:1:hello\n\n"


class HeldCommitter(MemoryOnly):
    """Keeps replies waiting until the test releases them."""

    def __init__(self, store: Store) -> None:
        super().__init__(store)
        self.waiting: list[defer.Deferred[None]] = []

    def durable(self) -> defer.Deferred[None]:
        self.store.take_changes()
        waiter: defer.Deferred[None] = defer.Deferred()
        self.waiting.append(waiter)
        return waiter


def make_factory(settings: Settings = SETTINGS, held: bool = False
                 ) -> tuple[RequestFactory, Clock]:
    clock = Clock()
    store = Store()
    committer = HeldCommitter(store) if held else MemoryOnly(store)
    server = RequestAnswerer(Engine(store, settings), clock, committer)
    return RequestFactory(server, settings, clock), clock


def connect(factory: RequestFactory, host: str = "127.0.0.1"
            ) -> tuple[RequestProtocol, StringTransport]:
    peer = IPv4Address("TCP", host, 40000)
    protocol = factory.buildProtocol(peer)
    assert isinstance(protocol, RequestProtocol)
    transport = StringTransport(peerAddress=peer)
    protocol.makeConnection(transport)
    return protocol, transport


def test_answers_and_closes() -> None:
    """A complete request is answered, then the connection closes."""
    factory, _ = make_factory()
    protocol, transport = connect(factory)
    protocol.dataReceived(REQUEST)
    assert transport.value() == b"F:1:doc\nd:0:=5\n"
    assert transport.disconnecting


def test_unread_answer_is_aborted() -> None:
    """A peer that does not take its answer is cut off after REQUEST_DEADLINE."""
    factory, clock = make_factory()
    protocol, transport = connect(factory)
    protocol.dataReceived(REQUEST)
    assert transport.disconnecting and not transport.disconnected
    clock.advance(9.9)
    assert not transport.disconnected
    clock.advance(0.2)
    assert transport.disconnected


def test_request_split_into_bytes() -> None:
    """A request arriving a byte at a time is answered once it is whole."""
    factory, clock = make_factory()
    protocol, transport = connect(factory)
    for byte in REQUEST:
        clock.advance(0.1)
        protocol.dataReceived(bytes([byte]))
    assert transport.value() == b"F:1:doc\nd:0:=5\n"


def test_reply_waits_for_durability() -> None:
    """Nothing is written to the client before the committer says the edit is stored."""
    factory, _ = make_factory(held=True)
    protocol, transport = connect(factory)
    protocol.dataReceived(REQUEST)
    assert transport.value() == b"" and not transport.disconnecting
    committer = factory.server.committer
    assert isinstance(committer, HeldCommitter)
    committer.waiting.pop().callback(None)
    assert transport.value() == b"F:1:doc\nd:0:=5\n"


def test_silent_connection_times_out() -> None:
    """A connection that says nothing for TIMEOUT_TELNET is closed unanswered."""
    factory, clock = make_factory()
    _protocol, transport = connect(factory)
    clock.advance(1.9)
    assert not transport.disconnecting
    clock.advance(0.2)
    assert transport.disconnecting and transport.value() == b""


def test_trickle_hits_the_deadline() -> None:
    """A byte every second keeps the idle timer happy but not the overall deadline."""
    factory, clock = make_factory()
    protocol, transport = connect(factory)
    for _ in range(9):
        clock.advance(1.0)
        protocol.dataReceived(b"x")
        assert not transport.disconnecting
    clock.advance(1.0)
    assert transport.disconnecting and transport.value() == b""
    assert factory.server.engine.store.views == {}


def test_oversized_request_is_dropped() -> None:
    """More than MAX_REQUEST_BYTES closes the connection and executes nothing."""
    factory, _ = make_factory()
    protocol, transport = connect(factory)
    for _ in range(50):
        protocol.dataReceived(b"u:alice\nF:0:doc\nd:0:=0\n")
    assert transport.disconnecting and transport.value() == b""
    assert factory.server.engine.store.views == {}


def test_endless_line_is_dropped() -> None:
    """A line longer than MAX_LINE_BYTES with no end closes the connection."""
    factory, _ = make_factory()
    protocol, transport = connect(factory)
    protocol.dataReceived(b"u:alice\n" + b"r" * 301)
    assert transport.disconnecting and transport.value() == b""


def test_long_line_inside_request_is_dropped() -> None:
    """A finished line over MAX_LINE_BYTES is refused too."""
    factory, _ = make_factory()
    protocol, transport = connect(factory)
    protocol.dataReceived(b"u:alice\nr:1:" + b"a" * 400 + b"\n")
    assert transport.disconnecting and transport.value() == b""


def test_data_after_the_request_is_ignored() -> None:
    """Bytes after the blank line do not start a second request."""
    factory, _ = make_factory(held=True)
    protocol, _transport = connect(factory)
    protocol.dataReceived(REQUEST + b"u:bob\nF:0:doc\nr:1:evil\n\n")
    protocol.dataReceived(b"u:bob\nF:0:doc\nr:1:evil\n\n")
    assert set(factory.server.engine.store.views) == {("alice", "doc")}


def test_origin_restriction() -> None:
    """With CONNECTION_ORIGIN set, other peers are cut off, the named one is served."""
    factory, _ = make_factory(SETTINGS.replace(connection_origin="127.0.0.1"))
    _, refused = connect(factory, "10.1.2.3")
    assert refused.disconnecting and refused.value() == b""
    protocol, allowed = connect(factory, "127.0.0.1")
    protocol.dataReceived(REQUEST)
    assert allowed.value() == b"F:1:doc\nd:0:=5\n"


def test_connection_limit() -> None:
    """MAX_CONNECTIONS open at once; the next is refused until one closes."""
    factory, _ = make_factory()
    cap = ConnectionCap(factory, SETTINGS.max_connections, "raw TCP protocol")
    peer = IPv4Address("TCP", "127.0.0.1", 1)
    open_ones = [cap.buildProtocol(peer) for _ in range(3)]
    for protocol in open_ones:
        assert protocol is not None
        protocol.makeConnection(StringTransport(peerAddress=peer))
    with capturedLogs() as events:
        for _ in range(50):
            assert cap.buildProtocol(peer) is None
    assert len(events) == 1 and cap.refused == 50
    first = open_ones[0]
    assert first is not None
    first.dataReceived(REQUEST)
    first.connectionLost(None)
    assert cap.open == 2
    with capturedLogs() as events:
        admitted = cap.buildProtocol(peer)
    assert isinstance(admitted, CountedProtocol)
    assert isinstance(admitted.wrapped, RequestProtocol)
    assert [event["count"] for event in events] == [50]


def test_timers_stop_with_the_connection() -> None:
    """A closed connection leaves no timer behind, answered or not."""
    factory, clock = make_factory()
    protocol, _ = connect(factory)
    protocol.connectionLost(None)
    answered, _ = connect(factory)
    answered.dataReceived(REQUEST)
    answered.connectionLost(None)
    assert clock.getDelayedCalls() == []


def test_a_capped_connection_still_runs_its_own_cleanup() -> None:
    """Closing a connection admitted by ConnectionCap frees its place and stops its timers."""
    factory, clock = make_factory()
    cap = ConnectionCap(factory, 1, "raw TCP protocol")
    peer = IPv4Address("TCP", "127.0.0.1", 1)
    protocol = cap.buildProtocol(peer)
    assert protocol is not None
    protocol.makeConnection(StringTransport(peerAddress=peer))
    assert clock.getDelayedCalls() and cap.buildProtocol(peer) is None
    protocol.connectionLost(None)
    assert clock.getDelayedCalls() == [] and cap.open == 0
    assert cap.buildProtocol(peer) is not None


def test_no_limit_runs_while_the_answer_waits() -> None:
    """Waiting for durability past both limits closes nothing; the unread answer then gets
    REQUEST_DEADLINE from when it was written."""
    factory, clock = make_factory(held=True)
    protocol, transport = connect(factory)
    protocol.dataReceived(REQUEST)
    clock.advance(30.0)
    assert not transport.disconnecting
    committer = factory.server.committer
    assert isinstance(committer, HeldCommitter)
    committer.waiting.pop().callback(None)
    assert transport.value() == b"F:1:doc\nd:0:=5\n" and transport.disconnecting
    clock.advance(9.9)
    assert not transport.disconnected
    clock.advance(0.2)
    assert transport.disconnected


def test_a_reply_before_the_idle_limit_moves_the_one_timer() -> None:
    """An answer written within TIMEOUT_TELNET is not cut off when the idle limit would
    have come: it has REQUEST_DEADLINE to be read."""
    factory, clock = make_factory()
    protocol, transport = connect(factory)
    clock.advance(1.0)
    protocol.dataReceived(REQUEST)
    clock.advance(5.0)
    assert not transport.disconnected
    assert len(clock.getDelayedCalls()) == 1
    clock.advance(5.1)
    assert transport.disconnected
