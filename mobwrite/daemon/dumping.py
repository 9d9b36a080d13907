"""``GET /dump`` on the gateway port: a consistent dump of the running daemon's store.

The rows are copied at one moment on the reactor thread (a state the store
really had), then sent as a dump file (``storage/dump.py``).  Only clients
on the loopback interface get it: it holds every document.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable

from twisted.internet import defer
from twisted.internet.address import IPv4Address, IPv6Address
from twisted.python.failure import Failure
from twisted.web import resource, server
from twisted.web.server import Request

from mobwrite.logs import logger
from mobwrite.storage.dump import dump_lines
from mobwrite.storage.rows import Rows

log = logger("server")

def from_loopback(request: Request) -> bool:
    """Whether the client connected from this machine's loopback interface."""
    peer = request.getClientAddress()
    if not isinstance(peer, (IPv4Address, IPv6Address)):
        return True  # a Unix socket: as local as it gets
    return ipaddress.ip_address(peer.host.split("%")[0]).is_loopback


class DumpResource(resource.Resource):
    """Sends every document and view as one dump file."""

    isLeaf = True

    def __init__(self, rows: Callable[[], defer.Deferred[Rows]]) -> None:
        super().__init__()
        self.rows = rows

    def render_GET(self, request: Request) -> bytes | int:
        request.setHeader(b"cache-control", b"no-store")
        if not from_loopback(request):
            request.setResponseCode(403)
            request.setHeader(b"content-type", b"text/plain; charset=utf-8")
            return b"/dump answers only on the loopback interface\n"
        self.rows().addCallbacks(self._send, self._failed,
                                 callbackArgs=(request,), errbackArgs=(request,))
        return server.NOT_DONE_YET

    def _send(self, rows: Rows, request: Request) -> None:
        request.setHeader(b"content-type", b"application/x-ndjson")
        for line in dump_lines(*rows):
            request.write(line)
        request.finish()

    def _failed(self, failure: Failure, request: Request) -> None:
        log.failure("a dump failed", failure)
        request.setResponseCode(503)
        request.setHeader(b"content-type", b"text/plain; charset=utf-8")
        request.write(f"the dump failed: {failure.getErrorMessage()}\n".encode())
        request.finish()
