"""The shared store's transactions and change feed, against the test PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
import pytest_twisted
from psycopg_pool import ConnectionPool
from twisted.internet import defer, reactor, threads

from mobwrite.client.session import ClientSession
from mobwrite.daemon.postgres_service import ChangeFeed
from mobwrite.settings import Settings
from mobwrite.storage.postgres import upgrade
from mobwrite.storage.postgres_documents import SharedDocuments, check_quietly, shared_pool


@pytest.fixture
def pool(postgres_url: str) -> Iterator[ConnectionPool[Any]]:
    opened = shared_pool(postgres_url, 2, 10.0)
    opened.open(wait=True)
    with opened.connection() as connection:
        upgrade(connection)
    yield opened
    opened.close()


def sync(documents: SharedDocuments, session: ClientSession) -> set[str]:
    body, _ = documents.run(session.build_request(), 1e9)
    return session.apply_response(body)


def test_a_daemon_never_trusts_a_cached_text_another_changed(
        pool: ConnectionPool[Any]) -> None:
    """Two daemons caching one document: an edit through one is in the other's next reply."""
    first, second = (SharedDocuments(pool, Settings.defaults()) for _ in range(2))
    alice, bob = ClientSession("alice"), ClientSession("bob")
    alice.share("doc"), bob.share("doc")
    sync(first, alice), sync(second, bob)
    alice.documents["doc"].text = "from alice 😀"
    sync(first, alice)
    assert "doc" in second.versions
    sync(second, bob)
    assert bob.documents["doc"].text == "from alice 😀"
    assert first.versions["doc"] == second.versions["doc"]


def test_a_document_deleted_and_made_again_is_never_served_from_an_old_cache(
        pool: ConnectionPool[Any]) -> None:
    """Daemon A caches a document; daemon B deletes it, makes it again with another text
    and edits it as often as the old one was: A serves the new text, not its cached one
    (versions are never reused, not even across a delete)."""
    first, second = (SharedDocuments(pool, Settings.defaults()) for _ in range(2))
    alice = ClientSession("alice")
    alice.share("doc", "old text 🐢")
    sync(first, alice), sync(first, alice)
    cached = first.versions["doc"]
    second.run(b"u:alice\nn:doc\n\n", 1e9)
    carol = ClientSession("carol")
    shared = carol.share("doc", "new text 🐇")
    for edit in range(cached + 2):
        sync(second, carol)
        if second.versions.get("doc", 0) >= cached:
            break
        shared.text += f" {edit}"
    assert first.store.held["doc"].text == "old text 🐢"
    reader = ClientSession("reader")
    reader.share("doc")
    sync(first, reader)
    assert reader.documents["doc"].text == shared.text
    assert first.versions["doc"] == second.versions["doc"]


def _kept(documents: SharedDocuments) -> ClientSession:
    """Alice's session, whose document "doc" holds "kept", committed."""
    alice = ClientSession("alice")
    alice.share("doc")
    sync(documents, alice)
    alice.documents["doc"].text = "kept"
    sync(documents, alice)
    return alice


def _only_kept_is_stored(documents: SharedDocuments, postgres_url: str) -> None:
    """The database holds "kept" alone, and a new reader is served it."""
    with psycopg.connect(postgres_url) as connection:
        stored = connection.execute("SELECT body FROM mobwrite_documents").fetchall()
    assert stored == [(b"kept",)]
    reader = ClientSession("reader")
    reader.share("doc")
    sync(documents, reader)
    assert reader.documents["doc"].text == "kept"


def test_a_failed_transaction_leaves_nothing_behind(
        pool: ConnectionPool[Any], postgres_url: str) -> None:
    """A request whose transaction fails changes nothing stored, and the daemon forgets the
    text it had changed, so that the next request reads the database again."""
    documents = SharedDocuments(pool, Settings.defaults())
    alice = _kept(documents)
    with psycopg.connect(postgres_url, autocommit=True) as connection:
        connection.execute("ALTER TABLE mobwrite_views ADD CONSTRAINT no_more CHECK (false) "
                           "NOT VALID")
        alice.documents["doc"].text = "refused"
        with pytest.raises(psycopg.errors.CheckViolation):
            documents.run(alice.build_request(), 1e9)
        assert "doc" not in documents.versions
        connection.execute("ALTER TABLE mobwrite_views DROP CONSTRAINT no_more")
    _only_kept_is_stored(documents, postgres_url)


