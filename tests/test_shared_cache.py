"""Memory and disk on a shared database: each worker's cached texts stay within
their share of MAX_MEMORY and leave after CACHE_IDLE, MAX_STORED holds across
daemons, and /metrics shows it (docs/postgresql.md, "Memory and disk")."""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from http_client import fetch_path
from psycopg_pool import ConnectionPool
from servers import Flood
from test_cache_daemon import deltas_only
from test_recovery import read_document, sync

from benchmarks.daemon import Daemon
from benchmarks.postgres import PostgresServer
from mobwrite.client.errors import OutOfRoom
from mobwrite.client.session import ClientSession
from mobwrite.core.events import Event
from mobwrite.settings import Settings
from mobwrite.storage.postgres import upgrade
from mobwrite.storage.postgres_documents import SharedDocuments

BUDGET = 400_000


@pytest.fixture
def pool(postgres_url: str) -> Iterator[ConnectionPool[Any]]:
    opened: ConnectionPool[Any] = ConnectionPool(postgres_url, min_size=1, max_size=2,
                                                 kwargs={"autocommit": True}, open=True)
    with opened.connection() as connection:
        upgrade(connection)
    yield opened
    opened.close()


def run(documents: SharedDocuments, session: ClientSession, now: float = 1000.0) -> bytes:
    """One sync through the worker, applied to *session*."""
    body, _ = documents.run(session.build_request(), now)
    session.apply_response(body)
    return body


def noise(size: int) -> str:
    """*size* characters PostgreSQL cannot compress."""
    return secrets.token_urlsafe(size)[:size]


def test_a_worker_keeps_its_texts_within_its_budget(pool: ConnectionPool[Any]) -> None:
    """A flood of large documents keeps a worker's cache within its budget, least
    recently used first; a document dropped from it resumes with deltas, emoji
    included, for each of its clients."""
    documents = SharedDocuments(pool, Settings.defaults(), max_memory=BUDGET)
    store = documents.store
    alice, bob = ClientSession("alice"), ClientSession("bob")
    texts = [alice.share("kept", "🎉 start\n"), bob.share("kept")]
    for session in (alice, bob) * 2:
        run(documents, session)
    for number in range(30):
        flood = ClientSession(f"anon{number}")
        flood.share(f"flood{number}", noise(40_000))
        assert run(documents, flood).startswith(f"F:1:flood{number}\n".encode())
        assert store.held_bytes <= BUDGET
    assert "kept" not in store.held and "flood0" not in store.held
    assert "flood29" in store.held
    assert store.counts.evictions >= 20
    texts[0].text += "alice 👩‍💻\n"
    texts[1].text = "bob 🐝\n" + texts[1].text
    for session in (alice, bob) * 2:
        assert deltas_only(run(documents, session))
    assert texts[0].text == texts[1].text == "bob 🐝\n🎉 start\nalice 👩‍💻\n"


def test_a_text_idle_for_cache_idle_leaves_memory(pool: ConnectionPool[Any]) -> None:
    """A text no request used for CACHE_IDLE leaves the worker's memory (its charge
    with it); the next sync reads it again and is answered with a delta."""
    documents = SharedDocuments(pool, Settings.defaults())
    alice = ClientSession("alice")
    shared = alice.share("idle", "before 🎈")
    run(documents, alice, now=1000.0)
    run(documents, alice, now=1010.0)
    assert documents.evict_idle(1300.0, 300.0) == 0
    assert documents.evict_idle(1311.0, 300.0) == 1
    assert not documents.store.held and not documents.versions
    assert documents.store.held_bytes == 0
    shared.text += " after ✔"
    assert deltas_only(run(documents, alice, now=1320.0))
    reader = ClientSession("reader")
    reader.share("idle")
    run(documents, reader, now=1320.0)
    assert reader.documents["idle"].text == "before 🎈 after ✔"


