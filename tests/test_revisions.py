"""The revision log: rebuilding, folding, snapshots, retention and rows."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mobwrite.core.changes import replay
from mobwrite.core.delta import Differ
from mobwrite.core.revisions import (
    EDIT,
    FORCE,
    RESTORE,
    Policy,
    RevisionError,
    RevisionLog,
    RevisionRow,
    SnapshotRow,
    UnknownRevision,
)

DIFF = Differ(1.0).diff
# Letters of one, two and three UTF-8 bytes, emoji (two UTF-16 units) and a line break.
ALPHABET = st.sampled_from("ab \né中😀🎉")


def edited(text: str, start: int, end: int, inserted: str) -> str:
    return text[:start] + inserted + text[end:]


@st.composite
def edit_sequences(draw: st.DrawFn) -> list[tuple[tuple[int, int, str], str, float, str, bool]]:
    """Random splices (in code points of the text they apply to), each with
    an author, a time step, a kind and whether the splice is handed over."""
    length = len(draw(st.text(ALPHABET, max_size=20)))
    steps = []
    for _ in range(draw(st.integers(1, 25))):
        start = draw(st.integers(0, length))
        end = draw(st.integers(start, min(length, start + 4)))
        inserted = draw(st.text(ALPHABET, max_size=4))
        length += len(inserted) - (end - start)
        steps.append(((start, end, inserted), draw(st.sampled_from("xy")),
                      draw(st.sampled_from([0.5, 1.0, 3.0])),
                      draw(st.sampled_from([EDIT, EDIT, EDIT, RESTORE, FORCE])),
                      draw(st.booleans())))
    return steps


def run(log: RevisionLog, text: str, steps: list, start_time: float = 0.0) -> dict[int, str]:
    """Apply *steps* to *log* starting from *text*; the text of each revision."""
    expected = {log.head: log.text}
    now = start_time
    for (start, end, inserted), author, gap, kind, hinted in steps:
        start, end = min(start, len(text)), min(end, len(text))
        text = edited(text, start, end, inserted)
        now += gap
        log.append(text, author, now, kind, [(start, end, inserted)] if hinted else ())
        expected[log.head] = text
    return expected


SMALL = Policy(replay_count=3)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(first=st.text(ALPHABET, max_size=20), steps=edit_sequences(), diffing=st.booleans())
def test_every_revision_rebuilds_exactly(first, steps, diffing):
    """Any sequence of edits, folded or not, rebuilds every revision's text,
    and each revision's change turns the text before it into its own."""
    log = RevisionLog(first, policy=SMALL, diff=DIFF if diffing else None)
    expected = run(log, first, steps)
    for number in range(log.base, log.head + 1):
        assert log.text_at(number) == expected[number]
    for revision in log.revisions:
        before = log.text_at(revision.number - 1)
        assert replay(before, [revision.change]) == expected[revision.number]


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(first=st.text(ALPHABET, max_size=20), steps=edit_sequences(),
       keep=st.sampled_from([None, 0.0, 2.0, 10.0]), later=st.floats(0, 40))
def test_rows_round_trip_after_retention(first, steps, keep, later):
    """After any prune, every kept revision still rebuilds, the current text
    stays, and the rows load back into the same log."""
    log = RevisionLog(first, policy=SMALL)
    expected = run(log, first, steps)
    current = log.text
    log.prune(later, keep)
    assert log.text == log.text_at(log.head) == current
    if keep is not None and log.revisions:
        assert later - log.revisions[0].time < keep
    loaded = RevisionLog.from_rows(*log.rows(), policy=SMALL)
    assert (loaded.base, loaded.head, loaded.text) == (log.base, log.head, current)
    assert loaded.revisions == log.revisions
    for number in range(log.base, log.head + 1):
        assert loaded.text_at(number) == log.text_at(number) == expected[number]


def test_positions_count_utf16_units():
    """An edit after an emoji is placed in UTF-16 units, as the browser counts."""
    log = RevisionLog("a😀b")
    log.append("a😀Xb", "alice", 1.0, found=[(2, 2, "X")])
    log.append("a😀X🎉b", "bob", 2.0)
    assert log.revision(1).change == ((3, "", "X"),)
    assert log.revision(2).change == ((4, "", "🎉"),)
    assert (log.revision(2).inserted, log.revision(2).deleted) == (2, 0)


def test_wrong_splice_hint_is_not_trusted():
    """A splice that does not lead to the new text is ignored, not recorded."""
    log = RevisionLog("hello")
    log.append("help", "alice", 1.0, found=[(0, 0, "zz")])
    assert log.revision(1).change == ((3, "lo", "p"),)


def test_keystrokes_fold_into_one_revision():
    """Typing a word a keystroke at a time, then a backspace, is one revision."""
    log = RevisionLog("ab")
    text = "ab"
    appended = []
    for now, letter in enumerate("hello"):
        text = text[:1 + now] + letter + text[1 + now:]
        appended.append(log.append(text, "alice", 1.0 + now * 0.5))
    appended.append(log.append("ahellb", "alice", 4.0))
    appended.append(log.append("ahellb", "alice", 4.5))
    assert log.head == 1
    assert log.revision(1).change == ((1, "", "hell"),)
    assert log.revision(1).time == 4.0
    assert [a.folded for a in appended[:6]] == [False, True, True, True, True, True]
    assert appended[6] is None


