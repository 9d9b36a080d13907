"""The store as a cache of storage: documents load on demand, leave memory when
idle or past MAX_MEMORY once stored, and growth is refused when what is in
use fills the budget (docs/operating.md, "Memory and disk")."""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from test_metrics import samples, value
from twisted.internet import defer
from twisted.internet.task import Clock

from mobwrite.client.errors import OutOfRoom
from mobwrite.client.session import ClientSession
from mobwrite.core.cache import StoredUse, document_bytes, log_bytes, view_bytes
from mobwrite.core.engine import Engine
from mobwrite.core.events import Event
from mobwrite.core.store import Store
from mobwrite.daemon.housekeeping import Housekeeping
from mobwrite.daemon.metrics import Metrics
from mobwrite.daemon.status import StatusResource
from mobwrite.settings import Settings
from mobwrite.storage.committer import loader
from mobwrite.storage.contract import Storage
from mobwrite.storage.disk import JournalStorage, SnapshotStorage
from mobwrite.storage.memory import MemoryStorage
from mobwrite.storage.rows import snapshot
from mobwrite.storage.sqlite import DATABASE_NAME


class Events:
    """The engine's reports, kept."""

    def __init__(self) -> None:
        self.seen: list[tuple[Event, dict[str, Any]]] = []

    def __call__(self, event: Event, **fields: Any) -> None:
        self.seen.append((event, fields))

    def kinds(self) -> list[Event]:
        return [event for event, _ in self.seen]


class Cached:
    """An engine over a store that loads from *storage*; ``commit`` stores
    what changed as the group committer would."""

    def __init__(self, storage: Storage, **limits: Any) -> None:
        self.storage = storage
        self.store = Store(loader=loader(storage), **limits)
        storage.open(self.store)
        self.events = Events()
        self.engine = Engine(self.store, Settings.defaults(), self.events)
        self.now = 100.0

    def sync(self, session: ClientSession, commit: bool = True) -> bytes:
        self.now += 1.0
        response = self.engine.handle(session.build_request(), self.now).body
        session.apply_response(response)
        if commit:
            self.commit()
        return response

    def commit(self) -> None:
        store = self.store
        self.storage.write(snapshot(store, store.take_changes(), store.take_evicted()))
        store.stored()


@pytest.fixture(params=["memory", "snapshot", "journal"])
def storage(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Storage]:
    made: Storage = {"memory": MemoryStorage, "snapshot": lambda: SnapshotStorage(tmp_path),
                     "journal": lambda: JournalStorage(tmp_path)}[request.param]()
    yield made
    made.close()


def recount(store: Store) -> int:
    """The memory held, counted from scratch over everything the store holds."""
    held = store.buffered_bytes
    for name, document in store.documents.items():
        held += document_bytes(document)
        log = store.revisions(name)
        if log is not None:
            held += log_bytes(log)
    return held + sum(view_bytes(view) for view in store.views.values())


def test_start_up_loads_nothing_and_a_named_document_loads(storage: Storage) -> None:
    """Opening storage puts nothing in memory; the first request naming a
    document loads it with its views, and its client goes on with deltas."""
    first = Cached(storage)
    alice = ClientSession("alice")
    notes = alice.share("notes", "written before 😀")
    first.sync(alice)
    first.sync(alice)
    storage.close()
    again = Cached(storage)
    assert dict(again.store.documents) == {}
    notes.text += " and after"
    response = again.sync(alice)
    assert b"\nR:" not in response and b"\nr:" not in response
    assert again.store.documents["notes"].text == "written before 😀 and after"
    assert again.store.counts.loads == 1
    assert Event.RAW_REPLY not in again.events.kinds()


def test_an_evicted_document_resumes_with_deltas_for_every_client(storage: Storage) -> None:
    """Idle and stored, a document leaves memory with its views; when it is
    named again every client's next sync is a delta, emoji included."""
    cache = Cached(storage)
    sessions = [ClientSession(user) for user in ("ann", "bob", "cy")]
    texts = [session.share("shared", "🎉 start\n") for session in sessions]
    for session in sessions * 2:
        cache.sync(session)
    texts[0].text += "ann 👩‍💻\n"
    cache.sync(sessions[0])
    assert cache.store.evict_idle(cache.now + 1000.0, 300.0) == ["shared"]
    assert dict(cache.store.documents) == {} and dict(cache.store.views) == {}
    texts[1].text = "bob was here 🐝\n" + texts[1].text
    texts[2].text += "cy ✔\n"
    for session in sessions * 2:
        response = cache.sync(session)
        assert b"\nR:" not in response and b"\nr:" not in response
    master = cache.store.documents["shared"].text
    assert [text.text for text in texts] == [master] * 3
    assert master is not None and sorted(master.splitlines()) == sorted(
        ["bob was here 🐝", "🎉 start", "ann 👩‍💻", "cy ✔"])
    assert Event.RAW_REPLY not in cache.events.kinds()
    assert cache.store.counts.evictions == 1


