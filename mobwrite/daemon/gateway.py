"""The HTTP gateway front end: ``q=`` and ``p=`` requests on twisted.web (docs/protocol.md §2.3).

A thin adapter: ``mobwrite.core.httpform`` decides what each request means and
formats every answer; this module reads the request, refuses an oversized
body before reading it all, hands protocol requests to the shared
``RequestAnswerer`` and writes the answer back.  An answer that is not
ready within REQUEST_DEADLINE becomes a 503; an internal error a 500.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from twisted.internet import defer
from twisted.internet.address import IPv4Address, IPv6Address
from twisted.internet.interfaces import IAddress, IDelayedCall, IReactorTime
from twisted.python.failure import Failure
from twisted.web import http, server
from twisted.web.resource import Resource

from mobwrite.core import httpform
from mobwrite.core.access import Grant, Refused
from mobwrite.core.events import Event, Report
from mobwrite.core.httpform import Answer, Limits
from mobwrite.daemon.access_log import log_access
from mobwrite.daemon.answering import Answerer, Unavailable
from mobwrite.daemon.services import BoundPorts
from mobwrite.logs import logger
from mobwrite.tokens import Gatekeeper

log = logger("gateway")


def write_answer(request: server.Request, answer: Answer) -> bytes:
    """Set *answer*'s status and headers on *request*; its body is returned."""
    request.setResponseCode(answer.status)
    for name, value in answer.header_items():
        request.setHeader(name, value)
    return answer.body


def other_site(request: server.Request, ports: BoundPorts, name: str) -> str | None:
    """The public base URL of our port *name*, as this request's client sees our host."""
    port = ports.get(name)
    if port is None:
        return None
    local = request.getHost()
    fallback = local.host if isinstance(local, (IPv4Address, IPv6Address)) else "localhost"
    host = request.getHeader(b"host")
    return httpform.public_url(host.decode("latin-1") if host else None, fallback, port,
                               request.isSecure())


class GatewayRequest(server.Request):
    """A request whose body is refused, unread, once it passes the gateway's cap."""

    def __init__(self, channel: Any, *args: Any, **kwargs: Any) -> None:
        super().__init__(channel, *args, **kwargs)
        self.limits: Limits = channel.site.limits
        self.body_bytes = 0
        self.refused = False

    def gotLength(self, length: int | None) -> None:
        super().gotLength(length)
        if length is not None and length > self.limits.body_bytes:
            self._refuse()

    def handleContentChunk(self, data: bytes) -> None:
        if self.refused:
            return
        self.body_bytes += len(data)
        if self.body_bytes > self.limits.body_bytes:
            self._refuse()
            return
        super().handleContentChunk(data)

    def requestReceived(self, command: bytes, path: bytes, version: bytes) -> None:
        if not self.refused:
            super().requestReceived(command, path, version)

    def _refuse(self) -> None:
        """Answer 413 and close at once, so the rest of the body is never read."""
        log.info("refused an HTTP body over {limit} bytes from {peer}",
                 limit=self.limits.body_bytes, peer=self.getClientAddress())
        self.refused = True
        # No "100 Continue" after the refusal: the client must not send the body.
        self.requestHeaders.removeHeader(b"expect")
        transport = self.channel.transport
        assert transport is not None
        transport.write(httpform.raw_response(httpform.too_large_body(self.limits)))
        transport.loseConnection()


class GatewayResource(Resource):
    """Answers every gateway request through ``httpform.decide`` and the server."""

    isLeaf = True

    def __init__(self, mobwrite: Answerer, limits: Limits, ports: BoundPorts,
                 clock: IReactorTime, deadline: float,
                 gatekeeper: Gatekeeper | None = None, report: Report | None = None) -> None:
        super().__init__()
        self.mobwrite = mobwrite
        self.limits = limits
        self.ports = ports
        self.clock = clock
        self.deadline = deadline
        self.gatekeeper = gatekeeper
        self.report = report

    def render(self, request: server.Request) -> bytes | int:
        method = request.method.decode("latin-1")
        content = request.content
        body = content.read(self.limits.body_bytes + 1) if method == "POST" and content else b""
        decision = httpform.decide(
            method, request.path, request.uri.partition(b"?")[2], body,
            (request.getHeader(b"content-type") or b"").decode("latin-1"), self.limits,
            lambda: other_site(request, self.ports, "editor"),
            header_text(request, b"authorization"),
        )
        if isinstance(decision, Answer):
            return write_answer(request, decision)
        may_write, author = True, None
        if self.gatekeeper is not None:
            verdict, grant = self.gatekeeper.authorize(
                decision.token, decision.request, self.clock.seconds())
            if isinstance(verdict, Refused):
                refused(self.report, "HTTP gateway", request, verdict, grant)
                return write_answer(request, httpform.forbidden(verdict.reason))
            may_write = verdict.may_write
            author = grant.subject if grant is not None else None
        self._answer(request, decision, may_write, author)
        return server.NOT_DONE_YET

    def _answer(self, request: server.Request, sync: httpform.Sync, may_write: bool,
                author: str | None) -> None:
        """Run *sync* and write its answer once it is ready, or a 503 past the deadline.

        Most answers are ready at once (nothing to wait for on disk): those
        are written straight away, with no deadline timer to set and cancel.
        """
        try:
            answering = self.mobwrite.answer(sync.request, may_write, author=author)
        except Exception:
            answering = defer.fail()
        reply = _Reply(request, sync.parameter)
        answering.addBoth(reply.answered)
        if not request.finished:
            reply.wait(self.clock.callLater(self.deadline, reply.send, httpform.refusal(
                503, f"no answer within {self.deadline:g} s; try again")))


