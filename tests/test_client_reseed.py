"""A ClientSession whose view the server lost is reseeded (docs/protocol.md §15.1):
only its own unsent change goes back, so nobody else's edit is deleted."""

from __future__ import annotations

import pytest

from mobwrite.client.session import ClientSession
from mobwrite.core.engine import Engine
from mobwrite.core.store import Store
from mobwrite.settings import Settings

OTHERS = "one two three 🎉"


def sync(engine: Engine, session: ClientSession) -> str:
    """One exchange with the engine; the answer as text."""
    body = engine.handle(session.build_request(), 0.0).body
    session.apply_response(body + b"\n")
    return body.decode()


@pytest.fixture
def engine() -> Engine:
    return Engine(Store(), Settings.defaults())


@pytest.fixture
def alice(engine: Engine) -> ClientSession:
    """A client in step with document "doc", which reads "one two"."""
    session = ClientSession("alice001")
    session.share("doc", "one two")
    for _ in range(2):
        sync(engine, session)
    return session


def lose_view_while_bob_writes(engine: Engine, alice: ClientSession) -> ClientSession:
    """Forget alice's view; bob changes the document to OTHERS meanwhile."""
    engine.store.discard_view(("alice001", "doc"))
    bob = ClientSession("bob00002")
    document = bob.share("doc")
    sync(engine, bob)
    document.text = OTHERS
    sync(engine, bob)
    assert engine.store.documents["doc"].text == OTHERS
    return bob


def test_typing_while_the_view_was_lost_goes_back_alone(
        engine: Engine, alice: ClientSession) -> None:
    """Alice's "zero " lands on bob's text; nothing bob wrote is deleted."""
    bob = lose_view_while_bob_writes(engine, alice)
    document = alice.documents["doc"]
    document.text = "zero one two"
    assert "\nr:0:" in sync(engine, alice)
    assert document.text == "zero " + OTHERS
    assert alice.build_request() == (
        b"u:alice001\nF:0:doc\nd:0:+zero \t=16\n\n")
    sync(engine, alice)
    assert engine.store.documents["doc"].text == "zero " + OTHERS
    sync(engine, bob)
    assert bob.documents["doc"].text == "zero " + OTHERS


def test_edits_over_several_lost_answers_are_measured_from_the_acknowledged_text(
        engine: Engine, alice: ClientSession) -> None:
    """Edits stacked by unanswered requests all go back, and only they."""
    alice.documents["doc"].text = "zero one two"
    alice.build_request()
    lose_view_while_bob_writes(engine, alice)
    alice.documents["doc"].text = "zero one two!"
    sync(engine, alice)
    sync(engine, alice)
    assert engine.store.documents["doc"].text == "zero one two! three 🎉"


def test_nothing_unsent_takes_the_servers_text(engine: Engine, alice: ClientSession) -> None:
    """A client that typed nothing adopts the text instead of sending its old one back."""
    lose_view_while_bob_writes(engine, alice)
    sync(engine, alice)
    assert alice.documents["doc"].text == OTHERS
    sync(engine, alice)
    assert engine.store.documents["doc"].text == OTHERS


def test_a_missing_document_gets_the_whole_text_back(engine: Engine, alice: ClientSession) -> None:
    """An empty reseed (the document is gone) keeps the local text and sends it whole."""
    engine.store.discard_view(("alice001", "doc"))
    engine.handle(b"u:deleter3\nN:doc\n\n", 0.0)
    assert "doc" not in engine.store.documents
    alice.documents["doc"].text = "zero one two"
    assert "\nr:0:\n" in sync(engine, alice) + "\n"
    assert alice.documents["doc"].text == "zero one two"
    sync(engine, alice)
    assert engine.store.documents["doc"].text == "zero one two"


def test_an_overwrite_document_keeps_a_value_changed_meanwhile() -> None:
    """Overwrite mode: a value changed while the view was lost wins, an unchanged one yields."""
    engine = Engine(Store(), Settings.defaults())
    chooser, other = ClientSession("chooser1"), ClientSession("other002")
    for session in (chooser, other):
        session.share("count", "1", merge=False)
        sync(engine, session)
        sync(engine, session)
    for session in (chooser, other):
        engine.store.discard_view((session.user, "count"))
    chooser.documents["count"].text = "2"
    sync(engine, chooser)
    assert chooser.documents["count"].text == "2"
    sync(engine, chooser)
    assert engine.store.documents["count"].text == "2"
    sync(engine, other)
    assert other.documents["count"].text == "2"


def test_a_reseed_after_an_unanswered_raw_measures_the_change_from_the_raw() -> None:
    """The server takes a raw as its shadow: the change kept is what was typed after it."""
    session = ClientSession("alice001")
    document = session.share("doc", "local words")
    session.build_request()
    document.text = "local words, more"
    session.apply_response(b"F:0:doc\nr:0:master%20words\n\n")
    assert document.text == "master words, more"


def test_the_worked_session() -> None:
    """docs/protocol.md §9.11: " now" goes back alone, on "Buy oat milk"."""
    engine = Engine(Store(), Settings.defaults())
    alice = ClientSession("alice001")
    notes = alice.share("notes", "Buy milk")
    for _ in range(2):
        sync(engine, alice)
    engine.store.discard_view(("alice001", "notes"))
    engine.handle(b"u:bob00002\nF:0:notes\nr:1:Buy milk\nd:1:=4\t+oat \t=4\n\n", 0.0)
    notes.text = "Buy milk now"
    assert sync(engine, alice) == "F:0:notes\nr:0:Buy oat milk\n"
    assert notes.text == "Buy oat milk now"
    assert alice.build_request() == b"u:alice001\nF:0:notes\nd:0:=12\t+ now\n\n"
