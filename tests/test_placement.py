"""Exact placement: a client's change carried through the master's recent splices."""

from __future__ import annotations

import argparse
import random
from typing import Any

import pytest
from crowds import Crowd, counter
from hypothesis import given, settings
from hypothesis import strategies as st

from benchmarks.placement import main, run
from mobwrite.core.delta import Differ
from mobwrite.core.placement import MAX_STEPS, SLACK, VERSIONS_PER_VIEW, SpliceLog

TEXT = st.text(alphabet="ab \n😀", max_size=10)
DIFFER = Differ(0.1)


def logged(text: str, *changes: tuple[int, int, str]) -> tuple[SpliceLog, str]:
    """A log of *text* changed by each splice in turn (views: 2), and the master."""
    log = SpliceLog(text, DIFFER.diff)
    for start, end, inserted in changes:
        text = text[:start] + inserted + text[end:]
        log.record(text, 2, [(start, end, inserted)])
    return log, text


@pytest.mark.parametrize(("shadow", "changes", "hunks", "carried"), [
    # A change moves by the changes before it.
    ("one two three", [(0, 3, "ONE!"), (9, 14, "3")], [(4, 7, "2")],
     ("ONE! 2 3", [(5, 8, "2")])),
    # Text put in at a point where others put text since goes after theirs.
    ("ab", [(1, 1, "X"), (3, 3, "Y")], [(1, 1, "1"), (2, 2, "2")],
     ("aX1bY2", [(2, 2, "1"), (4, 4, "2")])),
    # A stretch never takes in text put in at its ends.
    ("abcd", [(1, 1, "<"), (4, 4, ">")], [(1, 3, "")], ("a<>d", [(2, 4, "")])),
    # Offsets are code points, as in the decoded diffs: an emoji is one.
    ("😀a😀b😀", [(0, 1, "👩‍💻"), (6, 6, "🎉")], [(3, 4, "B")],
     ("👩‍💻a😀B🎉😀", [(5, 6, "B")])),
], ids=["moved", "same-point", "ends", "emoji"])
def test_a_change_no_one_else_touched_goes_where_it_was_typed(
        shadow: str, changes: list[tuple[int, int, str]], hunks: list[tuple[int, int, str]],
        carried: tuple[str, list[tuple[int, int, str]]]) -> None:
    log, _ = logged(shadow, *changes)
    assert log.carry(shadow, hunks) == carried


def test_a_change_of_several_stretches_moves_a_place_by_those_before_it() -> None:
    shadow = "abcdefgh"
    log = SpliceLog(shadow, DIFFER.diff)
    log.record("XXbYYYdefgh", 2, [(0, 1, "XX"), (2, 3, "YYY")])
    log.record("XXYYYdefGGh", 2, [(2, 3, ""), (9, 10, "GG")])
    assert log.carry(shadow, [(4, 5, "E"), (5, 6, "F")]) == (
        "XXYYYdEFGGh", [(6, 7, "E"), (7, 8, "F")])
    assert log.carry(shadow, [(6, 7, "")]) is None


def test_a_change_of_a_stretch_another_changed_is_a_conflict() -> None:
    shadow = "one two three"
    log, _ = logged(shadow, (5, 6, "W"))
    assert log.carry(shadow, [(4, 7, "2")]) is None
    # Text put in strictly inside the stretch, or a deletion across a point.
    assert logged(shadow, (5, 5, "x"))[0].carry(shadow, [(4, 7, "2")]) is None
    assert logged(shadow, (3, 5, ""))[0].carry(shadow, [(4, 4, "!")]) is None


def test_only_a_recent_master_itself_is_placed() -> None:
    shadow = "one two"
    log, master = logged(shadow, (0, 0, "0 "))
    # An equal copy is not the version (it may be any text that happens to be equal).
    assert log.carry("".join(["one ", "two"]), [(0, 3, "1")]) is None
    assert log.version_of(master) == 1