def header_text(request: server.Request, name: bytes) -> str | None:
    """The request's header *name* as text, if it has one."""
    value = request.getHeader(name)
    return None if value is None else value.decode("latin-1")


def refused(report: Report | None, transport: str, request: server.Request,
            verdict: Refused, grant: Grant | None) -> None:
    """Log and count a refusal (never with the token)."""
    if report is not None:
        report(Event.ACCESS_REFUSED, transport=transport, peer=request.getClientAddress(),
               subject=None if grant is None else grant.subject, reason=verdict.reason,
               kind=verdict.kind)


class _Reply:
    """Writes one request's answer, unless the request is over (answered or disconnected)."""

    def __init__(self, request: server.Request, parameter: str) -> None:
        self.request = request
        self.parameter = parameter
        self.over = False
        self.timer: IDelayedCall | None = None

    def answered(self, output: bytes | Failure) -> None:
        """The server's output (or failure, a 500) for the ``q`` or ``p`` parameter."""
        if isinstance(output, Failure) and output.check(Unavailable):
            self.send(httpform.refusal(
                503, f"{output.getErrorMessage()}; the request was not applied"))
        elif isinstance(output, Failure):
            log.failure("answering an HTTP request failed", output)
            self.send(httpform.refusal(
                500, "internal error; the request may not have been applied"))
        else:
            self.send(httpform.sync_answer(self.parameter, output))

    def send(self, answer: Answer) -> None:
        if not self.over:
            self.request.write(write_answer(self.request, answer))
            self.request.finish()

    def wait(self, timer: IDelayedCall) -> None:
        """The answer is not ready yet: *timer* sends the 503, unless the request ends first."""
        self.timer = timer
        self.request.notifyFinish().addBoth(self._ended)

    def _ended(self, _: object) -> None:
        self.over = True
        if self.timer is not None and self.timer.active():
            self.timer.cancel()


class GatewayRoot(Resource):
    """The gateway port: a few named pages (``/metrics``, ``/healthz``), and
    the gateway itself at every other path."""

    def __init__(self, gateway: GatewayResource, children: Mapping[bytes, Resource]) -> None:
        super().__init__()
        self.gateway = gateway
        for name, child in children.items():
            self.putChild(name, child)

    def getChild(self, path: bytes, request: server.Request) -> Resource:
        return self.gateway


class GatewayChannel(http.HTTPChannel):
    """An HTTP/1.x connection to the gateway that reads its two addresses once.

    twisted.web asks the socket for both again for every request it parses
    (a system call and two objects each time); a kept-alive gateway
    connection carries thousands.  The channel is not wrapped for HTTP/2
    negotiation, which the daemon does not install.
    """

    peer: IAddress
    host: IAddress

    def connectionMade(self) -> None:
        assert self.transport is not None
        self.peer = self.transport.getPeer()
        self.host = self.transport.getHost()
        super().connectionMade()

    def getPeer(self) -> IAddress:
        return self.peer

    def getHost(self) -> IAddress:
        return self.host


class GatewaySite(server.Site):
    """The gateway's site: bodies are capped, decoded by us, and logged at DEBUG only."""

    noisy = False
    protocol = GatewayChannel  # type: ignore[assignment]  # HTTP/1.x only, see GatewayChannel

    def __init__(self, resource: GatewayResource,
                 children: Mapping[bytes, Resource] | None = None) -> None:
        super().__init__(GatewayRoot(resource, children or {}), requestFactory=GatewayRequest,
                         parsePOSTFormSubmission=False, reactor=resource.clock)
        self.limits = resource.limits

    def log(self, request: http.Request) -> None:
        log_access(log, request)


def gateway_site(mobwrite: Answerer, limits: Limits, ports: BoundPorts,
                 clock: IReactorTime, deadline: float,
                 children: Mapping[bytes, Resource] | None = None,
                 gatekeeper: Gatekeeper | None = None,
                 report: Report | None = None) -> GatewaySite:
    """The gateway for *mobwrite*, linking to the editor port recorded in *ports*,
    with *children* served at their own paths beside it; with a *gatekeeper*,
    every request needs a token (refusals go to *report*)."""
    return GatewaySite(GatewayResource(mobwrite, limits, ports, clock, deadline,
                                       gatekeeper, report), children)
