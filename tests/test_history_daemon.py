"""Revisions in a real daemon: kept once acknowledged, through kill -9 and
restarts, signed by the token's subject (docs/history.md)."""

from __future__ import annotations

import signal
from pathlib import Path

from http_client import fetch, form

from benchmarks.daemon import Daemon, tcp_exchange
from mobwrite.core.revisions import EDIT, FORCE, RevisionLog
from mobwrite.core.store import Store
from mobwrite.storage.journal import Journal, recover
from mobwrite.storage.sqlite import Database
from mobwrite.tokens import issue, new_key


def stored_log(workdir: Path, name: str) -> RevisionLog:
    """Document *name*'s revision log as the data directory holds it."""
    database = Database(workdir / "data")
    database.open()
    store = Store()
    try:
        recover(database, Journal(database.directory, database.identity))
        database.load(store)
    finally:
        database.close()
    log = store.revisions(name)
    assert log is not None
    return log


def write(daemon: Daemon, user: str, text: str) -> None:
    """Overwrite document "doc" as *user* through the TCP port; wait for the answer."""
    reply = tcp_exchange(daemon.ports["tcp"], f"u:{user}\nF:0:doc\nR:1:{text}\n\n".encode())
    assert reply.startswith(b"F:")


def test_acknowledged_revisions_survive_kill_9_and_number_on(tmp_path: Path) -> None:
    daemon = Daemon(tmp_path).start()
    try:
        assert tcp_exchange(daemon.ports["tcp"], b"u:alice\nF:0:doc\nr:1:one\n\n")
        write(daemon, "bob", "two")
        write(daemon, "carol", "three")
    finally:
        daemon.stop(signal.SIGKILL)
    log = stored_log(tmp_path, "doc")
    assert [(r.number, r.author, r.kind) for r in log.page(1, 10)] == [
        (1, "alice", EDIT), (2, "bob", FORCE), (3, "carol", FORCE)]
    assert [log.text_at(n) for n in (0, 1, 2, 3)] == ["", "one", "two", "three"]
    daemon = Daemon(tmp_path).start()
    try:
        write(daemon, "dave", "four")
    finally:
        daemon.stop()
    log = stored_log(tmp_path, "doc")
    assert (log.head, log.text_at(3), log.text) == (4, "three", "four")
    assert log.revision(4).author == "dave"


def test_a_token_subject_signs_gateway_edits(tmp_path: Path) -> None:
    secret = tmp_path / "keys"
    new_key(secret)
    token = issue(secret, subject="carol@example.org", documents=["doc"], lifetime=3600.0)
    daemon = Daemon(tmp_path, "--auth-secret-file", str(secret)).start()
    try:
        reply = fetch(f"http://127.0.0.1:{daemon.ports['gateway']}/",
                      form(q=b"u:view0001\nF:0:doc\nr:1:signed\n\n"),
                      headers={"Authorization": f"Bearer {token}",
                               "Content-Type": "application/x-www-form-urlencoded"})
        assert reply.status == 200
    finally:
        daemon.stop()
    revision = stored_log(tmp_path, "doc").revision(1)
    assert (revision.author, revision.change) == ("carol@example.org", ((0, "", "signed"),))


def test_history_keep_zero_stores_only_the_text(tmp_path: Path) -> None:
    daemon = Daemon(tmp_path, "--history-keep", "0").start()
    try:
        write(daemon, "alice", "one")
        write(daemon, "bob", "two")
    finally:
        daemon.stop(signal.SIGKILL)
    log = stored_log(tmp_path, "doc")
    assert (log.base, log.head, log.text, log.page(1, 10)) == (2, 2, "two", [])
