"""The editor web site: the browser client's files and ``/config.js``.

The pages and scripts come from ``static/`` (in the installed package, or
beside it in a checkout).  ``/config.js`` is an ES module written per
request: it tells the pages the gateway's URL under the host name the
browser used and the port the gateway actually bound.
"""

from __future__ import annotations

import json
from pathlib import Path

from twisted.web import resource, server, static

from mobwrite.gateway import other_site
from mobwrite.logs import logger
from mobwrite.services import BoundPorts

log = logger("editor")

PACKAGE = Path(__file__).resolve().parent
# The installed package's copy wins over the checkout's.
STATIC_CANDIDATES = (PACKAGE / "static", PACKAGE.parent / "static")
START_PAGE = "index.html"

COMMON = {"X-Content-Type-Options": "nosniff", "Cache-Control": "no-cache"}


def static_directory() -> Path:
    """Where the editor's files are."""
    for candidate in STATIC_CANDIDATES:
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(
        "no editor files: expected a static/ directory in the mobwrite package "
        f"or the checkout ({' or '.join(map(str, STATIC_CANDIDATES))})")


def not_found() -> resource.Resource:
    return resource.NoResource("No such page.")


class StaticFiles(static.File):
    """Files of ``static/``: exact types, no directory listings, revalidated on reuse."""

    contentTypes = {
        **static.File.contentTypes,
        ".html": "text/html; charset=utf-8",
        ".js": "text/javascript; charset=utf-8",
        ".mjs": "text/javascript; charset=utf-8",
        ".css": "text/css; charset=utf-8",
        ".json": "application/json",
        ".svg": "image/svg+xml",
        ".map": "application/json",
    }
    indexNames = [START_PAGE]
    childNotFound = not_found()

    def directoryListing(self) -> resource.Resource:
        return self.childNotFound

    def render(self, request: server.Request) -> bytes | int:
        for name, value in COMMON.items():
            request.setHeader(name, value)
        return super().render(request)


class ConfigModule(resource.Resource):
    """``/config.js``: where this page's gateway is."""

    isLeaf = True

    def __init__(self, ports: BoundPorts) -> None:
        super().__init__()
        self.ports = ports

    def render_GET(self, request: server.Request) -> bytes:
        for name, value in COMMON.items():
            request.setHeader(name, value)
        request.setHeader("Cache-Control", "no-store")
        gateway = other_site(request, self.ports, "gateway")
        if gateway is None:
            request.setResponseCode(503)
            request.setHeader("Content-Type", "text/plain; charset=utf-8")
            return b"The gateway is not listening on a TCP port.\n"
        request.setHeader("Content-Type", "text/javascript; charset=utf-8")
        return config_module(gateway + "/")

    render_HEAD = render_GET


def config_module(gateway: str) -> bytes:
    """The text of ``/config.js`` for a gateway at *gateway*."""
    return (
        "// Written by the mobwrite daemon for this request.\n"
        f"export const gateway = {json.dumps(gateway)};\n"
        "export default { gateway };\n"
    ).encode("utf-8")


class EditorRoot(resource.Resource):
    """``/config.js`` and, for every other path, the static files."""

    def __init__(self, files: StaticFiles, ports: BoundPorts) -> None:
        super().__init__()
        self.files = files
        self.putChild(b"config.js", ConfigModule(ports))

    def getChild(self, path: bytes, request: server.Request) -> resource.Resource:
        return self.files.getChild(path, request)

    def render(self, request: server.Request) -> bytes | int:
        return self.files.render(request)


class EditorSite(server.Site):
    """The editor's site; requests are not access-logged."""

    noisy = False

    def log(self, request: server.Request) -> None:
        log.debug("{method} {code}", method=request.method, code=request.code)


def editor_site(ports: BoundPorts, directory: Path | None = None) -> EditorSite:
    """The editor site serving *directory* (default: ``static_directory()``)."""
    files = StaticFiles(str(directory or static_directory()))
    return EditorSite(EditorRoot(files, ports))
