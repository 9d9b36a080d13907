"""The WebSocket front end against the real daemon on loopback: answers, push, operations."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import pytest_twisted
from http_client import fetch, fetch_path, post_q

from benchmarks.daemon import ROOT, Daemon, tcp_exchange
from mobwrite.client.blocking import BlockingClient
from mobwrite.client.errors import NullDocument, ProtocolFailure, Unreachable
from mobwrite.client.session import ClientSession
from mobwrite.client.txclient import TwistedClient
from mobwrite.client.urls import parse_url
from mobwrite.client.websocket import SocketConnection
from mobwrite.core.engine import MAX_PUSHES


def socket_url(daemon: Daemon) -> str:
    return f"ws://127.0.0.1:{daemon.ports['gateway']}/ws"


@contextmanager
def socket_client(daemon: Daemon, origin: str | None = None) -> Iterator[BlockingClient]:
    client = BlockingClient(socket_url(daemon), origin=origin)
    try:
        yield client
    finally:
        client.close()


def metric(daemon: Daemon, name: str) -> float:
    body = fetch_path(daemon.ports["gateway"], "/metrics").body.decode()
    match = re.search(rf"^{name} (\S+)$", body, re.MULTILINE)
    assert match, name
    return float(match[1])


def follower(client: BlockingClient, name: str) -> tuple[ClientSession, object]:
    """A session that shares *name* and has synced it once over *client* (so it follows)."""
    session = ClientSession()
    document = session.share(name)
    client.sync(session)
    return session, document


def notices(client: BlockingClient) -> int:
    assert client.connection is not None
    return client.connection.notices


def test_a_socket_answers_like_the_gateway(daemon: Daemon) -> None:
    """One request per message; the answer is the HTTP q= answer, ending with its blank line."""
    request = b"u:wkq7r2mz\nF:0:memo{}\nr:1:Hi there\n\n"
    over_http = post_q(daemon.ports["gateway"], request.replace(b"{}", b"ws-http")).body
    with socket_client(daemon) as client:
        answer = client.exchange(request.replace(b"{}", b"ws-socket"))
        again = client.exchange(b"u:nobody\n\n")
    assert answer == over_http.replace(b"ws-http", b"ws-socket") == b"F:1:memows-socket\nd:0:=8\n\n"
    assert again == b"\n"


@pytest.mark.parametrize("front_end", ["tcp", "http", "socket"])
def test_an_edit_from_any_front_end_is_pushed_to_followers(
        daemon: Daemon, front_end: str) -> None:
    """A change committed over TCP, HTTP or another socket brings a notice; a sync fetches it."""
    name = f"pushed-{front_end}"
    with socket_client(daemon) as watcher, socket_client(daemon) as editor:
        session, document = follower(watcher, name)
        edit = f"u:editor\nF:0:{name}\nR:1:typed over {front_end}\n\n".encode()
        if front_end == "tcp":
            tcp_exchange(daemon.ports["tcp"], edit)
        elif front_end == "http":
            post_q(daemon.ports["gateway"], edit)
        else:
            editor.exchange(edit)
        assert watcher.wait_for_change(10.0) == {name}
        watcher.sync(session)
        assert document.text == f"typed over {front_end}"  # type: ignore[attr-defined]


def test_the_committer_is_not_told_of_its_own_change(daemon: Daemon) -> None:
    """A socket's own edit comes back in its answer: no notice follows it."""
    with socket_client(daemon) as editor, socket_client(daemon) as watcher:
        session, document = follower(editor, "own-change")
        follower(watcher, "own-change")
        document.text = "mine"  # type: ignore[attr-defined]
        editor.sync(session)
        editor.sync(session)
        assert watcher.wait_for_change(10.0) == {"own-change"}
        assert notices(editor) == 0


