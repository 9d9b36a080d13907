"""Group commit: replies wait for the disk, and many requests share a write."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from pathlib import Path

import pytest
import pytest_twisted
from twisted.internet import defer
from twisted.internet.task import Clock
from twisted.internet.testing import MemoryReactorClock
from twisted.logger import formatEvent, globalLogPublisher
from twisted.python.failure import Failure
from twisted.python.usage import UsageError

from mobwrite.core.engine import Engine
from mobwrite.core.store import Store
from mobwrite.daemon.answering import RequestAnswerer
from mobwrite.daemon.tap import Options, build
from mobwrite.logs import set_level
from mobwrite.settings import Settings
from mobwrite.storage.committer import (
    SNAPSHOT,
    SYNC,
    GroupCommitter,
    NotStored,
    StorageService,
    WriterThread,
    storage_for,
)
from mobwrite.storage.rows import Batch
from mobwrite.storage.sqlite import DATABASE_NAME, Database


class ManualThread:
    """Stands in for the worker thread: writes run when the test says so."""

    def __init__(self) -> None:
        self.pending: list[tuple[Callable[[Batch], None], Batch, defer.Deferred[None]]] = []

    def __call__(self, write: Callable[[Batch], None], batch: Batch) -> defer.Deferred[None]:
        done: defer.Deferred[None] = defer.Deferred()
        self.pending.append((write, batch, done))
        return done

    def finish(self, error: Exception | None = None) -> Batch:
        write, batch, done = self.pending.pop(0)
        if error is None:
            write(batch)
            done.callback(None)
        else:
            done.errback(error)
        return batch


def server_with(committer_for: Callable[[Store], GroupCommitter]) -> RequestAnswerer:
    store = Store()
    return RequestAnswerer(Engine(store, Settings.defaults()), Clock(), committer_for(store))


def stored(directory: Path) -> Store:
    """What the database in *directory* holds, read into a new store."""
    loaded = Store()
    database = Database(directory)
    database.open()
    database.load(loaded)
    database.close()
    return loaded


def record(deferred: defer.Deferred[bytes]) -> list[object]:
    results: list[object] = []
    deferred.addBoth(results.append)
    return results


def test_reply_waits_for_the_write() -> None:
    """An edit's reply fires only after its batch is written."""
    thread, written = ManualThread(), []
    server = server_with(lambda store: GroupCommitter(store, written.append, thread))
    reply = record(server.answer(b"u:alice\nF:0:doc\nr:1:hello\n\n"))
    assert reply == [] and written == []
    batch = thread.finish()
    assert reply == [b"F:1:doc\nd:0:=5\n"]
    assert batch.documents["doc"] is not None and batch.documents["doc"].text == "hello"
    assert set(batch.views) == {("alice", "doc")}


def test_requests_during_a_write_share_the_next_one() -> None:
    """While one batch is written, later edits queue and go out in one batch."""
    thread, written = ManualThread(), []
    server = server_with(lambda store: GroupCommitter(store, written.append, thread))
    first = record(server.answer(b"u:u0\nF:0:doc0\nr:1:zero\n\n"))
    later = [record(server.answer(f"u:u{i}\nF:0:doc{i}\nr:1:text\n\n".encode()))
             for i in range(1, 6)]
    assert len(thread.pending) == 1
    thread.finish()
    assert first != [] and all(reply == [] for reply in later)
    assert len(thread.pending) == 1
    batch = thread.finish()
    assert set(batch.documents) == {f"doc{i}" for i in range(1, 6)}
    assert all(reply != [] for reply in later)
    assert len(written) == 2 and thread.pending == []


def test_next_batch_is_written_while_replies_go_out() -> None:
    """Edits queued during a write are handed to the disk before its replies fire."""
    thread, written = ManualThread(), []
    server = server_with(lambda store: GroupCommitter(store, written.append, thread))
    pending_at_reply: list[int] = []
    server.answer(b"u:u0\nF:0:doc0\nr:1:zero\n\n").addCallback(
        lambda _: pending_at_reply.append(len(thread.pending)))
    record(server.answer(b"u:u1\nF:0:doc1\nr:1:one\n\n"))
    thread.finish()
    assert pending_at_reply == [1]