def test_a_request_failing_after_its_writes_were_sent_commits_none_of_them(
        pool: ConnectionPool[Any], postgres_url: str,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The document's new text already sent to the database, the request fails before
    its revision is: nothing of it is committed, and the next request is served."""
    documents = SharedDocuments(pool, Settings.defaults())
    alice = _kept(documents)

    def fail(*arguments: object) -> None:
        raise RuntimeError("the revision could not be written")

    monkeypatch.setattr("mobwrite.storage.postgres_documents.write_history", fail)
    alice.documents["doc"].text = "lost"
    with pytest.raises(RuntimeError):
        documents.run(alice.build_request(), 1e9)
    monkeypatch.undo()
    _only_kept_is_stored(documents, postgres_url)


def test_a_request_whose_commit_fails_is_not_answered_and_changes_nothing(
        pool: ConnectionPool[Any], postgres_url: str) -> None:
    """Every statement of the request succeeds and only COMMIT fails (a deferred check):
    ``run`` raises instead of returning a reply, nothing is stored, and the daemon
    forgets the text it had changed.  The reply waits for COMMIT's own result."""
    documents = SharedDocuments(pool, Settings.defaults())
    alice = _kept(documents)
    with psycopg.connect(postgres_url, autocommit=True) as connection:
        connection.execute("""CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql
            AS $$ BEGIN RAISE EXCEPTION 'refused at commit'; END $$""")
        connection.execute("""CREATE CONSTRAINT TRIGGER at_commit AFTER UPDATE
            ON mobwrite_documents DEFERRABLE INITIALLY DEFERRED
            FOR EACH ROW EXECUTE FUNCTION refuse()""")
        alice.documents["doc"].text = "refused"
        with pytest.raises(psycopg.errors.RaiseException, match="refused at commit"):
            documents.run(alice.build_request(), 1e9)
        assert "doc" not in documents.versions
        connection.execute("DROP TRIGGER at_commit ON mobwrite_documents")
    _only_kept_is_stored(documents, postgres_url)


def test_a_pooled_connection_the_server_ended_is_replaced_before_a_request_uses_it(
        postgres_url: str) -> None:
    """The server ended the session of the pool's idle connection (as a restart does):
    the next request is served, on a new connection."""
    pool = shared_pool(postgres_url, 1, 10.0)
    pool.open(wait=True)
    try:
        with pool.connection() as connection:
            upgrade(connection)
            ended = connection.info.backend_pid
        documents = SharedDocuments(pool, Settings.defaults())
        alice = ClientSession("alice")
        alice.share("doc", "text")
        sync(documents, alice)
        with psycopg.connect(postgres_url, autocommit=True) as other:
            # Waits (up to 5 s) until that backend is gone.
            assert other.execute("SELECT pg_terminate_backend(%s, 5000)", (ended,)).fetchone() \
                == (True,)
        alice.documents["doc"].text = "text, still served"
        sync(documents, alice)
        with pool.connection() as connection:
            assert connection.info.backend_pid != ended
        assert alice.documents["doc"].text == "text, still served"
    finally:
        pool.close()


def test_a_sound_idle_connection_is_lent_without_a_round_trip(postgres_url: str) -> None:
    """Checking an idle connection the server has said nothing on sends nothing: the
    server still shows the last statement it ran as that session's latest."""
    with psycopg.connect(postgres_url, autocommit=True) as connection, \
            psycopg.connect(postgres_url, autocommit=True) as other:
        connection.execute("SELECT 'latest'")
        check_quietly(connection)
        latest = other.execute("SELECT query FROM pg_stat_activity WHERE pid = %s",
                               (connection.info.backend_pid,)).fetchone()
    assert latest == ("SELECT 'latest'",)


@pytest_twisted.ensureDeferred
async def test_the_change_feed_hears_every_daemons_changes(
        pool: ConnectionPool[Any], postgres_url: str) -> None:
    """A subscriber hears the name of each document another daemon's commit changed, on the
    reactor; a request that changed nothing is not heard, nor the daemon's own changes."""
    feed = ChangeFeed(postgres_url, reactor, "me")  # type: ignore[arg-type]
    heard: defer.DeferredQueue[str] = defer.DeferredQueue()
    unsubscribe = feed.subscribe(heard.put)
    feed.startService()
    try:
        listening = await threads.deferToThread(_wait_for_listener, postgres_url)
        assert listening
        own = SharedDocuments(pool, Settings.defaults(), sender="me")
        mine = ClientSession("mine")
        mine.share("own", "not heard")
        await threads.deferToThread(sync, own, mine)
        documents = SharedDocuments(pool, Settings.defaults(), sender="other")
        alice = ClientSession("alice")
        alice.share("first 😀")
        alice.share("second")
        await threads.deferToThread(sync, documents, alice)
        alice.documents["second"].text = "typed"
        await threads.deferToThread(sync, documents, alice)
        assert [await _next(heard) for _ in range(2)] == ["first 😀", "second"]
        assert await _next(heard) == "second"
        unsubscribe()
        assert feed.subscribers == []
    finally:
        feed.stopService()


def _next(heard: defer.DeferredQueue[str]) -> defer.Deferred[str]:
    """The next name heard, or a failure after 10 s (a missed notification fails the
    test instead of hanging it)."""
    return heard.get().addTimeout(10, reactor)


def _wait_for_listener(url: str) -> bool:
    """Whether a session of this test's database (not the session-wide daemon's,
    which listens in another) is listening on the channel, within a few seconds."""
    with psycopg.connect(url, autocommit=True) as connection:
        for _ in range(100):
            found = connection.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'LISTEN%' "
                "AND datname = current_database()").fetchone()
            if found and found[0]:
                return True
            connection.execute("SELECT pg_sleep(0.05)")
    return False


