"""The commit journal: records replay after a crash, torn or stale ones do not."""

from __future__ import annotations

import signal
import sqlite3
from pathlib import Path

import pytest
from refusing import refuse_documents
from test_recovery import sync

from benchmarks.daemon import Daemon
from mobwrite.client.session import ClientSession
from mobwrite.core.store import Store
from mobwrite.storage.checkpoint import Checkpointer
from mobwrite.storage.journal import (
    JOURNAL_NAME,
    JOURNAL_NAMES,
    Journal,
    decode,
    encode,
    recover,
    replay,
)
from mobwrite.storage.rows import Batch, StorageError, snapshot
from mobwrite.storage.sqlite import DATABASE_NAME, Database


def journal_for(database: Database) -> Journal:
    journal = Journal(database.directory, database.identity)
    journal.start(database.generation)
    return journal


def journals_for(database: Database) -> tuple[Journal, Journal]:
    """Both journal files of *database*, started (as a daemon starts them)."""
    first, second = (Journal(database.directory, database.identity, name)
                     for name in JOURNAL_NAMES)
    first.start(database.generation)
    second.start(database.generation)
    return first, second


def edit(store: Store, name: str, text: str, user: str = "alice") -> Batch:
    """Set *name*'s text and *user*'s view of it; the batch of what changed."""
    document = store.document(name, 1.0)
    store.set_text(document, text, 2.0)
    view = store.views.get((user, name)) or store.create_view(user, name, 1.0)
    view.shadow = view.backup_shadow = document.text or ""
    view.server_version += 1
    view.edit_stack[:] = [(view.server_version, f"d:{view.server_version}:=1")]
    store.touch_view(view)
    return snapshot(store, store.take_changes())


def restart(database: Database) -> tuple[Store, Database, int]:
    """Close *database*, recover both journal files into a fresh store; the
    journal records replayed."""
    database.close()
    again = Database(database.directory)
    again.open()
    store = Store()
    found = recover(again, *(Journal(again.directory, again.identity, name)
                             for name in JOURNAL_NAMES))
    again.load(store)
    return store, again, found.records


def test_record_round_trip() -> None:
    """A batch comes back row for row; a text shared by rows is written once."""
    # Without history: a revision holds the text it inserted as well.
    store = Store(history=False)
    batch = edit(store, "doc", "x" * 1000)
    batch.documents["gone"] = None
    batch.views["bob", "gone"] = None
    payload = encode(batch)
    assert payload.count(b"x" * 1000) == 1
    assert decode(payload) == batch


def test_revision_log_changes_round_trip() -> None:
    """Appended rows, snapshots, prunes and dropped logs come back in order,
    a snapshot's text written once with the document's."""
    store = Store(keep=0)
    store.set_text(store.document("doc", 1.0), "one", 1.0, "alice")
    store.remove_document("doc")
    batch = edit(store, "doc", "two \ud800")
    assert [type(change).__name__ for _, change in batch.history] == [
        "NoneType", "Pruned", "Appended", "Pruned", "NoneType",
        "NoneType", "Pruned", "Appended", "Pruned"]
    assert decode(encode(batch)) == batch
    old = Batch(documents=batch.documents, views=batch.views)
    assert decode(encode(old)).history == []


def test_big_texts_and_lone_surrogates(database: Database) -> None:
    """A 1 MB text and lone surrogates (in texts and edits) survive a replay."""
    store = Store(0)
    big = "\ud800 big \udfff" + "é" * (1 << 20)
    journal = journal_for(database)
    batch = edit(store, "doc", big)
    view = batch.views["alice", "doc"]
    assert view is not None
    batch.views["alice", "doc"] = view._replace(edit_stack=((1, "d:1:+\udc80"),))
    journal.append(batch)
    journal.close()
    loaded, again, records = restart(database)
    assert records == 1
    assert loaded.documents["doc"].text == big
    loaded_view = loaded.views["alice", "doc"]
    assert loaded_view.shadow == big and loaded_view.edit_stack == [(1, "d:1:+\udc80")]
    again.close()


