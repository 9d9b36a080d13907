"""Checkpoints beside the commits: two journal files in turn, recovery from both."""

from __future__ import annotations

import shutil
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from refusing import refuse_documents
from test_journal import edit, journals_for
from twisted.logger import LogEvent, LogLevel, formatEvent, globalLogPublisher

from mobwrite.core.store import Store
from mobwrite.storage.checkpoint import Checkpointer
from mobwrite.storage.committer import SYNC, loader, storage_for
from mobwrite.storage.disk import JournalStorage
from mobwrite.storage.journal import JOURNAL_NAME, JOURNAL_NAMES, Journal, recover
from mobwrite.storage.rows import Batch
from mobwrite.storage.sqlite import DATABASE_NAME, Database

# A limit no test's rows reach: checkpoints start by age (the test's clock).
BYTES = 1 << 20


class Held:
    """Holds the database's checkpoint writes inside their transaction, at
    their first document row, until released."""

    def __init__(self, database: Database) -> None:
        self.entered = threading.Event()
        self.release = threading.Event()
        assert database.connection is not None
        database.connection.create_function("hold", 0, self._hold)
        database.connection.execute(
            "CREATE TEMP TRIGGER hold BEFORE INSERT ON main.documents BEGIN SELECT hold(); END")

    def _hold(self) -> None:
        self.entered.set()
        assert self.release.wait(timeout=30)


class Clock:
    """The checkpointer's clock, moved by hand."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def checkpointer(database: Database, clock: Clock) -> Iterator[Checkpointer]:
    """A checkpointer over both journal files of a fresh database."""
    made = Checkpointer(database, journals_for(database), clock=clock, max_bytes=BYTES)
    yield made
    if made.worker is not None:
        made.worker.join(timeout=30)
    for journal in (made.active, made.spare):
        journal.close()


@pytest.fixture
def checkpoint_lines() -> Iterator[list[LogEvent]]:
    """The checkpoints' log lines while the test runs (from any thread)."""
    events: list[LogEvent] = []

    def seen(event: LogEvent) -> None:
        if formatEvent(event).startswith("storage: checkpoint "):
            events.append(event)

    globalLogPublisher.addObserver(seen)
    yield events
    globalLogPublisher.removeObserver(seen)


def line(event: LogEvent) -> tuple[LogLevel, int, int, int]:
    """A checkpoint line's level, generation, rows and journal bytes (checking its time)."""
    assert isinstance(event["ms"], float) and 0 <= event["ms"] < 60_000
    return event["log_level"], event["generation"], event["rows"], event["bytes"]


def crash_copy(directory: Path, to: Path) -> Path:
    """What a crash now would leave on disk: the files as they are, but for
    SQLite's shared-memory index (rebuilt from the write-ahead log, whose
    uncommitted frames are ignored)."""
    to.mkdir()
    for path in directory.iterdir():
        if not path.name.endswith(("-shm", ".lock")):
            shutil.copyfile(path, to / path.name)
    return to


def recovered(directory: Path) -> tuple[Store, int, int]:
    """The rows a daemon starting on *directory* finds: store, journal
    records replayed, database generation after."""
    database = Database(directory)
    database.open()
    found = recover(database, *(Journal(directory, database.identity, name)
                                for name in JOURNAL_NAMES))
    assert found.damage is None
    store = Store()
    database.load(store)
    database.close()
    return store, found.records, database.generation


def text(store: Store, name: str) -> str | None:
    document = store.documents.get(name)
    return None if document is None else document.text


def start_checkpoint(checkpointer: Checkpointer, clock: Clock) -> None:
    """Make a checkpoint due by age and let the writer thread start it."""
    clock.now += checkpointer.max_seconds
    assert checkpointer.due()
    checkpointer.maintain()
    assert checkpointer.worker is not None


def checkpointing(directory: Path, name: str,
                  written: str) -> tuple[JournalStorage, Store, Held]:
    """A journal storage in *directory* whose checkpoint of document *name* (holding
    *written*) is held inside its database transaction."""
    storage = JournalStorage(directory)
    clock = Clock()
    storage.checkpointer = Checkpointer(storage.database, storage.journals, clock=clock,
                                        max_bytes=BYTES)
    store = Store()
    storage.open(store)
    held = Held(storage.database)
    storage.write(edit(store, name, written))
    start_checkpoint(storage.checkpointer, clock)
    assert held.entered.wait(timeout=30)
    return storage, store, held