def test_backspacing_into_old_text_folds():
    """Deleting backwards past the start of one's own insertion stays one edit."""
    log = RevisionLog("abcd")
    log.append("abXcd", "alice", 1.0)
    log.append("abcd", "alice", 1.5)
    log.append("acd", "alice", 2.0)
    assert log.head == 1
    assert log.revision(1).change == ((1, "b", ""),)


def test_edits_that_cancel_out_leave_an_empty_revision():
    """Typing a letter and deleting it keeps a revision that changes nothing."""
    log = RevisionLog("ab")
    log.append("aXb", "alice", 1.0)
    log.append("ab", "alice", 1.2)
    assert log.revision(1).change == ()
    assert log.text_at(1) == log.text_at(0) == "ab"


def test_far_apart_edits_fold_through_the_texts():
    """Two edits at both ends within the window fold, with a diff, into two edits."""
    log = RevisionLog("0123456789", diff=DIFF)
    log.append("X0123456789", "alice", 1.0)
    log.append("X012345678Y", "alice", 1.5)
    assert log.head == 1
    assert log.revision(1).change == ((0, "", "X"), (9, "9", "Y"))


@pytest.mark.parametrize(("author", "gap", "kind"), [
    ("bob", 1.0, EDIT),       # another author
    ("alice", 2.5, EDIT),     # a pause longer than the window
    ("alice", 1.0, RESTORE),  # a restore never folds
    ("alice", 1.0, FORCE),    # nor a forced text
])
def test_what_does_not_fold(author, gap, kind):
    """Each rule that starts a new revision instead of folding."""
    log = RevisionLog("")
    log.append("a", "alice", 100.0)
    assert log.append("ab", author, 100.0 + gap, kind).folded is False
    assert log.head == 2


def test_folding_stops_after_a_minute():
    """Steady typing folds for a minute at most, then starts a new revision."""
    log = RevisionLog("")
    for second in range(62):
        log.append(log.text + "x", "alice", float(second))
    assert [(r.number, r.time) for r in log.revisions] == [(1, 60.0), (2, 61.0)]


def test_edit_never_folds_into_a_restore():
    """The edit after a restore is a revision of its own."""
    log = RevisionLog("a")
    log.append("b", "alice", 1.0, RESTORE)
    log.append("bc", "alice", 1.5)
    assert [revision.kind for revision in log.revisions] == [RESTORE, EDIT]


def test_unknown_kind_is_refused():
    with pytest.raises(ValueError, match="kind"):
        RevisionLog("").append("a", "alice", 1.0, "typo")


def test_snapshots_come_every_few_revisions_and_close_folding():
    """With a replay count of 3, every third revision gets a snapshot and
    the next edit, even a rapid one by the same author, starts a new revision."""
    log = RevisionLog("", policy=Policy(replay_count=3))
    snapshots = []
    for number in range(1, 8):
        appended = log.append(log.text + "x", f"user{number}", float(number))
        snapshots.append(appended.snapshot)
    assert [s.number for s in snapshots if s] == [3, 6]
    assert snapshots[2].text == "xxx"
    assert log.append(log.text + "y", "user7", 7.1).folded is True
    log = RevisionLog("", policy=Policy(replay_count=1))
    log.append("a", "alice", 1.0)
    assert log.append("ab", "alice", 1.1).folded is False


def test_snapshots_come_sooner_for_long_texts():
    """The replay budget counts units moved: a longer text is snapshotted sooner."""
    log = RevisionLog("x" * 1000, policy=Policy(replay_budget=5000))
    numbers = [log.append(log.text + "y", f"u{n}", float(n)).snapshot for n in range(12)]
    assert [s.number for s in numbers if s] == [5, 10]


def test_keep_zero_keeps_only_the_current_text():
    """Keeping none drops every revision, keeps the text, and numbering goes on."""
    log = RevisionLog("", policy=Policy(replay_count=2))
    for number in range(5):
        log.append(log.text + str(number), "u", float(number * 10))
    pruned = log.prune(50.0, 0)
    assert (pruned.base, pruned.snapshot) == (5, SnapshotRow(5, "01234"))
    assert log.revisions == [] and log.text_at(5) == "01234"
    with pytest.raises(UnknownRevision):
        log.revision(5)
    assert log.rows() == ([], [SnapshotRow(5, "01234")])
    assert log.append("012345", "u", 51.0).row.number == 6


def test_retention_keeps_young_revisions_and_a_snapshot_at_the_boundary():
    """Revisions older than the keep go; the text before the oldest kept one
    becomes a snapshot; a young revision stops the prune."""
    log = RevisionLog("")
    for number in range(5):
        log.append(log.text + str(number), "u", float(number * 10))
    assert log.prune(45.0, None) is None
    pruned = log.prune(45.0, 20.0)
    assert (pruned.base, pruned.snapshot) == (3, SnapshotRow(3, "012"))
    assert [revision.number for revision in log.revisions] == [4, 5]
    assert log.text_at(3) == "012" and log.text_at(4) == "0123"
    with pytest.raises(UnknownRevision):
        log.text_at(2)
    assert log.prune(45.0, 20.0) is None
    with pytest.raises(ValueError, match="negative"):
        log.prune(45.0, -1.0)


