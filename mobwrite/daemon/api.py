"""The HTTP API under /api/v1/ on the gateway port (docs/api.md).

A thin adapter over ``mobwrite.core.api``: it reads the request, checks the
bearer token, has the call answered (``embedded``: on the reactor thread,
where the engine's store is changed; with ``--database``, in a transaction
of the shared daemon) and answers once the change is durable, after telling
the push hub so that connected editors sync at once.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from urllib.parse import quote

from twisted.internet import defer
from twisted.internet.interfaces import IReactorTime
from twisted.python.failure import Failure
from twisted.web import resource, server

from mobwrite.core.access import Grant
from mobwrite.core.api import Answer, Api, Call, error
from mobwrite.core.httpform import bearer
from mobwrite.core.openapi import DOCUMENT
from mobwrite.daemon.answering import RequestAnswerer
from mobwrite.daemon.gateway import header_text
from mobwrite.logs import logger
from mobwrite.tokens import Gatekeeper, TokenError

log = logger("api")
OPENAPI_PATH = b"/api/v1/openapi.json"
# Pages on the editor port (the History view) call the API across origins.
# It is authorized by bearer tokens, never cookies, so every origin may:
# a page can do no more than its token allows, and without access control
# the API is as open as the sync gateway, which allows every origin too.
CORS = {b"access-control-allow-origin": b"*",
        b"access-control-expose-headers": b"Content-Disposition"}
PREFLIGHT = {b"access-control-allow-methods": b"GET, PUT, POST, DELETE, OPTIONS",
             b"access-control-allow-headers": b"Content-Type, Authorization",
             b"access-control-max-age": b"86400"}


# Answers one call, once what it changed is durable and told to the push hub.
Answering = Callable[[Call, "Grant | None", float], "defer.Deferred[Answer]"]


def embedded(api: Api, answerer: RequestAnswerer) -> Answering:
    """Calls answered on the reactor over the embedded store."""

    def answer(call: Call, grant: Grant | None, now: float) -> defer.Deferred[Answer]:
        found = api.answer(call, grant, now)
        if found.changed is None:
            return defer.succeed(found)
        return answerer.commit(frozenset({found.changed})).addCallbacks(
            lambda _: found, _failed)

    return answer


def _failed(failure: Failure) -> Answer:
    log.failure("storing an API change failed", failure)
    return error(503, "the change could not be stored yet; it is kept and retried")


class ApiResource(resource.Resource):
    """Every path under /api/."""

    isLeaf = True

    def __init__(self, answer: Answering, clock: IReactorTime, max_body: int,
                 gatekeeper: Gatekeeper | None = None) -> None:
        super().__init__()
        self.answer = answer
        self.clock = clock
        self.max_body = max_body
        self.gatekeeper = gatekeeper
        self.openapi = json.dumps(DOCUMENT, indent=1).encode("utf-8")

    def render(self, request: server.Request) -> bytes | int:
        path = request.path
        if request.method == b"OPTIONS":
            for name, value in PREFLIGHT.items():
                request.setHeader(name, value)
            return _write(request, Answer(204, b""))
        if path == OPENAPI_PATH and request.method == b"GET":
            return _write(request, Answer(200, self.openapi))
        body = request.content.read(self.max_body + 1) if request.content else b""
        if len(body) > self.max_body:
            return _write(request, error(413, f"the body is over {self.max_body} bytes"))
        now = self.clock.seconds()
        grant: Grant | None = None
        if self.gatekeeper is not None:
            token = bearer(header_text(request, b"authorization"))
            if token is None:
                return _write(request, error(401, "send a token: Authorization: Bearer TOKEN"))
            try:
                grant = self.gatekeeper.grant(token, now)
            except TokenError as refusal:
                return _write(request, error(401, str(refusal)))
        call = Call(request.method.decode("latin-1"), path,
                    request.uri.partition(b"?")[2].decode("latin-1"), body,
                    header_text(request, b"content-type") or "")
        self.answer(call, grant, now).addCallback(self._send, request)
        return server.NOT_DONE_YET

    @staticmethod
    def _send(answer: Answer, request: server.Request) -> None:
        if not request.finished and request.channel is not None:
            request.write(_write(request, answer))
            request.finish()


def _write(request: server.Request, answer: Answer) -> bytes:
    request.setResponseCode(answer.status)
    request.setHeader(b"content-type", answer.content_type.encode("ascii"))
    request.setHeader(b"cache-control", b"no-store")
    for name, value in CORS.items():
        request.setHeader(name, value)
    if answer.filename is not None:
        request.setHeader(b"content-disposition", (
            "attachment; filename*=UTF-8''" + quote(answer.filename + ".txt", safe="")
        ).encode("ascii"))
    return answer.body