def test_a_checkpoint_switches_files_and_records_the_generation(
        checkpointer: Checkpointer, database: Database, clock: Clock) -> None:
    """A due checkpoint freezes the rows, moves appending to the other file
    with the next generation, and writes the frozen rows from its own thread;
    the next one moves back to the first file."""
    store = Store()
    first = checkpointer.active
    checkpointer.write(edit(store, "doc", "one"))
    start_checkpoint(checkpointer, clock)
    assert checkpointer.active is not first
    assert checkpointer.active.path.name == JOURNAL_NAME + ".2"
    assert checkpointer.active.generation == 1 and checkpointer.frozen_generation == 1
    assert checkpointer.worker is not None
    checkpointer.worker.join(timeout=30)
    checkpointer.write(edit(store, "doc", "two"))
    checkpointer.maintain()
    assert checkpointer.worker is None and not checkpointer.frozen
    assert database.generation == 1
    start_checkpoint(checkpointer, clock)
    assert checkpointer.active is first and first.generation == 2
    checkpointer.worker.join(timeout=30)
    checkpointer.maintain()
    assert database.generation == 2 and checkpointer.journaled_bytes() == 0
    plain = Store()
    database.load(plain)
    assert text(plain, "doc") == "two"


def test_each_checkpoint_logs_one_line(
        checkpointer: Checkpointer, clock: Clock, checkpoint_lines: list[LogEvent]) -> None:
    """A checkpoint, on its own thread or on the writer's, logs one info line: its
    generation, the rows and journal bytes it moved, how long it took."""
    store = Store()
    first = edit(store, "doc", "one 😀")
    checkpointer.write(first)
    size = checkpointer.journaled_bytes()
    start_checkpoint(checkpointer, clock)
    assert checkpointer.worker is not None
    checkpointer.worker.join(timeout=30)
    assert [line(event) for event in checkpoint_lines] == [(LogLevel.info, 1, len(first), size)]
    assert formatEvent(checkpoint_lines[0]).startswith(
        f"storage: checkpoint 1: {len(first)} rows ({size} journal bytes) moved into the "
        "database in ")
    checkpointer.maintain()
    second = Batch()
    for name in ("a", "b"):
        written = edit(store, name, "two")
        checkpointer.write(written)
        second.merge(written)
    size = checkpointer.journaled_bytes()
    checkpointer.checkpoint()
    assert [line(event) for event in checkpoint_lines[1:]] == [
        (LogLevel.info, 2, len(second), size)]
    checkpointer.checkpoint()
    assert len(checkpoint_lines) == 2, "a checkpoint of nothing logs nothing"


def test_commits_complete_while_a_checkpoint_is_held(
        checkpointer: Checkpointer, database: Database, clock: Clock) -> None:
    """While a checkpoint's transaction is held open, later commits are
    journaled and durable, and loads see both the frozen and the new rows."""
    store = Store()
    held = Held(database)
    checkpointer.write(edit(store, "doc", "frozen"))
    checkpointer.write(edit(store, "other", "frozen too"))
    start_checkpoint(checkpointer, clock)
    assert held.entered.wait(timeout=30)
    for number in range(5):
        checkpointer.write(edit(store, "doc", f"pending {number}"))
        checkpointer.maintain()
    assert checkpointer.worker is not None and checkpointer.worker.is_alive()
    doc = checkpointer.journaled("doc").documents["doc"]
    assert doc is not None and doc.text == "pending 4"
    assert checkpointer.journaled("other").documents["other"] is not None
    assert checkpointer.journaled_names() == {"doc", "other"}
    held.release.set()
    checkpointer.worker.join(timeout=30)
    checkpointer.maintain()
    assert database.generation == 1
    assert checkpointer.journaled_names() == {"doc"}


