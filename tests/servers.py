"""Servers the client tests talk to, each as a URL plus an independent way to ask it.

``Endpoint.exchange`` checks results without going through the client
under test: raw sockets for TCP, urllib for HTTP.
"""

from __future__ import annotations

import secrets
import threading
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass

from benchmarks.daemon import tcp_exchange


@dataclass
class Endpoint:
    """A server URL for the tools, and a raw exchange that bypasses them."""

    transport: str
    port: int

    @property
    def url(self) -> str:
        if self.transport == "tcp":
            return f"telnet://127.0.0.1:{self.port}"
        return f"http://127.0.0.1:{self.port}/"

    def exchange(self, request: bytes) -> bytes:
        """The engine output for *request*, as TCP carries it (no final blank line)."""
        if self.transport == "tcp":
            return tcp_exchange(self.port, request)
        body = urllib.parse.urlencode({"q": request}).encode("ascii")
        with urllib.request.urlopen(self.url, body, timeout=10) as reply:
            answer: bytes = reply.read()
        assert answer.endswith(b"\n")
        return answer[:-1]

    def text_of(self, name: str) -> str | None:
        """The document's master text read with the side-effect-free read, or None if null."""
        # A fresh user each time: the read only works on a new view.
        user = f"checker{secrets.token_hex(4)}"
        answer = self.exchange(f"u:{user}\nf:0:{name}\nd:0:=1\n\n".encode())
        letter, _, text = answer.split(b"\n")[1].partition(b":0:")
        return None if letter == b"r" else urllib.parse.unquote(text.decode())


class Flood:
    """Eight anonymous clients creating *documents* large documents ``flood<N>`` over
    TCP, each in its own thread, calling *observe* after each creation; failures are
    kept for the test thread."""

    def __init__(self, port: int, documents: int, body: Callable[[int], str],
                 observe: Callable[[], None]) -> None:
        self.failures: list[BaseException] = []
        self.threads = [threading.Thread(target=self._create, args=(
            port, range(first, documents, 8), body, observe)) for first in range(8)]
        for thread in self.threads:
            thread.start()

    def _create(self, port: int, numbers: range, body: Callable[[int], str],
                observe: Callable[[], None]) -> None:
        try:
            for number in numbers:
                response = tcp_exchange(
                    port, f"u:anon{number}\nF:0:flood{number}\nr:1:{body(number)}\n\n".encode(),
                    timeout=60)
                assert response.startswith(f"F:1:flood{number}\n".encode())
                observe()
        except BaseException as error:  # handed to the test thread
            self.failures.append(error)

    def join(self) -> list[BaseException]:
        """Wait for the clients; what failed in them."""
        for thread in self.threads:
            thread.join(timeout=120)
        return self.failures
