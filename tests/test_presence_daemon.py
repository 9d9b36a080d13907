"""Presence on a real daemon: who is on a document reaches the others on it, and only them."""

from __future__ import annotations

import re
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from http_client import fetch_path
from test_websocket import metric
from wsproto.events import TextMessage

from benchmarks.daemon import ROOT, Daemon, tcp_exchange
from mobwrite.client.blocking import BlockingClient
from mobwrite.client.session import ClientSession
from mobwrite.client.urls import parse_url
from mobwrite.client.websocket import SocketConnection


def socket_url(daemon: Daemon) -> str:
    return f"ws://127.0.0.1:{daemon.ports['gateway']}/ws"


@contextmanager
def person(daemon: Daemon, name: str, document: str, color: str = "#336699",
           caret: tuple[int, int] | None = None) -> Iterator[BlockingClient]:
    """A client that syncs *document* once over a socket (so it follows it) and publishes."""
    client = BlockingClient(socket_url(daemon))
    try:
        session = ClientSession()
        session.share(document)
        client.sync(session)
        client.publish(name, color, {document: caret} if caret else None)
        yield client
    finally:
        client.close()


def names(client: BlockingClient, document: str) -> list[str]:
    return sorted(str(entry["name"]) for entry in client.present(document))


def until(client: BlockingClient, done: Callable[[], bool], seconds: float = 10.0) -> bool:
    """Read presence updates until *done* holds; False if *seconds* pass first."""
    deadline = time.monotonic() + seconds
    while not done():
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        client.wait_for_presence(left)
    return True


def test_two_sockets_see_each_other_with_caret_and_colour(daemon: Daemon) -> None:
    with person(daemon, "Ann", "pres-two", "#ff0000", (2, 5)) as ann, \
            person(daemon, "Bo", "pres-two", "#00ff00") as bo:
        assert until(ann, lambda: names(ann, "pres-two") == ["Bo"])
        assert until(bo, lambda: names(bo, "pres-two") == ["Ann"])
        assert bo.present("pres-two") == [{"name": "Ann", "color": "#ff0000", "caret": [2, 5]}]


def test_a_rename_and_a_moved_caret_show_on_the_other_socket(daemon: Daemon) -> None:
    with person(daemon, "Ann", "pres-rename") as ann, \
            person(daemon, "Bo", "pres-rename") as bo:
        assert until(bo, lambda: names(bo, "pres-rename") == ["Ann"])
        ann.publish("Annie", "#336699", {"pres-rename": (7, 7)})
        assert until(bo, lambda: bo.present("pres-rename")[0]["name"] == "Annie")
        assert bo.present("pres-rename")[0]["caret"] == [7, 7]


def test_a_closed_socket_leaves_the_others_list(daemon: Daemon) -> None:
    with person(daemon, "Ann", "pres-close") as ann:
        with person(daemon, "Bo", "pres-close"):
            assert until(ann, lambda: names(ann, "pres-close") == ["Bo"])
        assert until(ann, lambda: names(ann, "pres-close") == [], 5.0)


def test_a_lost_socket_leaves_after_the_ping_timeout(fresh_daemon: Daemon) -> None:
    """A peer that stops reading (a lost connection) drops out once its pong is late."""
    fresh_daemon.options += ["--websocket-ping-interval", "0.2",
                             "--websocket-ping-timeout", "0.5"]
    fresh_daemon.start()
    with person(fresh_daemon, "Ann", "pres-lost") as ann:
        lost = SocketConnection(parse_url(socket_url(fresh_daemon)), 10.0)
        lost.exchange(b"u:lost\nF:0:pres-lost\nr:0:\n\n")
        lost.publish("Lost", "#000000")
        assert until(ann, lambda: names(ann, "pres-lost") == ["Lost"])
        started = time.monotonic()
        # Ann keeps reading (and so answering pings); the lost one never reads again.
        assert until(ann, lambda: names(ann, "pres-lost") == [], 5.0)
        # The ping interval and timeout, the batch, and slack for a loaded machine.
        assert time.monotonic() - started < 0.2 + 0.5 + 0.1 + 2.0
        lost.sock.close()


def test_a_name_with_markup_arrives_as_the_same_plain_text(daemon: Daemon) -> None:
    with person(daemon, "<b>Bold</b> & co", "pres-markup") as bold, \
            person(daemon, "Ann", "pres-markup") as ann:
        assert until(ann, lambda: names(ann, "pres-markup") == ["<b>Bold</b> & co"])
        assert bold.connection is not None