@pytest.mark.parametrize("level", ["DEBUG", "INFO"])
def test_commits_are_logged_at_debug_only(level: str) -> None:
    """Each commit is logged when LOGGING is DEBUG, and not otherwise."""
    thread = ManualThread()
    server = server_with(lambda store: GroupCommitter(store, lambda batch: None, thread))
    messages: list[str] = []
    globalLogPublisher.addObserver(seen := lambda event: messages.append(formatEvent(event)))
    try:
        set_level(level)
        server.answer(b"u:alice\nF:0:doc\nr:1:hello\n\n")
        thread.finish()
    finally:
        globalLogPublisher.removeObserver(seen)
        set_level("INFO")
    stored = [message for message in messages if message.startswith("stored ")]
    # The document, the view, and three revision log rows (a new log: clear
    # the name, its base snapshot, the first revision).
    assert stored == (["stored 5 rows for 1 waiting"] if level == "DEBUG" else [])


def test_read_only_request_does_not_wait() -> None:
    """A request that changed nothing is answered at once."""
    thread = ManualThread()
    server = server_with(lambda store: GroupCommitter(store, lambda batch: None, thread))
    assert record(server.answer(b"x:nothing\n\n")) == [b""]
    assert thread.pending == []


def test_failed_write_withholds_replies_and_retries() -> None:
    """A failed write sends no acknowledgement and keeps the changes for the next try."""
    thread, written = ManualThread(), []
    server = server_with(lambda store: GroupCommitter(store, written.append, thread))
    reply = record(server.answer(b"u:alice\nF:0:doc\nr:1:hello\n\n"))
    thread.finish(OSError("disk full"))
    assert isinstance(reply[0], Failure) and reply[0].check(NotStored)
    assert "disk full" in reply[0].getErrorMessage()
    assert server.engine.store.pending().documents == {"doc"}
    assert server.committer.failing == "disk full"
    again = record(server.committer.durable())
    batch = thread.finish()
    assert again == [None] and "doc" in batch.documents
    assert server.committer.failing is None


def test_snapshot_mode_answers_at_once() -> None:
    """In snapshot mode replies do not wait; a flush writes later."""
    thread = ManualThread()
    server = server_with(
        lambda store: GroupCommitter(store, lambda batch: None, thread, wait_for_disk=False))
    assert record(server.answer(b"u:alice\nF:0:doc\nr:1:hello\n\n")) != []
    assert thread.pending == []
    assert isinstance(server.committer, GroupCommitter)
    flushed = record(server.committer.flush())
    thread.finish()
    assert flushed == [None]


def test_closed_committer_refuses() -> None:
    """After the final flush, nothing more is acknowledged."""
    thread = ManualThread()
    committer = GroupCommitter(Store(), lambda batch: None, thread)
    assert record(committer.close()) == [None]
    refused = record(committer.durable())
    assert isinstance(refused[0], Failure) and refused[0].check(NotStored)


@pytest_twisted.ensureDeferred
async def test_writer_thread_runs_writes_in_order_and_reports_failures() -> None:
    """Each write runs in the thread, in turn; a failing one errbacks with its error."""
    from twisted.internet import reactor

    writer = WriterThread(reactor)
    writer.start()
    threads: list[str] = []

    def write(batch: Batch) -> None:
        threads.append(threading.current_thread().name)
        if batch.documents:
            raise OSError("disk full")

    try:
        first, failing, last = writer(write, Batch()), writer(write, Batch({"doc": None})), \
            writer(write, Batch())
        await first
        with pytest.raises(OSError, match="disk full"):
            await failing
        await last
    finally:
        writer.stop()
    assert threads == ["mobwrite-storage"] * 3
    assert not writer.thread.is_alive()