def test_a_load_during_a_checkpoint_sees_frozen_and_pending_rows(tmp_path: Path) -> None:
    """Through the storage: documents, names and counts include the rows being
    checkpointed and those journaled after them; nothing is lost at close."""
    storage, store, held = checkpointing(tmp_path, "frozen", "in the checkpoint")
    storage.write(edit(store, "pending", "after it"))
    frozen, pending = storage.load_document("frozen"), storage.load_document("pending")
    assert frozen is not None and frozen.document is not None
    assert frozen.document.text == "in the checkpoint"
    assert pending is not None and pending.document is not None
    assert storage.names("", "", 10) == ["frozen", "pending"]
    assert storage.use().documents == 2
    held.release.set()
    storage.close()
    again = JournalStorage(tmp_path)
    loaded = Store(loader=loader(again))
    again.open(loaded)
    assert [loaded.find(name) is not None for name in ("frozen", "pending")] == [True, True]
    assert again.database.generation == 2
    again.close()


def test_a_full_journal_waits_for_the_running_checkpoint(
        checkpointer: Checkpointer, database: Database, clock: Clock) -> None:
    """Past twice the size limit, the writer thread waits for the checkpoint
    (the rows kept in memory stay bounded), then starts the next."""
    store = Store()
    held = Held(database)
    checkpointer.write(edit(store, "doc", "first"))
    start_checkpoint(checkpointer, clock)
    assert held.entered.wait(timeout=30)
    checkpointer.write(edit(store, "big", "x" * 2 * BYTES))
    waiting = threading.Thread(target=checkpointer.maintain)
    waiting.start()
    waiting.join(timeout=0.5)
    assert waiting.is_alive(), "the writer did not wait for the checkpoint"
    held.release.set()
    waiting.join(timeout=30)
    # The full file was frozen in turn, and its checkpoint started.
    assert checkpointer.frozen_generation == 2 and "big" in checkpointer.frozen.documents
    assert checkpointer.worker is not None
    checkpointer.worker.join(timeout=30)
    checkpointer.maintain()
    assert database.generation == 2


def test_a_checkpoint_due_while_one_runs_waits_for_it(
        checkpointer: Checkpointer, database: Database, clock: Clock) -> None:
    """No third file: commits stay in the current file until the running
    checkpoint ended."""
    store = Store()
    held = Held(database)
    checkpointer.write(edit(store, "doc", "one"))
    start_checkpoint(checkpointer, clock)
    assert held.entered.wait(timeout=30)
    active = checkpointer.active
    checkpointer.write(edit(store, "doc", "two"))
    clock.now += 2 * checkpointer.max_seconds
    assert not checkpointer.due()
    checkpointer.maintain()
    assert checkpointer.active is active
    held.release.set()
    checkpointer.worker.join(timeout=30)
    checkpointer.maintain()
    assert checkpointer.active is not active and checkpointer.frozen_generation == 2


@pytest.mark.parametrize("moment", ["before its transaction", "inside its transaction"])
def test_a_crash_during_a_checkpoint_replays_both_files(
        checkpointer: Checkpointer, database: Database, clock: Clock,
        tmp_path: Path, moment: str) -> None:
    """A crash after the switch, before the checkpoint committed, replays the
    frozen file and then the current one."""
    store = Store()
    checkpointer.write(edit(store, "doc", "frozen"))
    checkpointer.write(edit(store, "old", "only frozen"))
    if moment == "inside its transaction":
        held = Held(database)
        start_checkpoint(checkpointer, clock)
        assert held.entered.wait(timeout=30)
        checkpointer.write(edit(store, "doc", "pending"))
        copy = crash_copy(database.directory, tmp_path / "crash")
        held.release.set()
    else:
        # The switch alone, as the writer thread makes it before the thread starts.
        checkpointer.spare.restart(checkpointer.active.generation + 1)
        checkpointer.active, checkpointer.spare = checkpointer.spare, checkpointer.active
        checkpointer.write(edit(store, "doc", "pending"))
        copy = crash_copy(database.directory, tmp_path / "crash")
    loaded, records, generation = recovered(copy)
    assert records == 3
    assert text(loaded, "doc") == "pending" and text(loaded, "old") == "only frozen"
    assert generation == 2


