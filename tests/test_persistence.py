"""The SQLite copy of the store: round trips, shared texts, deletions, damage."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from refusing import refuse_documents

from mobwrite.core.engine import Engine
from mobwrite.core.store import Changes, Store
from mobwrite.settings import Settings
from mobwrite.storage.rows import StorageError, snapshot
from mobwrite.storage.sqlite import DATABASE_NAME, Database


def save(store: Store, database: Database) -> None:
    """Write every change the store recorded."""
    database.write(snapshot(store, store.take_changes()))


def reload(database: Database) -> Store:
    """Close *database* and read its file into a new store."""
    database.close()
    again = Database(database.directory)
    again.open()
    store = Store()
    again.load(store)
    again.close()
    return store


def view_state(store: Store) -> dict:
    return {key: (v.shadow, v.backup_shadow, v.client_version, v.server_version,
                  v.backup_server_version, list(v.edit_stack), v.lasttime)
            for key, v in store.views.items()}


def stored_texts(database: Database) -> int:
    assert database.connection is not None
    return database.connection.execute("SELECT count(*) FROM texts").fetchone()[0]


def test_round_trip(database: Database) -> None:
    """Documents and views read back exactly as they were, view counts included."""
    store = Store()
    engine = Engine(store, Settings.defaults())
    engine.handle(b"u:alice\nF:0:doc\nr:1:Hello%20%F0%9F%98%80\n\n", 1.0)
    engine.handle(b"u:bob\nF:0:doc\nd:0:=0\nF:0:other\nd:0:\n\n", 2.0)
    engine.handle(b"u:carol\nF:0:empty\nr:0:\n\n", 3.0)
    save(store, database)
    loaded = reload(database)
    assert {n: (d.text, d.lasttime, d.views) for n, d in loaded.documents.items()} == {
        n: (d.text, d.lasttime, d.views) for n, d in store.documents.items()}
    assert view_state(loaded) == view_state(store)
    assert loaded.documents["doc"].text == "Hello 😀"
    assert loaded.documents["doc"].views == 2


def test_view_of_a_null_document(database: Database) -> None:
    """A view whose document is null comes back attached to a null document."""
    store = Store()
    view = store.create_view("alice", "nothing", 5.0)
    view.client_version = 3
    store.touch_view(view)
    save(store, database)
    loaded = reload(database)
    assert loaded.documents["nothing"].text is None
    assert loaded.documents["nothing"].views == 1
    assert loaded.views[("alice", "nothing")].client_version == 3


def test_lone_surrogates_are_stored(database: Database) -> None:
    """A text that is not valid Unicode still round-trips rather than failing commits."""
    store = Store()
    store.set_text(store.document("odd", 1.0), "a\ud800b", 1.0)
    save(store, database)
    assert reload(database).documents["odd"].text == "a\ud800b"


def test_equal_texts_are_stored_once(database: Database) -> None:
    """Ten views whose shadows equal the master add no copy of the text."""
    store = Store()
    engine = Engine(store, Settings.defaults())
    big = "x" * 50_000
    engine.handle(f"u:u0\nF:0:doc\nr:1:{big}\n\n".encode(), 1.0)
    for user in range(1, 10):
        engine.handle(f"u:u{user}\nF:0:doc\nr:1:{big}\n\n".encode(), 1.0)
    save(store, database)
    assert stored_texts(database) == 1
    engine.handle(b"u:u0\nF:1:doc\nd:1:=50000\t+y\n\n", 2.0)
    save(store, database)
    # The new master, and the old one that the nine other shadows still hold.
    assert stored_texts(database) == 2
    for user in range(1, 10):
        engine.handle(f"u:u{user}\nF:1:doc\nd:1:=50000\n\n".encode(), 3.0)
    save(store, database)
    # Their backup shadows still hold the old master until the next round.
    assert stored_texts(database) == 2
    for user in range(1, 10):
        engine.handle(f"u:u{user}\nF:2:doc\nd:2:=50001\n\n".encode(), 4.0)
    save(store, database)
    assert stored_texts(database) == 1
    assert reload(database).documents["doc"].text == big + "y"


def test_deletions(database: Database) -> None:
    """A nullified document, a discarded view and unused texts leave the file."""
    store = Store()
    engine = Engine(store, Settings.defaults())
    engine.handle(b"u:alice\nF:0:gone\nr:1:secret\nF:0:kept\nr:1:public\n\n", 1.0)
    save(store, database)
    engine.handle(b"u:alice\nn:gone\n\n", 2.0)
    save(store, database)
    assert database.connection is not None
    names = [row[0] for row in database.connection.execute("SELECT name FROM documents")]
    assert names == ["kept"]
    bodies = [row[0] for row in database.connection.execute("SELECT body FROM texts")]
    assert b"secret" not in bodies
    loaded = reload(database)
    assert "gone" not in loaded.documents
    assert list(loaded.views) == [("alice", "kept")]


def test_rewritten_rows_are_updated_in_place(database: Database) -> None:
    """Storing a document or view again updates its row (an UPDATE, not a
    delete and an insert), and a deleted one can come back."""
    store = Store()
    engine = Engine(store, Settings.defaults())
    engine.handle(b"u:alice\nF:0:doc\nr:1:first\n\n", 1.0)
    save(store, database)
    connection = database.connection
    assert connection is not None
    connection.executescript("""
        CREATE TEMP TABLE updated (kind TEXT);
        CREATE TEMP TRIGGER document_updated AFTER UPDATE ON main.documents
        BEGIN INSERT INTO updated VALUES ('document'); END;
        CREATE TEMP TRIGGER view_updated AFTER UPDATE ON main.views
        BEGIN INSERT INTO updated VALUES ('view'); END;""")
    engine.handle(b"u:alice\nF:1:doc\nd:1:=5\t+ second\n\n", 2.0)
    save(store, database)
    assert sorted(connection.execute("SELECT kind FROM updated")) == [("document",), ("view",)]
    connection.executescript("DROP TRIGGER document_updated; DROP TRIGGER view_updated;")
    engine.handle(b"u:alice\nn:doc\n\n", 3.0)
    save(store, database)
    engine.handle(b"u:alice\nF:0:doc\nr:1:again\n\n", 4.0)
    save(store, database)
    loaded = reload(database)
    assert loaded.documents["doc"].text == "again"
    assert view_state(loaded) == view_state(store)


def test_a_failed_write_changes_nothing(database: Database) -> None:
    """A write that fails half-way is rolled back, and the next one succeeds."""
    store = Store()
    store.set_text(store.document("doc", 1.0), "first", 1.0)
    save(store, database)
    store.set_text(store.documents["doc"], "second", 2.0)
    batch = snapshot(store, store.take_changes())
    assert database.connection is not None
    refuse_documents(database)
    with pytest.raises(sqlite3.Error):
        database.write(batch)
    database.connection.execute("DROP TRIGGER refuse")
    assert reload(database).documents["doc"].text == "first"
    again = Database(database.directory)
    again.open()
    again.load(Store())
    again.write(batch)
    assert reload(again).documents["doc"].text == "second"


def test_snapshot_copies_state(database: Database) -> None:
    """Changes after the snapshot do not leak into the batch being written."""
    store = Store()
    view = store.create_view("alice", "doc", 1.0)
    view.edit_stack.append((0, "d:0:"))
    store.touch_view(view)
    batch = snapshot(store, store.take_changes())
    view.edit_stack.append((1, "d:1:"))
    view.client_version = 9
    database.write(batch)
    loaded = reload(database).views[("alice", "doc")]
    assert (loaded.edit_stack, loaded.client_version) == ([(0, "d:0:")], 0)


def test_names_are_keys_not_paths(database: Database) -> None:
    """Odd document names stay inside the one database file."""
    store = Store()
    names = ["../../etc/passwd", "a/b\\c", "..", "x" * 500, "日本語"]
    for name in names:
        store.set_text(store.document(name, 1.0), name, 1.0)
    save(store, database)
    assert sorted(p.name for p in database.directory.iterdir()
                  if not p.name.startswith(DATABASE_NAME)) == []
    assert {n: d.text for n, d in reload(database).documents.items()} == {n: n for n in names}


@pytest.mark.parametrize("content", [
    b"this is not a database at all" * 100,
    b"SQLite format 3\x00" + b"\xff" * 4000,
])
def test_damaged_file_stops_start_up(tmp_path: Path, content: bytes) -> None:
    """A damaged file is reported with its path and left untouched."""
    (tmp_path / DATABASE_NAME).write_bytes(content)
    database = Database(tmp_path)
    with pytest.raises(StorageError, match="left as it is"):
        database.open()
    assert (tmp_path / DATABASE_NAME).read_bytes() == content


def test_foreign_database_is_refused(tmp_path: Path) -> None:
    """Another program's SQLite file is not taken over."""
    path = tmp_path / DATABASE_NAME
    with sqlite3.connect(path) as connection:
        connection.execute("CREATE TABLE accounts (id INTEGER)")
    connection.close()
    before = path.read_bytes()
    with pytest.raises(StorageError, match="not a mobwrite database"):
        Database(tmp_path).open()
    assert path.read_bytes() == before


