"""The editor site: static files, ``/config.js`` and 404s, over real loopback HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import pytest_twisted
from http_client import fetch
from twisted.internet import defer, reactor
from twisted.internet.endpoints import TCP4ServerEndpoint
from twisted.internet.interfaces import IListeningPort
from twisted.internet.protocol import Protocol
from twisted.python.failure import Failure
from twisted.web.client import Agent, ResponseDone
from twisted.web.http_headers import Headers

from benchmarks.daemon import ROOT, Daemon
from mobwrite.daemon.editor import (
    STATIC_CANDIDATES,
    config_module,
    editor_site,
    file_for,
    page_settings,
    static_directory,
)
from mobwrite.daemon.services import BoundPorts, ListeningService
from mobwrite.settings import Settings

PAGE = b"<!doctype html><title>start</title>"
MODULE = b"export const answer = 42;\n"


@pytest.fixture
def site_root(tmp_path: Path) -> Path:
    (tmp_path / "index.html").write_bytes(PAGE)
    (tmp_path / "lib").mkdir()
    (tmp_path / "lib" / "module.mjs").write_bytes(MODULE)
    (tmp_path / "lib" / "script.js").write_bytes(MODULE)
    (tmp_path / "lib" / "data.bin").write_bytes(b"\x00\x01")
    return tmp_path


@pytest.fixture
def bound() -> BoundPorts:
    """The port numbers the site links to; no gateway until a test sets one."""
    return BoundPorts()


@pytest.fixture
def port(site_root: Path, bound: BoundPorts) -> Iterator[IListeningPort]:
    """The editor site for *site_root*, listening on a loopback port."""
    listening: IListeningPort = reactor.listenTCP(  # type: ignore[attr-defined]
        0, editor_site(bound, site_root), interface="127.0.0.1")
    yield listening
    pytest_twisted.blockon(listening.stopListening())


class BodyReader(Protocol):
    """Collects a response body (twisted's readBody warns on this transport)."""

    def __init__(self) -> None:
        self.chunks: list[bytes] = []
        self.done: defer.Deferred[bytes] = defer.Deferred()

    def dataReceived(self, data: bytes) -> None:
        self.chunks.append(data)

    def connectionLost(self, reason: Failure = None) -> None:  # type: ignore[assignment]
        if reason.check(ResponseDone):
            self.done.callback(b"".join(self.chunks))
        else:
            self.done.errback(reason)


async def get(port: IListeningPort, path: str, host: str | None = None,
              method: bytes = b"GET") -> tuple[int, Headers, bytes]:
    headers = Headers({b"Host": [host.encode()]}) if host else None
    url = f"http://127.0.0.1:{port.getHost().port}{path}".encode()
    response: Any = await Agent(reactor).request(method, url, headers)
    reader = BodyReader()
    response.deliverBody(reader)
    body = await reader.done
    return response.code, response.headers, body


def header(headers: Headers, name: str) -> str | None:
    values = headers.getRawHeaders(name)
    return values[0] if values else None


@pytest_twisted.ensureDeferred
async def test_root_serves_the_start_page(port: IListeningPort) -> None:
    """``/`` (with or without a query) is index.html, as UTF-8 HTML, not sniffable."""
    for path in ("/", "/?notes"):
        code, headers, body = await get(port, path)
        assert (code, body) == (200, PAGE)
        assert header(headers, "Content-Type") == "text/html; charset=utf-8"
        assert header(headers, "X-Content-Type-Options") == "nosniff"


@pytest_twisted.ensureDeferred
async def test_modules_are_javascript(port: IListeningPort) -> None:
    """``.mjs`` and ``.js`` are served as text/javascript, which module scripts require."""
    for path in ("/lib/module.mjs", "/lib/script.js"):
        code, headers, body = await get(port, path)
        assert (code, body) == (200, MODULE)
        assert header(headers, "Content-Type") == "text/javascript; charset=utf-8"
    assert header((await get(port, "/lib/data.bin"))[1], "Content-Type") == (
        "application/octet-stream")


@pytest_twisted.ensureDeferred
async def test_missing_files_directories_and_escapes_are_404(
        site_root: Path, port: IListeningPort) -> None:
    """No such file, a directory without index, and ``..`` all get a 404 page."""
    (site_root.parent / "secret.txt").write_text("secret")
    for path in ("/nothing.js", "/lib", "/lib/", "/lib/../../secret.txt",
                 "/%2e%2e/secret.txt", "/lib/%2Fetc%2Fpasswd", "/%ff"):
        code, headers, body = await get(port, path)
        assert code == 404, path
        assert b"secret" not in body


@pytest_twisted.ensureDeferred
async def test_a_post_to_a_page_is_405(port: IListeningPort) -> None:
    """The editor site only serves; it does not take uploads."""
    assert (await get(port, "/", method=b"POST"))[0] == 405


@pytest_twisted.ensureDeferred
async def test_config_names_the_bound_gateway_under_the_browsers_host_name(
        bound: BoundPorts, port: IListeningPort) -> None:
    """``/config.js`` is an uncached module naming the gateway's bound port on this host name."""
    bound.numbers["gateway"] = 4321
    code, headers, body = await get(port, "/config.js", host="editor.example:8000")
    assert (code, body) == (200, config_module("http://editor.example:4321/",
                                               page_settings(Settings.defaults())))
    assert b'export const gateway = "http://editor.example:4321/";' in body
    assert b"export const maxChars = 10000000;" in body
    assert b"export const documentExpiry = null;" in body
    assert header(headers, "Content-Type") == "text/javascript; charset=utf-8"
    assert header(headers, "Cache-Control") == "no-store"
    code, _, body = await get(port, "/config.js")
    assert b'"http://127.0.0.1:4321/"' in body


@pytest_twisted.ensureDeferred
async def test_config_without_a_gateway_port_is_503(port: IListeningPort) -> None:
    """Before the gateway listens (or if it is not on TCP) the page is told plainly."""
    code, _, body = await get(port, "/config.js")
    assert code == 503 and b"gateway" in body


def test_file_for_refuses_climbing_out(tmp_path: Path) -> None:
    """Path segments that could leave the root name no file."""
    (tmp_path / "a.js").write_text("")
    assert file_for(tmp_path, [b"a.js"]) == tmp_path / "a.js"
    for segments in ([b".."], [b"..", b"a.js"], [b"x\\..\\a.js"], [b"a.js\x00"], [b"", b"a.js"]):
        assert file_for(tmp_path, segments) is None


def test_the_checkout_static_directory_is_found() -> None:
    """Run from a checkout, the editor serves the checkout's static/."""
    assert static_directory() in STATIC_CANDIDATES
    assert static_directory().resolve() == (ROOT / "static").resolve()


def test_the_daemon_serves_static_files_and_config(daemon: Daemon) -> None:
    """The real daemon's editor port serves static/ and a config naming its gateway port."""
    editor = f"http://127.0.0.1:{daemon.ports['editor']}"
    script = fetch(editor + "/delta.js")
    assert script.status == 200
    assert script.body == (ROOT / "static" / "delta.js").read_bytes()
    assert script.headers["Content-Type"] == "text/javascript; charset=utf-8"
    config = fetch(editor + "/config.js")
    assert f'"http://127.0.0.1:{daemon.ports["gateway"]}/"'.encode() in config.body
    assert fetch(editor + "/no-such-page.html").status == 404


@pytest_twisted.ensureDeferred
async def test_bound_ports_follow_the_listening_services(site_root: Path) -> None:
    """A service records the port it actually got (port 0) and forgets it when it stops."""
    bound = BoundPorts()
    service = ListeningService(
        "editor", "editor web site", TCP4ServerEndpoint(reactor, 0, interface="127.0.0.1"),
        editor_site(bound, site_root), bound)
    service.startService()
    assert service.port is not None
    assert bound.get("editor") == service.port.getHost().port != 0
    await service.stopService()
    assert bound.get("editor") is None


def test_config_tells_the_pages_when_documents_expire() -> None:
    """With TIMEOUT_TEXT set, ``/config.js`` gives it in seconds for the start page."""
    shown = page_settings(Settings.defaults(timeout_text=7 * 86400.0, max_chars=500))
    module = config_module("http://h:1/", shown).decode()
    assert "export const documentExpiry = 604800.0;" in module
    assert "export const maxChars = 500;" in module
    assert "export default { gateway, maxChars, documentExpiry };" in module