def test_a_document_with_unstored_changes_stays(storage: Storage) -> None:
    """Nothing leaves memory before it is stored: not a change still pending,
    nor one being written; once stored, it may go."""
    cache = Cached(storage)
    session = ClientSession("ann")
    session.share("draft", "text")
    cache.sync(session, commit=False)
    later = cache.now + 1000.0
    assert cache.store.evict_idle(later, 300.0) == []
    taken = cache.store.take_changes()
    assert cache.store.evict_idle(later, 300.0) == []
    cache.storage.write(snapshot(cache.store, taken))
    cache.store.stored()
    assert cache.store.evict_idle(later, 300.0) == ["draft"]


def test_a_document_in_use_is_not_idle(storage: Storage) -> None:
    """A document one view synced within CACHE_IDLE stays, though others idle."""
    cache = Cached(storage)
    ann, bob = ClientSession("ann"), ClientSession("bob")
    ann.share("doc", "x")
    bob.share("doc")
    cache.sync(ann)
    cache.now += 250.0
    cache.sync(bob)
    assert cache.store.evict_idle(cache.now + 100.0, 300.0) == []
    assert cache.store.evict_idle(cache.now + 301.0, 300.0) == ["doc"]


def test_past_the_budget_the_least_recently_used_go_first(storage: Storage) -> None:
    """Over MAX_MEMORY, stored documents go in order of last use until the
    memory held is under the budget; the one just used stays."""
    cache = Cached(storage, max_memory=10**9)
    sessions = {}
    for number in range(6):
        session = sessions[number] = ClientSession(f"u{number}")
        session.share(f"doc{number}", f"{number}" * 10_000)
        cache.sync(session)
    cache.sync(sessions[0])
    per_document = cache.store.held_bytes // 6
    cache.store.max_memory = 4 * per_document
    cache.sync(sessions[5])
    assert cache.store.held_bytes <= cache.store.max_memory
    assert set(cache.store.documents) == {"doc0", "doc4", "doc5"}
    for number in (1, 2):
        response = cache.sync(sessions[number])
        assert b"\nR:" not in response and b"\nr:" not in response
    assert sessions[1].documents["doc1"].text == "1" * 10_000


def test_growth_past_the_budget_in_use_is_refused_for_want_of_room() -> None:
    """When what is in use fills MAX_MEMORY (nothing stored can go), a change
    that grows a document is refused as one the server has no room for (not
    as too long), the view left as it was; shrinking still works, and so does
    growth once there is room."""
    store = Store(max_memory=200_000)
    events = Events()
    engine = Engine(store, Settings.defaults(), events)
    ann = ClientSession("ann")
    big = ann.share("big", "a" * 100_000)
    ann.apply_response(engine.handle(ann.build_request(), 1.0).body)
    big.text += "b" * 150_000
    response = engine.handle(ann.build_request(), 2.0).body
    assert b"\nx:no_room:MAX_MEMORY\n" in response
    assert b"too_long" not in response
    ann.apply_response(response)
    assert store.documents["big"].text == "a" * 100_000
    refused = ann.refused["big"]
    assert isinstance(refused, OutOfRoom) and refused.setting == "MAX_MEMORY"
    assert big.text == "a" * 100_000 + "b" * 150_000
    assert events.seen == [(Event.MEMORY_FULL, {"user": "ann", "name": "big"})]
    big.text = "a" * 50_000
    ann.apply_response(engine.handle(ann.build_request(), 3.0).body)
    assert store.documents["big"].text == "a" * 50_000
    other = ClientSession("bob")
    other.share("new", "n" * 1000)
    response = engine.handle(other.build_request(), 4.0).body
    assert b"x:" not in response
    assert store.documents["new"].text == "n" * 1000


def test_new_documents_past_max_stored_are_refused() -> None:
    """With storage at MAX_STORED, a new document is refused; existing ones change."""
    use = [StoredUse(100, 0)]
    store = Store(max_stored=4096, storage_use=lambda: use[0])
    store.set_text(store.document("old", 1.0), "kept", 1.0)
    use[0] = StoredUse(5000, 1)
    events = Events()
    engine = Engine(store, Settings.defaults(), events)
    ann = ClientSession("ann")
    ann.share("fresh", "new text")
    response = engine.handle(ann.build_request(), 2.0).body
    assert b"\nx:no_room:MAX_STORED\n" in response
    ann.apply_response(response)
    assert [(refused.name, refused.exit_code) for refused in ann.refused.values()] == [
        ("fresh", 11)]
    assert store.documents["fresh"].text is None
    assert events.kinds() == [Event.DISK_FULL]
    old = ClientSession("bob")
    old.share("old")
    old.apply_response(engine.handle(old.build_request(), 3.0).body)
    old.documents["old"].text += " and more"
    old.apply_response(engine.handle(old.build_request(), 4.0).body)
    assert store.documents["old"].text == "kept and more"


