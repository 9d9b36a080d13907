"""Both clients fall back from ``!push:coarse`` when an older daemon refuses it.

The fake old daemon here is a small ``twisted.web.websocket`` server of the
test's own, on a loopback port: it answers every request with one fixed
answer and the push asks it does not know with the ``!error:`` an older
daemon sends for them (it reads them as unfinished requests).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, cast

import pytest
import pytest_twisted
from twisted.internet import threads
from twisted.web import resource, server
from twisted.web.websocket import WebSocketResource, WebSocketTransport

from mobwrite.client.blocking import BlockingClient
from mobwrite.client.session import ClientSession
from mobwrite.client.txclient import TwistedClient
from mobwrite.client.txsocket import SocketPeer
from mobwrite.core.push import PUSH_COARSE, PUSH_DELTAS

REQUEST = b"u:a\nF:0:doc\nr:1:hi\n\n"
ANSWER = "F:1:doc\nd:0:=2\n\n"
REFUSAL = "!error:incomplete request: end it with a blank line\n"
# Daemons by what they know: deltas but not coarse ones, or neither.
OLD = {"deltas only": {PUSH_COARSE}, "notices only": {PUSH_COARSE, PUSH_DELTAS}}


def reactor() -> Any:
    from twisted.internet import reactor as global_reactor

    return global_reactor


class OldDaemon:
    """One socket of the fake: records what it reads, refuses the asks in *refused*."""

    def __init__(self, read: list[str], refused: set[str]) -> None:
        self.read = read
        self.refused = refused
        self.transport: WebSocketTransport | None = None

    def negotiationStarted(self, transport: WebSocketTransport) -> None:
        self.transport = transport

    def negotiationFinished(self) -> None:
        pass

    def pongReceived(self, payload: bytes) -> None:
        pass

    def textMessageReceived(self, message: str) -> None:
        self.read.append(message)
        assert self.transport is not None
        if message in self.refused:
            self.transport.sendTextMessage(REFUSAL)
        elif message not in (PUSH_COARSE, PUSH_DELTAS):
            self.transport.sendTextMessage(ANSWER)

    def bytesMessageReceived(self, data: bytes | bytearray) -> None:
        pass

    def connectionLost(self, reason: object) -> None:
        pass


class OldDaemons:
    def __init__(self, refused: set[str]) -> None:
        self.read: list[str] = []
        self.refused = refused

    def buildProtocol(self, request: server.Request) -> OldDaemon:
        return OldDaemon(self.read, self.refused)


@asynccontextmanager
async def old_daemon(refused: set[str]) -> AsyncIterator[tuple[str, list[str]]]:
    """The fake's ``ws://`` URL and the list of the messages it reads."""
    daemons = OldDaemons(refused)
    root = resource.Resource()
    root.putChild(b"ws", WebSocketResource(daemons))
    port = reactor().listenTCP(0, server.Site(root), interface="127.0.0.1")
    try:
        yield f"ws://127.0.0.1:{port.getHost().port}/ws", daemons.read
    finally:
        await port.stopListening()


def expected_reads(refused: set[str]) -> list[str]:
    """What the fake reads: the coarse ask, the first request (sent before the
    refusal came), the deltas ask, the second request."""
    return [PUSH_COARSE, REQUEST.decode(), PUSH_DELTAS, REQUEST.decode()]


@pytest.mark.parametrize("refused", OLD.values(), ids=OLD.keys())
@pytest_twisted.ensureDeferred
async def test_the_blocking_client_asks_for_less_when_coarse_deltas_are_refused(
        refused: set[str]) -> None:
    """The refusal is never taken for a request's answer; the client asks for exact
    deltas instead, and if those are refused too keeps to notices."""
    async with old_daemon(refused) as (url, read):
        client = BlockingClient(url, timeout=30)
        session = ClientSession("a")
        try:
            await threads.deferToThread(client.take_pushes, session)
            for _ in range(2):
                answer = await threads.deferToThread(client.exchange, REQUEST)
                assert answer.decode() == ANSWER
            assert read == expected_reads(refused)
            assert client.connection is not None
            taken = PUSH_DELTAS not in refused
            assert client.connection.session is (session if taken else None)
        finally:
            await threads.deferToThread(client.close)


@pytest.mark.parametrize("refused", OLD.values(), ids=OLD.keys())
@pytest_twisted.ensureDeferred
async def test_the_twisted_client_asks_for_less_when_coarse_deltas_are_refused(
        refused: set[str]) -> None:
    """The same for ``TwistedClient``."""
    async with old_daemon(refused) as (url, read):
        client = TwistedClient(reactor(), url, timeout=30)
        session = ClientSession("a")
        try:
            await client.take_pushes(session)
            for _ in range(2):
                assert (await client.exchange_raw(REQUEST)).decode() == ANSWER
            assert read == expected_reads(refused)
            assert client.socket is not None
            taken = PUSH_DELTAS not in refused
            assert client.socket.session is (session if taken else None)
        finally:
            client.close()


class Sent:
    def __init__(self) -> None:
        self.messages: list[str] = []

    def sendTextMessage(self, text: str) -> None:
        self.messages.append(text)


def test_an_error_answering_a_request_sent_before_the_ask_stays_its_own() -> None:
    """A daemon answers in turn: an error due to a request in flight when the
    ask went out fails that request, and the refusal after it is the ask's."""
    peer, sent = SocketPeer("ws://127.0.0.1:1/ws"), Sent()
    peer.negotiationStarted(cast(WebSocketTransport, sent))
    first = peer.exchange(REQUEST)
    peer.take_pushes(ClientSession("a"))
    second = peer.exchange(REQUEST)
    first.addErrback(lambda failure: failure.value)
    peer.textMessageReceived("!error:a line over MAX_LINE_BYTES (1000)\n")
    peer.textMessageReceived(REFUSAL)
    peer.textMessageReceived(ANSWER)
    assert "MAX_LINE_BYTES" in str(first.result)
    assert second.result == ANSWER.encode()
    assert sent.messages == [REQUEST.decode(), PUSH_COARSE, REQUEST.decode(), PUSH_DELTAS]
    # The daemon took exact deltas: nothing came for the ask before the next answer.
    third = peer.exchange(REQUEST)
    peer.textMessageReceived(ANSWER)
    assert third.result == ANSWER.encode() and peer.push_ask.asked is None
