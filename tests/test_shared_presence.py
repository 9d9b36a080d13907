"""The presence messages daemons on one database send each other."""

from __future__ import annotations

from mobwrite.core.presence import Published
from mobwrite.daemon.shared_presence import MAX_PAYLOAD, presence_payload, read_payload


def test_a_presence_message_reads_back() -> None:
    """Name, colour, carets and documents come back as sent; a departure is the id alone."""
    ann = Published("Ann 😀", "#ff0000", {"memo": (1, 4)})
    sent = presence_payload("p3", ann, {"memo", "plan"})
    assert read_payload(sent) == ("p3", ann, frozenset({"memo", "plan"}))
    assert read_payload(presence_payload("p3", None)) == ("p3", None, frozenset())


def test_a_socket_following_many_documents_is_cut_to_the_payload_limit() -> None:
    """PostgreSQL refuses payloads of 8000 bytes: the documents that do not fit are left out."""
    names = {f"{'x' * 400}{number:03}" for number in range(100)}
    carets = {name: (1, 2) for name in names}
    sent = presence_payload("p1", Published("Ann", "#ff0000", carets), names)
    assert len(sent.encode()) <= MAX_PAYLOAD
    read = read_payload(sent)
    assert read is not None and 0 < len(read[2]) < len(names)
    assert set(read[1].carets) == read[2]  # type: ignore[union-attr]


def test_malformed_messages_are_ignored() -> None:
    """Not JSON, no id, or a presence a socket could not have published: nothing read."""
    assert read_payload("{") is None
    assert read_payload('{"name":"Ann"}') is None
    assert read_payload('{"id":"p1","name":"","color":"#ff0000","carets":{},'
                        '"documents":[]}') is None
    assert read_payload('{"id":"p1","name":"A","color":"#ff0000","carets":{},'
                        '"documents":[1]}') is None