def test_a_request_needing_more_than_the_budget_is_refused(
        pool: ConnectionPool[Any], postgres_url: str) -> None:
    """A text that alone would pass the worker's budget is refused as in the embedded
    store (``x:no_room:MAX_MEMORY``, reported as MAX_MEMORY): nothing is stored, and
    the writer's retry within the budget goes through."""
    events: list[Event] = []
    documents = SharedDocuments(pool, Settings.defaults(),
                                lambda event, **_: events.append(event), max_memory=BUDGET)
    alice = ClientSession("alice")
    shared = alice.share("big", "😀" * 300_000)
    reply = run(documents, alice)
    assert b"\nx:no_room:MAX_MEMORY\n" in reply
    refused = alice.refused["big"]
    assert isinstance(refused, OutOfRoom) and refused.setting == "MAX_MEMORY"
    assert Event.MEMORY_FULL in events
    with psycopg.connect(postgres_url) as connection:
        assert connection.execute("SELECT count(*) FROM mobwrite_documents").fetchone() == (0,)
    shared.text = "😀" * 1000
    run(documents, alice)
    run(documents, alice)
    assert read_text(postgres_url, "big") == "😀" * 1000


def read_text(url: str, name: str) -> str:
    with psycopg.connect(url) as connection:
        found = connection.execute("SELECT body FROM mobwrite_documents WHERE name = %s",
                                   (name,)).fetchone()
    assert found is not None
    return bytes(found[0]).decode("utf-8", "surrogatepass")


def scrape(daemon: Daemon) -> dict[str, float]:
    """The daemon's /metrics, without labels' series except the refusals'."""
    found: dict[str, float] = {}
    for line in fetch_path(daemon.ports["gateway"], "/metrics").body.decode().splitlines():
        name, _, value = line.rpartition(" ")
        if name and not name.startswith("#"):
            found[name] = float(value)
    return found


def test_a_daemon_on_postgresql_keeps_its_cache_within_max_memory(
        postgres_server: PostgresServer, tmp_path: Path) -> None:
    """Eight clients flooding a daemon on PostgreSQL with large documents: the memory
    its workers hold stays within MAX_MEMORY (but for the changes of requests running),
    /metrics and /status show it and the evictions, and an existing document, long
    gone from memory, is served with deltas throughout."""
    budget = 2 << 20
    daemon = Daemon(tmp_path, "--database", postgres_server.new_database(),
                    "--max-memory", str(budget)).start()
    try:
        port = daemon.ports["tcp"]
        owner = ClientSession("owner")
        kept = owner.share("kept", "kept 🔒\n")
        assert sync(port, owner) is not None
        held: list[float] = []
        flood = Flood(port, 160, lambda number: noise(99_000),
                      lambda: held.append(scrape(daemon)["mobwrite_memory_held_bytes"]))
        for mark in range(10):
            kept.text += f"[{mark} ✔]"
            assert deltas_only(sync(port, owner)) and not kept.edit_stack
        assert flood.join() == [] and len(held) == 160
        # A worker in the middle of a request may hold its change's revision beyond
        # its share until the request ends.
        assert max(held) <= budget + Settings.defaults().shared_workers * 100_000
        metrics = scrape(daemon)
        assert metrics["mobwrite_memory_held_bytes"] <= budget
        assert metrics["mobwrite_memory_budget_bytes"] == budget
        assert metrics["mobwrite_document_evictions_total"] >= 100
        assert 0 < metrics["mobwrite_documents"] < 40
        status = fetch_path(daemon.ports["editor"], "/status").body.decode()
        assert re.search(r"<dt>Memory held \(bytes\)</dt><dd>[\d,]+ of 2,097,152</dd>", status)
        assert re.search(r"<dt>Left memory</dt><dd>[1-9][\d,]{2,}</dd>", status)
        assert read_document(port, "kept") == kept.text
    finally:
        daemon.stop()