def test_recovery_takes_generations_in_order_across_reused_files(
        checkpointer: Checkpointer, database: Database, clock: Clock,
        tmp_path: Path) -> None:
    """After the first file is reused (over its stale records), a crash while
    the second is checkpointed replays the second, then the first."""
    store = Store()
    checkpointer.write(edit(store, "doc", "generation 0, long " + "x" * 500))
    checkpointer.write(edit(store, "stale", "generation 0"))
    start_checkpoint(checkpointer, clock)
    checkpointer.write(edit(store, "doc", "generation 1"))
    checkpointer.write(edit(store, "second", "generation 1"))
    assert checkpointer.worker is not None
    checkpointer.worker.join(timeout=30)
    checkpointer.maintain()
    held = Held(database)
    start_checkpoint(checkpointer, clock)
    assert checkpointer.active.path.name == JOURNAL_NAME
    assert held.entered.wait(timeout=30)
    checkpointer.write(edit(store, "doc", "generation 2"))
    copy = crash_copy(database.directory, tmp_path / "crash")
    held.release.set()
    loaded, records, generation = recovered(copy)
    # The generation 1 records, then the one of generation 2; the stale ones skipped.
    assert records == 3
    assert text(loaded, "doc") == "generation 2"
    assert text(loaded, "second") == "generation 1"
    assert text(loaded, "stale") == "generation 0"  # from the first checkpoint
    assert generation == 3


@pytest.mark.parametrize("torn", JOURNAL_NAMES)
def test_a_torn_last_record_in_either_file_ends_that_file_only(
        checkpointer: Checkpointer, database: Database, clock: Clock,
        tmp_path: Path, torn: str) -> None:
    """A torn last record ends the replay of its own file, quietly; the
    other file's records still replay."""
    store = Store()
    held = Held(database)
    checkpointer.write(edit(store, "a", "kept"))
    checkpointer.write(edit(store, "a", "torn in the first"))
    start_checkpoint(checkpointer, clock)
    assert held.entered.wait(timeout=30)
    checkpointer.write(edit(store, "b", "kept"))
    checkpointer.write(edit(store, "b", "torn in the second"))
    copy = crash_copy(database.directory, tmp_path / "crash")
    held.release.set()
    path = copy / torn
    data = bytearray(path.read_bytes())
    end = data.rfind(b"torn in the ") + 30
    data[end - 20:end] = bytes(20)
    path.write_bytes(bytes(data))
    loaded, records, _ = recovered(copy)
    assert records == 3
    expected = {"a": "torn in the first", "b": "torn in the second"}
    expected["a" if torn == JOURNAL_NAME else "b"] = "kept"
    assert {name: text(loaded, name) for name in "ab"} == expected


def test_a_failed_checkpoint_keeps_its_rows_and_is_retried(
        checkpointer: Checkpointer, database: Database, clock: Clock,
        tmp_path: Path, checkpoint_lines: list[LogEvent]) -> None:
    """A checkpoint the database refuses is reported (an error line, ``failing``
    until one succeeds); its rows stay frozen and visible, the
    file is not reused, a crash replays everything, and the retry after the
    age limit stores them."""
    store = Store()
    assert database.connection is not None
    # Temporary: the database file itself (copied at the crash) stays plain.
    refuse_documents(database, temporary=True)
    checkpointer.write(edit(store, "doc", "frozen"))
    start_checkpoint(checkpointer, clock)
    assert checkpointer.worker is not None
    checkpointer.worker.join(timeout=30)
    assert checkpointer.failing == "checkpoint failed: disk says no"
    [failed] = checkpoint_lines
    assert failed["log_level"] == LogLevel.error and failed["generation"] == 1
    assert "failed after" in formatEvent(failed)
    assert "IntegrityError: disk says no; its 5 rows" in formatEvent(failed)
    checkpointer.write(edit(store, "new", "pending"))
    checkpointer.maintain()
    checkpointer.write(edit(store, "new", "pending again"))
    checkpointer.maintain()
    assert checkpointer.worker is None and not checkpointer.due()
    assert checkpointer.journaled_names() == {"doc", "new"}
    copy = crash_copy(database.directory, tmp_path / "crash")
    loaded, records, _ = recovered(copy)
    assert records == 3 and text(loaded, "doc") == "frozen"
    database.connection.execute("DROP TRIGGER refuse")
    clock.now += checkpointer.max_seconds
    assert checkpointer.due()
    active = checkpointer.active
    checkpointer.maintain()
    # The retry writes the same frozen rows: appending stays where it was.
    assert checkpointer.active is active
    checkpointer.worker.join(timeout=30)
    checkpointer.maintain()
    assert checkpointer.failing is None and checkpointer.journaled_names() == {"new"}
    assert database.generation == 1
    assert [event["log_level"] for event in checkpoint_lines] == [LogLevel.error, LogLevel.info]