def test_a_burst_of_edits_is_one_notice_per_request(daemon: Daemon) -> None:
    """Five edits while a follower makes no request: one notice, the rest coalesced into it."""
    coalesced = metric(daemon, "mobwrite_push_coalesced_total")
    with socket_client(daemon) as watcher:
        session, document = follower(watcher, "burst")
        for number in range(5):
            tcp_exchange(daemon.ports["tcp"], f"u:burster\nF:0:burst\nR:1:{number}\n\n".encode())
        # Every edit was committed, and its notice sent, before this request was answered.
        watcher.sync(session)
        assert notices(watcher) == 1
        assert document.text == "4"  # type: ignore[attr-defined]
    assert metric(daemon, "mobwrite_push_coalesced_total") >= coalesced + 3


def test_metrics_and_status_count_open_sockets(daemon: Daemon) -> None:
    """/metrics and /status show the open sockets and the notices sent."""
    before = metric(daemon, "mobwrite_websockets")
    with socket_client(daemon) as client:
        client.exchange(b"u:counted\n\n")
        assert metric(daemon, "mobwrite_websockets") == before + 1
        status = fetch_path(daemon.ports["editor"], "/status").body.decode()
        assert re.search(r"<dt>Open WebSockets</dt><dd>\d+</dd>", status)
        assert "<dt>Notices sent</dt>" in status
    assert metric(daemon, "mobwrite_push_notices_total") >= 0


def test_a_refused_request_is_answered_with_an_error_and_nothing_runs(daemon: Daemon) -> None:
    """A message without its blank line gets ``!error:``; the socket goes on working."""
    with socket_client(daemon) as client:
        with pytest.raises(ProtocolFailure, match="incomplete request: end it with a blank line"):
            client.exchange(b"u:half\nF:0:never-made\nR:1:no\n")
        with pytest.raises(NullDocument):
            client.download("never-made")
    with socket_client(daemon) as client:
        assert client.exchange(b"u:whole\n\n") == b"\n"


def test_pages_of_other_origins_are_refused(daemon: Daemon) -> None:
    """By default only the daemon's own editor page (and non-browsers) may open a socket."""
    editor = f"http://127.0.0.1:{daemon.ports['editor']}"
    with socket_client(daemon, origin=editor) as client:
        assert client.exchange(b"u:page\n\n") == b"\n"
    for foreign in ("https://evil.example", f"http://127.0.0.1:{daemon.ports['gateway'] + 1}"):
        with pytest.raises(ProtocolFailure, match="refused the WebSocket: HTTP 403"):
            SocketConnection(parse_url(socket_url(daemon)), 10.0, origin=foreign)


def test_refused_handshakes_are_logged_once_by_us_and_never_as_errors(daemon: Daemon) -> None:
    """A broken handshake gets 400 and one INFO line of ours saying why; a foreign
    page gets 403 and its line; Twisted logs neither as an error."""
    seen = len(daemon.lines)
    reply = fetch(socket_url(daemon).replace("ws:", "http:"), headers={"Upgrade": "websocket"})
    assert reply.status == 400 and b"WebSocket handshake" in reply.body
    marker = f"https://marker-{len(daemon.lines)}.example"
    with pytest.raises(ProtocolFailure, match="HTTP 403"):
        SocketConnection(parse_url(socket_url(daemon)), 10.0, origin=marker)
    # Logged after the broken handshake's line, if any: every earlier line is in.
    daemon.wait_for_log(f"refused a WebSocket from a page of '{marker}'")
    lines = daemon.lines[seen:]
    refusals = [line for line in lines if "refused a WebSocket handshake" in line]
    assert len(refusals) == 1 and "[mobwrite.websocket#info]" in refusals[0]
    assert "Connection: Upgrade" in refusals[0]
    assert not [line for line in lines if "#error]" in line or "Traceback" in line]


def test_a_plain_get_of_the_socket_path_says_what_it_is(daemon: Daemon) -> None:
    """``GET /ws`` without an upgrade gets 426 and a line saying to use a WebSocket."""
    reply = fetch_path(daemon.ports["gateway"], "/ws")
    assert reply.status == 426
    assert b"WebSocket endpoint" in reply.body


