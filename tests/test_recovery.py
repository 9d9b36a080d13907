"""Restarts and crashes of the real daemon lose nothing a client was told had arrived."""

from __future__ import annotations

import signal
import sqlite3
import threading
from pathlib import Path

import pytest

from benchmarks.daemon import Daemon, tcp_exchange
from mobwrite.client.session import ClientSession
from mobwrite.storage.sqlite import DATABASE_NAME

CLIENTS = 4


def sync(port: int, session: ClientSession) -> bytes | None:
    """One sync over TCP; None when the daemon did not answer."""
    outgoing = session.build_request()
    try:
        response = tcp_exchange(port, outgoing, timeout=10.0)
    except OSError:
        return None
    if not response:
        return None
    session.apply_response(response)
    return response


def read_document(port: int, name: str) -> str:
    """The master text of *name*, as a newcomer sees it after two syncs."""
    reader = ClientSession()
    reader.share(name)
    for _ in range(2):
        assert sync(port, reader) is not None
    return reader.documents[name].text


def same_ports(daemon: Daemon) -> list[str]:
    options = []
    for name, port in daemon.ports.items():
        options += [f"--{name}", f"tcp:{port}:interface=127.0.0.1"]
    return options


class Typist(threading.Thread):
    """Appends numbered marks to its own document and syncs after each one."""

    def __init__(self, number: int, port: int, enough: threading.Semaphore,
                 down: threading.Barrier, back: threading.Event, seed: str = "") -> None:
        super().__init__(name=f"typist{number}", daemon=True)
        self.session = ClientSession(f"typist{number}")
        self.name_ = f"crash{number}"
        self.seed = seed
        self.document = self.session.share(self.name_, seed)
        self.port = port
        self.enough, self.down, self.back = enough, down, back
        self.typed: list[str] = []
        self.acknowledged: set[str] = set()
        self.responses_after_restart: list[bytes] = []
        self.error: BaseException | None = None

    def type_and_sync(self) -> bool:
        mark = f"<{self.name_}.{len(self.typed)}>"
        self.typed.append(mark)
        self.document.text += mark
        sent = list(self.typed)
        response = sync(self.port, self.session)
        if response is None:
            return False
        if not self.document.edit_stack:
            # The server confirmed every edit up to this request.
            self.acknowledged.update(sent)
        if self.back.is_set():
            self.responses_after_restart.append(response)
        return True

    def run(self) -> None:
        try:
            while self.type_and_sync():
                self.enough.release()
            failures = 1
            while failures < 3:
                failures += not self.type_and_sync()
            self.down.wait(timeout=60)
            self.back.wait(timeout=60)
            for _ in range(5):
                assert self.type_and_sync()
        except BaseException as error:  # handed to the test thread
            self.error = error


def test_kill_9_under_load_loses_no_acknowledged_edit(tmp_path: Path) -> None:
    """kill -9 mid-load, restart: acknowledged edits are there and typing resumes."""
    kill_9_under_load(tmp_path, syncs=15)


def test_kill_9_while_checkpoints_rotate_loses_no_acknowledged_edit(
        tmp_path: Path) -> None:
    """kill -9 while the journal is checkpointed again and again beside the
    commits (200 KB documents, a checkpoint every 16 MB of journal): nothing
    acknowledged is lost, and the database shows the files took turns."""
    generation = kill_9_under_load(tmp_path, syncs=60, seed="x" * 200_000,
                                   options=("--max-memory", "64 MB"))
    assert generation >= 2, "no checkpoint ran beside the commits"


def kill_9_under_load(tmp_path: Path, syncs: int, seed: str = "",
                      options: tuple[str, ...] = ()) -> int:
    """Typists sync *syncs* times each, the daemon gets kill -9, a new one
    starts on the same ports: every acknowledged edit must be there, typing
    resumes without a whole-text resync.  The database's journal generation
    at the kill (checkpoints that committed)."""
    first = Daemon(tmp_path, *options).start()
    enough = threading.Semaphore(0)
    down = threading.Barrier(CLIENTS + 1)
    back = threading.Event()
    typists = [Typist(i, first.ports["tcp"], enough, down, back, seed) for i in range(CLIENTS)]
    second: Daemon | None = None
    try:
        for typist in typists:
            typist.start()
        for _ in range(syncs * CLIENTS):
            assert enough.acquire(timeout=30)
        first.stop(signal.SIGKILL)
        down.wait(timeout=60)
        with sqlite3.connect(tmp_path / "data" / DATABASE_NAME) as connection:
            generation = int(connection.execute(
                "SELECT value FROM meta WHERE key = 'journal'").fetchone()[0])
        connection.close()
        second = Daemon(tmp_path, *options, *same_ports(first)).start()
        assert second.ports["tcp"] == first.ports["tcp"]
        for typist in typists:
            assert typist.acknowledged, "no edit was acknowledged before the kill"
            text = read_document(second.ports["tcp"], typist.name_)
            missing = [mark for mark in typist.acknowledged if mark not in text]
            assert missing == []
        back.set()
        for typist in typists:
            typist.join(timeout=60)
            assert typist.error is None, typist.error
        for typist in typists:
            text = read_document(second.ports["tcp"], typist.name_)
            # Marks typed while the daemon was down arrived too, in order.
            assert text == seed + "".join(typist.typed) == typist.document.text
            # The views came back from disk: no whole-text resync was needed.
            assert all(b"\nR:" not in r and b"\nr:" not in r
                       for r in typist.responses_after_restart)
    finally:
        back.set()
        down.abort()
        if first.process is not None and first.process.poll() is None:
            first.stop(signal.SIGKILL)
        if second is not None:
            second.stop()
    return generation


