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


def batch(presence: Presence[str]) -> dict[str, object]:
    """The next batch: per document, the update its followers are all sent."""
    updates = {}
    for name, people, message in presence.batch():
        assert message_update(message) == {name: {ident: json.loads(entry)
                                                  for ident, entry in people.items()}}
        updates[name] = message_update(message)
    return updates


def test_a_publication_goes_to_its_documents_in_one_update_for_all_followers() -> None:
    """Ann's entry, caret included, makes one update of her document; the first
    publication gives her an id, the later ones do not."""
    subscriptions, presence = room("ann", "bo")
    subscriptions.add("stranger")
    subscriptions.follow("stranger", ["other"])
    assert presence.publish("ann", ANN) == "p1"
    assert presence.publish("ann", ANN) is None
    assert batch(presence) == {
        "memo": {"memo": {"p1": {"name": "Ann", "color": "#ff0000", "caret": [1, 4]}}}}
    assert batch(presence) == {}
    assert not presence.pending()
    assert presence.counts.published == 2


def test_updates_coalesce_into_one_with_the_latest_entry() -> None:
    """Three publications before the batch: one entry, the last state."""
    _, presence = room("ann", "bo")
    presence.publish("ann", ANN)
    presence.publish("ann", Published("Ann", "#ff0000", {"memo": (2, 2)}))
    presence.publish("ann", Published("Anna", "#ff0000", {}))
    assert batch(presence) == {
        "memo": {"memo": {"p1": {"name": "Anna", "color": "#ff0000", "caret": None}}}}
    assert presence.counts.coalesced == 2


def test_a_newcomer_is_owed_who_is_there_and_they_are_told_of_it() -> None:
    """Bo follows after Ann published: Bo's own update lists Ann (not Bo), and the
    document's batch carries Bo's arrival."""
    subscriptions, presence = room("ann")
    presence.publish("ann", ANN)
    batch(presence)
    subscriptions.add("bo")
    presence.publish("bo", BO)
    subscriptions.follow("bo", ["memo"])
    presence.followed("bo", {"memo"})
    assert update(presence, "bo") == {"memo": {"p1": ANN.entry("memo")}}
    assert update(presence, "ann") is None
    assert batch(presence) == {"memo": {"memo": {"p2": BO.entry("memo")}}}
    assert presence.counts.updates_sent == 1


def test_a_closed_socket_departs_and_its_memory_is_freed() -> None:
    """Its departure is a null entry; nothing of it stays in the presence."""
    subscriptions, presence = room("ann", "bo")
    presence.publish("ann", ANN)
    presence.publish("bo", BO)
    presence.hold("bo", "memo", {"p1": "null"})
    batch(presence)
    presence.remove("bo")
    subscriptions.remove("bo")
    assert batch(presence) == {"memo": {"memo": {"p2": None}}}
    assert "bo" not in presence.published and "bo" not in presence.ids
    assert "bo" not in presence.owed and len(presence) == 1


def test_a_socket_that_never_published_departs_silently() -> None:
    _, presence = room("ann", "bo")
    presence.remove("bo")
    assert not presence.pending()


def test_a_reader_not_reading_keeps_one_entry_per_person() -> None:
    """Held batches merge: the latest entry of each person, departures included."""
    _, presence = room("ann", "bo")
    presence.hold("bo", "memo", {"p1": '{"name":"A"}', "p3": '{"name":"C"}'})
    presence.hold("bo", "memo", {"p1": '{"name":"Ann"}', "p3": "null"})
    assert update(presence, "bo") == {"memo": {"p1": {"name": "Ann"}, "p3": None}}
    assert not presence.owes("bo")


def test_documents_the_reader_may_not_read_are_left_out() -> None:
    _, presence = room("ann", "bo")
    presence.hold("bo", "memo", {"p1": ANN.entry_json("memo")})
    presence.hold("bo", "secret", {"p1": ANN.entry_json("secret")})
    message = presence.take("bo", lambda name: name != "secret")
    assert message is not None and message_update(message) == {
        "memo": {"p1": ANN.entry("memo")}}


def test_an_update_left_with_nothing_readable_is_not_sent() -> None:
    _, presence = room("ann", "bo")
    presence.hold("bo", "memo", {"p1": ANN.entry_json("memo")})
    assert presence.take("bo", lambda name: False) is None
    assert not presence.owes("bo")
    assert presence.counts.updates_sent == 0


def test_people_on_another_daemon_are_shown_like_the_sockets_here() -> None:
    """A person elsewhere joins the batches of the documents it follows there; a newcomer is
    owed it; the same state said again changes nothing; leaving and being forgotten both
    send a departure, and free what was kept of it."""
    subscriptions, presence = room("bo")
    presence.arrive(("b", "p1"), ANN, frozenset({"memo", "other"}), 10.0)
    assert batch(presence) == {"memo": {"memo": {"r1": ANN.entry("memo")}},
                               "other": {"other": {"r1": ANN.entry("other")}}}
    presence.arrive(("b", "p1"), ANN, frozenset({"memo", "other"}), 20.0)
    assert not presence.pending()
    subscriptions.add("cy")
    subscriptions.follow("cy", ["memo"])
    presence.followed("cy", {"memo"})
    assert update(presence, "cy") == {"memo": {"r1": ANN.entry("memo")}}
    presence.leave(("b", "p1"))
    assert batch(presence) == {"memo": {"memo": {"r1": None}}, "other": {"other": {"r1": None}}}
    presence.arrive(("b", "p2"), BO, frozenset({"memo"}), 30.0)
    batch(presence)
    presence.forget_elsewhere(29.0)
    assert not presence.pending()
    presence.forget_elsewhere(31.0)
    assert batch(presence) == {"memo": {"memo": {"r2": None}}}
    assert presence.elsewhere == {} and presence.elsewhere_on == {}
