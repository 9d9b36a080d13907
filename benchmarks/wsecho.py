"""The WebSocket baseline: a bare ``twisted.web.websocket`` server that echoes each message.

What a Twisted WebSocket costs per message with no work behind it, to set
beside the daemon's cost per sync.  Run as ``python -m benchmarks.wsecho``;
it prints ``wsecho: listening on port=N`` and serves ``/ws`` until SIGTERM.
"""

from __future__ import annotations

from twisted.internet import reactor
from twisted.internet.address import IPv4Address
from twisted.internet.endpoints import TCP4ServerEndpoint
from twisted.internet.interfaces import IListeningPort
from twisted.python.failure import Failure
from twisted.web import resource
from twisted.web.server import Request
from twisted.web.websocket import WebSocketResource, WebSocketTransport

from benchmarks.baseline import QuietSite


class Echo:
    """Sends every text message back as it came."""

    transport: WebSocketTransport

    def negotiationStarted(self, transport: WebSocketTransport) -> None:
        self.transport = transport

    def negotiationFinished(self) -> None:
        pass

    def textMessageReceived(self, message: str) -> None:
        self.transport.sendTextMessage(message)

    def bytesMessageReceived(self, data: bytes | bytearray) -> None:
        self.transport.sendBytesMessage(bytes(data))

    def pongReceived(self, payload: bytes) -> None:
        pass

    def connectionLost(self, reason: Failure) -> None:
        pass


class EchoFactory:
    def buildProtocol(self, request: Request) -> Echo:
        return Echo()


def _announce(port: IListeningPort) -> None:
    address = port.getHost()
    assert isinstance(address, IPv4Address)
    print(f"wsecho: listening on port={address.port}", flush=True)


def main() -> None:
    root = resource.Resource()
    root.putChild(b"ws", WebSocketResource(EchoFactory()))
    TCP4ServerEndpoint(reactor, 0, backlog=1024, interface="127.0.0.1").listen(
        QuietSite(root)).addCallback(_announce)
    reactor.run()


if __name__ == "__main__":
    main()