def test_missing_text_is_damage(database: Database) -> None:
    """A document whose text row is missing stops loading."""
    store = Store()
    store.set_text(store.document("doc", 1.0), "text", 1.0)
    save(store, database)
    assert database.connection is not None
    database.connection.execute("DELETE FROM texts")
    with pytest.raises(StorageError, match="missing"):
        reload(database)


def test_one_daemon_per_directory(database: Database) -> None:
    """A second opener of a directory in use is refused."""
    with pytest.raises(StorageError, match="in use by another process"):
        Database(database.directory).open()


def test_unwritable_directory(tmp_path: Path) -> None:
    """A data directory that cannot be created is a clear error."""
    (tmp_path / "file").write_text("")
    with pytest.raises(StorageError, match="cannot create"):
        Database(tmp_path / "file" / "data").open()


def test_empty_batch_is_harmless(database: Database) -> None:
    """Writing no changes keeps everything."""
    database.write(snapshot(Store(), Changes()))
    assert reload(database).documents == {}


def test_the_file_records_its_counts_and_an_open_reads_them(database: Database) -> None:
    """Each write keeps the numbers of documents and views in the file, and
    an open takes them from there instead of counting every row; a file
    that does not record them is counted once."""
    store = Store()
    engine = Engine(store, Settings.defaults())
    for name in ("one", "two", "three"):
        engine.handle(f"u:alice\nF:0:{name}\nr:1:{name}\n\n".encode(), 1.0)
    save(store, database)
    engine.handle(b"u:alice\nn:two\n\n", 2.0)
    save(store, database)
    connection = database.connection
    assert connection is not None

    def recorded() -> dict[str, str]:
        assert connection is not None
        return dict(connection.execute(
            "SELECT key, value FROM meta WHERE key IN ('documents', 'views')"))

    assert recorded() == {"documents": "2", "views": "2"} == {
        "documents": str(database.documents), "views": str(database.views)}
    # What the open believes is the file's record, not a count of the rows.
    connection.execute("UPDATE meta SET value = '7' WHERE key = 'documents'")
    database.close()
    again = Database(database.directory)
    again.open()
    assert (again.documents, again.views) == (7, 2)
    assert again.connection is not None
    again.connection.execute("DELETE FROM meta WHERE key = 'views'")
    again.close()
    counted = Database(database.directory)
    counted.open()
    assert (counted.documents, counted.views) == (2, 2)
    counted.close()
