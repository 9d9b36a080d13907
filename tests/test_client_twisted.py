"""``TwistedClient`` against in-process servers on loopback port 0."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_twisted
from fakes import closed_port
from gateway_fixture import site
from twisted.internet import protocol
from twisted.web import resource, server

from mobwrite.client.errors import NullDocument, ProtocolFailure, Unreachable
from mobwrite.client.txclient import TwistedClient
from mobwrite.clientcore import ClientSession
from mobwrite.server import MobwriteServer
from mobwrite.settings import Settings
from mobwrite.tcp import RequestFactory


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


@pytest_twisted.async_yield_fixture(params=["tcp", "http"])
async def url(request: pytest.FixtureRequest) -> AsyncIterator[str]:
    """A real server in this process: the TCP front end, or the gateway fixture."""
    if request.param == "tcp":
        settings = Settings.defaults()
        mobwrite = MobwriteServer.in_memory(settings, reactor())
        port = listen(RequestFactory(mobwrite, settings, reactor()))
        yield f"telnet://127.0.0.1:{port.getHost().port}"
    else:
        port = listen(site(reactor()))
        yield f"http://127.0.0.1:{port.getHost().port}/"
    await port.stopListening()


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
    first, second = one.share("doc", "b\n"), two.share("doc")
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


@pytest.mark.parametrize("scheme", ["telnet", "http"])
@pytest_twisted.ensureDeferred
async def test_timeout(scheme: str) -> None:
    port = listen(protocol.Factory.forProtocol(Silent))
    try:
        address = f"127.0.0.1:{port.getHost().port}"
        client = TwistedClient(reactor(), f"{scheme}://{address}", timeout=0.2)
        with pytest.raises(Unreachable, match="did not answer within 0.2 s"):
            await client.download("doc")
    finally:
        await port.stopListening()


@pytest_twisted.ensureDeferred
async def test_garbage_over_tcp() -> None:
    port = listen(protocol.Factory.forProtocol(Garbage))
    try:
        client = TwistedClient(reactor(), f"telnet://127.0.0.1:{port.getHost().port}")
        with pytest.raises(ProtocolFailure, match="malformed response"):
            await client.download("doc")
    finally:
        await port.stopListening()


@pytest_twisted.ensureDeferred
async def test_http_error_status() -> None:
    port = listen(server.Site(Broken()))
    try:
        client = TwistedClient(reactor(), f"http://127.0.0.1:{port.getHost().port}/")
        with pytest.raises(ProtocolFailure, match="HTTP 503"):
            await client.download("doc")
    finally:
        await port.stopListening()
