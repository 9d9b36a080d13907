"""The HTTP gateway: over real HTTP against the daemon, and its failure paths in-process."""

from __future__ import annotations

import socket
import time
import urllib.error
from collections.abc import Iterator
from io import BytesIO
from pathlib import Path

import pytest
from http_client import Reply, callback, fetch, form, get, post_q
from twisted.internet import defer
from twisted.internet.address import IPv4Address
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport
from twisted.web.resource import Resource
from twisted.web.server import NOT_DONE_YET, Request
from twisted.web.test.requesthelper import DummyRequest

from benchmarks.daemon import ROOT, Daemon, tcp_exchange
from mobwrite.core import httpform
from mobwrite.core.httpform import Limits
from mobwrite.daemon.gateway import GatewayResource, gateway_site
from mobwrite.daemon.services import BoundPorts
from mobwrite.settings import Settings

MEMO = b"u:wkq7r2mz\nF:0:memo{}\nr:1:Hi there\n\n"


def memo(tag: str) -> tuple[bytes, bytes]:
    """The docs/protocol.md §2.3 example on a document of its own, and its answer."""
    return MEMO.replace(b"{}", tag.encode()), f"F:1:memo{tag}\nd:0:=8\n".encode()


def gateway_url(daemon: Daemon, rest: str = "/") -> str:
    return f"http://127.0.0.1:{daemon.ports['gateway']}{rest}"


def test_post_q_answers_plain_text_uncached(daemon: Daemon) -> None:
    """The docs/protocol.md §2.3 POST example: plain text, output plus LF, no-store, nosniff, CORS."""
    request, output = memo("post")
    reply = post_q(daemon.ports["gateway"], request)
    assert (reply.status, reply.body) == (200, output + b"\n")
    assert reply.headers["Content-Type"] == "text/plain; charset=utf-8"
    assert reply.headers["Cache-Control"] == "no-store"
    assert reply.headers["X-Content-Type-Options"] == "nosniff"
    assert reply.headers["Access-Control-Allow-Origin"] == "*"


def test_jsonp_get_answers_a_callback(daemon: Daemon) -> None:
    """The docs/protocol.md §2.3 JSONP example: ``mobwrite.callback("...")`` served as JavaScript."""
    request, output = memo("jsonp")
    reply = get(daemon.ports["gateway"], "p", request)
    assert reply.body == b'mobwrite.callback("' + output.replace(b"\n", b"\\n") + b'");\n'
    assert reply.headers["Content-Type"] == "text/javascript; charset=utf-8"
    assert reply.headers["Cache-Control"] == "no-store"


def test_a_repeated_jsonp_url_is_answered_afresh(daemon: Daemon) -> None:
    """The same JSONP URL, asked again after the document changed, gets the new state."""
    poll = b"u:repeat01\nF:0:repeated\nd:0:=1\n\n"
    assert get(daemon.ports["gateway"], "p", poll).body == callback(b"F:1:repeated\nr:0:\n")
    post_q(daemon.ports["gateway"], b"u:repeat02\nF:0:repeated\nR:0:news\n\n")
    again = get(daemon.ports["gateway"], "p", poll)
    assert again.body != callback(b"F:1:repeated\nr:0:\n")
    assert b"news" in again.body


def test_post_p_and_get_q_work_too(daemon: Daemon) -> None:
    """Both parameters work with both methods, on both paths."""
    request, output = memo("mixed")
    posted = fetch(gateway_url(daemon, "/scripts/q.py"), form(p=request))
    assert posted.body == callback(output)
    fetched = get(daemon.ports["gateway"], "q", request, path="/scripts/q.py")
    assert fetched.body == b"F:1:memomixed\nd:0:=8\n\n"


def test_a_multibyte_text_round_trips_through_form_and_protocol_escapes(daemon: Daemon) -> None:
    """An emoji percent-encoded twice (protocol, then form) is stored and answered once-encoded."""
    request = b"u:emoji001\nF:0:emoji\nR:0:%F0%9F%98%80 ok\n\n"
    assert post_q(daemon.ports["gateway"], request).body == b"F:0:emoji\nD:0:=5\n\n"
    again = b"u:emoji002\nF:0:emoji\nr:1:\n\n"
    assert post_q(daemon.ports["gateway"], again).body == (
        b"F:1:emoji\nd:0:+%F0%9F%98%80 ok\n\n")


