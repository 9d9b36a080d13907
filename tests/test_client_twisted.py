"""``TwistedClient`` against the real daemon and against misbehaving servers."""

from __future__ import annotations

import secrets
from typing import Any, cast

import pytest
import pytest_twisted
from fakes import closed_port
from twisted.internet import protocol
from twisted.web import resource, server
from twisted.web.websocket import WebSocketTransport

from benchmarks.daemon import Daemon
from mobwrite.client.errors import NullDocument, ProtocolFailure, Unreachable
from mobwrite.client.session import ClientSession
from mobwrite.client.txclient import TwistedClient
from mobwrite.client.txsocket import SocketPeer


def reactor() -> Any:
    from twisted.internet import reactor as global_reactor

    return global_reactor


class Silent(protocol.Protocol):
    """Never answers."""


class Garbage(protocol.Protocol):
    def dataReceived(self, data: bytes) -> None:
        self.transport.write(b"not mobwrite")
        self.transport.loseConnection()


class Broken(resource.Resource):
    isLeaf = True

    def render_POST(self, request: Any) -> bytes:
        request.setResponseCode(503)
        return b"down\n"


def listen(factory: Any) -> Any:
    return reactor().listenTCP(0, factory, interface="127.0.0.1")


@pytest.fixture(params=["tcp", "http"])
def url(request: pytest.FixtureRequest, daemon: Daemon) -> str:
    """The real daemon, over its TCP port or its HTTP gateway."""
    if request.param == "tcp":
        return f"telnet://127.0.0.1:{daemon.ports['tcp']}"
    return f"http://127.0.0.1:{daemon.ports['gateway']}/"


@pytest_twisted.ensureDeferred
async def test_upload_download_nullify(url: str) -> None:
    """The one-shot operations, as Deferreds."""
    client = TwistedClient(reactor(), url)
    name = f"tx_{secrets.token_hex(4)}"
    await client.upload(name, "hello 😀\n")
    assert await client.download(name) == "hello 😀\n"
    await client.upload(name, "forced", force=True)
    assert await client.download(name) == "forced"
    await client.nullify(name)
    with pytest.raises(NullDocument):
        await client.download(name)


@pytest_twisted.ensureDeferred
async def test_sessions_converge(url: str) -> None:
    """Two sessions merge each other's edits through the Twisted client."""
    client = TwistedClient(reactor(), url)
    one, two = ClientSession(), ClientSession()
    name = f"tx_{secrets.token_hex(4)}"
    first, second = one.share(name, "b\n"), two.share(name)
    await client.sync(one)
    await client.sync(two)
    first.text = "a\n" + first.text
    second.text = second.text + "c\n"
    for session in (one, two, one):
        await client.sync(session)
    assert first.text == second.text == "a\nb\nc\n"
    assert await client.exchange(b"u:nobody\n\n") == b"\n"


@pytest.mark.parametrize("scheme", ["telnet", "http"])
@pytest_twisted.ensureDeferred
async def test_unreachable(scheme: str) -> None:
    client = TwistedClient(reactor(), f"{scheme}://127.0.0.1:{closed_port()}")
    with pytest.raises(Unreachable, match="cannot reach"):
        await client.download("doc")


@pytest.mark.parametrize(("scheme", "answers", "failure", "message"), [
    ("telnet", Silent, Unreachable, "did not answer within 0.2 s"),
    ("http", Silent, Unreachable, "did not answer within 0.2 s"),
    ("telnet", Garbage, ProtocolFailure, "malformed response"),
    ("http", Broken, ProtocolFailure, "HTTP 503"),
], ids=["tcp-silent", "http-silent", "tcp-garbage", "http-503"])
@pytest_twisted.ensureDeferred
async def test_bad_servers(scheme: str, answers: type, failure: type[Exception],
                           message: str) -> None:
    """Silence, garbage and HTTP errors each fail with their own error."""
    if issubclass(answers, resource.Resource):
        port = listen(server.Site(answers()))
    else:
        port = listen(protocol.Factory.forProtocol(answers))
    try:
        client = TwistedClient(reactor(), f"{scheme}://127.0.0.1:{port.getHost().port}/",
                               timeout=0.2)
        with pytest.raises(failure, match=message):
            await client.download("doc")
    finally:
        await port.stopListening()


