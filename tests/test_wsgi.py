"""The WSGI gateway: under gunicorn and Twisted's WSGI container, against the real daemon."""

from __future__ import annotations

import io
import secrets
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from wsgiref.util import setup_testing_defaults
from wsgiref.validate import validator

import pytest
from http_client import fetch, form, get, post_q
from wsgiserver import SERVERS, WsgiServer

from benchmarks.daemon import Daemon
from mobwrite import wsgi
from mobwrite.client import relay
from mobwrite.client.relay import DaemonAddress, RelayError
from mobwrite.client.session import ClientSession
from mobwrite.core.httpform import document_path
from mobwrite.settings import SettingError

EDITOR = "http://127.0.0.1:8000"


def memo() -> tuple[bytes, int]:
    """The protocol example of docs/protocol.md §2.3 on a fresh document, and its number."""
    token = secrets.randbelow(10**12)
    return b"u:wsgi%d\nF:0:memo%d\nr:1:Hi there\n\n" % (token, token), token


@pytest.fixture(scope="module", params=SERVERS)
def gateway(request: pytest.FixtureRequest, daemon: Daemon,
            tmp_path_factory: pytest.TempPathFactory) -> Iterator[WsgiServer]:
    """The WSGI application under a real WSGI server, forwarding to the session daemon."""
    workdir = tmp_path_factory.mktemp(f"wsgi-{request.param}")
    config = workdir / "mobwrite.conf"
    config.write_text("MAX_REQUEST_BYTES = 20000\nMAX_LINE_BYTES = 10000\n", encoding="utf-8")
    server = WsgiServer(workdir, request.param,
                        MOBWRITE_DAEMON=f"127.0.0.1:{daemon.ports['tcp']}",
                        MOBWRITE_EDITOR_URL=EDITOR + "/", MOBWRITE_CONFIG=str(config)).start()
    yield server
    server.stop()


@pytest.fixture
def refusing() -> Iterator[DaemonAddress]:
    """An address where connections are refused: a port bound but not listening."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield DaemonAddress("127.0.0.1", sock.getsockname()[1])


@pytest.fixture
def silent() -> Iterator[DaemonAddress]:
    """An address that accepts connections (into the backlog) and never answers."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(8)
        yield DaemonAddress("127.0.0.1", sock.getsockname()[1])


class Called:
    """What one direct call of a WSGI application produced."""

    def __init__(self, app: Any, method: str, query: str = "", body: bytes = b"",
                 validate: bool = True, **environ: Any) -> None:
        self.input = io.BytesIO(body)
        self.errors = io.StringIO()
        env: dict[str, Any] = {
            "REQUEST_METHOD": method, "QUERY_STRING": query,
            "wsgi.input": self.input, "wsgi.errors": self.errors,
        }
        if method == "POST":
            env["CONTENT_TYPE"] = "application/x-www-form-urlencoded"
            env["CONTENT_LENGTH"] = str(len(body))
        env.update(environ)
        setup_testing_defaults(env)
        self.headers: dict[str, str] = {}
        # wsgiref's validator checks both sides of the WSGI contract as we call.
        result = (validator(app) if validate else app)(env, self._start_response)
        try:
            self.body = b"".join(result)
        finally:
            if hasattr(result, "close"):
                result.close()

    def _start_response(self, status: str, headers: list[tuple[str, str]],
                        exc_info: Any = None) -> Any:
        self.status = int(status.split()[0])
        self.headers = dict(headers)
        return lambda data: None


def url(server: WsgiServer, rest: str = "/") -> str:
    return f"http://127.0.0.1:{server.port}{rest}"


def test_jsonp_get(gateway: WsgiServer) -> None:
    """p by GET answers the callback with LF escaped, as JavaScript, never cached."""
    request, token = memo()
    reply = get(gateway.port, "p", request, path="/scripts/q.py")
    assert reply.status == 200
    assert reply.headers["Content-Type"] == "text/javascript; charset=utf-8"
    assert reply.headers["Cache-Control"] == "no-store"
    assert reply.body == b'mobwrite.callback("F:1:memo%d\\nd:0:=8\\n");\n' % token


def test_q_wins_over_p(gateway: WsgiServer) -> None:
    """With both parameters, the answer is the plain-text q answer."""
    request, token = memo()
    reply = fetch(url(gateway), form(p=b"u:x\n\n", q=request))
    assert (reply.status, reply.body) == (200, b"F:1:memo%d\nd:0:=8\n\n" % token)


def test_bare_requests_redirect_to_the_editor(gateway: WsgiServer) -> None:
    """No parameter: 303 to the editor's start page, or to the page of the named document."""
    reply = fetch(url(gateway))
    assert (reply.status, reply.headers["Location"]) == (303, EDITOR + "/")
    reply = fetch(url(gateway, "/scripts/q.py?shopping-list"))
    assert (reply.status, reply.headers["Location"]) == (
        303, EDITOR + document_path("shopping-list"))