def test_listed_origins_replace_the_default(fresh_daemon: Daemon) -> None:
    """WEBSOCKET_ORIGINS lets exactly the listed pages in (the editor's own included only if listed)."""
    fresh_daemon.options += ["--websocket-origins", "https://docs.example.org"]
    fresh_daemon.start()
    url = parse_url(socket_url(fresh_daemon))
    SocketConnection(url, 10.0, origin="https://docs.example.org").close()
    with pytest.raises(ProtocolFailure, match="HTTP 403"):
        SocketConnection(url, 10.0, origin=f"http://127.0.0.1:{fresh_daemon.ports['editor']}")


def test_sockets_count_against_max_connections(fresh_daemon: Daemon) -> None:
    """Open sockets hold their connection: past MAX_CONNECTIONS the next is refused until one closes."""
    fresh_daemon.options += ["--max-connections", "2"]
    fresh_daemon.start()
    url = parse_url(socket_url(fresh_daemon))
    first, second = SocketConnection(url, 10.0), SocketConnection(url, 10.0)
    with pytest.raises((Unreachable, ProtocolFailure)):
        SocketConnection(url, 10.0)
    # Expected operation: one warning of ours, no error.
    assert "mobwrite.services#warn" in fresh_daemon.wait_for_log(r"MAX_CONNECTIONS \(2\) reached")
    assert not [line for line in fresh_daemon.lines if "#error]" in line]
    first.close()
    third = SocketConnection(url, 10.0)
    assert third.exchange(b"u:third\n\n") == b"\n"
    second.close()
    third.close()


def test_pings_keep_a_reading_socket_and_cut_off_a_silent_one(fresh_daemon: Daemon) -> None:
    """A socket that reads answers pings and stays; one that never reads is cut off."""
    fresh_daemon.options += ["--websocket-ping-interval", "0.2",
                             "--websocket-ping-timeout", "0.5"]
    fresh_daemon.start()
    url = parse_url(socket_url(fresh_daemon))
    silent = SocketConnection(url, 10.0)
    fresh_daemon.wait_for_log("cut off a WebSocket .*: no pong within 0.5 s")
    with pytest.raises(Unreachable):
        silent.exchange(b"u:silent\n\n")
    lively = SocketConnection(url, 10.0)
    while lively.pings < 3:
        lively.wait_for_notice(1.0)
    assert lively.exchange(b"u:lively\n\n") == b"\n"
    lively.close()


