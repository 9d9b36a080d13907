"""Access control on the WebSocket: checks each request a socket sends against
the token it holds, with the HTTP gateway's rules (docs/websocket.md, docs/security.md).

A socket's token comes in its URL (``/ws?token=...``) or in a ``!token:``
message, which replaces the one it held.  Every request is checked when its
turn comes, at that moment's clock, so a token that expires while the socket
is open stops working for the next request; notices name only documents the
token lets the socket read.
"""

from __future__ import annotations

from collections.abc import Callable

from twisted.internet.interfaces import IAddress, IReactorTime

from mobwrite.core.access import READ, Decision, Grant, Refused
from mobwrite.core.events import Event, Report
from mobwrite.tokens import Gatekeeper, TokenError

TRANSPORT = "WebSocket"
NO_TOKEN = Refused("a token is required (in the URL's token field or a !token: message)",
                   "no_token")


class SocketGate:
    """The gatekeeper's answers for sockets; refusals are logged and counted."""

    def __init__(self, gatekeeper: Gatekeeper, clock: IReactorTime,
                 report: Report | None = None) -> None:
        self.gatekeeper = gatekeeper
        self.clock = clock
        self.report = report

    def opening(self, token: str, peer: IAddress) -> Refused | None:
        """Why the token in a socket's URL cannot open it, if it cannot."""
        try:
            self.gatekeeper.grant(token, self.clock.seconds())
        except TokenError as error:
            refusal = Refused(str(error), error.kind)
            self._refused(refusal, peer, None)
            return refusal
        return None

    def check(self, token: str | None, data: bytes,
              peer: IAddress) -> tuple[Decision, Grant | None]:
        """Whether the holder of *token* may run request *data*, and may write;
        and the token's grant (whose subject signs the request's revisions)."""
        if not token:
            self._refused(NO_TOKEN, peer, None)
            return NO_TOKEN, None
        verdict, grant = self.gatekeeper.authorize(token, data, self.clock.seconds())
        if isinstance(verdict, Refused):
            self._refused(verdict, peer, None if grant is None else grant.subject)
        return verdict, grant

    def readable(self, token: str | None) -> Callable[[str], bool]:
        """Whether the holder of *token* may read a document now (to be told it changed)."""
        if not token:
            return _nothing
        try:
            grant = self.gatekeeper.grant(token, self.clock.seconds())
        except TokenError:
            return _nothing
        return grant.covers if READ in grant.rights else _nothing

    def _refused(self, refusal: Refused, peer: IAddress, subject: str | None) -> None:
        if self.report is not None:
            self.report(Event.ACCESS_REFUSED, transport=TRANSPORT, peer=peer,
                        subject=subject, reason=refusal.reason, kind=refusal.kind)


def _nothing(name: str) -> bool:
    return False
