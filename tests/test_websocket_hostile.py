"""Hostile WebSocket frames against the real daemon: each is closed with its code, nothing runs.

The frames are written by hand on a plain socket, so that the client can
break every rule a library would keep.  After each attack a well-behaved
socket client still syncs.
"""

from __future__ import annotations

import base64
import os
import socket
import struct
from collections.abc import Iterator
from pathlib import Path

import pytest

from benchmarks.daemon import Daemon
from mobwrite.client.blocking import BlockingClient
from mobwrite.client.errors import NullDocument

LIMIT = 100_000
TEXT, BINARY, CLOSE, PING, CONTINUATION = 0x1, 0x2, 0x8, 0x9, 0x0


@pytest.fixture(scope="module")
def hostile_daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    running = Daemon(tmp_path_factory.mktemp("hostile-ws"),
                     "--max-request-bytes", str(LIMIT), "--max-line-bytes", str(LIMIT),
                     "--websocket-ping-interval", "3", "--websocket-ping-timeout", "2").start()
    yield running
    running.stop()
    assert not [line for line in running.lines if "Traceback" in line or "Unhandled" in line]


def frame(opcode: int, payload: bytes, fin: bool = True, masked: bool = True,
          declared: int | None = None) -> bytes:
    """One client frame; *declared* claims a length other than the payload's."""
    length = len(payload) if declared is None else declared
    head = bytes([(0x80 if fin else 0) | opcode])
    mask_bit = 0x80 if masked else 0
    if length < 126:
        head += bytes([mask_bit | length])
    elif length < 1 << 16:
        head += bytes([mask_bit | 126]) + struct.pack("!H", length)
    else:
        head += bytes([mask_bit | 127]) + struct.pack("!Q", length)
    if not masked:
        return head + payload
    key = os.urandom(4)
    return head + key + bytes(byte ^ key[i % 4] for i, byte in enumerate(payload))


def opened(daemon: Daemon) -> socket.socket:
    """A socket past the WebSocket handshake."""
    sock = socket.create_connection(("127.0.0.1", daemon.ports["gateway"]), timeout=10)
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall(f"GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
                 f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                 f"Sec-WebSocket-Version: 13\r\n\r\n".encode())
    head = b""
    while b"\r\n\r\n" not in head:
        head += sock.recv(1)
    assert head.startswith(b"HTTP/1.1 101")
    return sock


def _exactly(sock: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            raise EOFError
        data += chunk
    return data


def close_code(sock: socket.socket) -> int:
    """Read the server's frames until its close frame; its status code."""
    with sock:
        while True:
            first, second = _exactly(sock, 2)
            length = second & 0x7F
            if length == 126:
                length = struct.unpack("!H", _exactly(sock, 2))[0]
            elif length == 127:
                length = struct.unpack("!Q", _exactly(sock, 8))[0]
            payload = _exactly(sock, length)
            if first & 0x0F == CLOSE:
                return int(struct.unpack("!H", payload[:2])[0])


def still_serves(daemon: Daemon, name: str) -> None:
    """A well-behaved socket works, and *name* (which the attack carried) was never made."""
    client = BlockingClient(f"ws://127.0.0.1:{daemon.ports['gateway']}/ws")
    try:
        with pytest.raises(NullDocument):
            client.download(name)
        assert client.exchange(b"u:after\n\n") == b"\n"
    finally:
        client.close()


def request_for(name: str, padding: int = 0) -> bytes:
    return f"u:attacker\nF:0:{name}\nR:1:hostile\n{'x:' + 'p' * padding}\n\n".encode()


def test_a_binary_frame_is_closed_1003_and_not_run(hostile_daemon: Daemon) -> None:
    sock = opened(hostile_daemon)
    sock.sendall(frame(BINARY, request_for("binary")))
    assert close_code(sock) == 1003
    still_serves(hostile_daemon, "binary")


def test_a_message_over_the_limit_is_closed_1009_and_not_run(hostile_daemon: Daemon) -> None:
    sock = opened(hostile_daemon)
    sock.sendall(frame(TEXT, request_for("too-big", LIMIT)))
    assert close_code(sock) == 1009
    still_serves(hostile_daemon, "too-big")


def test_a_huge_frame_is_closed_before_it_is_all_sent(hostile_daemon: Daemon) -> None:
    """A frame claiming a gigabyte is cut off once MAX_REQUEST_BYTES have arrived."""
    sock = opened(hostile_daemon)
    # A zero mask leaves the payload as sent: valid UTF-8 that never ends.
    sock.sendall(frame(TEXT, b"", declared=1 << 30)[:2 + 8] + bytes(4))
    sock.sendall(b"u" * (2 * LIMIT))
    assert close_code(sock) == 1009
    still_serves(hostile_daemon, "never")


def test_many_small_fragments_over_the_limit_are_closed_1009(hostile_daemon: Daemon) -> None:
    """Fragmenting a message does not get it past the limit."""
    sock = opened(hostile_daemon)
    sock.sendall(frame(TEXT, b"u:frag\n", fin=False))
    piece = frame(CONTINUATION, b"x" * 1000, fin=False)
    sock.sendall(piece * (2 * LIMIT // 1000))
    assert close_code(sock) == 1009
    still_serves(hostile_daemon, "frag")


def test_invalid_utf8_is_closed_1007(hostile_daemon: Daemon) -> None:
    sock = opened(hostile_daemon)
    sock.sendall(frame(TEXT, b"u:bad\nF:0:utf\nR:1:\xff\xfe\n\n"))
    assert close_code(sock) == 1007
    still_serves(hostile_daemon, "utf")


def test_an_unmasked_frame_is_a_protocol_error(hostile_daemon: Daemon) -> None:
    sock = opened(hostile_daemon)
    sock.sendall(frame(TEXT, request_for("unmasked"), masked=False))
    assert close_code(sock) == 1002
    still_serves(hostile_daemon, "unmasked")


def test_a_reader_that_stalls_is_not_read_and_is_cut_off(
        hostile_daemon: Daemon, tmp_path: Path) -> None:
    """A client that sends but never reads is pushed back (its sends block), then cut off."""
    writer = BlockingClient(f"telnet://127.0.0.1:{hostile_daemon.ports['tcp']}")
    writer.upload("stall-big", "big answer " * 8000)
    sock = opened(hostile_daemon)
    sock.settimeout(1.0)
    asks = [frame(TEXT, f"u:stall{n}\nf:0:stall-big\nd:0:=1\nx:{'p' * 20000}\n\n".encode())
            for n in range(20)]
    with pytest.raises(TimeoutError):
        for number in range(100_000):
            sock.sendall(asks[number % len(asks)])
    hostile_daemon.wait_for_log("cut off a WebSocket .*: no pong")
    sock.close()
    still_serves(hostile_daemon, "stall-never")
