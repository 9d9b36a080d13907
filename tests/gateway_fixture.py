"""TEST FIXTURE, not the product: a minimal HTTP gateway over the real engine.

The daemon's own gateway (PROTOCOL.md 8) is being built separately; until
it is merged, the client's HTTP transport is tested against this small
twisted.web resource, which hands each ``q`` request to the real
``MobwriteServer.answer`` and answers ``text/plain`` output + LF.  Once
the daemon serves its gateway, tests should use ``daemon.ports["gateway"]``.

Run as a script it listens on 127.0.0.1, port 0, and prints the port.
"""

from __future__ import annotations

from typing import Any

from twisted.internet import defer
from twisted.web import resource, server

from mobwrite.server import MobwriteServer
from mobwrite.settings import Settings


class QueryResource(resource.Resource):
    """POST or GET ``q=<request>``: the engine's answer plus one LF."""

    isLeaf = True

    def __init__(self, mobwrite: MobwriteServer) -> None:
        super().__init__()
        self.mobwrite = mobwrite

    def render_POST(self, request: Any) -> Any:
        query = request.args.get(b"q")
        if not query:
            request.setResponseCode(400)
            return b"no q parameter\n"
        request.setHeader(b"content-type", b"text/plain; charset=utf-8")
        answer = self.mobwrite.answer(query[0])
        answer.addCallback(lambda body: (request.write(body + b"\n"), request.finish()))
        return server.NOT_DONE_YET

    render_GET = render_POST


def site(reactor: Any) -> server.Site:
    """A site answering ``q`` requests with a fresh in-memory server."""
    return server.Site(QueryResource(MobwriteServer.in_memory(Settings.defaults(), reactor)))


async def _serve(reactor: Any) -> None:
    port = reactor.listenTCP(0, site(reactor), interface="127.0.0.1")
    print(f"gateway fixture listening on port {port.getHost().port}", flush=True)
    await defer.Deferred()


if __name__ == "__main__":
    from twisted.internet import task

    task.react(lambda reactor: defer.ensureDeferred(_serve(reactor)))
