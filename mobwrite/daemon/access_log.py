"""How mobwrite's HTTP sites write their access log.

twisted.web's default writes a line per request to the global log at
INFO, which would drown everything else on a busy gateway; our sites log
each request at DEBUG instead, with named fields, and leave out the query
string (it carries whole documents in JSONP requests).
"""

from __future__ import annotations

from twisted.logger import Logger, LogLevel
from twisted.web.http import Request

from mobwrite.logs import enabled


def log_access(log: Logger, request: Request) -> None:
    """One DEBUG event for *request*: method, path, status and client."""
    if not enabled(log, LogLevel.debug):
        return
    log.debug("{method} {path} answered {code} to {client}",
              method=request.method.decode("ascii", "replace"),
              path=request.path.decode("utf-8", "replace"),
              code=request.code, client=request.getClientAddress())
