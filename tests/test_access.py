"""Access control's pure rules (core/access.py) and the engine's read-only mode."""

from __future__ import annotations

import pytest

from mobwrite.client.session import ClientSession
from mobwrite.core import access
from mobwrite.core.access import Allowed, Grant, Refused, decide, needs, split_restriction
from mobwrite.core.engine import Engine
from mobwrite.core.escaping import encode_text
from mobwrite.core.store import Store
from mobwrite.settings import Settings

READ_WRITE = frozenset({access.READ, access.WRITE})
GRANT = Grant("alice", READ_WRITE, frozenset({"memo"}), ("team/",))


def check(grant: Grant, data: bytes) -> Allowed | Refused:
    return decide(grant, data, 500, 4)


def fragment(inner: bytes, name: bytes = b"buf1", size: int = 1, index: int = 1) -> bytes:
    """A buffer line carrying *inner* (docs/protocol.md §3.7)."""
    return b"b:%s %d %d %s\n" % (name, size, index, encode_text(inner.decode()).encode())


def test_a_grant_covers_its_names_and_prefixes_only() -> None:
    """Exact names match whole; prefixes match the start; nothing else is covered."""
    assert GRANT.covers("memo") and GRANT.covers("team/plan") and GRANT.covers("team/")
    assert not GRANT.covers("memo2") and not GRANT.covers("mem") and not GRANT.covers("team")


def test_needs_reads_every_named_document() -> None:
    """File, nullify and buffered lines all name documents; a bad name is the engine's to drop."""
    data = (b"u:a\nF:1:memo\nd:1:=4\nf:0:other\nN:gone\n" + fragment(b"u:a\nF:0:inner\n\n")
            + b"F:0:\x01bad\n\n")
    wanted = needs(data, 500, 4)
    assert wanted.documents == {"memo", "other", "gone", "inner"}
    assert wanted.deleted == {"gone"} and not wanted.fragmented


def test_a_covered_sync_may_run_and_write() -> None:
    assert check(GRANT, b"u:a\nF:1:memo\nd:1:=4\n\n") == Allowed(True)
    assert check(GRANT, b"u:a\nF:1:team/x\nR:1:new\n\n") == Allowed(True)


def test_a_read_only_grant_runs_without_writing() -> None:
    """An edit under a read-only grant is not refused: it runs with may_write false."""
    grant = Grant("bob", frozenset({access.READ}), frozenset({"memo"}))
    assert check(grant, b"u:a\nF:1:memo\nR:1:overwrite\n\n") == Allowed(False)


@pytest.mark.parametrize(("data", "kind"), [
    (b"u:a\nF:1:secret\nd:1:=4\n\n", "not_covered"),
    (b"u:a\nF:1:memo\nd:1:=4\nF:0:secret\nd:0:=1\n\n", "not_covered"),
    (b"u:a\nN:memo\n\n", "no_delete"),
    (b"u:a\nF:x:secret\nF:1:memo\nd:1:=4\n\n", "not_covered"),
    (b"u:a\nn:memo\n\n", "no_delete"),
    (fragment(b"u:a\nF:0:secret\nR:0:x\n\n") + b"\n", "not_covered"),
    (fragment(fragment(b"u:a\nN:memo\n\n").decode().encode() + b"\n") + b"\n", "no_delete"),
    (fragment(b"u:a\nF:0:memo\n", size=2) + b"\n", "fragmented"),
])
def test_refusals(data: bytes, kind: str) -> None:
    """Uncovered documents, deletes without the right and unfinished buffers are refused whole."""
    decision = check(GRANT, data)
    assert isinstance(decision, Refused) and decision.kind == kind
    assert "\n" not in decision.reason


def test_delete_needs_the_right_and_coverage() -> None:
    grant = Grant("ops", READ_WRITE | {access.DELETE}, frozenset({"memo"}))
    assert check(grant, b"u:a\nN:memo\n\n") == Allowed(True)
    refused = check(grant, b"u:a\nN:other\n\n")
    assert isinstance(refused, Refused) and refused.kind == "not_covered"