def test_the_window_exhausted_falls_back() -> None:
    """Versions older than the window (for the document's views) are forgotten."""
    log = SpliceLog(text := "x", DIFFER.diff)
    old = text
    window = VERSIONS_PER_VIEW * 2 + SLACK
    for count in range(window + window // 4):
        text = f"{count} x"
        log.record(text, 2)
        assert log.carry(old, [(0, 1, "y")]) is not None
    log.record("last x", 2)
    assert log.version_of(old) is None
    assert log.carry(old, [(0, 1, "y")]) is None


def test_changes_of_many_stretches_are_logged_as_one() -> None:
    """Beyond MAX_STEPS stretches a change is logged as the one stretch around them:
    a change inside it is then a conflict, one beside it is not."""
    dots = "".join(f"{i}." for i in range(MAX_STEPS + 2))
    shadow = "ab" + dots + "cd"
    log = SpliceLog(shadow, DIFFER.diff)
    log.record("ab" + dots.replace(".", ",") + "cd", 2,
               [(i, i + 1, ",") for i in range(3, len(dots) + 2, 2)])
    assert log.carry(shadow, [(4, 5, "X")]) is None
    assert log.carry(shadow, [(0, 1, "A")]) == ("Ab" + dots.replace(".", ",") + "cd",
                                                [(0, 1, "A")])


def test_a_change_not_given_is_found_by_comparing() -> None:
    """Between the common ends, and there by a diff: a change of far apart
    stretches (patching's, of several hunks) stays several small ones."""
    shadow = "one two three four"
    log = SpliceLog(shadow, DIFFER.diff)
    log.record("one 2 three four", 2)
    assert log.carry(shadow, [(8, 13, "3")]) == ("one 2 3 four", [(6, 11, "3")])
    assert log.carry(shadow, [(5, 6, "W")]) is None
    master = log.text
    log.record("ONE 2 three FOUR", 2)
    assert log.carry(master, [(6, 11, "3")]) == ("ONE 2 3 FOUR", [(6, 11, "3")])


@settings(max_examples=500, deadline=None)
@given(TEXT, TEXT, TEXT, TEXT, st.lists(st.tuples(st.booleans(), st.integers(0, 12),
                                                  st.integers(0, 3), TEXT), max_size=10))
def test_a_stretch_no_one_else_touched_is_changed_where_it_was_typed(
        left: str, middle: str, right: str, typed: str,
        others: list[tuple[bool, int, int, str]]) -> None:
    """The shadow is left + middle + right; others change only left and right (text
    put in where they meet the middle included), the client only the middle: the
    master becomes left' + typed + right'.  With an empty middle, text others put
    in at that very point goes before the client's."""
    shadow = left + middle + right
    start = len(left)
    log = SpliceLog(shadow, DIFFER.diff)
    for on_right, at, length, inserted in others:
        part = right if on_right else left
        at = min(at, len(part))
        end = min(at + length, len(part))
        if on_right and not middle and at == end == 0:
            on_right, part, at, end = False, left, len(left), len(left)
        offset = len(left) + len(middle) if on_right else 0
        master = log.text
        log.record(master[:offset + at] + inserted + master[offset + end:], 2,
                   [(offset + at, offset + end, inserted)])
        if on_right:
            right = part[:at] + inserted + part[end:]
        else:
            left = part[:at] + inserted + part[end:]
    carried = log.carry(shadow, [(start, start + len(middle), typed)])
    assert carried is not None
    assert carried[0] == left + typed + right


def patching(crowd: Crowd, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The masters the engine patches a change into from now on (fuzzy patching;
    a master that is still the change's shadow takes the change as it is)."""
    patched: list[str] = []
    merge = crowd.engine.differ.merge

    def spy(master: str, shadow: str, *args: Any) -> Any:
        if master != shadow:
            patched.append(master)
        return merge(master, shadow, *args)

    monkeypatch.setattr(crowd.engine.differ, "merge", spy)
    return patched


def counters(counts: list[int]) -> str:
    return "".join(counter(typist, count) for typist, count in enumerate(counts))


@pytest.mark.parametrize("coarse", [False, True], ids=["exact", "coarse"])
@pytest.mark.parametrize("seed", range(12))
def test_many_views_on_packed_counters_each_edit_lands_where_typed(
        seed: int, coarse: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    """Editors raise their own counters in a packed text and sync at random, so
    their shadows lag the master by many versions (their neighbours' digits
    changed meanwhile, often all carrying from 09 to 10): every edit stays on
    its own counter, placed without patching."""
    rng = random.Random(seed)
    editors = 40
    counts = [6] * editors
    crowd = Crowd(counters(counts), editors, coarse)
    patched = patching(crowd, monkeypatch)
    for _ in range(20):
        for who in rng.sample(range(editors), rng.randint(1, editors)):
            if rng.random() < 0.6:
                crowd.type(who, counter(who, counts[who]), counter(who, counts[who] + 1))
                counts[who] += 1
            if rng.random() < 0.5:
                crowd.sync(who)
    for who in range(editors):
        crowd.sync(who)
    assert crowd.master == counters(counts)
    assert patched == []
    for who in range(editors):
        crowd.sync(who)
        assert crowd.text(who) == crowd.master


def test_a_conflict_merges_as_patches_do() -> None:
    """Two editors change the same word: the later change is patched in, as before."""
    crowd = Crowd("the quick brown fox", 2)
    shadow = crowd.text(1)
    crowd.type(0, "brown", "red")
    crowd.sync(0)
    crowd.type(1, "brown", "brawn")
    new_shadow = crowd.text(1)
    differ = crowd.engine.differ
    expected = differ.merge(crowd.master, shadow, differ.diff(shadow, new_shadow), new_shadow)
    crowd.sync(1)
    assert crowd.master == expected[0]


def test_positions_count_code_points_whatever_the_utf16_lengths(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Counters among characters beyond the basic plane (two UTF-16 units each on
    the wire, one code point in the engine), changing length as they go."""
    def mark(typist: int, count: int) -> str:
        return f"😀[{typist}:{count:02d}{'👩‍💻' * (count % 3)}]"

    crowd = Crowd("".join(mark(typist, 0) for typist in range(4)), 4)
    patched = patching(crowd, monkeypatch)
    counts = [0] * 4
    for step in range(12):
        for who in (step % 4, (step + 1) % 4):
            crowd.type(who, mark(who, counts[who]), mark(who, counts[who] + 1))
            counts[who] += 1
            crowd.sync(who)
        crowd.type(3 - step % 4, mark(3 - step % 4, counts[3 - step % 4]),
                   mark(3 - step % 4, counts[3 - step % 4] + 1))
        counts[3 - step % 4] += 1
    for who in range(4):
        crowd.sync(who)
    assert crowd.master == "".join(mark(typist, counts[typist]) for typist in range(4))
    # Each change went where it was typed, none was patched in.
    assert patched == []


@pytest.mark.parametrize("lag", [130, 150])
def test_a_shadow_older_than_the_window_is_patched_in(lag: int,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """With three views the log keeps the last 112 versions (up to a quarter more
    before it forgets): a view lagging further has its change patched in."""
    assert VERSIONS_PER_VIEW * 3 + SLACK == 112
    crowd = Crowd("0: alpha beta gamma", 3)
    for count in range(lag):
        crowd.type(0, f"{count}:", f"{count + 1}:")
        crowd.sync(0)
    patched = patching(crowd, monkeypatch)
    crowd.type(1, "gamma", "GAMMA")
    crowd.sync(1)
    assert crowd.master == f"{lag}: alpha beta GAMMA"
    assert len(patched) == (lag > 112 + 112 // 4)


def test_the_cost_benchmark_runs_and_places_every_change() -> None:
    """``benchmarks.placement`` (BENCHMARKS.md) in miniature: every replayed change
    is placed where it was typed, and each cost is measured."""
    report = run(argparse.Namespace(counters=30, merges=300, lag=40, seed=3))
    assert report["placed"] == 300
    assert all(report[f"{name}_ms"] > 0
               for name in ("carry", "log_record", "history_record", "patch"))
    assert main(["--counters", "5", "--merges", "10", "--lag", "3"]) == 0
