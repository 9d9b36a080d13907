"""The baseline: the least a Twisted server can do for a sync.

It reads a request up to the first blank line and writes a fixed reply,
over raw TCP (closing after the reply, as mobwrite's TCP port does) and over
HTTP (a ``twisted.web`` resource answering any POST with the same reply).
Run as ``python -m benchmarks.baseline``; it prints one line per port,
``baseline: tcp listening on port=N``, and serves until SIGTERM.
"""

from __future__ import annotations

from twisted.internet import reactor
from twisted.internet.address import IPv4Address
from twisted.internet.endpoints import TCP4ServerEndpoint
from twisted.internet.interfaces import IListeningPort
from twisted.internet.protocol import Factory, Protocol
from twisted.web import http, resource, server

REPLY = b"F:1:document\nd:1:=1024\n"


class FixedReply(Protocol):
    """Buffers until a blank line, then answers REPLY and closes."""

    def __init__(self) -> None:
        self.received = b""

    def dataReceived(self, data: bytes) -> None:
        self.received += data
        if b"\n\n" in self.received or b"\r\n\r\n" in self.received:
            assert self.transport is not None
            self.transport.write(REPLY)
            self.transport.loseConnection()


class QuietSite(server.Site):
    """A site without an access log: a line per request is not the baseline's job."""

    noisy = False

    def log(self, request: http.Request) -> None:
        pass


class FixedResource(resource.Resource):
    """Answers every request with REPLY as text/plain (the gateway's shape)."""

    isLeaf = True

    def render_POST(self, request: server.Request) -> bytes:
        request.setHeader(b"content-type", b"text/plain; charset=utf-8")
        return REPLY + b"\n"


def _announce(label: str) -> object:
    def announce(port: IListeningPort) -> None:
        address = port.getHost()
        assert isinstance(address, IPv4Address)
        print(f"baseline: {label} listening on port={address.port}", flush=True)
    return announce


def main() -> None:
    tcp = Factory.forProtocol(FixedReply)
    tcp.noisy = False
    web = QuietSite(FixedResource())
    TCP4ServerEndpoint(reactor, 0, backlog=1024, interface="127.0.0.1").listen(
        tcp).addCallback(_announce("tcp"))
    TCP4ServerEndpoint(reactor, 0, backlog=1024, interface="127.0.0.1").listen(
        web).addCallback(_announce("http"))
    reactor.run()


if __name__ == "__main__":
    main()