def test_close_waits_for_the_running_checkpoint_then_stores_the_rest(
        tmp_path: Path) -> None:
    """``close`` lets a running checkpoint finish, then checkpoints what was
    journaled after it: the database alone then holds every row."""
    storage, store, held = checkpointing(tmp_path, "first", "one")
    storage.write(edit(store, "second", "two"))
    closing = threading.Thread(target=storage.close)
    closing.start()
    closing.join(timeout=0.5)
    assert closing.is_alive(), "close did not wait for the checkpoint"
    held.release.set()
    closing.join(timeout=30)
    with sqlite3.connect(tmp_path / DATABASE_NAME) as connection:
        assert connection.execute("SELECT name FROM documents ORDER BY name").fetchall() == [
            ("first",), ("second",)]
        assert connection.execute(
            "SELECT value FROM meta WHERE key = 'journal'").fetchone() == ("2",)
    connection.close()


def test_a_data_directory_with_one_journal_file_recovers(tmp_path: Path) -> None:
    """A directory from before the second file (only ``mobwrite.journal``)
    replays as it did; both files exist once the storage has started."""
    database = Database(tmp_path)
    database.open()
    journal = Journal(tmp_path, database.identity)
    journal.start(database.generation)
    store = Store()
    journal.append(edit(store, "doc", "from the single file"))
    journal.close()
    database.close()
    storage = JournalStorage(tmp_path)
    loaded = Store(loader=loader(storage))
    assert storage.open(loaded).records == 1
    assert {path.name for path in tmp_path.iterdir()} >= set(JOURNAL_NAMES)
    found = loaded.find("doc")
    assert found is not None and found.text == "from the single file"
    storage.close()


def test_documents_let_go_during_a_checkpoint_are_forgotten_after_it(
        checkpointer: Checkpointer, database: Database, clock: Clock) -> None:
    """The writer's knowledge of rows, which the checkpoint uses, is dropped
    for documents let go only once the checkpoint ended."""
    store = Store()
    held = Held(database)
    checkpointer.write(edit(store, "doc", "one"))
    start_checkpoint(checkpointer, clock)
    assert held.entered.wait(timeout=30)
    checkpointer.forget(["doc"])
    assert checkpointer.forgotten == ["doc"]
    held.release.set()
    checkpointer.worker.join(timeout=30)
    assert "doc" in database.known
    checkpointer.maintain()
    assert "doc" not in database.known and checkpointer.forgotten == []


@pytest.mark.parametrize(("budget", "limit"), [
    (0, 64 << 20), (256 << 20, 64 << 20), (64 << 20, 16 << 20), (16 << 20, 8 << 20),
    (1 << 40, 64 << 20)])
def test_the_memory_budget_sets_the_checkpoint_size(
        tmp_path: Path, budget: int, limit: int) -> None:
    """A file is checkpointed at a quarter of MAX_MEMORY (8 to 64 MB): the
    journaled rows, at most twice that, never pass half of it."""
    storage = storage_for(SYNC, tmp_path, budget)
    assert isinstance(storage, JournalStorage)
    assert storage.checkpointer.max_bytes == limit


def test_after_a_failed_checkpoint_the_last_one_stores_everything(
        checkpointer: Checkpointer, database: Database, clock: Clock) -> None:
    """The checkpoint of everything (at close, for a dump) writes the rows a
    failed background checkpoint left frozen together with the newer ones."""
    store = Store()
    assert database.connection is not None
    refuse_documents(database, temporary=True)
    checkpointer.write(edit(store, "frozen", "one"))
    start_checkpoint(checkpointer, clock)
    checkpointer.write(edit(store, "pending", "two"))
    assert checkpointer.worker is not None
    checkpointer.worker.join(timeout=30)
    database.connection.execute("DROP TRIGGER refuse")
    checkpointer.checkpoint()
    assert checkpointer.failing is None and checkpointer.journaled_bytes() == 0
    assert checkpointer.journaled_names() == set() and not checkpointer.due()
    plain = Store()
    database.load(plain)
    assert (text(plain, "frozen"), text(plain, "pending")) == ("one", "two")
    assert database.generation == 2
