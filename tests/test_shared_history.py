"""Revisions in the shared store: written with the change, read by any daemon."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from psycopg_pool import ConnectionPool
from test_postgres_storage import at_schema

from mobwrite.client.session import ClientSession
from mobwrite.core.api import Call
from mobwrite.settings import Settings
from mobwrite.storage.postgres import SCHEMA_VERSION, upgrade
from mobwrite.storage.postgres_documents import SharedDocuments


@pytest.fixture
def pool(postgres_url: str) -> Iterator[ConnectionPool[Any]]:
    opened: ConnectionPool[Any] = ConnectionPool(postgres_url, min_size=1, max_size=3,
                                                 kwargs={"autocommit": True}, open=True)
    with opened.connection() as connection:
        upgrade(connection)
    yield opened
    opened.close()


def edit(daemon: SharedDocuments, session: ClientSession, text: str, now: float) -> None:
    session.documents["doc"].text = text
    body, _ = daemon.run(session.build_request(), now)
    session.apply_response(body)


def api(daemon: SharedDocuments, method: str, path: str, query: str = "",
        now: float = 1000.0) -> tuple[int, Any]:
    answer, _ = daemon.answer_api(
        Call(method, path.encode(), query, b"", "application/json"), None, now)
    return answer.status, json.loads(answer.body)


def page(daemon: SharedDocuments) -> list[tuple[int, str, int]]:
    status, found = api(daemon, "GET", "/api/v1/documents/doc/revisions", "order=oldest")
    assert status == 200
    return [(revision["number"], revision["author"], revision["inserted"])
            for revision in found["revisions"]]


def test_daemons_number_and_fold_one_documents_revisions_together(
        pool: ConnectionPool[Any]) -> None:
    """Edits of one person through two daemons, a second apart, fold into one revision;
    another person's edit is the next number; either daemon lists and reads them all."""
    first, second = (SharedDocuments(pool, Settings.defaults(), sender=name)
                     for name in ("a", "b"))
    alice, bob = ClientSession("alice"), ClientSession("bob")
    alice.share("doc"), bob.share("doc")
    edit(first, alice, "hello", 10.0)
    edit(second, alice, "hello 😀", 11.0)
    edit(second, bob, "hello 😀", 11.5)
    edit(first, bob, "hello 😀 bob", 12.0)
    edit(second, alice, "hello 😀", 19.0)
    edit(second, alice, "hello 😀 bob!", 20.0)
    assert page(first) == page(second) == [(1, "alice", 8), (2, "bob", 4), (3, "alice", 1)]
    status, at_one = api(first, "GET", "/api/v1/documents/doc/revisions/1")
    assert status == 200 and at_one["text"] == "hello 😀"
    status, at_two = api(second, "GET", "/api/v1/documents/doc/revisions/2")
    assert at_two["text"] == "hello 😀 bob" and at_two["change"] == [[8, "", " bob"]]


def test_a_restore_through_one_daemon_reaches_an_editor_of_the_other(
        pool: ConnectionPool[Any]) -> None:
    """POST …/restore on daemon B is a new revision; an editor syncing with A gets the text."""
    first, second = (SharedDocuments(pool, Settings.defaults(), sender=name)
                     for name in ("a", "b"))
    alice = ClientSession("alice")
    alice.share("doc")
    edit(first, alice, "first draft", 10.0)
    edit(first, alice, "second draft", 20.0)
    status, restored = api(second, "POST", "/api/v1/documents/doc/revisions/1/restore",
                           now=30.0)
    assert status == 200 and restored == {
        "name": "doc", "text": "first draft", "revision": 3, "modified": 30.0}
    body, changed = first.run(alice.build_request(), 31.0)
    alice.apply_response(body)
    assert alice.documents["doc"].text == "first draft"
    assert page(first)[-1] == (3, "api", 5)
    status, listed = api(first, "GET", "/api/v1/documents")
    assert listed["documents"][0]["revision"] == 3 and listed["documents"][0]["views"] == 1


def test_old_revisions_are_pruned_and_the_text_kept(pool: ConnectionPool[Any]) -> None:
    """With HISTORY_KEEP, housekeeping drops the revisions that old on every daemon's view
    of the log; with 0 only the text is kept and numbering goes on."""
    settings = Settings.defaults(history_keep=100.0)
    first, second = SharedDocuments(pool, settings), SharedDocuments(pool, settings)
    alice = ClientSession("alice")
    alice.share("doc")
    edit(first, alice, "old", 0.0)
    edit(second, alice, "old and new", 150.0)
    assert [number for number, _, _ in page(first)] == [1, 2]
    assert second.prune(200.0) == 1
    assert page(first) == [(2, "alice", 8)]
    status, at_base = api(first, "GET", "/api/v1/documents/doc/revisions/1")
    assert status == 200 and at_base["text"] == "old" and at_base["author"] is None

    nothing = SharedDocuments(pool, Settings.defaults(history_keep=0.0))
    edit(nothing, alice, "old and newer", 300.0)
    status, found = api(first, "GET", "/api/v1/documents/doc/revisions")
    assert (found["base"], found["head"], found["revisions"]) == (3, 3, [])


def test_a_database_of_the_previous_schema_upgrades_in_place(postgres_url: str) -> None:
    """A database at schema 2 with a document gets the revision tables and version 3; the
    document's first change after it starts its history from the text it had."""
    with psycopg.connect(postgres_url, autocommit=True) as connection:
        at_schema(connection, 2)
        connection.execute("INSERT INTO mobwrite_documents (name, body, lasttime) "
                           "VALUES ('doc', 'kept', 1)")
        assert upgrade(connection) == 2
        assert connection.execute("SELECT version FROM mobwrite_schema").fetchall() == [
            (SCHEMA_VERSION,)]
    opened: ConnectionPool[Any] = ConnectionPool(postgres_url, min_size=1, max_size=1,
                                                 kwargs={"autocommit": True}, open=True)
    try:
        daemon = SharedDocuments(opened, Settings.defaults())
        alice = ClientSession("alice")
        alice.share("doc")
        body, _ = daemon.run(alice.build_request(), 10.0)
        alice.apply_response(body)
        edit(daemon, alice, "kept, changed", 20.0)
        status, at_base = api(daemon, "GET", "/api/v1/documents/doc/revisions/0")
        assert status == 200 and at_base["text"] == "kept"
        assert page(daemon) == [(1, "alice", 9)]
    finally:
        opened.close()