class CallsFromThreads:
    """A reactor that only collects what threads ask it to call."""

    def __init__(self) -> None:
        self.calls: list[tuple[Callable[..., object], tuple[object, ...]]] = []

    def callFromThread(self, function: Callable[..., object], *args: object) -> None:
        self.calls.append((function, args))


def test_writer_thread_stop_finishes_queued_writes() -> None:
    """Stopping runs what was queued before, then ends the thread; an
    unstarted thread stops at once."""
    reactor = CallsFromThreads()
    writer = WriterThread(reactor)
    written: list[Batch] = []
    batches = [Batch({f"doc{i}": None}) for i in range(3)]
    replies = [record(writer(written.append, batch)) for batch in batches]
    writer.stop()
    assert written == []
    writer.start()
    writer.stop()
    assert written == batches and not writer.thread.is_alive()
    for function, args in reactor.calls:
        function(*args)
    assert replies == [[None]] * 3


def test_writer_thread_runs_after_each_job_and_logs_its_failures() -> None:
    """*after* runs in the thread once each result is on its way; a failing
    one is logged and the thread carries on."""
    reactor = CallsFromThreads()
    order: list[str] = []

    def after() -> None:
        order.append("after")
        if len(order) == 2:
            raise OSError("checkpoint says no")

    writer = WriterThread(reactor, after=after)
    replies = [record(writer(lambda _: order.append("write"), Batch())) for _ in range(2)]
    writer.start()
    writer.stop()
    assert order == ["write", "after", "write", "after"]
    events: list[dict[str, object]] = []
    globalLogPublisher.addObserver(events.append)
    try:
        for function, args in reactor.calls:
            function(*args)
    finally:
        globalLogPublisher.removeObserver(events.append)
    assert replies == [[None]] * 2
    assert [formatEvent(event) for event in events] == ["background storage work failed"]
    assert "checkpoint says no" in str(events[0]["log_failure"])


@pytest_twisted.ensureDeferred
async def test_storage_service_keeps_edits_across_restart(tmp_path: Path) -> None:
    """Edits answered by a started service are in the file after it stops."""
    from twisted.internet import reactor

    store = Store()
    service = StorageService(store, storage_for(SYNC, tmp_path), SYNC, reactor)
    service.startService()
    server = RequestAnswerer(Engine(store, Settings.defaults()), Clock(), service.committer)
    replies = await defer.gatherResults([
        server.answer(f"u:user{i}\nF:0:doc\nr:1:hello\n\n".encode()) for i in range(5)])
    assert all(reply.startswith(b"F:1:doc") for reply in replies)
    await service.stopService()
    assert service.committer.commits <= 5
    loaded = stored(tmp_path)
    assert loaded.documents["doc"].text == "hello"
    assert loaded.documents["doc"].views == 5


@pytest_twisted.ensureDeferred
async def test_storage_service_failed_write_keeps_changes(tmp_path: Path) -> None:
    """A write the journal refuses withholds the reply and keeps the change
    pending; once the journal accepts writes again it is stored."""
    from twisted.internet import reactor

    store = Store()
    service = StorageService(store, storage_for(SYNC, tmp_path), SYNC, reactor)
    service.startService()
    writable = service.storage.checkpointer.active.fd
    service.storage.checkpointer.active.fd = os.open(service.storage.checkpointer.active.path, os.O_RDONLY)
    server = RequestAnswerer(Engine(store, Settings.defaults()), Clock(), service.committer)
    with pytest.raises(NotStored, match="Bad file descriptor"):
        await server.answer(b"u:alice\nF:0:doc\nr:1:hello\n\n")
    assert store.pending().documents == {"doc"}
    assert "Bad file descriptor" in (service.committer.failing or "")
    os.close(service.storage.checkpointer.active.fd)
    service.storage.checkpointer.active.fd = writable
    await service.stopService()
    loaded = stored(tmp_path)
    assert loaded.documents["doc"].text == "hello"