def test_preflight_and_other_paths(gateway: WsgiServer) -> None:
    """CORS preflight is answered as by the built-in gateway; other paths are not the gateway."""
    reply = fetch(url(gateway), method="OPTIONS")
    assert (reply.status, reply.body) == (204, b"")
    assert reply.headers["Access-Control-Allow-Origin"] == "*"
    assert "POST" in reply.headers["Access-Control-Allow-Methods"]
    assert fetch(url(gateway, "/metrics")).status == 404


def test_body_over_the_cap_is_refused(gateway: WsgiServer) -> None:
    """A body over the cap set by MAX_REQUEST_BYTES in MOBWRITE_CONFIG gets 413."""
    reply = fetch(url(gateway), b"q=" + b"x" * 70000)
    assert reply.status == 413
    assert b"nothing was done" in reply.body


def test_request_over_max_request_bytes_is_refused(gateway: WsgiServer) -> None:
    """A q under the body cap but over MAX_REQUEST_BYTES once decoded gets 413."""
    reply = post_q(gateway.port, b"u:a\nF:0:big\nR:0:" + b"x" * 20000 + b"\n\n")
    assert reply.status == 413
    assert b"MAX_REQUEST_BYTES" in reply.body


def test_bad_form_escape_is_refused(gateway: WsgiServer) -> None:
    """A % without two hex digits gets 400, with a message saying how to write it."""
    reply = fetch(url(gateway), b"q=100%zz")
    assert reply.status == 400
    assert b"%25" in reply.body


@pytest.mark.parametrize("kind", SERVERS)
def test_unreachable_daemon_gets_the_empty_answer(kind: str, tmp_path: Path,
                                                  refusing: DaemonAddress) -> None:
    """With no daemon listening, q gets a lone LF and p an empty callback; the log says why."""
    server = WsgiServer(tmp_path, kind, MOBWRITE_DAEMON=str(refusing)).start()
    try:
        reply = post_q(server.port, memo()[0])
        assert (reply.status, reply.body) == (200, b"\n")
        reply = get(server.port, "p", memo()[0])
        assert (reply.status, reply.body) == (200, b'mobwrite.callback("");\n')
        server.wait_for_log(f"no answer from the daemon at {refusing}")
    finally:
        server.stop()


def test_silent_daemon_gets_the_empty_answer_after_the_timeout(silent: DaemonAddress) -> None:
    """A daemon that never answers costs one timeout, then the empty answer."""
    app = wsgi.make_application(silent, timeout=0.2)
    called = Called(app, "POST", body=form(q=memo()[0]))
    assert (called.status, called.body) == (200, b"\n")
    assert f"daemon at {silent}" in called.errors.getvalue()


def test_empty_and_truncated_requests_never_reach_the_daemon(refusing: DaemonAddress) -> None:
    """Requests the engine would not run are answered empty without a connection."""
    app = wsgi.make_application(refusing)
    for request in (b"", b"u:a\nF:0:x\nr:1:cut sh", b"\n\n"):
        called = Called(app, "POST", body=form(q=request))
        assert (called.status, called.body) == (200, b"\n")
        assert called.errors.getvalue() == ""


def test_declared_length_over_the_cap_is_not_read(refusing: DaemonAddress) -> None:
    """A Content-Length over the cap gets 413 before one byte of the body is read."""
    app = wsgi.make_application(refusing)
    called = Called(app, "POST", body=b"q=abc", CONTENT_LENGTH=str(10**12))
    assert called.status == 413
    assert called.input.tell() == 0


def test_body_is_read_only_to_its_content_length(daemon: Daemon) -> None:
    """Bytes past CONTENT_LENGTH are left unread and do not reach the form."""
    app = wsgi.make_application(f"127.0.0.1:{daemon.ports['tcp']}")
    request, token = memo()
    body = form(q=request)
    called = Called(app, "POST", body=body + b"&q=ignored", CONTENT_LENGTH=str(len(body)))
    assert (called.status, called.body) == (200, b"F:1:memo%d\nd:0:=8\n\n" % token)
    assert called.input.tell() == len(body)


def test_terminated_input_is_read_one_byte_past_the_cap(refusing: DaemonAddress) -> None:
    """A body without Content-Length (chunked, ended by the server) is capped while reading."""
    app = wsgi.make_application(refusing)
    cap = app.limits.body_bytes
    called = Called(app, "POST", body=b"q=" + b"x" * (2 * cap), CONTENT_LENGTH="",
                    **{"wsgi.input_terminated": True})
    assert called.status == 413
    assert called.input.tell() == cap + 1


def test_malformed_content_length_is_refused(refusing: DaemonAddress) -> None:
    """A Content-Length that is not a number gets 400 (the validator would refuse it first)."""
    called = Called(wsgi.make_application(refusing), "POST", body=b"q=", validate=False,
                    CONTENT_LENGTH="12abc")
    assert called.status == 400


