"""/status on the editor port: a page a person can read, safe for any document name."""

from __future__ import annotations

from pathlib import Path

from http_client import fetch_path
from twisted.internet.task import Clock
from twisted.web.test.requesthelper import DummyRequest

from benchmarks.daemon import Daemon
from mobwrite import __version__
from mobwrite.core.store import Store
from mobwrite.daemon.status import MAX_LISTED, StatusResource, describe_age

HOSTILE = '<script>alert("x")</script>&'


def test_status_page_lists_documents_and_views_escaped(tmp_path: Path) -> None:
    """The real daemon's status page shows each document with its live views,
    the version and the uptime, with document names escaped."""
    daemon = Daemon(tmp_path).start()
    try:
        for user in ("viewer01", "viewer02"):
            daemon.exchange(f"u:{user}\nF:0:{HOSTILE}\nr:1:hi\n\n".encode())
        daemon.exchange(b"u:viewer01\nF:0:plain-notes\nr:1:hello\n\n")
        answer = fetch_path(daemon.ports["editor"], "/status")
        assert fetch_path(daemon.ports["gateway"], "/status").status == 404
    finally:
        daemon.stop()
    assert answer.status == 200
    assert answer.headers["content-type"] == "text/html; charset=utf-8"
    page = answer.body.decode("utf-8")
    assert "<script>" not in page
    assert ("<tr><td>&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&amp;</td>"
            "<td>2</td><td>2</td>") in page
    assert "<tr><td>plain-notes</td><td>1</td><td>5</td>" in page
    assert f"<dt>Version</dt><dd>{__version__}</dd>" in page
    assert "<dt>Live views</dt><dd>3</dd>" in page
    assert "<dt>Up for</dt><dd>" in page


def test_status_lists_a_bounded_number_of_documents() -> None:
    """However many documents there are, the page lists at most MAX_LISTED."""
    clock = Clock()
    store = Store()
    for number in range(MAX_LISTED + 7):
        store.set_text(store.document(f"doc{number:04d}", 0.0), "x", 0.0)
    clock.advance(93784)
    request = DummyRequest([b"status"])
    page = StatusResource(store, clock, 0.0).render_GET(request).decode("utf-8")
    assert page.count("<tr><td>doc") == MAX_LISTED
    assert "and 7 more documents not listed" in page
    assert "<dt>Up for</dt><dd>1 day 2 hours 3 minutes 4 seconds</dd>" in page
    assert request.responseHeaders.getRawHeaders(b"x-content-type-options") == [b"nosniff"]


def test_ages_read_naturally() -> None:
    """Ages are whole units, largest first, singular where one."""
    assert describe_age(0.4) == "0 seconds"
    assert describe_age(61) == "1 minute 1 second"
    assert describe_age(7200) == "2 hours"