def test_the_running_count_matches_a_recount(storage: Storage) -> None:
    """After edits, loads, evictions, removals and buffers, the memory held
    is what a walk over the store adds up to: nothing drifts.  (A view is
    charged when it syncs, so the walk is made after a round of syncs.)"""
    cache = Cached(storage, max_memory=10**9)
    sessions = [ClientSession(f"u{number}") for number in range(4)]
    for number, session in enumerate(sessions):
        session.share(f"doc{number % 2}", "start 😀\n")
    for round_ in range(3):
        for number, session in enumerate(sessions):
            session.documents[f"doc{number % 2}"].text += f"{round_}{number} ✍\n"
            cache.sync(session)
        for session in sessions:
            cache.sync(session)
        assert cache.store.held_bytes == recount(cache.store)
    cache.store.evict_idle(cache.now + 1000.0, 300.0)
    assert cache.store.held_bytes == recount(cache.store) == 0
    for session in sessions * 2:
        cache.sync(session)
    assert cache.store.held_bytes == recount(cache.store)
    cache.engine.handle(b"u:u0\nb:half 2 1 F:0:doc0%0A\n\n", cache.now)
    assert cache.store.buffered_bytes > 0
    assert cache.store.held_bytes == recount(cache.store)
    cache.store.discard_view(("u1", "doc1"))
    cache.store.discard_view(("u3", "doc1"))
    cache.store.remove_document("doc1")
    assert cache.store.held_bytes == recount(cache.store)


@pytest.mark.parametrize("make", [SnapshotStorage, JournalStorage])
def test_listings_name_stored_documents_not_in_memory(make: Any, tmp_path: Path) -> None:
    """The store's names (the API's listing) come from storage, in order and
    by prefix, with documents journaled since the last checkpoint, created or
    deleted, counted as they are now."""
    first = Cached(make(tmp_path))
    for name in ("b/two", "a/one", "b/one", "c"):
        session = ClientSession("ann")
        session.share(name, name)
        first.sync(session)
    first.storage.close()
    storage = make(tmp_path)
    store = Store(loader=loader(storage), catalogue=storage.names)
    storage.open(store)
    assert dict(store.documents) == {}
    assert store.names("", "", 10) == ["a/one", "b/one", "b/two", "c"]
    assert store.names("b/", "", 10) == ["b/one", "b/two"]
    assert store.names("b/", "b/one", 1) == ["b/two"]
    store.set_text(store.document("b/three", 1.0), "new", 1.0)
    document = store.document("a/one", 1.0)
    store.set_text(document, None, 1.0)
    store.remove_document("a/one")
    storage.write(snapshot(store, store.take_changes()))
    store.stored()
    store.evict(["b/three"])
    assert "b/three" not in store.documents
    assert store.names("", "", 10) == ["b/one", "b/three", "b/two", "c"]
    storage.close()


def test_metrics_and_status_show_the_cache(tmp_path: Path) -> None:
    """/metrics and /status show memory held and its budget, documents in
    memory and stored, loads, evictions, and refusals by limit."""
    storage = JournalStorage(tmp_path)
    cache = Cached(storage, max_memory=100_000, storage_use=storage.use)
    metrics = Metrics(cache.store)
    cache.engine.report = metrics.observe_event
    for number in range(3):
        session = ClientSession(f"u{number}")
        session.share(f"doc{number}", "x" * 10_000)
        cache.sync(session)
    cache.store.evict_idle(cache.now + 1000.0, 300.0)
    cache.store.find("doc0")
    hog = ClientSession("hog")
    hog.share("hog", "y" * 120_000)
    assert b"x:no_room:MAX_MEMORY" in cache.sync(hog)
    found = samples(metrics.text().decode())
    assert value(found, "mobwrite_memory_held_bytes") == cache.store.held_bytes > 0
    assert value(found, "mobwrite_memory_budget_bytes") == 100_000
    # The hog's null document and view stay; doc0 left to make room, in vain.
    assert value(found, "mobwrite_documents") == 1
    assert value(found, "mobwrite_documents_stored") == 3
    assert value(found, "mobwrite_stored_bytes") > 30_000
    assert value(found, "mobwrite_document_loads_total") == 5
    assert value(found, "mobwrite_document_load_misses_total") == 4
    assert value(found, "mobwrite_document_evictions_total") == 4
    assert value(found, "mobwrite_limit_refusals_total", limit="MAX_MEMORY") == 1
    page = StatusResource(cache.store, Clock(), 0.0).page()
    assert f"<dt>Memory held (bytes)</dt><dd>{cache.store.held_bytes:,} of 100,000</dd>" in page
    assert "<dt>Documents stored</dt><dd>3</dd>" in page
    assert "<dt>Loaded from storage</dt><dd>1</dd><dt>Left memory</dt><dd>4</dd>" in page
    storage.close()


