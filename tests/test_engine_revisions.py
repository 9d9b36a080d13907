"""Every change of a master becomes a revision (docs/history.md, "In the engine")."""

from __future__ import annotations

from test_engine import make_engine, say

from mobwrite.core.engine import Engine
from mobwrite.core.revisions import EDIT, FORCE, Appended, RevisionLog
from mobwrite.core.store import Store
from mobwrite.settings import Settings


def log_of(engine: Engine, name: str) -> RevisionLog:
    log = engine.store.revisions(name)
    assert log is not None
    return log


def summary(log: RevisionLog) -> list[tuple[int, str, str, tuple[tuple[int, str, str], ...]]]:
    return [(r.number, r.author, r.kind, r.change) for r in log.page(1, 100)]


def test_edits_become_revisions_by_the_views_user() -> None:
    engine = make_engine()
    say(engine, "u:alice", "F:0:notes", "r:1:Buy milk", now=10)
    say(engine, "u:bob", "F:0:notes", "r:1:", now=11)
    say(engine, "u:bob", "F:1:notes", "d:1:=8\t+ and eggs", now=20)
    log = log_of(engine, "notes")
    assert summary(log) == [
        (1, "alice", EDIT, ((0, "", "Buy milk"),)),
        (2, "bob", EDIT, ((8, "", " and eggs"),)),
    ]
    assert log.text == "Buy milk and eggs" == engine.store.documents["notes"].text
    assert log.text_at(1) == "Buy milk"


def test_rapid_edits_of_one_user_fold() -> None:
    engine = make_engine()
    say(engine, "u:alice", "F:0:notes", "r:1:ab", now=10)
    say(engine, "u:alice", "F:1:notes", "d:1:=2\t+c", now=10.5)
    say(engine, "u:alice", "F:2:notes", "d:2:=3\t+d", now=11)
    assert summary(log_of(engine, "notes")) == [(1, "alice", EDIT, ((0, "", "abcd"),))]


def test_a_token_subject_signs_the_revision() -> None:
    engine = make_engine()
    request = b"u:view0001\nF:0:notes\nr:1:hello\n\n"
    engine.handle(request, 5.0, author="carol@example.org")
    assert summary(log_of(engine, "notes")) == [
        (1, "carol@example.org", EDIT, ((0, "", "hello"),))]


def test_forced_texts_are_their_own_revisions() -> None:
    engine = make_engine()
    say(engine, "u:alice", "F:0:notes", "r:1:one", now=1)
    say(engine, "u:alice", "F:1:notes", "R:2:two", now=1.5)
    say(engine, "u:alice", "F:2:notes", "D:2:-3\t+six", now=1.7)
    assert [(r.number, r.kind) for r in log_of(engine, "notes").page(1, 10)] == [
        (1, EDIT), (2, FORCE), (3, FORCE)]
    assert log_of(engine, "notes").text_at(2) == "two"


def test_refused_and_read_only_edits_record_nothing() -> None:
    engine = make_engine(max_chars=5)
    say(engine, "u:alice", "F:0:notes", "r:1:abc", now=1)
    say(engine, "u:alice", "F:1:notes", "d:1:=3\t+defgh", now=2)
    engine.handle(b"u:bob\nF:0:notes\nr:1:abc\n\n", 3.0)
    engine.handle(b"u:bob\nF:1:notes\nd:1:=3\t+z\n\n", 4.0, may_write=False)
    log = log_of(engine, "notes")
    assert log.head == 1 and log.text == "abc"


def test_the_log_goes_with_the_document() -> None:
    engine = make_engine()
    say(engine, "u:alice", "F:0:notes", "r:1:hello", now=1)
    engine.store.take_changes()
    say(engine, "u:alice", "n:notes", now=2)
    assert engine.store.revisions("notes") is None
    assert engine.store.take_changes().revisions == [("notes", None)]
    say(engine, "u:alice", "F:0:other", "r:1:x", now=3)
    list(engine.store.expire(now=1000, timeout_view=10, timeout_text=10, timeout_buffer=10))
    assert engine.store.revisions("other") is None


