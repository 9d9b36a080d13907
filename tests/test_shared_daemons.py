"""Two real daemons on one PostgreSQL database: history, the API, pushes and the status page
work the same through either."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from http_client import fetch, fetch_path
from test_presence_daemon import names, person, until
from test_websocket import follower, notices, socket_client

from benchmarks.daemon import Daemon
from benchmarks.postgres import PostgresServer
from mobwrite.tools.main import main


@pytest.fixture(scope="module")
def pair(postgres_server: PostgresServer,
         tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Daemon, Daemon]]:
    """Two daemons sharing one new database (each test uses its own documents)."""
    url = postgres_server.new_database()
    tmp_path = tmp_path_factory.mktemp("pair")
    started = []
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        started.append(Daemon(tmp_path / name, "--database", url))
        started[-1].launch()
    for daemon in started:
        daemon.listening()
    yield started[0], started[1]
    for daemon in started:
        daemon.stop()


def gateway(daemon: Daemon) -> str:
    return f"http://127.0.0.1:{daemon.ports['gateway']}/"


def api(daemon: Daemon, path: str, method: str = "GET", body: object = None) -> object:
    reply = fetch(gateway(daemon) + "api/v1/" + path, method=method,
                  data=None if body is None else json.dumps(body).encode(),
                  headers={"Content-Type": "application/json"})
    assert reply.status == 200, reply.body
    return json.loads(reply.body)


def test_revisions_made_through_one_daemon_are_read_and_restored_through_the_other(
        pair: tuple[Daemon, Daemon], capsys: pytest.CaptureFixture[str]) -> None:
    """Edits through A's protocol and API are B's revisions too; `mobwrite history` and
    `restore` against B work; the restore reaches a socket editor on A."""
    first, second = pair
    first.exchange(b"u:alice\nF:0:hist\nr:1:draft one\n\n")
    api(first, "documents/hist/append", "POST", {"text": ", more"})
    listed = api(second, "documents/hist/revisions?order=oldest")
    assert [(r["number"], r["author"]) for r in listed["revisions"]] == [  # type: ignore[index]
        (1, "alice"), (2, "api")]
    assert main(["history", gateway(second), "hist"]) == 0
    printed = capsys.readouterr().out.splitlines()
    assert len(printed) == 2 and "alice" in printed[0] and "api" in printed[1]
    assert main(["history", gateway(second), "hist", "--at", "1"]) == 0
    assert capsys.readouterr().out == "draft one"
    with socket_client(first) as editor:
        session, document = follower(editor, "hist")
        assert document.text == "draft one, more"  # type: ignore[attr-defined]
        assert main(["restore", gateway(second), "hist", "1"]) == 0
        assert editor.wait_for_change(10.0) == {"hist"}
        editor.sync(session)
        assert document.text == "draft one"  # type: ignore[attr-defined]
    assert api(first, "documents/hist")["revision"] == 3  # type: ignore[index]


def test_a_sockets_own_change_brings_it_no_notice(pair: tuple[Daemon, Daemon]) -> None:
    """A socket's edit on A is in its own answer: it gets no notice, while a socket on A and
    one on B that follow the document each get one."""
    first, second = pair
    with socket_client(first) as editor, socket_client(first) as near, \
            socket_client(second) as far:
        session, document = follower(editor, "echo")
        follower(near, "echo")
        follower(far, "echo")
        document.text = "mine"  # type: ignore[attr-defined]
        editor.sync(session)
        assert near.wait_for_change(10.0) == {"echo"}
        assert far.wait_for_change(10.0) == {"echo"}
        # A request after the notices went: any notice for the editor came before it.
        editor.sync(session)
        assert notices(editor) == 0


def test_the_status_page_says_what_this_daemon_holds(pair: tuple[Daemon, Daemon]) -> None:
    """With --database /status names the shared database, counts the daemons on it, and
    lists the documents this daemon caches with the sockets following each."""
    first, second = pair
    first.exchange(b"u:carol\nF:0:on-status <&>\nr:1:text\n\n")
    with socket_client(first) as watcher:
        follower(watcher, "on-status <&>")
        page = fetch_path(first.ports["editor"], "/status").body.decode()
    assert "one of several daemons on the PostgreSQL database" in page
    assert "<dt>Daemons on the database</dt><dd>2 (this one included)</dd>" in page
    assert "<tr><td>on-status &lt;&amp;&gt;</td><td>1</td><td>4</td>" in page
    other = fetch_path(second.ports["editor"], "/status").body.decode()
    assert "on-status" not in other


def test_dump_of_either_daemon_carries_the_revisions(
        pair: tuple[Daemon, Daemon], tmp_path: Path) -> None:
    """/dump of A and of B are the same file, revisions included."""
    first, second = pair
    first.exchange(b"u:dave\nF:0:dumped\nr:1:kept with history\n\n")
    dumps = []
    for daemon in pair:
        output = tmp_path / f"{daemon.ports['gateway']}.jsonl"
        assert main(["dump", gateway(daemon), "--output", str(output)]) == 0
        dumps.append(output.read_bytes())
    assert dumps[0] == dumps[1]
    assert b'{"revision":"dumped","number":1,' in dumps[0]
    assert b'{"snapshot":"dumped","number":0,"text":""}' in dumps[0]


def test_people_on_either_daemon_see_each_other(pair: tuple[Daemon, Daemon]) -> None:
    """A person on A and one on B of the same document see each other, caret included;
    when one leaves, the other sees it; a person on another document is not shown."""
    first, second = pair
    with person(first, "Ann", "shared-presence", "#ff0000", (1, 2)) as ann, \
            person(second, "Other", "elsewhere") as _:
        with person(second, "Bo", "shared-presence", "#00ff00") as bo:
            assert until(bo, lambda: names(bo, "shared-presence") == ["Ann"])
            assert until(ann, lambda: names(ann, "shared-presence") == ["Bo"])
            assert bo.present("shared-presence") == [
                {"name": "Ann", "color": "#ff0000", "caret": [1, 2]}]
            ann.publish("Ann", "#ff0000", {"shared-presence": (3, 3)})
            assert until(bo, lambda: bo.present("shared-presence")[0]["caret"] == [3, 3])
        assert until(ann, lambda: names(ann, "shared-presence") == [])


def test_history_keep_zero_keeps_only_the_text_in_the_database(
        postgres_server: PostgresServer, tmp_path: Path) -> None:
    """A daemon with --history-keep 0 on PostgreSQL stores no revision row, only the current
    text as its log's base snapshot, and the numbers still count up."""
    url = postgres_server.new_database()
    daemon = Daemon(tmp_path, "--database", url, "--history-keep", "0").start()
    try:
        daemon.exchange(b"u:erin\nF:0:brief\nr:1:one\n\n")
        daemon.exchange(b"u:erin\nF:1:brief\nR:2:one two\n\n")
        found = api(daemon, "documents/brief/revisions")
    finally:
        daemon.stop()
    assert (found["base"], found["head"], found["revisions"]) == (2, 2, [])  # type: ignore[index]
    with psycopg.connect(url) as connection:
        revisions = connection.execute("SELECT count(*) FROM mobwrite_revisions").fetchone()
        snapshots = connection.execute("SELECT number, body FROM mobwrite_snapshots").fetchall()
    assert revisions == (0,) and snapshots == [(2, b"one two")]
