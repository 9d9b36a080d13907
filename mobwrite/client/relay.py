"""Passing one request to a running daemon's TCP port, from blocking code.

A gateway that runs in another process (the WSGI application) cannot call
the engine; like the original gateway script, it opens a connection to the
daemon's raw TCP port for each request, sends the request and reads the
answer until the daemon closes (PROTOCOL.md 2.2).  Plain blocking sockets:
WSGI servers call applications in threads or worker processes.  The
blocking client library reads its TCP answers with ``send_and_read`` too.
"""

from __future__ import annotations

import socket
import time
from dataclasses import dataclass

from mobwrite.core.request import command_lines, is_complete

DEFAULT_TIMEOUT = 10.0
# A whole document of the default MAX_CHARS, percent-encoded, is at most
# 90 MB (9 bytes a character); far more than that can only be a fault, and
# a gateway must not hold it all in memory.
DEFAULT_MAX_REPLY_BYTES = 128 * 1024 * 1024


class RelayError(Exception):
    """The daemon could not be reached or did not answer in time."""


class AnswerTooLong(ValueError):
    """The server wrote more than the caller is willing to hold."""


@dataclass(frozen=True)
class DaemonAddress:
    """Where the daemon's raw TCP port listens."""

    host: str
    port: int

    @classmethod
    def parse(cls, text: str) -> DaemonAddress:
        """``HOST:PORT``, with an IPv6 host in brackets (``[::1]:3017``)."""
        host, colon, port = text.strip().rpartition(":")
        if host.startswith("[") and host.endswith("]"):
            host = host[1:-1]
        if not colon or not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError(
                f"{text!r} is not a daemon address; write HOST:PORT, such as 127.0.0.1:3017")
        return cls(host, int(port))

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"


def tcp_framing(request: bytes) -> bytes | None:
    """The request as the TCP port reads it, or None when there is nothing to run.

    The TCP front end ends a request at the first line ending in LF, while an
    HTTP request may use any of the line breaks of PROTOCOL.md 2.1.  The
    engine reads only the lines before the first empty one, so re-joining
    exactly those lines with LF asks the daemon the same question.  A
    truncated request, or one without a command line, has an empty answer.
    """
    if not is_complete(request):
        return None
    lines = command_lines(request)
    if not lines:
        return None
    return b"".join(line + b"\n" for line in lines) + b"\n"


def exchange(address: DaemonAddress, request: bytes, timeout: float = DEFAULT_TIMEOUT,
             max_reply_bytes: int = DEFAULT_MAX_REPLY_BYTES) -> bytes:
    """Send *request* to the daemon and return everything it writes before closing.

    *timeout* bounds connecting and, separately, the whole wait for the answer.
    """
    try:
        return send_and_read(address.host, address.port, request, timeout, max_reply_bytes)
    except AnswerTooLong as error:
        raise RelayError(str(error)) from error
    except OSError as error:
        raise RelayError(f"daemon at {address}: {error or type(error).__name__}") from error


def send_and_read(host: str, port: int, request: bytes, timeout: float,
                  max_reply_bytes: int) -> bytes:
    """Send *request* over TCP and read until the peer closes.

    *timeout* bounds connecting and, separately, the whole wait for the
    answer.  Raises OSError (TimeoutError when the answer is late) or
    AnswerTooLong.
    """
    with socket.create_connection((host, port), timeout=timeout) as sock:
        sock.sendall(request)
        return _read_until_closed(sock, time.monotonic() + timeout, max_reply_bytes)


def _read_until_closed(sock: socket.socket, deadline: float, max_reply_bytes: int) -> bytes:
    reply = bytearray()
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError("no complete answer in time")
        sock.settimeout(remaining)
        chunk = sock.recv(65536)
        if not chunk:
            return bytes(reply)
        reply += chunk
        if len(reply) > max_reply_bytes:
            raise AnswerTooLong(f"answer longer than {max_reply_bytes} bytes")