def test_preflight_allows_the_editor_origin(daemon: Daemon) -> None:
    """A browser's CORS preflight for a form POST is allowed for any origin."""
    reply = fetch(gateway_url(daemon), method="OPTIONS", headers={
        "Origin": f"http://127.0.0.1:{daemon.ports['editor']}",
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type"})
    assert reply.status == 204
    assert reply.headers["Access-Control-Allow-Origin"] == "*"
    assert "POST" in reply.headers["Access-Control-Allow-Methods"]
    assert reply.headers["Access-Control-Allow-Headers"].lower() == "content-type, authorization"


def test_a_bare_get_redirects_to_the_editor_on_the_callers_host_name(daemon: Daemon) -> None:
    """``GET /`` and ``GET /?NAME`` answer 303 to the editor port under the Host header's name."""
    editor = daemon.ports["editor"]
    start = fetch(gateway_url(daemon))
    assert (start.status, start.headers["Location"]) == (303, f"http://127.0.0.1:{editor}/")
    named = fetch(gateway_url(daemon, "/?notes.2"),
                  headers={"Host": f"localhost:{daemon.ports['gateway']}"})
    assert named.status == 303
    assert named.headers["Location"] == f"http://localhost:{editor}/editor.html?doc=notes.2"


def test_the_redirects_lead_to_the_pages(daemon: Daemon) -> None:
    """Following the 303s gets the editor site's start and editor pages."""
    for query, page in (("", "index.html"), ("?followed", "editor.html")):
        reply = fetch(fetch(gateway_url(daemon, "/" + query)).headers["Location"])
        assert reply.status == 200
        assert reply.headers["Content-Type"] == "text/html; charset=utf-8"
        assert reply.body == (ROOT / "static" / page).read_bytes()


def test_an_illegal_name_and_a_bad_escape_get_400s(daemon: Daemon) -> None:
    """Bad input gets a 400 whose text says what is wrong."""
    name = fetch(gateway_url(daemon, "/?no%20spaces"))
    assert name.status == 400 and b"illegal document name" in name.body
    escape = fetch(gateway_url(daemon), b"q=50%+off", headers={
        "Content-Type": "application/x-www-form-urlencoded"})
    assert escape.status == 400 and b"two hex digits" in escape.body


def test_an_unknown_path_is_404(daemon: Daemon) -> None:
    """Only / and /scripts/q.py are the gateway."""
    assert fetch(gateway_url(daemon, "/q?q=")).status == 404


def test_a_declared_oversized_body_is_refused_before_it_is_sent(daemon: Daemon) -> None:
    """A Content-Length over the cap gets 413 and a close, with no body sent and no 100 Continue."""
    head = (b"POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\n"
            b"Expect: 100-continue\r\nContent-Length: 1000000000\r\n\r\n")
    answer = tcp_exchange(daemon.ports["gateway"], head)
    assert answer.startswith(b"HTTP/1.1 413 ") and b" 100 " not in answer
    assert b"Connection: close" in answer and b"Cache-Control: no-store" in answer


@pytest.fixture(scope="module")
def small_daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    """A daemon with MAX_REQUEST_BYTES 1000: a body cap of 7096 bytes."""
    running = Daemon(tmp_path_factory.mktemp("small"), "--max-request-bytes", "1000").start()
    yield running
    running.stop()


def test_a_chunked_body_is_cut_off_at_the_cap(small_daemon: Daemon) -> None:
    """A chunked body without a length gets 413 once it passes the cap."""
    cap = Limits.from_settings(Settings.defaults(max_request_bytes=1000)).body_bytes
    chunk = b"q=" + b"a" * cap
    head = (b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
            + b"%x\r\n" % len(chunk) + chunk + b"\r\n")
    assert tcp_exchange(small_daemon.ports["gateway"], head).startswith(b"HTTP/1.1 413 ")


def test_a_request_over_max_request_bytes_is_413(small_daemon: Daemon) -> None:
    """A body under the cap whose request is over MAX_REQUEST_BYTES gets 413, and nothing runs."""
    request = b"u:big00001\nF:0:big\nR:0:" + b"a" * 1000 + b"\n\n"
    reply = post_q(small_daemon.ports["gateway"], request)
    assert reply.status == 413 and b"MAX_REQUEST_BYTES" in reply.body
    check = post_q(small_daemon.ports["gateway"], b"u:big00002\nF:0:big\nd:0:=1\n\n")
    assert check.body == b"F:1:big\nr:0:\n\n"


def test_a_body_just_under_the_cap_is_read(small_daemon: Daemon) -> None:
    """The cap is not hit by a request of MAX_REQUEST_BYTES, every byte form-escaped."""
    request = b"u:cap00001\nF:0:cap\nR:0:"
    request += b"%" * (1000 - len(request) - 2) + b"\n\n"
    body = b"q=" + b"".join(b"%%%02X" % byte for byte in request)
    reply = fetch(f"http://127.0.0.1:{small_daemon.ports['gateway']}/", body,
                  headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert reply.status == 200 and reply.body.startswith(b"F:0:cap\nD:0:=")


class StuckServer:
    """A RequestAnswerer stand-in whose answers never come, or fail."""

    def __init__(self, failure: Exception | None = None) -> None:
        self.failure = failure
        self.pending: list[defer.Deferred[bytes]] = []

    def answer(self, request: bytes, may_write: bool = True,
               author: str | None = None) -> defer.Deferred[bytes]:
        if self.failure is not None:
            raise self.failure
        self.pending.append(defer.Deferred())
        return self.pending[-1]


def sync_request() -> DummyRequest:
    request = DummyRequest([b""])
    request.method = b"POST"
    request.uri = request.path = b"/"
    request.content = BytesIO(b"q=u%3Aa%0A%0A")
    return request


def resource(server: StuckServer, clock: Clock) -> GatewayResource:
    return GatewayResource(server, Limits(1000, 100, 100), BoundPorts(),  # type: ignore[arg-type]
                           clock, deadline=10.0)


def test_an_answer_past_the_deadline_is_a_503() -> None:
    """When the answer does not come within REQUEST_DEADLINE, the client gets a 503 then."""
    clock, server = Clock(), StuckServer()
    request = sync_request()
    assert resource(server, clock).render(request) == NOT_DONE_YET
    clock.advance(9.9)
    assert not request.finished
    clock.advance(0.1)
    assert request.responseCode == 503 and request.finished
    assert b"10 s" in b"".join(request.written)
    server.pending[0].callback(b"F:1:late\n")
    assert request.finished == 1


def test_an_answer_within_the_deadline_is_written_and_the_timer_stops() -> None:
    """An answer that waits (for the disk) is written when it comes; no 503 follows."""
    clock, server = Clock(), StuckServer()
    request = sync_request()
    resource(server, clock).render(request)
    clock.advance(5.0)
    server.pending[0].callback(b"F:1:late\n")
    assert request.responseCode == 200 and b"".join(request.written) == b"F:1:late\n\n"
    assert not clock.getDelayedCalls()


class ReadyServer:
    """An answerer whose answer is ready when it returns."""

    def answer(self, request: bytes, may_write: bool = True,
               author: str | None = None) -> defer.Deferred[bytes]:
        return defer.succeed(b"F:1:now\n")


def test_an_answer_ready_at_once_arms_no_deadline() -> None:
    """An answer the server has at once is written straight away, with no timer left over."""
    clock = Clock()
    request = sync_request()
    GatewayResource(ReadyServer(), Limits(1000, 100, 100), BoundPorts(),  # type: ignore[arg-type]
                    clock, deadline=10.0).render(request)
    assert request.finished and b"".join(request.written) == b"F:1:now\n\n"
    assert not clock.getDelayedCalls()


def test_an_internal_error_is_a_prompt_500() -> None:
    """A failing server gives a 500 at once, not a hang."""
    clock = Clock()
    request = sync_request()
    resource(StuckServer(RuntimeError("boom")), clock).render(request)
    assert request.responseCode == 500 and request.finished
    assert b"internal error" in b"".join(request.written)
    assert not clock.getDelayedCalls()


def test_a_client_gone_before_the_answer_is_not_written_to() -> None:
    """If the connection is lost, the answer is dropped and the deadline timer cancelled."""
    clock, server = Clock(), StuckServer()
    request = sync_request()
    resource(server, clock).render(request)
    request.processingFailed(ConnectionError("gone"))
    assert not clock.getDelayedCalls()
    server.pending[0].callback(b"")
    assert request.written == []


def test_the_deadline_setting_reaches_the_gateway(tmp_path: Path) -> None:
    """The daemon's gateway uses REQUEST_DEADLINE and the body cap from MAX_REQUEST_BYTES."""
    from twisted.internet.testing import MemoryReactorClock

    from mobwrite.daemon.tap import Options, build

    options = Options()
    options.parseOptions(["--request-deadline", "3", "--max-request-bytes", "50",
                          "--data-dir", str(tmp_path)])
    top = build(options, MemoryReactorClock())
    site = top.getServiceNamed("gateway").factory.wrappedFactory
    assert site.resource.gateway.deadline == 3.0
    assert site.limits == Limits(3 * 50 + httpform.FORM_OVERHEAD, 50, 96 * 1024 * 1024)


def post_once_admitted(port: int, request: bytes) -> Reply:
    """POST *request*, trying again while the daemon has not yet seen closed connections go
    (it may accept the new one first and refuse it at MAX_CONNECTIONS)."""
    for _ in range(100):
        try:
            return post_q(port, request)
        except (ConnectionError, urllib.error.URLError):
            time.sleep(0.05)
    raise AssertionError("never admitted again")


def test_http_connections_are_capped_like_tcp(tmp_path: Path) -> None:
    """MAX_CONNECTIONS bounds the gateway too: one more is closed at once, then admitted again."""
    daemon = Daemon(tmp_path, "--max-connections", "3").start()
    try:
        port = daemon.ports["gateway"]
        held = [socket.create_connection(("127.0.0.1", port), timeout=10) for _ in range(3)]
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=10) as extra:
                try:
                    extra.sendall(b"GET /?q=%0A%0A HTTP/1.1\r\nHost: x\r\n\r\n")
                    closed = extra.recv(100) == b""
                except ConnectionResetError:
                    closed = True
                assert closed
        finally:
            held.pop().close()
        daemon.wait_for_log("MAX_CONNECTIONS \\(3\\) reached on the HTTP gateway")
        for sock in held:
            sock.close()
        assert post_once_admitted(port, b"u:a\nF:0:capped\nr:1:x\n\n").body == (
            b"F:1:capped\nd:0:=1\n\n")
    finally:
        daemon.stop()


class Addresses(Resource):
    """Answers with the client's and the server's address as the request saw them."""

    isLeaf = True

    def render_GET(self, request: Request) -> bytes:
        return f"{request.getClientAddress()} {request.getHost()}".encode()


def test_each_request_on_a_kept_alive_connection_knows_both_addresses() -> None:
    """The gateway's channel reads the connection's addresses once; every request has them."""
    site = gateway_site(StuckServer(), Limits(1000, 100, 100), BoundPorts(),  # type: ignore[arg-type]
                        Clock(), 10.0, {b"addresses": Addresses()})
    peer = IPv4Address("TCP", "10.0.0.7", 5555)
    host = IPv4Address("TCP", "10.0.0.1", 8080)
    channel = site.buildProtocol(peer)
    assert channel is not None
    transport = StringTransport(hostAddress=host, peerAddress=peer)
    channel.makeConnection(transport)
    for _ in range(2):
        channel.dataReceived(b"GET /addresses HTTP/1.1\r\nHost: x\r\n\r\n")
    answers = transport.value().split(b"HTTP/1.1 200 OK")
    assert len(answers) == 3
    for answer in answers[1:]:
        assert answer.endswith(f"{peer} {host}".encode())