def test_replay_applies_records_in_order_then_checkpoints(database: Database) -> None:
    """Later records win; after recovery the database holds the rows by itself."""
    store = Store()
    journal = journal_for(database)
    for text in ("one", "two", "three"):
        journal.append(edit(store, "doc", text))
    journal.append(snapshot(store, store.take_changes()))
    journal.close()
    loaded, again, records = restart(database)
    assert records == 4
    assert loaded.documents["doc"].text == "three"
    assert loaded.views["alice", "doc"].server_version == 3
    plain = Store()
    again.load(plain)
    assert plain.documents["doc"].text == "three"
    again.close()


def test_torn_tail_is_ignored(database: Database) -> None:
    """A record cut short by a crash ends the replay, quietly."""
    store = Store()
    journal = journal_for(database)
    journal.append(edit(store, "doc", "kept"))
    end = journal.position
    journal.append(edit(store, "doc", "torn" * 100))
    journal.close()
    path = database.directory / JOURNAL_NAME
    data = bytearray(path.read_bytes())
    data[end + 100:] = bytes(len(data) - end - 100)
    path.write_bytes(bytes(data))
    found = replay([Journal(database.directory, database.identity)], database.generation)
    assert found.records == 1 and found.damage is None
    loaded, again, _ = restart(database)
    assert loaded.documents["doc"].text == "kept"
    again.close()


def test_damage_in_the_middle_is_reported_and_kept(database: Database) -> None:
    """Valid records after a damaged one are reported and the file set aside."""
    store = Store()
    journal = journal_for(database)
    journal.append(edit(store, "doc", "kept"))
    damaged = journal.position + 40
    journal.append(edit(store, "doc", "damaged"))
    journal.append(edit(store, "doc", "after"))
    journal.close()
    path = database.directory / JOURNAL_NAME
    data = bytearray(path.read_bytes())
    data[damaged] ^= 0xFF
    path.write_bytes(bytes(data))
    database.close()
    again = Database(database.directory)
    again.open()
    loaded = Store()
    replay = recover(again, Journal(again.directory, again.identity))
    again.load(loaded)
    assert replay.damage is not None and "damaged at byte" in replay.damage
    assert loaded.documents["doc"].text == "kept"
    kept = database.directory / f"{JOURNAL_NAME}.damaged.1"
    assert kept.read_bytes() == bytes(data) and not path.exists()
    again.close()


def test_old_generation_is_ignored(database: Database) -> None:
    """Records of a generation the database already holds are not replayed."""
    store = Store()
    journal = journal_for(database)
    journal.append(edit(store, "doc", "old"))
    journal.close()
    database.write(edit(store, "doc", "newer"), generation=database.generation + 1)
    loaded, again, records = restart(database)
    assert records == 0
    assert loaded.documents["doc"].text == "newer"
    again.close()


def test_crash_between_checkpoint_and_restart(database: Database) -> None:
    """A checkpoint in the database whose journal was not restarted is harmless:
    the stale records are skipped, and records after the restart replay."""
    store = Store()
    checkpointer = Checkpointer(database, journals_for(database))
    for text in ("a", "b" * 50, "c"):
        checkpointer.write(edit(store, "doc", text))
    database.write(checkpointer.pending, generation=checkpointer.active.generation + 1)
    loaded, again, records = restart(database)
    assert records == 0 and loaded.documents["doc"].text == "c"
    # Restarted over longer stale records: only the new one replays.
    checkpointer = Checkpointer(again, journals_for(again))
    checkpointer.write(edit(loaded, "doc", "d"))
    checkpointer.checkpoint()
    checkpointer.write(edit(loaded, "doc", "e"))
    loaded, again, records = restart(again)
    assert records == 1 and loaded.documents["doc"].text == "e"
    again.close()