def test_watch_prints_each_pushed_version(daemon: Daemon, tmp_path: Path) -> None:
    """``mobwrite watch ws://…`` shows each new version as it is pushed, without polling."""
    tcp_exchange(daemon.ports["tcp"], b"u:author\nF:0:watched\nR:1:one\n\n")
    command = [sys.executable, "-m", "mobwrite", "watch", socket_url(daemon), "watched",
               "--count", "3", "--min-interval", "600", "--max-interval", "600"]
    with subprocess.Popen(command, cwd=tmp_path, stdout=subprocess.PIPE, text=True,
                          env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"}) as watcher:
        assert watcher.stdout is not None
        assert watcher.stdout.readline() == "one\n"
        for number, text in ((2, "two"), (3, "three")):
            # Each edit after the watcher's sync: only a push can show it within the hour.
            tcp_exchange(daemon.ports["tcp"],
                         f"u:author\nF:{number - 1}:watched\nR:{number}:{text}\n\n".encode())
            assert watcher.stdout.readline() == f"{text}\n"
        assert watcher.wait(30) == 0


@pytest_twisted.ensureDeferred
async def test_the_twisted_client_syncs_over_a_socket_and_hears_notices(daemon: Daemon) -> None:
    """``TwistedClient`` on a ws:// URL: operations over one socket, notices as Deferreds."""
    from twisted.internet import reactor

    client = TwistedClient(reactor, socket_url(daemon))
    try:
        session = ClientSession()
        document = session.share("tx-socket")
        await client.sync(session)
        assert await client.wait_for_change(0.01) == set()
        tcp_exchange(daemon.ports["tcp"], b"u:txauthor\nF:0:tx-socket\nR:1:from TCP\n\n")
        assert await client.wait_for_change(10.0) == {"tx-socket"}
        await client.sync(session)
        assert document.text == "from TCP"
        assert await client.download("tx-socket") == "from TCP"
    finally:
        client.close()


@pytest_twisted.ensureDeferred
async def test_the_twisted_client_takes_pushed_deltas_and_acknowledges_them(
        daemon: Daemon) -> None:
    """``TwistedClient.take_pushes``: each edit of a polling client is applied
    as it is pushed, with no sync and no notice, more times than the daemon
    pushes a view without word from it (so the ``!pushed:`` acknowledgements
    reach it), and the pushed session's own typing still reaches the poller."""
    from twisted.internet import reactor

    name = "tx-pushed-deltas"
    deltas = metric(daemon, "mobwrite_push_deltas_total")
    poller = TwistedClient(reactor, f"http://127.0.0.1:{daemon.ports['gateway']}/")
    polled = ClientSession()
    theirs = polled.share(name, "Hello 😀")
    await poller.sync(polled)
    live = TwistedClient(reactor, socket_url(daemon))
    try:
        session = ClientSession()
        mine = session.share(name)
        await live.take_pushes(session)
        await live.sync(session)
        assert mine.text == "Hello 😀"
        for word in [" one", " two 👍", " three", " four", " five", " six"][:MAX_PUSHES + 2]:
            theirs.text += word
            await poller.sync(polled)
            for _ in range(50):
                if mine.text == theirs.text:
                    break
                assert await live.wait_for_change(10.0) == set()
            assert mine.text == theirs.text
        assert live.socket is not None and live.socket.owed == set()
        mine.text = "Live: " + mine.text
        await live.sync(session)
        await poller.sync(polled)
    finally:
        live.close()
    assert theirs.text == "Live: Hello 😀 one two 👍 three four five six"
    assert metric(daemon, "mobwrite_push_deltas_total") >= deltas + MAX_PUSHES + 2


def test_the_command_line_uploads_and_downloads_over_a_socket(daemon: Daemon,
                                                               tmp_path: Path) -> None:
    """``mobwrite upload`` and ``download`` accept a ws:// URL (the path defaults to /ws)."""
    url = f"ws://127.0.0.1:{daemon.ports['gateway']}"
    environment = {"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"}
    subprocess.run([sys.executable, "-m", "mobwrite", "upload", url, "cli-socket"],
                   input="from the shell\n", text=True, check=True, cwd=tmp_path,
                   env=environment, timeout=60)
    shown = subprocess.run([sys.executable, "-m", "mobwrite", "download", url, "cli-socket"],
                           capture_output=True, text=True, check=True, cwd=tmp_path,
                           env=environment, timeout=60)
    assert shown.stdout == "from the shell\n"


def test_a_client_taking_pushed_deltas_converges_with_a_polling_client(daemon: Daemon) -> None:
    """A socket client that asked for deltas holds each edit of a polling client
    without syncing, and its own typing reaches the poller."""
    name = "pushed-deltas"
    deltas = metric(daemon, "mobwrite_push_deltas_total")
    poller = BlockingClient(f"http://127.0.0.1:{daemon.ports['gateway']}/")
    polled = ClientSession()
    theirs = polled.share(name, "Hello 😀")
    poller.sync(polled)
    with socket_client(daemon) as live:
        session = ClientSession()
        mine = session.share(name)
        live.take_pushes(session)
        live.sync(session)
        assert mine.text == "Hello 😀"
        for word in (" one", " two 👍", " three"):
            theirs.text += word
            poller.sync(polled)
            for _ in range(50):
                if mine.text == theirs.text:
                    break
                assert live.wait_for_change(10.0) == set()
            assert mine.text == theirs.text
        assert notices(live) == 0
        mine.text = "Live: " + mine.text
        live.sync(session)
        poller.sync(polled)
    assert theirs.text == "Live: Hello 😀 one two 👍 three"
    assert metric(daemon, "mobwrite_push_deltas_total") >= deltas + 3
