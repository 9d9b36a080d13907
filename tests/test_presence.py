"""Presence without I/O: message parsing, who is owed what, and departures."""

from __future__ import annotations

import json

import pytest

from mobwrite.core.presence import (
    MAX_NAME_CHARS,
    MAX_PRESENCE_BYTES,
    Presence,
    Published,
    message_presence,
    message_update,
)
from mobwrite.core.push import Subscriptions


def published(message: dict[str, object]) -> Published | str | None:
    return message_presence("!presence:" + json.dumps(message))


def test_a_presence_message_gives_name_color_and_carets() -> None:
    """The name is trimmed, the colour lower-cased, carets kept per document."""
    assert published({"name": " Ann ", "color": "#A0B0C0", "carets": {"memo": [3, 5]}}) \
        == Published("Ann", "#a0b0c0", {"memo": (3, 5)})


def test_other_messages_are_not_presence() -> None:
    """A request or a token message is left to the other readers."""
    assert message_presence("u:ann\nf:0:memo\n\n") is None
    assert message_presence("!token:abc") is None


@pytest.mark.parametrize("body, reason", [
    ("{", "not JSON"),
    ("[1]", "not a JSON object"),
    ('{"color": "#000000"}', "name must be a non-empty string"),
    ('{"name": "  ", "color": "#000000"}', "name must be a non-empty string"),
    ('{"name": 5, "color": "#000000"}', "name must be a non-empty string"),
    ('{"name": "' + "x" * (MAX_NAME_CHARS + 1) + '", "color": "#000000"}',
     f"name over {MAX_NAME_CHARS} characters"),
    ('{"name": "a\\u0007b", "color": "#000000"}', "name has control characters"),
    ('{"name": "a", "color": "red"}', "color must be #rrggbb"),
    ('{"name": "a", "color": "#000000", "carets": []}', "carets must be an object"),
    ('{"name": "a", "color": "#000000", "carets": {"m": [1]}}', "a caret must be"),
    ('{"name": "a", "color": "#000000", "carets": {"m": [-1, 2]}}', "a caret must be"),
    ('{"name": "a", "color": "#000000", "carets": {"m": [true, 2]}}', "a caret must be"),
    ('{"name": "a", "color": "#000000", "carets": {"m": [1.5, 2]}}', "a caret must be"),
])
def test_a_bad_presence_message_says_why(body: str, reason: str) -> None:
    """Every malformed field is refused with its own reason."""
    answer = message_presence("!presence:" + body)
    assert isinstance(answer, str) and answer.startswith("presence: " + reason)


def test_an_oversized_presence_message_is_refused_unread() -> None:
    answer = message_presence("!presence:" + " " * MAX_PRESENCE_BYTES)
    assert answer == f"presence: over {MAX_PRESENCE_BYTES} bytes"


def test_markup_in_a_name_is_kept_as_plain_text() -> None:
    """The server neither strips nor escapes: the page shows the name as text."""
    answer = published({"name": "<b>Bo</b>", "color": "#000000"})
    assert isinstance(answer, Published) and answer.name == "<b>Bo</b>"


def room(*sockets: str, name: str = "memo") -> tuple[Subscriptions[str], Presence[str]]:
    subscriptions: Subscriptions[str] = Subscriptions()
    for socket in sockets:
        subscriptions.add(socket)
        subscriptions.follow(socket, [name])
    return subscriptions, Presence(subscriptions)


ANN = Published("Ann", "#ff0000", {"memo": (1, 4)})
BO = Published("Bo", "#00ff00", {})


def update(presence: Presence[str], socket: str) -> object:
    message = presence.take(socket)
    return None if message is None else message_update(message)


def test_a_publication_reaches_the_other_followers_only() -> None:
    """Ann's entry, caret included, is owed to Bo, not to Ann, not to a stranger."""
    subscriptions, presence = room("ann", "bo")
    subscriptions.add("stranger")
    subscriptions.follow("stranger", ["other"])
    assert presence.publish("ann", ANN) == ["bo"]
    assert update(presence, "bo") == {
        "memo": {"p1": {"name": "Ann", "color": "#ff0000", "caret": [1, 4]}}}
    assert update(presence, "ann") is None
    assert update(presence, "stranger") is None