def test_environment_configures_the_application(tmp_path: Path) -> None:
    """MOBWRITE_DAEMON, MOBWRITE_EDITOR_URL, MOBWRITE_TIMEOUT and MOBWRITE_CONFIG all apply."""
    config = tmp_path / "mobwrite.conf"
    config.write_text("MAX_REQUEST_BYTES = 1000\n", encoding="utf-8")
    app = wsgi.from_environment({
        "MOBWRITE_DAEMON": "[::1]:4017", "MOBWRITE_EDITOR_URL": "/",
        "MOBWRITE_TIMEOUT": "2.5 seconds", "MOBWRITE_CONFIG": str(config)})
    assert (app.daemon, app.editor, app.timeout) == (DaemonAddress("::1", 4017), "", 2.5)
    assert app.limits.request_bytes == 1000
    called = Called(app, "GET", "notes")
    assert (called.status, called.headers["Location"]) == (303, document_path("notes"))
    default = wsgi.from_environment({})
    assert (default.daemon, default.editor, default.timeout) == (
        DaemonAddress("127.0.0.1", 3017), EDITOR, 10.0)


@pytest.mark.parametrize("variable, value", [
    ("MOBWRITE_DAEMON", "localhost"),
    ("MOBWRITE_DAEMON", "127.0.0.1:99999"),
    ("MOBWRITE_TIMEOUT", "soon"),
    ("MOBWRITE_TIMEOUT", "0"),
])
def test_bad_environment_stops_start_up(variable: str, value: str) -> None:
    """A value that cannot work is refused with a message naming what to write."""
    with pytest.raises(ValueError, match="such as"):
        wsgi.from_environment({variable: value})


def test_bad_config_file_stops_start_up(tmp_path: Path) -> None:
    """MOBWRITE_CONFIG with an unknown setting is refused like the daemon refuses it."""
    config = tmp_path / "mobwrite.conf"
    config.write_text("MAX_REQUEST = 1000\n", encoding="utf-8")
    with pytest.raises(SettingError, match="unknown setting"):
        wsgi.from_environment({"MOBWRITE_CONFIG": str(config)})


def test_tcp_framing_asks_the_daemon_the_same_question() -> None:
    """Any line breaks become LF; only the lines before the first blank one travel."""
    assert relay.tcp_framing(b"u:a\rF:0:x\rr:1:y\r\rjunk\n\n") == b"u:a\nF:0:x\nr:1:y\n\n"
    assert relay.tcp_framing(b"u:a\r\nF:0:x\n\r\n") == b"u:a\nF:0:x\n\n"
    assert relay.tcp_framing(b"u:a\nF:0:x\n") is None


def test_daemon_address_forms() -> None:
    """HOST:PORT and [IPv6]:PORT parse and print back; anything else is refused."""
    for text in ("127.0.0.1:3017", "[::1]:3017", "mobwrite.internal:3017"):
        assert str(DaemonAddress.parse(text)) == text
    for text in ("3017", ":3017", "127.0.0.1:", "127.0.0.1:0", "host:port"):
        with pytest.raises(ValueError, match="HOST:PORT"):
            DaemonAddress.parse(text)


def test_exchange_reports_a_refused_connection(refusing: DaemonAddress) -> None:
    """A refused connection is a RelayError naming the address."""
    with pytest.raises(RelayError, match=str(refusing)):
        relay.exchange(refusing, b"u:a\n\n", timeout=5)


def test_exchange_bounds_the_answer(daemon: Daemon) -> None:
    """An answer longer than the limit is refused rather than held."""
    address = DaemonAddress("127.0.0.1", daemon.ports["tcp"])
    with pytest.raises(RelayError, match="longer than 4 bytes"):
        relay.exchange(address, memo()[0], max_reply_bytes=4)


def test_clients_on_every_door_converge(daemon: Daemon, gateway: WsgiServer) -> None:
    """Editors syncing over TCP, the built-in gateway and the WSGI gateway end with one text."""
    doors = [
        daemon.exchange,
        lambda request: post_q(daemon.ports["gateway"], request).body[:-1],
        lambda request: post_q(gateway.port, request).body[:-1],
    ]
    name = f"doors{secrets.randbelow(10**12)}"
    clients = [ClientSession() for _ in doors]
    clients[0].share(name, "The quick brown fox jumps over the lazy dog.")
    for client in clients[1:]:
        client.share(name)
    for _ in range(2):
        for client, door in zip(clients, doors, strict=True):
            client.apply_response(door(client.build_request()))
    # Each client inserts a word in front of a different one, all before syncing.
    for client, (before, word) in zip(clients, [("The", "Very "), ("brown", "big "),
                                                ("dog", "sleepy ")], strict=True):
        document = client.documents[name]
        document.text = document.text.replace(before, word + before, 1)
    for _ in range(3):
        for client, door in zip(clients, doors, strict=True):
            client.apply_response(door(client.build_request()))
    texts = {client.documents[name].text for client in clients}
    assert texts == {"Very The quick big brown fox jumps over the lazy sleepy dog."}