def test_the_rows_to_store_keep_their_order() -> None:
    engine = make_engine()
    say(engine, "u:alice", "F:0:notes", "r:1:ab", now=1)
    say(engine, "u:alice", "F:1:notes", "d:1:=2\t+c", now=1.5)
    say(engine, "u:bob", "F:0:notes", "r:1:", now=2)
    say(engine, "u:bob", "F:1:notes", "d:1:=3\t+d", now=2)
    changes = engine.store.take_changes()
    # A new log first clears anything stored under the name, from its base text.
    assert [(name, type(a).__name__) for name, a in changes.revisions[:2]] == [
        ("notes", "NoneType"), ("notes", "Pruned")]
    assert [(name, a.row.number, a.folded) for name, a in changes.revisions
            if isinstance(a, Appended)] == [
        ("notes", 1, False), ("notes", 1, True), ("notes", 2, False)]
    engine.store.put_back(changes)
    say(engine, "u:bob", "F:2:notes", "d:2:=4\t+e", now=2.5)
    again = engine.store.take_changes()
    assert [a.row.number for _, a in again.revisions if isinstance(a, Appended)] == [1, 1, 2, 2]


def test_lone_surrogates_are_recorded_and_rebuilt() -> None:
    store = Store()
    document = store.document("notes", 0.0)
    store.set_text(document, "a\ud800b", 1.0, "alice")
    store.set_text(document, "a\ud800b\udc00c", 5.0, "alice")
    store.set_text(document, "ab", 10.0, "alice")
    log = store.revisions("notes")
    assert log is not None and log.head == 3
    assert log.text_at(2) == "a\ud800b\udc00c" and log.text_at(1) == "a\ud800b"


def test_retention_drops_old_revisions_never_the_text() -> None:
    store = Store(keep=10.0)
    engine = Engine(store, Settings.defaults())
    say(engine, "u:alice", "F:0:notes", "r:1:one", now=0)
    say(engine, "u:alice", "F:1:notes", "R:2:two", now=5)
    say(engine, "u:alice", "F:2:notes", "R:3:three", now=20)
    store.take_changes()
    store.prune_revisions(now=16)
    log = log_of(engine, "notes")
    assert (log.base, log.head) == (2, 3) and log.text_at(2) == "two"
    assert [type(a).__name__ for _, a in store.take_changes().revisions] == ["Pruned"]
    store.prune_revisions(now=100)
    assert (log.base, log.head, log.text) == (3, 3, "three")
    assert store.documents["notes"].text == "three"


def test_keeping_none_keeps_only_the_text() -> None:
    engine = Engine(Store(keep=0), Settings.defaults())
    say(engine, "u:alice", "F:0:notes", "r:1:one", now=0)
    say(engine, "u:alice", "F:1:notes", "R:2:two", now=5)
    log = log_of(engine, "notes")
    assert (log.base, log.head, log.text) == (2, 2, "two")


def test_a_loaded_document_starts_its_log_at_its_text() -> None:
    store = Store()
    store.add_document("notes", "stored text", 0.0)
    engine = Engine(store, Settings.defaults())
    say(engine, "u:alice", "F:0:notes", "r:1:", now=1)
    say(engine, "u:alice", "F:1:notes", "d:1:=11\t+!", now=2)
    log = log_of(engine, "notes")
    assert (log.base, log.head) == (0, 1)
    assert log.text_at(0) == "stored text" and log.text == "stored text!"


def test_no_history_keeps_no_log() -> None:
    engine = Engine(Store(history=False), Settings.defaults())
    say(engine, "u:alice", "F:0:notes", "r:1:hello", now=1)
    assert engine.store.revisions("notes") is None
    assert engine.store.take_changes().revisions == []