def test_storage_failure_names_a_failing_commit_or_checkpoint(tmp_path: Path) -> None:
    """What /healthz reports: the failing commit first, else the failing checkpoint."""
    from twisted.internet import reactor

    service = StorageService(Store(), storage_for(SYNC, tmp_path), SYNC, reactor)
    assert service.failure() is None
    service.storage.checkpointer.failing = "checkpoint failed: disk says no"
    assert service.failure() == "checkpoint failed: disk says no"
    service.committer.failing = "disk full"
    assert service.failure() == "disk full"


@pytest_twisted.ensureDeferred
async def test_snapshot_service_writes_periodically(tmp_path: Path) -> None:
    """In snapshot mode the timer writes what changed."""
    from twisted.internet import reactor

    clock = Clock()
    store = Store()
    service = StorageService(store, storage_for(SNAPSHOT, tmp_path), SNAPSHOT, reactor,
                             interval=5.0)
    service.loop.clock = clock
    service.startService()
    store.set_text(store.document("doc", 1.0), "hello", 1.0)
    clock.advance(5.0)
    assert service.committer.writing
    # The flush started by the timer is the one this waits for.
    await service.committer.flush()
    assert service.committer.commits == 1
    await service.stopService()


def test_damaged_store_stops_start_up(tmp_path: Path) -> None:
    """The service refuses to start on a damaged file, with the reason."""
    from twisted.internet import reactor

    (tmp_path / DATABASE_NAME).write_bytes(b"garbage" * 1000)
    service = StorageService(Store(), storage_for(SYNC, tmp_path), SYNC, reactor)
    with pytest.raises(SystemExit, match="cannot use the stored documents"):
        service.privilegedStartService()


@pytest_twisted.ensureDeferred
async def test_second_service_on_the_directory_leaves_the_journal_alone(
        tmp_path: Path) -> None:
    """A second daemon on the same directory is refused before it touches the
    journal, whose records are the first one's acknowledged edits."""
    from twisted.internet import reactor

    store = Store()
    first = StorageService(store, storage_for(SYNC, tmp_path), SYNC, reactor)
    first.startService()
    server = RequestAnswerer(Engine(store, Settings.defaults()), Clock(), first.committer)
    await server.answer(b"u:alice\nF:0:doc\nr:1:hello\n\n")
    journal = first.storage.checkpointer.active.path.read_bytes()
    second = StorageService(Store(), storage_for(SYNC, tmp_path), SYNC, reactor)
    with pytest.raises(SystemExit, match="in use by another process"):
        second.privilegedStartService()
    assert first.storage.checkpointer.active.path.read_bytes() == journal
    await first.stopService()


def test_durability_option() -> None:
    """--durability takes sync, snapshot or memory and names them when wrong."""
    options = Options()
    options.parseOptions([])
    assert options["durability"] == SYNC and options["data-dir"] == "mobwrite-data"
    with pytest.raises(UsageError, match="sync, snapshot, memory"):
        Options().parseOptions(["--durability", "fast"])


@pytest.mark.parametrize("mode", [SYNC, SNAPSHOT])
def test_storage_is_the_first_service(tmp_path: Path, mode: str) -> None:
    """Storage loads before any port opens and stops after them."""
    options = Options()
    options.parseOptions(["--durability", mode, "--data-dir", str(tmp_path / "data")])
    services = list(build(options, MemoryReactorClock()))
    assert isinstance(services[0], StorageService)
    assert services[0].mode == mode
    assert not (tmp_path / "data").exists()


def test_memory_mode_has_no_storage() -> None:
    """--durability memory builds no storage service."""
    options = Options()
    options.parseOptions(["--durability", "memory"])
    services = list(build(options, MemoryReactorClock()))
    assert not any(isinstance(service, StorageService) for service in services)