class Committing:
    """A committer that stores the cache's changes at once (for housekeeping)."""

    def __init__(self, cache: Cached) -> None:
        self.cache = cache

    def durable(self) -> defer.Deferred[None]:
        self.cache.commit()
        return defer.succeed(None)


@pytest.mark.parametrize("make", [SnapshotStorage, JournalStorage])
def test_views_and_documents_not_in_memory_still_expire(make: Any, tmp_path: Path) -> None:
    """TIMEOUT_VIEW and TIMEOUT_TEXT reach views and documents that left
    memory: housekeeping finds them in storage and deletes them there; a
    view still in use and its document stay."""
    storage = make(tmp_path)
    cache = Cached(storage)
    old, kept = ClientSession("old"), ClientSession("kept")
    old.share("forgotten", "nobody reads me")
    kept.share("used", "still here")
    cache.sync(old)
    cache.now += 4000.0
    cache.sync(kept)
    assert cache.store.evict_idle(cache.now + 1.0, 0.5) == ["forgotten", "used"]
    if isinstance(storage, JournalStorage):
        # Rows journaled since the last checkpoint count as recent, whatever their time.
        storage.checkpointer.checkpoint()
    clock = Clock()
    clock.advance(cache.now + 10.0)
    settings = Settings.defaults(timeout_view=1800.0, timeout_text=3600.0)
    Housekeeping(cache.store, settings, clock, Committing(cache), storage)()
    assert storage.load_document("forgotten") is None
    used = storage.load_document("used")
    assert used is not None and [view.user for view in used.views] == ["kept"]
    assert cache.store.revisions("forgotten") is None
    assert storage.names("", "", 10) == ["used"]
    storage.close()


def test_a_database_of_the_previous_format_is_upgraded(tmp_path: Path) -> None:
    """A mobwrite-1 file (reference counts kept in memory) opens as mobwrite-2:
    its texts' counts are counted once, its documents load, and a text no
    longer used is deleted at the next write while a shared one stays."""
    path = tmp_path / DATABASE_NAME
    shared, alone = b"shared text", b"old shadow"
    with sqlite3.connect(path) as connection:
        connection.executescript("""
            CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
            CREATE TABLE texts (digest BLOB PRIMARY KEY, body BLOB NOT NULL);
            CREATE TABLE documents (
                name TEXT PRIMARY KEY, text BLOB NOT NULL, lasttime REAL NOT NULL);
            CREATE TABLE views (
                user TEXT NOT NULL, name TEXT NOT NULL,
                shadow BLOB NOT NULL, backup_shadow BLOB NOT NULL,
                client_version INTEGER NOT NULL, server_version INTEGER NOT NULL,
                backup_server_version INTEGER NOT NULL,
                edit_stack TEXT NOT NULL, lasttime REAL NOT NULL,
                PRIMARY KEY (user, name));""")
        connection.executemany("INSERT INTO meta VALUES (?, ?)", [
            ("format", "mobwrite-1"), ("identity", "00112233aabbccdd"), ("journal", "0")])
        connection.executemany("INSERT INTO texts VALUES (?, ?)", [
            (hashlib.sha256(body).digest(), body) for body in (shared, alone)])
        connection.execute("INSERT INTO documents VALUES ('doc', ?, 1.0)",
                           (hashlib.sha256(shared).digest(),))
        connection.execute("INSERT INTO views VALUES ('ann', 'doc', ?, ?, 1, 1, 0, '[]', 1.0)",
                           (hashlib.sha256(alone).digest(), hashlib.sha256(shared).digest()))
    connection.close()
    storage = SnapshotStorage(tmp_path)
    cache = Cached(storage)
    document = cache.store.find("doc")
    assert document is not None and document.text == "shared text"
    assert cache.store.views["ann", "doc"].shadow == "old shadow"
    cache.store.discard_view(("ann", "doc"))
    cache.commit()
    storage.close()
    with sqlite3.connect(path) as connection:
        assert connection.execute("SELECT value FROM meta WHERE key = 'format'").fetchone() == (
            "mobwrite-2",)
        assert connection.execute("SELECT body, refs FROM texts").fetchall() == [(shared, 1)]
    connection.close()
