"""``POST /share`` on the gateway port: a read-only token for a token with the share right.

The editor's "copy read-only link" asks for one: the new token covers the
same documents, reads only, and expires with the token that asked.  The
page exists only when access control is on.
"""

from __future__ import annotations

from twisted.internet.interfaces import IReactorTime
from twisted.web import resource
from twisted.web.server import Request

from mobwrite.core import access, httpform
from mobwrite.core.access import Refused
from mobwrite.core.events import Report
from mobwrite.daemon.gateway import header_text, refused, write_answer
from mobwrite.tokens import Gatekeeper, read_only_copy


class ShareResource(resource.Resource):
    """Answers a POST bearing a token with the share right with a read-only token."""

    isLeaf = True

    def __init__(self, gatekeeper: Gatekeeper, clock: IReactorTime,
                 report: Report | None = None) -> None:
        super().__init__()
        self.gatekeeper = gatekeeper
        self.clock = clock
        self.report = report

    def render(self, request: Request) -> bytes:
        if request.method == b"OPTIONS":
            return write_answer(request, httpform.Answer(
                204, content_type=None, headers=httpform.PREFLIGHT))
        if request.method != b"POST":
            return write_answer(request, httpform.refusal(
                405, "POST with a token that has the share right", Allow="POST, OPTIONS"))
        now = self.clock.seconds()
        token = httpform.bearer(header_text(request, b"authorization"))
        verdict = self.gatekeeper.holder(token, now, access.SHARE)
        if not isinstance(verdict, Refused) and access.READ not in verdict.rights:
            verdict = Refused("this needs a token with the read right", "no_read")
        if isinstance(verdict, Refused):
            refused(self.report, "share page", request, verdict, None)
            return write_answer(request, httpform.forbidden(verdict.reason))
        copy = read_only_copy(self.gatekeeper.keyring, verdict, now)
        return write_answer(request, httpform.Answer(200, copy.encode("ascii") + b"\n"))