def test_updates_coalesce_into_one_with_the_latest_entry() -> None:
    """Three publications before the update is sent: one update, the last state."""
    _, presence = room("ann", "bo")
    assert presence.publish("ann", ANN) == ["bo"]
    assert presence.publish("ann", Published("Ann", "#ff0000", {"memo": (2, 2)})) == []
    assert presence.publish("ann", Published("Anna", "#ff0000", {})) == []
    assert update(presence, "bo") == {
        "memo": {"p1": {"name": "Anna", "color": "#ff0000", "caret": None}}}
    assert update(presence, "bo") is None


def test_a_newcomer_is_told_who_is_there_and_they_are_told_of_it() -> None:
    subscriptions, presence = room("ann")
    presence.publish("ann", ANN)
    subscriptions.add("bo")
    presence.publish("bo", BO)
    subscriptions.follow("bo", ["memo"])
    assert sorted(presence.followed("bo", {"memo"})) == ["ann", "bo"]
    assert update(presence, "bo") == {"memo": {"p1": ANN.entry("memo")}}
    assert update(presence, "ann") == {"memo": {"p2": BO.entry("memo")}}


def test_a_closed_socket_departs_and_its_memory_is_freed() -> None:
    """Its departure is a null entry; nothing of it stays in the presence."""
    subscriptions, presence = room("ann", "bo")
    presence.publish("ann", ANN)
    presence.publish("bo", BO)
    presence.take("ann")
    presence.take("bo")
    assert presence.remove("bo") == ["ann"]
    subscriptions.remove("bo")
    assert update(presence, "ann") == {"memo": {"p2": None}}
    assert "bo" not in presence.published and "bo" not in presence.ids
    assert "bo" not in presence.owed and len(presence) == 1


def test_a_socket_that_never_published_departs_silently() -> None:
    _, presence = room("ann", "bo")
    assert presence.remove("bo") == []
    assert not presence.owed


def test_documents_the_reader_may_not_read_are_left_out() -> None:
    subscriptions, presence = room("ann", "bo")
    subscriptions.follow("ann", ["secret"])
    subscriptions.follow("bo", ["secret"])
    presence.publish("ann", ANN)
    message = presence.take("bo", lambda name: name != "secret")
    assert message is not None and message_update(message) == {
        "memo": {"p1": ANN.entry("memo")}}


def test_an_update_left_with_nothing_readable_is_not_sent() -> None:
    _, presence = room("ann", "bo")
    presence.publish("ann", ANN)
    assert presence.take("bo", lambda name: False) is None
    assert not presence.owes("bo")


def test_people_on_another_daemon_are_shown_and_owed_nothing() -> None:
    """A person elsewhere reaches the followers here of the documents it follows there; a
    newcomer is told of them; a repeat of the same state owes nothing; leaving and being
    forgotten both show as a departure."""
    subscriptions, presence = room("bo")
    assert presence.arrive(("b", "p1"), ANN, frozenset({"memo", "other"}), 10.0) == ["bo"]
    assert update(presence, "bo") == {
        "memo": {"r1": {"name": "Ann", "color": "#ff0000", "caret": [1, 4]}}}
    assert presence.arrive(("b", "p1"), ANN, frozenset({"memo", "other"}), 20.0) == []
    subscriptions.add("cy")
    subscriptions.follow("cy", ["memo"])
    assert presence.followed("cy", {"memo"}) == ["cy"]
    assert update(presence, "cy") == {
        "memo": {"r1": {"name": "Ann", "color": "#ff0000", "caret": [1, 4]}}}
    assert sorted(presence.leave(("b", "p1"))) == ["bo", "cy"]
    assert update(presence, "bo") == {"memo": {"r1": None}}
    presence.arrive(("b", "p2"), BO, frozenset({"memo"}), 30.0)
    update(presence, "bo")
    assert presence.forget_elsewhere(29.0) == []
    assert presence.forget_elsewhere(31.0) == ["bo"]
    assert update(presence, "bo") == {"memo": {"r2": None}}
    assert presence.elsewhere == {} and presence.elsewhere_on == {}
