"""``/status`` on the editor port: what the daemon holds, for a person to read.

Document names are user input, so every one is HTML-escaped; the list is
cut at ``MAX_LISTED`` entries so the page stays small however many
documents there are.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from html import escape
from typing import Any

from twisted.internet import defer
from twisted.internet.interfaces import IReactorTime
from twisted.web import resource, server
from twisted.web.server import Request

from mobwrite import __version__
from mobwrite.core import httpform
from mobwrite.core.access import ADMIN, Refused
from mobwrite.core.cache import CacheFigures, store_figures
from mobwrite.core.events import Report
from mobwrite.core.presence import Presence
from mobwrite.core.push import Subscriptions
from mobwrite.core.store import Document, Store
from mobwrite.daemon.gateway import header_text, refused, write_answer
from mobwrite.tokens import Gatekeeper

MAX_LISTED = 500

_UNITS = (("day", 86400), ("hour", 3600), ("minute", 60), ("second", 1))


def describe_age(seconds: float) -> str:
    """``93784`` → ``1 day 2 hours 3 minutes 4 seconds`` (whole seconds)."""
    left = max(int(seconds), 0)
    parts = []
    for unit, size in _UNITS:
        count, left = divmod(left, size)
        if count:
            parts.append(f"{count} {unit}{'' if count == 1 else 's'}")
    return " ".join(parts) or "0 seconds"


@dataclass(frozen=True)
class Shared:
    """What a daemon sharing a database with others holds (``--database``)."""

    # Where the database is (no password).
    location: str
    # The daemons listening on the database, this one included (None: unknown).
    daemons: int | None
    # The documents whose text the daemon caches.
    documents: list[Document]
    # What its workers' caches hold and did.
    cache: CacheFigures


class StatusResource(resource.Resource):
    """``GET /status``: version, uptime, and each document with its live views.

    With access control on, it lists documents only to a token with the
    admin right (``Authorization: Bearer`` or ``?token=``).  A daemon on a
    shared database (*shared*) lists the documents it caches and the
    sockets following each: the database holds the rest.
    """

    isLeaf = True

    def __init__(self, store: Store, clock: IReactorTime, started: float,
                 gatekeeper: Gatekeeper | None = None, report: Report | None = None,
                 push: Subscriptions[Any] | None = None,
                 presence: Presence[Any] | None = None,
                 shared: Callable[[], defer.Deferred[Shared]] | None = None) -> None:
        super().__init__()
        self.shared = shared
        self.store = store
        self.clock = clock
        self.started = started
        self.gatekeeper = gatekeeper
        self.report = report
        self.push = push
        self.presence = presence

    def render_GET(self, request: Request) -> bytes | int:
        if self.gatekeeper is not None:
            fields = {b"token": request.args[b"token"][0]} if b"token" in request.args else {}
            token = httpform.request_token(header_text(request, b"authorization"), fields)
            verdict = self.gatekeeper.holder(token, self.clock.seconds(), ADMIN)
            if isinstance(verdict, Refused):
                refused(self.report, "status page", request, verdict, None)
                return write_answer(request, httpform.forbidden(verdict.reason))
        request.setHeader(b"content-type", b"text/html; charset=utf-8")
        request.setHeader(b"cache-control", b"no-store")
        request.setHeader(b"x-content-type-options", b"nosniff")
        request.setHeader(b"content-security-policy",
                          b"default-src 'none'; style-src 'unsafe-inline'")
        if self.shared is not None:
            self.shared().addCallback(self.shared_page).addCallback(_send, request)
            return server.NOT_DONE_YET
        return self.page().encode("utf-8")

    @staticmethod
    def _cache(cache: CacheFigures) -> str:
        """The cache's lines: memory held, documents stored, loads and evictions."""
        budget = f" of {cache.max_memory:,}" if cache.max_memory else ""
        lines = f"<dt>Memory held (bytes)</dt><dd>{cache.held_bytes:,}{budget}</dd>"
        if cache.stored is not None:
            lines += (f"<dt>Documents stored</dt><dd>{cache.stored.documents:,}</dd>"
                      f"<dt>Stored (bytes)</dt><dd>{cache.stored.bytes:,}</dd>")
        counts = cache.counts
        return lines + (f"<dt>Loaded from storage</dt><dd>{counts.loads - counts.misses:,}</dd>"
                        f"<dt>Left memory</dt><dd>{counts.evictions:,}</dd>")

    def page(self) -> str:
        now = self.clock.seconds()
        store = self.store
        documents = sorted(store.documents.values(), key=lambda document: document.name)
        rows = "".join(
            f"<tr><td>{escape(document.name)}</td><td>{document.views}</td>"
            f"<td>{'null' if document.text is None else len(document.text)}</td>"
            f"<td>{escape(describe_age(now - document.lasttime))} ago</td></tr>\n"
            for document in documents[:MAX_LISTED]
        )
        hidden = len(documents) - MAX_LISTED
        more = f"<p>… and {hidden} more documents not listed.</p>\n" if hidden > 0 else ""
        return _html(
            f"<dt>Version</dt><dd>{escape(__version__)}</dd>"
            f"<dt>Up for</dt><dd>{describe_age(now - self.started)}</dd>"
            f"<dt>Documents in memory</dt><dd>{len(documents)}</dd>"
            f"{self._cache(store_figures(store))}"
            f"<dt>Live views</dt><dd>{len(store.views)}</dd>"
            f"<dt>Unfinished buffers</dt><dd>{len(store.buffers)}</dd>{self._live()}",
            "Live views", rows, more)

    def shared_page(self, shared: Shared) -> str:
        """The page of a daemon on a shared database: what this one holds."""
        now = self.clock.seconds()
        documents = sorted({document.name: document for document in shared.documents
                            if document.text is not None}.values(),
                           key=lambda document: document.name)
        followers = self.push.followers if self.push is not None else {}
        rows = "".join(
            f"<tr><td>{escape(document.name)}</td>"
            f"<td>{len(followers.get(document.name, ()))}</td>"
            f"<td>{len(document.text or '')}</td>"
            f"<td>{escape(describe_age(now - document.lasttime))} ago</td></tr>\n"
            for document in documents[:MAX_LISTED])
        hidden = len(documents) - MAX_LISTED
        more = f"<p>… and {hidden} more documents not listed.</p>\n" if hidden > 0 else ""
        daemons = ("unknown: the database did not answer" if shared.daemons is None
                   else f"{shared.daemons} (this one included)")
        return _html(
            f"<dt>Version</dt><dd>{escape(__version__)}</dd>"
            f"<dt>Up for</dt><dd>{describe_age(now - self.started)}</dd>"
            f"<dt>Storage</dt><dd>shared: one of several daemons on the PostgreSQL "
            f"database {escape(shared.location)}, which holds every document and view "
            f"(list them with the HTTP API or <code>mobwrite dump</code>)</dd>"
            f"<dt>Daemons on the database</dt><dd>{daemons}</dd>"
            f"<dt>Documents cached here</dt><dd>{len(documents)}</dd>"
            f"{self._cache(shared.cache)}{self._live()}",
            "WebSockets here", rows, more)

    def _live(self) -> str:
        live = ""
        if self.push is not None:
            counts = self.push.counts
            live = (f"<dt>Open WebSockets</dt><dd>{len(self.push)}</dd>"
                    f"<dt>Notices sent</dt><dd>{counts.notices_sent}</dd>"
                    f"<dt>Changes coalesced into notices</dt>"
                    f"<dd>{counts.notices_coalesced}</dd>")
        if self.presence is not None:
            shown = self.presence.counts
            live += (f"<dt>People present (presence)</dt><dd>{len(self.presence)}</dd>"
                     f"<dt>Presence updates sent</dt><dd>{shown.updates_sent}</dd>"
                     f"<dt>Presence entries coalesced</dt><dd>{shown.coalesced}</dd>"
                     f"<dt>Presence messages refused</dt><dd>{shown.refused}</dd>")
        return live


def _send(page: str, request: Request) -> None:
    if not request.finished and request.channel is not None:
        request.write(page.encode("utf-8"))
        request.finish()


def _html(facts: str, viewers: str, rows: str, more: str) -> str:
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        "<title>mobwrite status</title>"
        "<style>body{font-family:sans-serif;margin:2em}"
        "td,th{padding:.2em .8em;text-align:left}</style></head><body>\n"
        f"<h1>mobwrite status</h1>\n<dl>{facts}</dl>\n"
        f"<table><thead><tr><th>Document</th><th>{viewers}</th>"
        "<th>Characters</th><th>Last change</th></tr></thead><tbody>\n"
        f"{rows}</tbody></table>\n{more}</body></html>\n"
    )