def test_a_grant_without_read_syncs_nothing() -> None:
    """An admin-only grant opens the operator pages, not documents."""
    grant = Grant("ops", frozenset({access.ADMIN}), frozenset({"memo"}))
    refused = check(grant, b"u:a\nF:0:memo\nd:0:=0\n\n")
    assert isinstance(refused, Refused) and refused.kind == "no_read"


def test_buffers_deeper_than_the_engine_runs_are_not_read() -> None:
    """A buffer nested past MAX_BUFFER_DEPTH is dropped by the engine, so it needs nothing."""
    inner = b"u:a\nF:0:secret\nR:0:x\n\n"
    nested = fragment(fragment(inner) + b"\n") + b"\n"
    assert needs(nested, 500, 3).documents == {"secret"}
    assert needs(nested, 500, 2).documents == set()


def test_the_read_only_line_is_taken_off_the_front_only() -> None:
    assert split_restriction(b"a:read-only\nu:a\n\n") == (True, b"u:a\n\n")
    assert split_restriction(b"u:a\na:read-only\n\n") == (False, b"u:a\na:read-only\n\n")


# The engine's read-only mode (Engine.handle(..., may_write=False)).

def synced(engine: Engine, client: ClientSession, now: float, may_write: bool = True) -> bytes:
    """One sync of *client* through *engine*; the client applies the answer."""
    answer = engine.handle(client.build_request(), now, may_write).body
    client.apply_response(answer)
    return answer


def test_a_read_only_edit_is_undone_and_the_master_kept() -> None:
    """The edit reaches the shadow (versions stay in step) but not the master; the reply
    brings the client back to the master's text, and later syncs go on as deltas."""
    store = Store()
    engine = Engine(store, Settings.defaults())
    writer, reader = ClientSession("writer01"), ClientSession("reader01")
    writer.share("memo").text = "Hello world"
    synced(engine, writer, 1.0)
    document = reader.share("memo")
    synced(engine, reader, 2.0, may_write=False)
    assert document.text == "Hello world"
    document.text = "Hello cruel world"
    synced(engine, reader, 3.0, may_write=False)
    assert store.documents["memo"].text == "Hello world"
    assert document.text == "Hello world"
    writer.documents["memo"].text = "Hello world!"
    synced(engine, writer, 4.0)
    answer = synced(engine, reader, 5.0, may_write=False)
    assert document.text == "Hello world!" and b"R:" not in answer and b"r:" not in answer


def test_a_read_only_overwrite_and_first_text_change_nothing() -> None:
    """Raw text (R) from a read-only client, and a delta that would create a document,
    leave the masters as they were."""
    store = Store()
    engine = Engine(store, Settings.defaults())
    engine.handle(b"u:w\nF:0:memo\nR:0:kept\n\n", 1.0)
    events: list[str] = []
    engine.report = lambda event, **fields: events.append(event)
    answer = engine.handle(b"u:r\nF:0:memo\nR:0:replaced\n\n", 2.0, may_write=False).body
    assert store.documents["memo"].text == "kept"
    assert answer == b"F:0:memo\nD:0:-8\t+kept\n"
    engine.handle(b"u:r\nF:0:fresh\nd:0:+new\n\n", 3.0, may_write=False)
    assert store.documents["fresh"].text is None
    assert events == ["read_only", "read_only"]


def test_may_write_lasts_one_request() -> None:
    store = Store()
    engine = Engine(store, Settings.defaults())
    engine.handle(b"u:r\nF:0:memo\nR:0:no\n\n", 1.0, may_write=False)
    engine.handle(b"u:w\nF:0:memo\nR:0:yes\n\n", 2.0)
    assert store.documents["memo"].text == "yes"
