"""The log of recent master changes that replaces diffs for lagging shadows."""

from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from mobwrite.client.session import ClientSession
from mobwrite.core.delta import DELETE, INSERT, Differ, from_delta, result_text, to_delta
from mobwrite.core.engine import Engine
from mobwrite.core.recent import ALIVE, MAX_VERSIONS, SLACK, VERSIONS_PER_VIEW, RecentChanges
from mobwrite.core.store import Store
from mobwrite.settings import Settings

DIFFER = Differ(0.1)
# Short texts over few letters (and one astral character), so that edits
# often repeat their neighbours, the hard case for splicing.
texts = st.text(alphabet="ab \n😀", max_size=12)
splices = st.tuples(st.integers(0, 30), st.integers(0, 4), texts)


def spliced(text: str, splice: tuple[int, int, str]) -> str:
    at, removed, inserted = splice
    at = min(at, len(text))
    return text[:at] + inserted + text[at + removed:]


def diffs_of(history: RecentChanges, since: int, own: int | None,
             shadow: str) -> list[tuple[int, str]] | None:
    """The diffs the history's delta from *shadow* stands for (None if it has none)."""
    delta = history.delta(since, own, shadow)
    return None if delta is None else from_delta(shadow, delta.encode("utf-8"))


def source_text(diffs: list[tuple[int, str]]) -> str:
    return "".join(text for operation, text in diffs if operation != INSERT)


@given(texts, st.lists(splices, max_size=25), st.booleans())
def test_diffs_turn_every_logged_version_into_the_master(start, changes, told):
    """From each version still logged, the diffs rebuild it and lead to the master,
    whether the change was given as a splice or found by comparing."""
    history = RecentChanges(start, DIFFER.diff)
    versions = [start]
    for change in changes:
        versions.append(spliced(versions[-1], change))
        at = min(change[0], len(versions[-2]))
        splice = (at, min(at + change[1], len(versions[-2])), change[2])
        history.record(versions[-1], 2, splice if told else None)
    for since in range(history.base, history.version + 1):
        diffs = diffs_of(history, since, None, versions[since])
        assert diffs is not None
        assert source_text(diffs) == versions[since]
        assert result_text(diffs) == versions[-1]
        assert history.delta(since, None, versions[since]) == to_delta(diffs)


@given(texts, texts, st.lists(splices, max_size=12), splices)
def test_own_change_counts_as_seen(head, tail, changes, own):
    """A shadow that is an old version plus the view's own, latest change gets
    the others' changes only (theirs in the tail, its own in the head)."""
    start = head + "|" + tail
    history = RecentChanges(start, DIFFER.diff)
    for change in changes:
        text = history.text
        at = len(head) + 1 + min(change[0], len(text) - len(head) - 1)
        history.record(spliced(text, (at, change[1], change[2])), views=2)
    at = min(own[0], len(head))
    own = (at, min(own[1], len(head) - at), own[2])
    shadow = spliced(start, own)
    master = spliced(history.text, own)
    before = history.version
    history.record(master, views=2)
    own = None if history.version == before else history.version
    diffs = diffs_of(history, 0, own, shadow)
    assert diffs is not None
    assert source_text(diffs) == shadow and result_text(diffs) == master
    assert history.delta(0, own, shadow) == to_delta(diffs)


@given(texts, st.lists(splices, min_size=1, max_size=12), texts)
def test_a_shadow_that_is_not_the_version_gets_no_diffs(start, changes, other):
    """The walk checks the text it rebuilds, so a wrong version costs a real diff only."""
    history = RecentChanges(start, DIFFER.diff)
    text = start
    for change in changes:
        text = spliced(text, change)
        history.record(text, views=2)
    if other != start:
        assert diffs_of(history, 0, None, other) is None


def test_versions_are_known_by_the_very_string():
    """version_of finds a master by identity, not by an equal copy."""
    text = "hello world"
    history = RecentChanges(text, DIFFER.diff)
    later = text + "!"
    history.record(later, views=2)
    assert history.version_of(text) == 0
    assert history.version_of(later) == 1
    assert history.version_of("".join(["hello", " world"])) is None