def test_a_daemon_on_postgresql_drops_idle_texts(
        postgres_server: PostgresServer, tmp_path: Path) -> None:
    """With CACHE_IDLE of a second, the daemon's housekeeping drops the texts nobody
    used (and says so); each client then carries on with deltas."""
    daemon = Daemon(tmp_path, "--database", postgres_server.new_database(),
                    "--cache-idle", "1 second").start()
    try:
        port = daemon.ports["tcp"]
        sessions = [ClientSession(user) for user in ("ann", "bob")]
        texts = [session.share("shared", "🎉 start\n") for session in sessions]
        for session in sessions * 2:
            assert sync(port, session) is not None
        daemon.wait_for_log(r"housekeeping: [1-9]\d* idle documents left memory", timeout=15)
        assert scrape(daemon)["mobwrite_document_evictions_total"] >= 1
        texts[0].text += "ann 👩‍💻\n"
        for session in sessions * 2:
            assert deltas_only(sync(port, session))
        assert texts[1].text == "🎉 start\nann 👩‍💻\n"
    finally:
        daemon.stop()


def test_shared_workers_sets_the_requests_run_at_once(
        postgres_server: PostgresServer, tmp_path: Path) -> None:
    """SHARED_WORKERS=3: the daemon keeps one connection per worker open, plus its
    spare two and the change feed's, and still counts the whole MAX_MEMORY."""
    url = postgres_server.new_database()
    daemon = Daemon(tmp_path, "--database", url, "--shared-workers", "3",
                    "--max-memory", "3000000").start()
    try:
        owner = ClientSession("owner")
        owner.share("doc", "three workers 🧵\n")
        assert sync(daemon.ports["tcp"], owner) is not None
        with psycopg.connect(url) as connection:
            backends = connection.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND pid <> pg_backend_pid()").fetchone()
        assert backends == (3 + 2 + 1,)
        assert scrape(daemon)["mobwrite_memory_budget_bytes"] == 3_000_000
    finally:
        daemon.stop()


def test_max_stored_refuses_new_documents_on_every_daemon(
        postgres_server: PostgresServer, tmp_path: Path) -> None:
    """Two daemons on one database with a small MAX_STORED: once the database's files
    hold it, neither creates a document (``x:no_room:MAX_STORED``, counted on
    /metrics); an existing document still changes."""
    url = postgres_server.new_database()
    limit = ("--max-stored", str(1 << 20))
    for directory in ("first", "second"):
        (tmp_path / directory).mkdir()
    first = Daemon(tmp_path / "first", "--database", url, *limit).start()
    second = Daemon(tmp_path / "second", "--database", url, *limit).start()
    try:
        owner = ClientSession("owner")
        kept = owner.share("kept", "kept 🔒")
        assert sync(second.ports["tcp"], owner) is not None
        created = 0
        while True:
            writer = ClientSession(f"w{created}")
            writer.share(f"filler{created}", noise(50_000))
            reply = sync(first.ports["tcp"], writer)
            assert reply is not None
            if b"x:no_room:MAX_STORED" in reply:
                break
            created += 1
            assert created < 60
        late = ClientSession("late")
        late.share("late", "too late 😀")
        assert b"\nx:no_room:MAX_STORED\n" in (sync(second.ports["tcp"], late) or b"")
        assert read_document(first.ports["tcp"], "late") == ""
        kept.text += " and more ✔"
        assert deltas_only(sync(second.ports["tcp"], owner))
        assert read_document(first.ports["tcp"], "kept") == "kept 🔒 and more ✔"
        for daemon in (first, second):
            metrics = scrape(daemon)
            assert metrics['mobwrite_limit_refusals_total{limit="MAX_STORED"}'] >= 1
            assert metrics["mobwrite_stored_bytes"] >= 1 << 20
            assert re.search(r"refused: storage holds MAX_STORED", "\n".join(daemon.lines))
    finally:
        first.stop()
        second.stop()