def test_expiry_runs_in_the_database(pool: ConnectionPool[Any], postgres_url: str) -> None:
    """Views untouched past TIMEOUT_VIEW go, then documents nobody views past TIMEOUT_TEXT;
    a document still viewed stays."""
    settings = Settings.defaults(timeout_view=100.0, timeout_text=1000.0)
    documents = SharedDocuments(pool, settings)
    for user, name, now in (("old", "idle", 0.0), ("recent", "busy", 950.0)):
        session = ClientSession(user)
        session.share(name, "text")
        documents.run(session.build_request(), now)
    assert documents.expire(150.0, settings) == (1, 0)
    assert documents.expire(1020.0, settings) == (0, 1)
    with psycopg.connect(postgres_url) as connection:
        left = connection.execute("SELECT name FROM mobwrite_documents").fetchall()
    assert left == [("busy",)]
    assert "idle" not in documents.store.documents


def test_documents_outlive_expiry_by_default(pool: ConnectionPool[Any], postgres_url: str) -> None:
    """With TIMEOUT_TEXT at its default (never), a document nobody views for years stays."""
    settings = Settings.defaults(timeout_view=100.0)
    documents = SharedDocuments(pool, settings)
    session = ClientSession("old")
    session.share("kept", "text")
    documents.run(session.build_request(), 0.0)
    assert documents.expire(10.0 ** 9, settings) == (1, 0)
    with psycopg.connect(postgres_url) as connection:
        left = connection.execute("SELECT name FROM mobwrite_documents").fetchall()
    assert left == [("kept",)]


def test_nullify_deletes_the_document_and_the_users_view(
        pool: ConnectionPool[Any], postgres_url: str) -> None:
    """``n:`` removes the document's row and the nullifying user's view, as in the embedded
    store; another user's view stays."""
    documents = SharedDocuments(pool, Settings.defaults())
    for user in ("alice", "bob"):
        session = ClientSession(user)
        session.share("doc", "text")
        documents.run(session.build_request(), 1e9)
    documents.run(b"u:alice\nn:doc\n\n", 1e9)
    with psycopg.connect(postgres_url) as connection:
        rows = connection.execute("SELECT count(*) FROM mobwrite_documents").fetchone()
        views = connection.execute("SELECT username FROM mobwrite_views").fetchall()
    assert rows == (0,) and views == [("bob",)]


@pytest_twisted.ensureDeferred
async def test_a_lost_feed_listens_again_and_has_the_missed_changes_fetched(postgres_url: str) -> None:
    """The listening connection killed: the feed connects again, and tells the daemon that
    what it missed must be fetched again (every followed document's followers sync)."""
    resumed: defer.Deferred[None] = defer.Deferred()
    feed = ChangeFeed(postgres_url, reactor, "me",  # type: ignore[arg-type]
                      on_resume=lambda: resumed.callback(None))
    feed.startService()
    try:
        assert await threads.deferToThread(_wait_for_listener, postgres_url)
        with psycopg.connect(postgres_url, autocommit=True) as connection:
            connection.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                               "WHERE query LIKE 'LISTEN%' AND datname = current_database()")
        await resumed
        assert not feed.lost
    finally:
        feed.stopService()