def test_presence_reaches_only_sockets_of_the_same_document(daemon: Daemon) -> None:
    with person(daemon, "Ann", "pres-here") as ann, \
            person(daemon, "Other", "pres-elsewhere") as other, \
            person(daemon, "Bo", "pres-here") as bo:
        assert until(ann, lambda: names(ann, "pres-here") == ["Bo"])
        assert until(bo, lambda: names(bo, "pres-here") == ["Ann"])
        # Ann's and Bo's updates were sent before or with these; none named them to Other.
        assert other.connection is not None
        assert other.wait_for_presence(0.5) == []
        assert other.connection.present == {}
        assert "pres-elsewhere" not in ann.connection.present  # type: ignore[union-attr]


def test_a_bad_presence_message_is_refused_and_nothing_is_shown(daemon: Daemon) -> None:
    """Bad JSON gets an !error: of its own; the socket still syncs; nobody sees it."""
    with person(daemon, "Ann", "pres-bad") as ann:
        bad = SocketConnection(parse_url(socket_url(daemon)), 10.0)
        try:
            bad.exchange(b"u:bad\nF:0:pres-bad\nr:0:\n\n")
            bad.sock.sendall(bad.protocol.send(TextMessage("!presence:{not json")))
            bad.publish("x" * 65, "#000000")
            assert bad.exchange(b"u:bad\n\n") == b"\n"
            assert bad.presence_errors == ["presence: not JSON",
                                           "presence: name over 64 characters"]
            assert ann.wait_for_presence(0.5) == []
        finally:
            bad.close()


def test_watch_says_who_arrives_and_leaves(daemon: Daemon, tmp_path: Path) -> None:
    tcp_exchange(daemon.ports["tcp"], b"u:author\nF:0:pres-watch\nR:1:hello\n\n")
    command = [sys.executable, "-m", "mobwrite", "watch", socket_url(daemon), "pres-watch",
               "--presence", "--duration", "60", "--min-interval", "600",
               "--max-interval", "600"]
    with subprocess.Popen(command, cwd=tmp_path, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True,
                          env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"}) as watcher:
        assert watcher.stdout is not None and watcher.stderr is not None
        assert watcher.stdout.readline() == "hello\n"
        with person(daemon, "Ann", "pres-watch") as ann:
            assert watcher.stderr.readline() == "+ Ann arrived\n"
            ann.publish("Annie", "#336699")
            assert watcher.stderr.readline() == "~ Ann is now Annie\n"
        assert watcher.stderr.readline() == "- Annie left\n"
        watcher.terminate()


def test_presence_needs_a_socket_url() -> None:
    result = subprocess.run([sys.executable, "-m", "mobwrite", "watch", "http://127.0.0.1:1/",
                             "doc", "--presence"], capture_output=True, text=True,
                            env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"}, check=False)
    assert result.returncode != 0
    assert "--presence needs a ws:// or wss:// server URL" in result.stderr


def test_a_socket_that_follows_later_is_told_who_is_already_there(daemon: Daemon) -> None:
    """Publishing before syncing is fine: the name shows once the document is followed."""
    document = "pres-late"
    with person(daemon, "Ann", document) as ann:
        late = BlockingClient(socket_url(daemon))
        try:
            late.publish("Late", "#123456")
            session = ClientSession()
            session.share(document)
            late.sync(session)
            assert until(late, lambda: names(late, document) == ["Ann"])
            assert until(ann, lambda: names(ann, document) == ["Late"])
        finally:
            late.close()


def test_metrics_and_status_count_presence(daemon: Daemon) -> None:
    """/metrics counts the people present, the updates sent, entries coalesced and
    messages refused; /status shows them."""
    before = {name: metric(daemon, name) for name in (
        "mobwrite_presence_updates_total", "mobwrite_presence_refused_total",
        "mobwrite_presence_published_total")}
    with person(daemon, "Ann", "pres-metrics") as ann, \
            person(daemon, "Bo", "pres-metrics") as bo:
        assert until(ann, lambda: names(ann, "pres-metrics") == ["Bo"])
        assert until(bo, lambda: names(bo, "pres-metrics") == ["Ann"])
        assert metric(daemon, "mobwrite_presence_people") >= 2
        bo.publish("x" * 65, "#000000")
        bo.publish("Bo", "#000000")
        assert until(ann, lambda: ann.present("pres-metrics")[0]["color"] == "#000000")
        status = fetch_path(daemon.ports["editor"], "/status").body.decode()
        assert re.search(r"<dt>People present \(presence\)</dt><dd>\d+</dd>", status)
        assert re.search(r"<dt>Presence updates sent</dt><dd>\d+</dd>", status)
    after = {name: metric(daemon, name) for name in before}
    assert after["mobwrite_presence_published_total"] >= before[
        "mobwrite_presence_published_total"] + 3
    assert after["mobwrite_presence_refused_total"] >= before["mobwrite_presence_refused_total"] + 1
    # Each saw the other arrive: at least one update each.
    assert after["mobwrite_presence_updates_total"] >= before["mobwrite_presence_updates_total"] + 2