class SentMessages:
    """A WebSocket transport that keeps what is sent."""

    def __init__(self) -> None:
        self.messages: list[str] = []

    def sendTextMessage(self, message: str) -> None:
        self.messages.append(message)

    def loseConnection(self) -> None:
        raise AssertionError("the socket was given up")


def socket_peer() -> tuple[SocketPeer, SentMessages]:
    peer, sent = SocketPeer("ws://127.0.0.1:1/ws"), SentMessages()
    peer.negotiationStarted(cast(WebSocketTransport, sent))
    return peer, sent


def test_a_push_to_a_socket_that_did_not_ask_is_never_taken_for_an_answer() -> None:
    """A ``!delta:`` message read while a request waits is neither its answer
    nor a failure; the real answer still reaches the request."""
    peer, _ = socket_peer()
    answer = peer.exchange(b"u:a\nF:0:doc\nr:1:hi\n\n")
    peer.textMessageReceived("!delta:\nF:1:doc\nd:1:=2\t+!\n\n")
    assert not answer.called and peer.lost is None and peer.owed == set()
    peer.textMessageReceived("F:1:doc\nd:0:=2\n\n")
    assert answer.result == b"F:1:doc\nd:0:=2\n\n"


def test_a_push_between_answers_is_applied_and_acknowledged() -> None:
    """After ``take_pushes`` a push that starts from the session's state is applied
    at once and answered with ``!pushed:``; one that does not is dropped unanswered."""
    peer, sent = socket_peer()
    session = ClientSession("a")
    document = session.share("doc", "hi")
    peer.take_pushes(session)
    answer = peer.exchange(session.build_request())
    peer.textMessageReceived("F:1:doc\nd:0:=2\n\n")
    session.apply_response(answer.result)
    peer.textMessageReceived("!delta:\nF:1:doc\nd:1:=2\t+!\n\n")
    assert document.text == "hi!" and peer.applied == {"doc"}
    peer.textMessageReceived("!delta:\nF:1:doc\nd:7:=3\t+?\n\n")
    assert document.text == "hi!"
    assert sent.messages == ["!push:coarse", "u:a\nF:0:doc\nr:1:hi\n\n", "!pushed:2:doc\n"]


class AskedResolver:
    """A resolver that records the names it is asked for, then asks *inner*."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.asked: list[str] = []

    def resolveHostName(self, receiver: Any, name: str, *rest: Any, **options: Any) -> Any:
        self.asked.append(name)
        return self.inner.resolveHostName(receiver, name, *rest, **options)


@pytest.mark.parametrize("host, written", [("127.0.0.1", "127.0.0.1"), ("[::1]", "::1")])
def test_an_address_is_connected_to_without_a_name_lookup(host: str, written: str) -> None:
    """A telnet URL naming an IPv4 or IPv6 address connects at once to that address,
    without asking the reactor's resolver (which the real reactor runs in a thread)."""
    from twisted.internet.testing import MemoryReactorClock

    memory = MemoryReactorClock()
    resolver = AskedResolver(memory.nameResolver)
    memory.installNameResolver(resolver)
    TwistedClient(memory, f"telnet://{host}:3017").exchange_raw(b"u:alice\n\n")
    assert resolver.asked == []
    assert [(client[0], client[1]) for client in memory.tcpClients] == [(written, 3017)]


def test_a_connection_never_made_times_out_and_stops_connecting() -> None:
    """A TCP request whose connection is never made fails with ``Unreachable``
    once the timeout passes, and the client stops trying to connect."""
    from twisted.internet.testing import MemoryReactorClock

    memory = MemoryReactorClock()
    failures: list[Any] = []
    TwistedClient(memory, "telnet://127.0.0.1:3017", timeout=2.0).exchange_raw(
        b"u:alice\n\n").addErrback(failures.append)
    memory.advance(1.9)
    assert failures == []
    memory.advance(0.2)
    assert failures[0].check(Unreachable) and "within 2 s" in failures[0].getErrorMessage()
    assert memory.connectors[0].stoppedConnecting
