"""Both clients give a WebSocket up when its server sends a message over their bound.

The server here is a small ``twisted.web.websocket`` one of the test's own,
on a loopback port, that answers every request with frames it was given.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
import pytest_twisted
from twisted.internet import threads
from twisted.web import resource, server
from twisted.web.websocket import WebSocketResource, WebSocketTransport

from mobwrite.client.blocking import BlockingClient
from mobwrite.client.errors import MessageTooLong
from mobwrite.client.message_size import MessageMeter
from mobwrite.client.txclient import TwistedClient

LIMIT = 1000
TEXT, CONTINUATION, PING, FINAL = 0x1, 0x0, 0x9, 0x80


def reactor() -> Any:
    from twisted.internet import reactor as global_reactor

    return global_reactor


def frame(first: int, payload: bytes, claimed: int | None = None) -> bytes:
    """One unmasked frame, as a server sends it; *claimed* is the length its header announces."""
    size = len(payload) if claimed is None else claimed
    if size < 126:
        header = bytes((first, size))
    elif size < 65536:
        header = bytes((first, 126)) + size.to_bytes(2, "big")
    else:
        header = bytes((first, 127)) + size.to_bytes(8, "big")
    return header + payload


class Sender:
    """Answers each text message with the bytes it was given, written as they are."""

    def __init__(self, request: server.Request, answer: bytes) -> None:
        self.request = request
        self.answer = answer

    def negotiationStarted(self, transport: WebSocketTransport) -> None:
        pass

    def negotiationFinished(self) -> None:
        pass

    def pongReceived(self, payload: bytes) -> None:
        pass

    def textMessageReceived(self, message: str) -> None:
        self.request.transport.write(self.answer)

    def bytesMessageReceived(self, data: bytes | bytearray) -> None:
        pass

    def connectionLost(self, reason: object) -> None:
        pass


class Senders:
    def __init__(self, answer: bytes) -> None:
        self.answer = answer

    def buildProtocol(self, request: server.Request) -> Sender:
        return Sender(request, self.answer)


@asynccontextmanager
async def sending(answer: bytes) -> AsyncIterator[str]:
    """A WebSocket server answering with *answer*; its ``ws://`` URL."""
    root = resource.Resource()
    root.putChild(b"ws", WebSocketResource(Senders(answer)))
    port = reactor().listenTCP(0, server.Site(root), interface="127.0.0.1")
    try:
        yield f"ws://127.0.0.1:{port.getHost().port}/ws"
    finally:
        await port.stopListening()


OVER = {
    # 600 characters but 1200 bytes: the bound is in bytes, as sent.
    "one frame": frame(TEXT | FINAL, "é".encode() * 600),
    "two frames": frame(TEXT, b"a" * 600) + frame(CONTINUATION | FINAL, b"a" * 600),
    # Never sent in full: the header alone must be enough.
    "a frame announcing a terabyte": frame(TEXT | FINAL, b"a" * 100, claimed=2**40),
}
# An answer of exactly the bound, a ping in between (control frames are no part of a message).
FITS = b"x" * (LIMIT - 2) + b"\n\n"
AT_LIMIT = (frame(TEXT, FITS[:600]) + frame(PING | FINAL, b"ping")
            + frame(CONTINUATION | FINAL, FITS[600:]))


@pytest.mark.parametrize("answer", OVER.values(), ids=OVER.keys())
@pytest_twisted.ensureDeferred
async def test_the_twisted_client_gives_up_a_message_over_its_bound(answer: bytes) -> None:
    """The request fails at once with ``MessageTooLong`` naming the bound; the socket is closed."""
    async with sending(answer) as url:
        client = TwistedClient(reactor(), url, timeout=30, max_message_bytes=LIMIT)
        with pytest.raises(MessageTooLong, match=f"more than {LIMIT} bytes") as raised:
            await client.exchange_raw(b"u:me\n\n")
        assert raised.value.limit == LIMIT
        assert client.socket is not None and client.socket.lost is not None
        client.close()


@pytest.mark.parametrize("answer", OVER.values(), ids=OVER.keys())
@pytest_twisted.ensureDeferred
async def test_the_blocking_client_gives_up_a_message_over_its_bound(answer: bytes) -> None:
    """The blocking client's socket keeps the same bound, in bytes."""
    async with sending(answer) as url:
        client = BlockingClient(url, timeout=30, max_message_bytes=LIMIT)
        with pytest.raises(MessageTooLong, match=f"more than {LIMIT} bytes"):
            await threads.deferToThread(client.exchange, b"u:me\n\n")
        client.close()


@pytest_twisted.ensureDeferred
async def test_messages_at_the_bound_pass_one_after_another() -> None:
    """A message of exactly the bound is delivered whole, and the next is measured afresh."""
    async with sending(AT_LIMIT) as url:
        client = TwistedClient(reactor(), url, timeout=30, max_message_bytes=LIMIT)
        for _ in range(2):
            assert await client.exchange_raw(b"u:me\n\n") == FITS
        client.close()
        blocking = BlockingClient(url, timeout=30, max_message_bytes=LIMIT)
        assert await threads.deferToThread(blocking.exchange, b"u:me\n\n") == FITS
        await threads.deferToThread(blocking.close)


def test_the_meter_reads_frames_split_anywhere() -> None:
    """Fed a byte at a time, the meter finds the same messages as fed whole."""
    handshake = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n"
    for answer, over in [(AT_LIMIT * 3, False)] + [(sent, True) for sent in OVER.values()]:
        meter = MessageMeter(LIMIT)
        fits = [meter.feed(bytes((byte,))) for byte in handshake + answer]
        assert fits[-1] is not over
        assert MessageMeter(LIMIT).feed(handshake + answer) is not over


def test_the_body_of_a_refused_handshake_is_bounded_too() -> None:
    """An answer other than 101 is followed by a body: one message to the meter."""
    meter = MessageMeter(LIMIT)
    assert meter.feed(b"HTTP/1.1 403 Forbidden\r\n\r\n" + b"x" * LIMIT)
    assert not meter.feed(b"x")