def test_pages_of_revisions():
    """Pages go forward from a number or back from one, never past the ends."""
    log = RevisionLog("")
    for number in range(10):
        log.append(log.text + "x", f"u{number}", float(number * 10))
    log.prune(35.0, 10.0)
    assert [r.number for r in log.page()] == [4, 5, 6, 7, 8, 9, 10]
    assert [r.number for r in log.page(6, 2)] == [6, 7]
    assert [r.number for r in log.page(1, 2)] == [4, 5]
    assert [r.number for r in log.page(newest_first=True, limit=3)] == [10, 9, 8]
    assert [r.number for r in log.page(5, 3, newest_first=True)] == [5, 4]
    assert log.page(3, newest_first=True) == [] and log.page(11) == []
    with pytest.raises(ValueError, match="1 to 1000"):
        log.page(limit=0)


def test_unknown_revisions_are_refused():
    log = RevisionLog("a")
    log.append("ab", "alice", 1.0)
    for number in (-1, 2):
        with pytest.raises(UnknownRevision):
            log.text_at(number)
    with pytest.raises(UnknownRevision):
        log.revision(0)


def test_row_form_is_compact_json():
    """A keystroke's row is its numbers, its author and a short JSON change."""
    log = RevisionLog("hello")
    row = log.append("he😀llo", "alice", 12.5).row
    assert row == RevisionRow(1, 12.5, "alice", EDIT, '[[2,"","😀"]]')


def good_rows() -> tuple[list[RevisionRow], list[SnapshotRow]]:
    log = RevisionLog("abc")
    log.append("abXc", "alice", 1.0)
    log.append("abXcY", "bob", 2.0)
    return log.rows()


@pytest.mark.parametrize(("damage", "message"), [
    (lambda r, s: (r[1:], s), "revision 1 is missing"),
    (lambda r, s: (r, []), "at least one snapshot"),
    (lambda r, s: (r, s + s), "same number"),
    (lambda r, s: (r, [SnapshotRow(1, "abXc")]), "revision 2 is missing"),
    (lambda r, s: (r + [RevisionRow(3, 3.0, "x", EDIT, "[]")], s + [SnapshotRow(7, "")]),
     "outside"),
    (lambda r, s: ([r[0], RevisionRow(2, 2.0, "bob", EDIT, "{")], s), "not JSON"),
    (lambda r, s: ([r[0], RevisionRow(2, 2.0, "bob", EDIT, "{}")], s), "not a list"),
    (lambda r, s: ([r[0], RevisionRow(2, 2.0, "bob", EDIT, "[[1,2]]")], s), "bad edit"),
    (lambda r, s: ([r[0], RevisionRow(2, 2.0, "bob", "odd", "[]")], s), "unknown kind"),
    (lambda r, s: ([r[0], RevisionRow(2, float("nan"), "bob", EDIT, "[]")], s), "bad time"),
    (lambda r, s: ([r[0], RevisionRow(2, 2.0, None, EDIT, "[]")], s), "bad author"),
    (lambda r, s: ([RevisionRow(0, 2.0, "a", EDIT, "[]")], s), "bad revision number"),
    (lambda r, s: ([r[0], RevisionRow(2, 2.0, "bob", EDIT, '[[0,"z",""]]')], s),
     "does not fit"),
    (lambda r, s: ([r[0], RevisionRow(2, 2.0, "bob", EDIT, '[[3,"",""],[1,"",""]]')], s),
     "does not fit"),
    (lambda r, s: ([r[0], RevisionRow(2, 2.0, "bob", EDIT, '[[9,"",""]]')], s),
     "does not fit"),
])
def test_damaged_rows_are_refused_clearly(damage, message):
    """Rows that do not make a log raise RevisionError saying what is wrong."""
    revisions, snapshots = damage(*good_rows())
    with pytest.raises(RevisionError, match=message):
        RevisionLog.from_rows(revisions, snapshots)


def test_loaded_log_starts_a_new_revision():
    """After loading, a rapid edit by the last author is a new revision."""
    loaded = RevisionLog.from_rows(*good_rows())
    assert loaded.text == "abXcY"
    appended = loaded.append("abXcYZ", "bob", 2.1)
    assert (appended.row.number, appended.folded) == (3, False)
    assert json.loads(appended.row.change) == [[5, "", "Z"]]


def test_benchmark_runs_and_checks_its_rebuilds(capsys):
    """The benchmark script runs (tiny), rebuilding and checking sampled revisions."""
    from benchmarks.revisions import main

    main(["--size", "1K", "--revisions", "60", "--samples", "10", "--appends", "20",
          "--append-sizes", "1K"])
    out = capsys.readouterr().out
    assert "| 60 | 1 | " in out
    assert out.count("| 1K |") == 2
