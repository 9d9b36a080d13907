"""The cleanup pass on a fake clock: what expires, what stays, and the disk follows."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from twisted.internet import defer
from twisted.internet.task import Clock

from mobwrite.core.engine import Engine
from mobwrite.core.store import Store
from mobwrite.daemon.housekeeping import Housekeeping
from mobwrite.daemon.services import PeriodicService
from mobwrite.daemon.tap import CLEANUP_INTERVAL
from mobwrite.settings import Settings
from mobwrite.storage.committer import GroupCommitter
from mobwrite.storage.sqlite import Batch, Database

SETTINGS = Settings.defaults(timeout_view=600.0, timeout_text=3600.0, timeout_buffer=300.0)


def at_once(write: Callable[[Batch], None], batch: Batch) -> defer.Deferred[None]:
    return defer.maybeDeferred(write, batch)


class Daemon:
    """An engine, a database and the cleanup timer on one fake clock."""

    def __init__(self, directory: Path, settings: Settings = SETTINGS) -> None:
        self.clock = Clock()
        self.store = Store()
        self.engine = Engine(self.store, settings)
        self.database = Database(directory)
        self.database.open()
        self.committer = GroupCommitter(self.store, self.database.write, at_once)
        self.service = PeriodicService(
            "housekeeping", CLEANUP_INTERVAL,
            Housekeeping(self.store, settings, self.clock, self.committer), self.clock)
        self.service.startService()

    def send(self, request: bytes) -> bytes:
        body = self.engine.handle(request, self.clock.seconds()).body
        self.committer.durable()
        return body

    def wait(self, seconds: float) -> None:
        """Let time pass a minute at a time, so the timer runs as it would."""
        for _ in range(int(seconds // CLEANUP_INTERVAL)):
            self.clock.advance(CLEANUP_INTERVAL)

    def stored(self) -> Store:
        store = Store()
        assert self.database.connection is not None
        again = Database(self.database.directory)
        again.connection = self.database.connection
        again.load(store)
        return store


@pytest.fixture
def daemon(tmp_path: Path) -> Iterator[Daemon]:
    running = Daemon(tmp_path)
    yield running
    running.service.stopService()
    running.database.close()


def test_idle_view_expires_and_leaves_the_disk(daemon: Daemon) -> None:
    """A view untouched for TIMEOUT_VIEW is forgotten, in memory and on disk."""
    daemon.send(b"u:alice\nF:0:doc\nr:1:text\n\n")
    daemon.wait(540)
    assert ("alice", "doc") in daemon.stored().views
    daemon.wait(120)
    assert ("alice", "doc") not in daemon.store.views
    assert daemon.stored().views == {}
    assert daemon.store.documents["doc"].views == 0


def test_document_in_use_never_expires(daemon: Daemon) -> None:
    """A document with a live view stays however long ago it was written."""
    daemon.send(b"u:alice\nF:0:doc\nr:1:text\n\n")
    for minute in range(1, 200):
        daemon.wait(300)
        daemon.send(f"u:alice\nF:{minute}:doc\nd:{minute}:=4\n\n".encode())
    assert daemon.clock.seconds() > 3 * SETTINGS.timeout_text
    assert daemon.store.documents["doc"].text == "text"
    assert daemon.stored().documents["doc"].text == "text"


def test_recently_written_document_stays(daemon: Daemon) -> None:
    """A document without views stays until TIMEOUT_TEXT after its last write."""
    daemon.send(b"u:alice\nF:0:doc\nr:1:text\n\n")
    daemon.wait(1200)
    assert daemon.store.documents["doc"].views == 0
    daemon.wait(2220)
    assert daemon.store.documents["doc"].text == "text"
    daemon.wait(240)
    assert "doc" not in daemon.store.documents
    assert "doc" not in daemon.stored().documents


def test_by_default_documents_are_kept_until_deleted(tmp_path: Path) -> None:
    """With the default settings a document nobody touched for days is still there,
    in memory, on disk and once the database is opened again; its view has expired."""
    daemon = Daemon(tmp_path, Settings.defaults())
    try:
        daemon.send(b"u:alice\nF:0:doc\nr:1:kept\n\n")
        daemon.wait(3 * 86400)
        assert daemon.store.views == {}
        assert daemon.store.documents["doc"].text == "kept"
        assert daemon.stored().documents["doc"].text == "kept"
    finally:
        daemon.service.stopService()
        daemon.database.close()
    reopened = Database(daemon.database.directory)
    reopened.open()
    try:
        store = Store()
        reopened.load(store)
        assert store.documents["doc"].text == "kept"
    finally:
        reopened.close()


def test_stale_buffer_expires(daemon: Daemon) -> None:
    """An unfinished buffer is dropped after TIMEOUT_BUFFER and its bytes are freed."""
    daemon.send(b"b:frag 2 1 u%3Aalice%0A\n\n")
    assert daemon.store.buffered_bytes > 0
    daemon.wait(240)
    assert daemon.store.buffers
    daemon.wait(120)
    assert daemon.store.buffers == {} and daemon.store.buffered_bytes == 0


def test_nullified_document_is_gone_everywhere(daemon: Daemon) -> None:
    """Nullify removes the text from memory and from the file."""
    daemon.send(b"u:alice\nF:0:doc\nr:1:secret\n\n")
    daemon.send(b"u:alice\nn:doc\n\n")
    assert "doc" not in daemon.store.documents
    stored = daemon.stored()
    assert stored.documents == {} and stored.views == {}