def test_clean_stop_keeps_documents_and_views(tmp_path: Path) -> None:
    """After SIGTERM and restart, a client carries on with deltas."""
    daemon = Daemon(tmp_path).start()
    session = ClientSession("alice")
    document = session.share("notes", "first line\n")
    try:
        for _ in range(2):
            assert sync(daemon.ports["tcp"], session) is not None
    finally:
        daemon.stop(signal.SIGTERM)
    assert any("everything stored" in line for line in daemon.lines)
    daemon = Daemon(tmp_path).start()
    try:
        document.text += "second line\n"
        response = sync(daemon.ports["tcp"], session)
        assert response is not None and response.startswith(b"F:")
        assert b"\nd:" in response
        assert read_document(daemon.ports["tcp"], "notes") == "first line\nsecond line\n"
    finally:
        daemon.stop()


def _synced_then_alices_view_lost(tmp_path: Path, alice: ClientSession,
                                  bob: ClientSession) -> None:
    """Both sync twice on a daemon that then stops and loses alice's view."""
    daemon = Daemon(tmp_path).start()
    try:
        for session in (alice, bob, alice, bob):
            assert sync(daemon.ports["tcp"], session) is not None
    finally:
        daemon.stop()
    with sqlite3.connect(tmp_path / "data" / DATABASE_NAME) as database:
        database.execute("DELETE FROM views WHERE user = 'alice'")
    database.close()


def test_lost_view_reseeds_and_keeps_offline_edits(tmp_path: Path) -> None:
    """A view the server lost is answered with lowercase r; the client's edits merge."""
    alice, bob = ClientSession("alice"), ClientSession("bob")
    alice_doc = alice.share("plan", "one\n")
    bob.share("plan")
    _synced_then_alices_view_lost(tmp_path, alice, bob)
    alice_doc.text += "two\n"
    daemon = Daemon(tmp_path).start()
    try:
        response = sync(daemon.ports["tcp"], alice)
        assert response is not None and b"\nr:" in response and b"\nR:" not in response
        assert alice_doc.text == "one\ntwo\n"
        assert sync(daemon.ports["tcp"], alice) is not None
        assert read_document(daemon.ports["tcp"], "plan") == "one\ntwo\n"
    finally:
        daemon.stop()


def test_a_reseeded_client_keeps_what_others_wrote_while_its_view_was_lost(
        tmp_path: Path) -> None:
    """Alice's view is lost while bob writes; both people's text ends up everywhere."""
    alice, bob = ClientSession("alice"), ClientSession("bob")
    alice_doc = alice.share("plan", "one\n")
    bob_doc = bob.share("plan")
    _synced_then_alices_view_lost(tmp_path, alice, bob)
    daemon = Daemon(tmp_path).start()
    try:
        bob_doc.text += "three 🎉\n"
        assert sync(daemon.ports["tcp"], bob) is not None
        alice_doc.text = "zero\n" + alice_doc.text
        response = sync(daemon.ports["tcp"], alice)
        assert response is not None and b"\nr:" in response
        assert alice_doc.text == "zero\none\nthree 🎉\n"
        for session in (alice, bob):
            assert sync(daemon.ports["tcp"], session) is not None
        assert read_document(daemon.ports["tcp"], "plan") == "zero\none\nthree 🎉\n"
        assert bob_doc.text == alice_doc.text == "zero\none\nthree 🎉\n"
    finally:
        daemon.stop()


def test_snapshot_mode_flushes_on_stop(tmp_path: Path) -> None:
    """The faster mode still stores everything on a clean stop."""
    daemon = Daemon(tmp_path, "--durability", "snapshot").start()
    session = ClientSession("alice")
    session.share("quick", "fast text")
    try:
        assert sync(daemon.ports["tcp"], session) is not None
    finally:
        daemon.stop(signal.SIGINT)
    assert any("everything stored" in line for line in daemon.lines)
    daemon = Daemon(tmp_path, "--durability", "snapshot").start()
    try:
        assert read_document(daemon.ports["tcp"], "quick") == "fast text"
    finally:
        daemon.stop()


@pytest.mark.parametrize("content", [b"definitely not SQLite" * 50,
                                     b"SQLite format 3\x00" + b"\x00\xff" * 3000])
def test_damaged_store_stops_the_daemon(tmp_path: Path, content: bytes) -> None:
    """A damaged database stops start-up with a clear message and stays as it was."""
    path = tmp_path / "data" / DATABASE_NAME
    path.parent.mkdir()
    path.write_bytes(content)
    daemon = Daemon(tmp_path)
    with pytest.raises(RuntimeError, match="cannot use the stored documents"):
        daemon.start()
    assert daemon.stop() != 0
    assert path.read_bytes() == content