def test_failed_checkpoint_keeps_later_records(database: Database) -> None:
    """After a checkpoint the database refused, new records still replay; the
    failure is reported, and the next try waits for the age limit."""
    now = [0.0]
    store = Store()
    checkpointer = Checkpointer(database, journals_for(database), clock=lambda: now[0],
                                max_bytes=1)
    checkpointer.write(edit(store, "doc", "before"))
    assert database.connection is not None
    refuse_documents(database)
    assert checkpointer.due()
    with pytest.raises(sqlite3.Error, match="disk says no"):
        checkpointer.checkpoint()
    assert checkpointer.failing == "checkpoint failed: disk says no"
    database.connection.execute("DROP TRIGGER refuse")
    checkpointer.write(edit(store, "doc", "after"))
    assert not checkpointer.due()
    now[0] = 30.0
    assert checkpointer.due()
    loaded, again, records = restart(database)
    assert records == 2 and loaded.documents["doc"].text == "after"
    again.close()


def test_replay_the_database_refuses_stops_start_up(database: Database) -> None:
    """If the start-up checkpoint fails, start-up stops with a message and the
    journal is left as it was."""
    store = Store()
    journal = journal_for(database)
    journal.append(edit(store, "doc", "journaled"))
    journal.close()
    content = journal.path.read_bytes()
    assert database.connection is not None
    refuse_documents(database)
    with pytest.raises(StorageError, match="cannot write the records of .*disk says no"):
        recover(database, Journal(database.directory, database.identity))
    assert journal.path.read_bytes() == content


def test_checkpoint_is_due_by_size_or_age(database: Database) -> None:
    """Nothing journaled: never due; then due past the size or the age."""
    now = [0.0]
    journals = journals_for(database)
    checkpointer = Checkpointer(database, journals, clock=lambda: now[0],
                                max_bytes=10_000, max_seconds=30.0)
    assert not checkpointer.due()
    store = Store()
    checkpointer.write(edit(store, "doc", "short"))
    assert not checkpointer.due()
    now[0] = 30.0
    assert checkpointer.due()
    checkpointer.checkpoint()
    assert not checkpointer.due() and checkpointer.journaled_bytes() == 0
    checkpointer.write(edit(store, "doc", "long" * 3000))
    assert checkpointer.due()
    for journal in journals:
        journal.close()


def test_journal_of_another_database_is_refused(database: Database) -> None:
    """A journal left by a database moved away stops start-up, untouched."""
    store = Store()
    journal = journal_for(database)
    journal.append(edit(store, "doc", "elsewhere"))
    journal.close()
    database.close()
    (database.directory / DATABASE_NAME).rename(database.directory / "moved")
    path = database.directory / JOURNAL_NAME
    content = path.read_bytes()
    fresh = Database(database.directory)
    fresh.open()
    with pytest.raises(StorageError, match="belongs to another database"):
        recover(fresh, Journal(fresh.directory, fresh.identity))
    fresh.close()
    assert path.read_bytes() == content


def test_kill_9_replays_the_journal_then_checkpoints(tmp_path: Path) -> None:
    """Edits acknowledged just before kill -9 are only in the journal; the next
    start replays them and writes them to the database before it listens."""
    daemon = Daemon(tmp_path).start()
    session = ClientSession("alice")
    document = session.share("notes", "journaled\n")
    try:
        for _ in range(2):
            assert sync(daemon.ports["tcp"], session) is not None
    finally:
        daemon.stop(signal.SIGKILL)
    path = tmp_path / "data" / DATABASE_NAME
    with sqlite3.connect(path) as connection:
        assert connection.execute("SELECT count(*) FROM documents").fetchone() == (0,)
    connection.close()
    daemon = Daemon(tmp_path).start()
    daemon.stop(signal.SIGKILL)
    assert any("2 journal records" in line for line in daemon.lines)
    with sqlite3.connect(path) as connection:
        assert connection.execute("SELECT name FROM documents").fetchall() == [("notes",)]
        assert connection.execute("SELECT user FROM views").fetchall() == [("alice",)]
    connection.close()
    daemon = Daemon(tmp_path).start()
    try:
        document.text += "and delta\n"
        response = sync(daemon.ports["tcp"], session)
        assert response is not None and b"\nd:" in response
    finally:
        daemon.stop()
    assert any("0 journal records" in line for line in daemon.lines)