def test_history_forgets_what_no_view_should_still_need():
    """Compaction keeps the pieces and the versions bounded by the number of views."""
    rng = random.Random(5)
    text = "".join(rng.choice("abcdef \n") for _ in range(1000))
    history = RecentChanges(text, DIFFER.diff)
    versions = [text]
    for _ in range(2000):
        at = rng.randint(0, len(text))
        text = text[:at] + "xy" + text[at + 1:]
        versions.append(text)
        history.record(text, views=10)
    window = VERSIONS_PER_VIEW * 10 + SLACK
    assert history.version - history.base <= window * 3 // 2
    assert len(history.pieces) <= 4 * window + 1
    assert diffs_of(history, history.base - 1, None, versions[history.base - 1]) is None
    diffs = diffs_of(history, history.base, None, versions[history.base])
    assert diffs is not None and result_text(diffs) == text
    assert window < MAX_VERSIONS


def test_large_deletions_reset_the_history():
    """Deleted text is kept only up to a bound; past it, only the present is known."""
    history = RecentChanges("x" * 100, DIFFER.diff)
    history.record("x" * 100 + "y" * 50000, views=2)
    history.record("x" * 100, views=2)
    assert history.base == history.version == 2
    assert history.pieces == [(100, 100, 2, ALIVE, "")]


def test_deletions_come_before_insertions_in_a_change():
    """A replaced stretch reads as one deletion then one insertion."""
    history = RecentChanges("one two three", DIFFER.diff)
    history.record("one 2 three", views=2)
    assert diffs_of(history, 0, None, "one two three") == [
        (0, "one "), (DELETE, "two"), (INSERT, "2"), (0, " three")]


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 2**32), st.integers(2, 6))
def test_every_reply_brings_the_client_shadow_to_the_master(seed, editors):
    """With several editors typing on one document, each reply (from the log or
    a diff) is a valid delta: the client's shadow becomes the master's text."""
    rng = random.Random(seed)
    engine = Engine(Store(0), Settings.defaults(max_chars=0))
    sessions = [ClientSession(f"e{number}") for number in range(editors)]
    for number, session in enumerate(sessions):
        session.share("doc", "the quick brown fox jumps" if number == 0 else "")
        session.apply_response(engine.handle(session.build_request(), 0).body)
    for _ in range(editors * 8):
        session = rng.choice(sessions)
        shared = session.documents["doc"]
        at = rng.randint(0, len(shared.text))
        if rng.random() < 0.3:
            shared.text = shared.text[:at] + shared.text[at + rng.randint(1, 3):]
        else:
            shared.text = shared.text[:at] + rng.choice(["a", "b ", "😀", "aa"]) + shared.text[at:]
        session.apply_response(engine.handle(session.build_request(), 1).body)
        assert shared.shadow == engine.store.documents["doc"].text
    for _ in range(2):
        for session in sessions:
            session.apply_response(engine.handle(session.build_request(), 2).body)
    assert {session.documents["doc"].text for session in sessions} == {
        engine.store.documents["doc"].text}


def test_lagging_views_get_their_delta_from_the_history(monkeypatch):
    """With several editors, the reply to a lagging view comes from the log,
    and it carries the others' edits only."""
    engine = Engine(Store(0), Settings.defaults(max_chars=0))
    first, second = ClientSession("first"), ClientSession("second")
    first.share("doc", "alpha beta gamma delta")
    second.share("doc")
    for session in (first, second, first, second):
        session.apply_response(engine.handle(session.build_request(), 0).body)
    document = engine.store.documents["doc"]
    history = engine.recent_changes("doc")
    assert history is not None
    first.documents["doc"].text = "alpha beta gamma delta epsilon"
    first.apply_response(engine.handle(first.build_request(), 1).body)
    second.documents["doc"].text = "ALPHA beta gamma delta"
    diffed: list[tuple[str, str]] = []
    delta = engine.differ.delta

    def spy(old: str, new: str) -> str:
        diffed.append((old, new))
        return delta(old, new)

    monkeypatch.setattr(engine.differ, "delta", spy)
    reply = engine.handle(second.build_request(), 1).body
    assert diffed == [] and reply.endswith(b"d:2:=22\t+ epsilon\n")
    second.apply_response(reply)
    assert second.documents["doc"].text == "ALPHA beta gamma delta epsilon"
    assert document.text is not None
    assert history.version_of(document.text) == history.version


def test_a_document_with_one_view_keeps_no_history():
    """The log costs memory only where several views share a document."""
    engine = Engine(Store(0), Settings.defaults(max_chars=0))
    session = ClientSession("alone")
    session.share("doc", "some text")
    for _ in range(3):
        session.documents["doc"].text += "!"
        session.apply_response(engine.handle(session.build_request(), 0).body)
    assert engine.recent_changes("doc") is None
