"""The storage contract, held against every implementation (txacme's pattern).

Each implementation is reached through a ``Medium``: ``open`` gives a fresh
``Storage`` object over the same rows (a restart of the daemon), so every
test here checks what survives a close and reopen.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from mobwrite.core.store import Store
from mobwrite.storage.committer import loader
from mobwrite.storage.contract import Storage
from mobwrite.storage.disk import JournalStorage, SnapshotStorage
from mobwrite.storage.memory import MemoryStorage
from mobwrite.storage.postgres import PostgresStorage
from mobwrite.storage.rows import (
    Batch,
    DocumentRow,
    StoredDocument,
    StoredLog,
    StoredTail,
    ViewRow,
    snapshot,
)


class Medium:
    """Where one implementation keeps its rows; opens storages over them."""

    def __init__(self, make: Callable[[], Storage]) -> None:
        self.make = make
        self.opened: list[Storage] = []

    def open(self, store: Store | None = None) -> Storage:
        storage = self.make()
        storage.open(store if store is not None else Store())
        self.opened.append(storage)
        return storage

    def reopen(self, storage: Storage, *names: str) -> tuple[Storage, Store]:
        """Close *storage* and open the medium again, for a new store that
        loads from it and has loaded the documents *names*."""
        storage.close()
        again = self.make()
        store = Store(loader=loader(again))
        again.open(store)
        self.opened.append(again)
        for name in names:
            store.find(name)
        return again, store


def _memory() -> Callable[[], Storage]:
    kept = MemoryStorage()
    return lambda: kept


def _postgresql(request: pytest.FixtureRequest) -> Callable[[], Storage]:
    url = request.getfixturevalue("postgres_url")
    return lambda: PostgresStorage(url)


def _in(directory: str, make: Callable[[Path], Storage]) -> Callable[[pytest.FixtureRequest], Callable[[], Storage]]:
    def medium(request: pytest.FixtureRequest) -> Callable[[], Storage]:
        path = request.getfixturevalue("tmp_path") / directory
        return lambda: make(path)

    return medium


IMPLEMENTATIONS: dict[str, Callable[[pytest.FixtureRequest], Callable[[], Storage]]] = {
    "memory": lambda request: _memory(),
    "snapshot": _in("data", SnapshotStorage),
    "journal": _in("data", JournalStorage),
    "postgresql": _postgresql,
}


@pytest.fixture(params=sorted(IMPLEMENTATIONS))
def medium(request: pytest.FixtureRequest) -> Iterator[Medium]:
    opened = Medium(IMPLEMENTATIONS[request.param](request))
    yield opened
    for storage in opened.opened:
        storage.close()


def document(name: str, text: str, lasttime: float = 1.0) -> DocumentRow:
    return DocumentRow(name, text, lasttime)


def view(user: str, name: str, shadow: str, version: int = 1) -> ViewRow:
    return ViewRow(user, name, shadow, shadow + "~", version, version + 1, version,
                   ((version, f"d:{version}:=1"),), 2.0)


def batch(*rows: DocumentRow | ViewRow, gone: tuple[str | tuple[str, str], ...] = ()) -> Batch:
    written = Batch()
    for row in rows:
        if isinstance(row, DocumentRow):
            written.documents[row.name] = row
        else:
            written.views[row.user, row.name] = row
    for key in gone:
        if isinstance(key, str):
            written.documents[key] = None
        else:
            written.views[key] = None
    return written


def state(store: Store) -> tuple[dict, dict]:
    """Everything a store holds, as plain values."""
    return (
        {name: (d.text, d.lasttime, d.views) for name, d in store.documents.items()},
        {key: (v.shadow, v.backup_shadow, v.client_version, v.server_version,
               v.backup_server_version, v.edit_stack, v.lasttime)
         for key, v in store.views.items()},
    )


def test_a_new_medium_opens_empty(medium: Medium) -> None:
    """Opening storage that never held anything loads nothing."""
    store = Store()
    storage = medium.make()
    medium.opened.append(storage)
    opened = storage.open(store)
    assert (opened.documents, opened.views) == (0, 0)
    assert state(store) == ({}, {})


def test_written_rows_read_back_after_reopen(medium: Medium) -> None:
    """Documents and views come back exactly, a view of a null document included."""
    storage = medium.open()
    storage.write(batch(document("doc", "Hello 😀 a\ud800b", 1.5), view("alice", "doc", "Hello"),
                        view("bob", "doc", "Hello 😀 a\ud800b", 3), view("carol", "null", "")))
    _, store = medium.reopen(storage, "doc", "null")
    assert state(store) == (
        {"doc": ("Hello 😀 a\ud800b", 1.5, 2), "null": (None, 2.0, 1)},
        {("alice", "doc"): ("Hello", "Hello~", 1, 2, 1, [(1, "d:1:=1")], 2.0),
         ("bob", "doc"): ("Hello 😀 a\ud800b", "Hello 😀 a\ud800b~", 3, 4, 3,
                          [(3, "d:3:=1")], 2.0),
         ("carol", "null"): ("", "~", 1, 2, 1, [(1, "d:1:=1")], 2.0)})


def test_later_rows_replace_earlier_ones(medium: Medium) -> None:
    """Each row is a whole state: the last one written wins."""
    storage = medium.open()
    storage.write(batch(document("doc", "one"), view("alice", "doc", "one")))
    storage.write(batch(document("doc", "two", 2.0)))
    storage.write(batch(view("alice", "doc", "two", 5)))
    _, store = medium.reopen(storage, "doc")
    assert store.documents["doc"].text == "two"
    assert store.views["alice", "doc"].client_version == 5


def test_deleted_rows_stay_deleted(medium: Medium) -> None:
    """A row written as None is gone after a reopen; the others stay."""
    storage = medium.open()
    storage.write(batch(document("gone", "x"), document("kept", "y"),
                        view("alice", "gone", "x"), view("alice", "kept", "y")))
    storage.write(batch(gone=("gone", ("alice", "gone"))))
    _, store = medium.reopen(storage, "gone", "kept")
    assert set(store.documents) == {"kept"} and set(store.views) == {("alice", "kept")}


def test_load_document_gives_one_document_and_its_views(medium: Medium) -> None:
    """One document by name, before and after a reopen; None for one never stored."""
    storage = medium.open()
    storage.write(batch(document("doc", "text"), document("other", "else"),
                        view("alice", "doc", "te"), view("bob", "other", "el")))
    storage.write(batch(view("carol", "doc", "text"), gone=(("alice", "doc"),)))
    expected = StoredDocument("doc", document("doc", "text"), (view("carol", "doc", "text"),))
    assert storage.load_document("doc") == expected
    assert storage.load_document("never") is None
    again, _ = medium.reopen(storage)
    assert again.load_document("doc") == expected
    assert again.load_document("never") is None


def test_a_null_document_with_views_loads_by_name(medium: Medium) -> None:
    """A document stored only through its views has no row of its own."""
    storage = medium.open()
    storage.write(batch(view("alice", "null", "")))
    loaded = storage.load_document("null")
    assert loaded is not None and loaded.document is None
    assert [row.user for row in loaded.views] == ["alice"]


def test_background_work_keeps_what_was_written(medium: Medium) -> None:
    """``maintain`` (a checkpoint where there is one) loses nothing and reports no failure."""
    storage = medium.open()
    storage.write(batch(document("doc", "text")))
    storage.maintain()
    assert storage.failure() is None
    _, store = medium.reopen(storage, "doc")
    assert store.documents["doc"].text == "text"


@pytest.mark.parametrize("make", [JournalStorage, SnapshotStorage])
def test_a_crash_after_a_write_loses_nothing_written(
        make: Callable[[Path], JournalStorage | SnapshotStorage], tmp_path: Path) -> None:
    """On disk, what ``write`` stored survives the process dying without ``close``
    (no final checkpoint: the journal's records are replayed)."""
    storage = make(tmp_path)
    storage.open(Store())
    storage.write(batch(document("doc", "one"), view("alice", "doc", "one")))
    storage.write(batch(document("doc", "two")))
    # What the operating system does for a killed process: the files are
    # closed, nothing else runs.
    for journal in storage.journals:
        journal.close()
    storage.database.close()
    again = make(tmp_path)
    store = Store(loader=loader(again))
    opened = again.open(store)
    store.find("doc")
    again.close()
    assert store.documents["doc"].text == "two"
    assert set(store.views) == {("alice", "doc")}
    assert opened.records == (2 if isinstance(storage, JournalStorage) else 0)


def written(store: Store) -> Batch:
    """The store's changes since the last take, as storage gets them."""
    return snapshot(store, store.take_changes())


def test_revision_logs_read_back_after_reopen(medium: Medium) -> None:
    """Appended, folded, snapshotted and pruned revisions come back as one log;
    a deleted document's log does not."""
    source = Store(keep=100.0)
    storage = medium.open()
    notes = source.document("notes", 0.0)
    for number, (text, now, author) in enumerate(
            [("a", 0.0, "ann"), ("ab", 1.0, "ann"), ("abc", 50.0, "bob"),
             ("x\ud800abc", 60.0, "ann"), ("xabc!", 200.0, "bob")]):
        source.set_text(notes, text, now, author)
        storage.write(written(source))
        if number == 3:
            source.prune_revisions(140.0)
            storage.write(written(source))
    gone = source.document("gone", 0.0)
    source.set_text(gone, "bye", 1.0, "ann")
    storage.write(written(source))
    source.remove_document("gone")
    storage.write(written(source))
    _, store = medium.reopen(storage, "notes", "gone")
    kept, loaded = source.revisions("notes"), store.revisions("notes")
    assert kept is not None and loaded is not None
    assert (loaded.base, loaded.head) == (kept.base, kept.head) == (1, 4)
    assert loaded.page(2, 10) == kept.page(2, 10)
    assert [loaded.text_at(n) for n in (1, 2, 3, 4)] == ["ab", "abc", "x\ud800abc", "xabc!"]
    assert store.revisions("gone") is None
    # Numbering goes on after a restart; no edit folds into a loaded revision.
    store.set_text(store.documents["notes"], "xabc!?", 201.0, "bob")
    loaded_head = store.revisions("notes")
    assert loaded_head is not None and loaded_head.head == 5


def test_a_store_loads_on_demand_and_reloads_after_eviction(medium: Medium) -> None:
    """A store over the storage holds nothing until a document is named; it
    then has the document and its views as stored, and once the document is
    stored and let go, naming it again brings back the same state."""
    storage = medium.open()
    store = Store(loader=loader(storage))
    written_state = Store()
    document_ = written_state.document("doc", 1.0)
    written_state.set_text(document_, "Hello 😀", 1.0)
    view_ = written_state.create_view("alice", "doc", 2.0)
    view_.shadow = "Hello 😀"
    written_state.touch_view(view_)
    storage.write(snapshot(written_state, written_state.take_changes()))
    assert "doc" not in store.documents
    loaded = store.find("doc")
    assert loaded is not None and loaded.text == "Hello 😀"
    before = state(store)
    assert before[1][("alice", "doc")][0] == "Hello 😀"
    assert store.evict(["doc"]) == ["doc"]
    assert state(store) == ({}, {})
    assert store.find_view("alice", "doc") is not None
    assert state(store) == before
    assert store.find("never") is None and store.counts.misses == 1


def test_a_log_loads_as_its_tail_and_its_older_rows_on_request(medium: Medium) -> None:
    """``load_document`` gives the log whole or as its tail (newest revision,
    newest snapshot's number); ``load_log`` gives its rows up to a number,
    before and after a reopen."""
    source = Store()
    storage = medium.open()
    notes = source.document("notes", 0.0)
    for now, text in enumerate(("a", "ab", "ab😀", "ab😀c")):
        source.set_text(notes, text, 10.0 * now, "ann")
        storage.write(written(source))
    kept = source.revisions("notes")
    assert kept is not None and kept.head == 4
    revisions, snapshots = kept.rows()
    for reopen in (False, True):
        opened = medium.reopen(storage)[0] if reopen else storage
        loaded = opened.load_document("notes")
        assert loaded is not None
        if loaded.log is None:
            assert loaded.tail == StoredTail(revisions[-1], 0)
        else:
            assert loaded.log.revisions == {row.number: row for row in revisions}
        older = opened.load_log("notes", 2)
        assert older.revisions == {row.number: row for row in revisions[:2]}
        assert older.snapshots == {row.number: row for row in snapshots}
        assert opened.load_log("never", 2) == StoredLog()


def test_a_document_deleted_and_made_again_loads_as_the_new_one(medium: Medium) -> None:
    """Nothing kept by name outlives a delete: a document deleted and made again under its
    name, with a new history, loads as the new one (text and log) once let go, and after
    a reopen."""
    storage = medium.open()
    store = Store(loader=loader(storage))

    def store_changes() -> None:
        storage.write(written(store))
        store.stored()

    old = store.document("doc", 0.0)
    for now, text in enumerate(("old", "older 🐢", "oldest")):
        store.set_text(old, text, 10.0 * now, "ann")
        store_changes()
    assert store.evict(["doc"]) == ["doc"]
    assert store.find("doc") is not None and store.remove_document("doc")
    store_changes()
    store.set_text(store.document("doc", 50.0), "new 🐇", 50.0, "bob")
    store_changes()
    assert store.evict(["doc"]) == ["doc"]
    for reopen in (False, True):
        loading = medium.reopen(storage)[1] if reopen else store
        found, log = loading.find("doc"), loading.revisions("doc")
        assert found is not None and found.text == "new 🐇"
        assert log is not None and [row.author for row in log.revisions] == ["bob"]
