"""The editor web site: the browser client's files and ``/config.js``.

The pages and scripts come from ``static/`` (in the installed package, or
beside it in a checkout).  ``/config.js`` is an ES module written per
request: it tells the pages the gateway's URL under the host name the
browser used and the port the gateway actually bound, how long a document
may be (``maxChars``, 0 for no limit) and after how many seconds an unused
document expires (``documentExpiry``, null when documents are kept until
deleted).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any, cast

from twisted.web import http, pages, resource, server

from mobwrite.daemon.access_log import log_access
from mobwrite.daemon.gateway import other_site
from mobwrite.daemon.services import BoundPorts
from mobwrite.logs import logger
from mobwrite.settings import Settings

log = logger("editor")

PACKAGE = Path(__file__).resolve().parent.parent
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


CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".json": "application/json",
    ".map": "application/json",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".ico": "image/x-icon",
    ".txt": "text/plain; charset=utf-8",
    ".md": "text/plain; charset=utf-8",
}


def file_for(root: Path, segments: list[bytes]) -> Path | None:
    """The file under *root* that URL path *segments* name, or None.

    A path ending in ``/`` names that directory's index.html; directories
    themselves are never listed, and no segment may climb out of *root*.
    """
    names = list(segments)
    if not names or names[-1] == b"":
        names[-1:] = [START_PAGE.encode()]
    try:
        parts = [name.decode("utf-8") for name in names]
    except UnicodeDecodeError:
        return None
    if any(part in ("", ".", "..") or "/" in part or "\\" in part or "\0" in part
           for part in parts):
        return None
    path = root.joinpath(*parts)
    return path if path.is_file() else None


def not_found(request: server.Request) -> bytes:
    page: bytes = pages.notFound("No such page", "There is no such page here.").render(request)
    return page


class ReadOnly(resource.Resource):
    """A resource answering GET and HEAD; other methods get 405 with Allow."""

    isLeaf = True

    def render(self, request: server.Request) -> bytes | int:
        for name, value in COMMON.items():
            request.setHeader(name, value)
        if request.method in (b"GET", b"HEAD"):
            return self.render_GET(request)
        request.setHeader("Allow", "GET, HEAD")
        # The error page renders itself asynchronously (NOT_DONE_YET).
        return cast(int, pages.errorPage(
            405, "Method Not Allowed", "This site only serves pages.").render(request))

    def render_GET(self, request: server.Request) -> bytes:
        raise NotImplementedError


class StaticFiles(ReadOnly):
    """The files of ``static/``: exact types, no directory listings, revalidated on reuse."""

    def __init__(self, root: Path) -> None:
        super().__init__()
        self.root = root

    def render_GET(self, request: server.Request) -> bytes:
        # Mounted at the site's root: the whole URL path names the file.
        path = file_for(self.root, (request.prepath or []) + (request.postpath or []))
        if path is None:
            return not_found(request)
        request.setHeader("Content-Type",
                          CONTENT_TYPES.get(path.suffix, "application/octet-stream"))
        return path.read_bytes()


class ConfigModule(ReadOnly):
    """``/config.js``: where this page's gateway is, and the settings pages show."""

    def __init__(self, ports: BoundPorts, settings: Settings) -> None:
        super().__init__()
        self.ports = ports
        self.shown = page_settings(settings)

    def render_GET(self, request: server.Request) -> bytes:
        request.setHeader("Cache-Control", "no-store")
        gateway = other_site(request, self.ports, "gateway")
        if gateway is None:
            request.setResponseCode(503)
            request.setHeader("Content-Type", "text/plain; charset=utf-8")
            return b"The gateway is not listening on a TCP port.\n"
        request.setHeader("Content-Type", "text/javascript; charset=utf-8")
        return config_module(gateway + "/", self.shown)


def page_settings(settings: Settings) -> dict[str, Any]:
    """The settings the pages tell people about."""
    return {"maxChars": settings.max_chars,
            "documentExpiry": settings.timeout_text or None}


def config_module(gateway: str, shown: dict[str, Any] | None = None) -> bytes:
    """The text of ``/config.js`` for a gateway at *gateway*, with *shown* settings."""
    fields = {"gateway": gateway, **(shown or {})}
    lines = [f"export const {name} = {json.dumps(value)};\n" for name, value in fields.items()]
    return ("// Written by the mobwrite daemon for this request.\n" + "".join(lines)
            + f"export default {{ {', '.join(fields)} }};\n").encode()


class EditorRoot(resource.Resource):
    """``/config.js``, any *children* (such as ``/status``) and, for every
    other path, the static files."""

    def __init__(self, files: StaticFiles, ports: BoundPorts,
                 children: Mapping[bytes, resource.Resource], settings: Settings) -> None:
        super().__init__()
        self.files = files
        self.putChild(b"config.js", ConfigModule(ports, settings))
        for name, child in children.items():
            self.putChild(name, child)

    def getChild(self, path: bytes, request: server.Request) -> resource.Resource:
        return self.files


class EditorSite(server.Site):
    """The editor's site; requests are logged at DEBUG only."""

    noisy = False

    def log(self, request: http.Request) -> None:
        log_access(log, request)


def editor_site(ports: BoundPorts, directory: Path | None = None,
                children: Mapping[bytes, resource.Resource] | None = None,
                settings: Settings | None = None) -> EditorSite:
    """The editor site serving *directory* (default: ``static_directory()``),
    with *children* at their own paths, telling pages of *settings* (default:
    the defaults)."""
    files = StaticFiles(directory or static_directory())
    return EditorSite(EditorRoot(files, ports, children or {},
                                 settings or Settings.defaults()))
