"""The twisted.web ``Site`` for mobwrite's HTTP ports.

twisted.web writes an access line for every request to the global log at
INFO; a busy gateway would drown everything else.  This site logs each
request at DEBUG instead, with named fields, and leaves out the query
string (it carries whole documents for JSONP requests).
"""

from __future__ import annotations

from twisted.web import resource, server
from twisted.web.http import Request

from mobwrite.logs import logger

log = logger("web")


class Site(server.Site):
    """A Site whose access log is one DEBUG event per request."""

    noisy = False

    def log(self, request: Request) -> None:
        log.debug("{method} {path} answered {code} to {client}",
                  method=request.method.decode("ascii", "replace"),
                  path=request.path.decode("utf-8", "replace"),
                  code=request.code, client=request.getClientAddress())


def site_with(children: dict[bytes, resource.Resource]) -> Site:
    """A site whose root holds *children* and answers 404 for anything else."""
    root = resource.Resource()
    for name, child in children.items():
        root.putChild(name, child)
    return Site(root)
