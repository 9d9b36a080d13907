"""Merging one hunk without patch objects gives what patch_make and patch_apply give."""

from __future__ import annotations

from typing import Any

import pytest
from crowds import Crowd, counter
from hypothesis import given, settings
from hypothesis import strategies as st

from mobwrite.core.delta import DELETE, EQUAL, INSERT, Differ, _nearest, _padded, result_text

ALPHABET = st.sampled_from(list("ab \n.") + ["é", "😀", "中", "\x01"])
TEXT = st.lists(ALPHABET, max_size=200).map("".join)
SHORT = st.lists(ALPHABET, max_size=40).map("".join)
EDIT = st.tuples(st.integers(0, 300), st.integers(0, 6), st.lists(ALPHABET, max_size=5).map("".join))
# A client's change as from_delta may read it: any run of tokens, empty ones too.
TOKENS = st.lists(st.tuples(st.sampled_from([EQUAL, DELETE, INSERT]), st.integers(0, 30), SHORT),
                  max_size=6)

NULL = "\x01\x02\x03\x04"
differs = [Differ(0, native=True), Differ(0, native=False)]


def _near(native: bool, distance: int, threshold: float) -> Differ:
    differ = Differ(0, native=native)
    differ.dmp.Match_Distance = distance
    differ.dmp.Match_Threshold = threshold
    return differ


# Matches that must stay near: the search windows cut these short texts.
differs += [_near(True, 10, 0.5), _near(False, 10, 0.5), _near(True, 30, 0.3),
            _near(False, 0, 0.5)]


def edited(text: str, edits: list[tuple[int, int, str]]) -> str:
    for position, length, insertion in edits:
        at = position % (len(text) + 1)
        text = text[:at] + insertion + text[at + length:]
    return text


def by_patches(differ: Differ, master: str, shadow: str,
               diffs: list[tuple[int, str]]) -> tuple[str, int]:
    """The general path: diff-match-patch's own patch_make and patch_apply."""
    patches = differ.dmp.patch_make(shadow, diffs)
    merged, applied = differ.dmp.patch_apply(patches, master)
    return merged, applied.count(False)


def tokens_to_diffs(shadow: str, tokens: list[tuple[int, int, str]]) -> list[tuple[int, str]]:
    """Diffs covering *shadow* built from arbitrary tokens (lengths cut to fit)."""
    diffs = []
    at = 0
    for operation, length, text in tokens:
        if operation == INSERT:
            diffs.append((INSERT, text))
        else:
            diffs.append((operation, shadow[at:at + length]))
            at += len(diffs[-1][1])
    if at < len(shadow):
        diffs.append((EQUAL, shadow[at:]))
    return diffs


@settings(max_examples=300, deadline=None)
@given(TEXT, EDIT, st.lists(EDIT, max_size=12), st.sampled_from(differs))
def test_one_edit_merges_as_patches_do(shadow: str, mine: tuple[int, int, str],
                                       theirs: list[tuple[int, int, str]],
                                       differ: Differ) -> None:
    """A typing burst merged into a master others moved on: the same text and failures."""
    new_shadow = edited(shadow, [mine])
    diffs = differ.diff(shadow, new_shadow)
    master = edited(shadow, theirs)
    if not diffs:
        return
    merged, failed, splice = differ.merge(master, shadow, diffs, new_shadow)
    if splice is not None:
        start, end, inserted = splice
        assert master[:start] + inserted + master[end:] == merged
    if master != shadow:
        assert_as_patches(differ, master, shadow, diffs, (merged, failed))


@settings(max_examples=300, deadline=None)
@given(TEXT, TOKENS, st.lists(EDIT, max_size=6), st.sampled_from(differs))
def test_any_change_merges_as_patches_do(shadow: str, tokens: list[tuple[int, int, str]],
                                         theirs: list[tuple[int, int, str]],
                                         differ: Differ) -> None:
    """Changes of any shape (several hunks, empty tokens) agree as well."""
    diffs = tokens_to_diffs(shadow, tokens)
    master = edited(shadow, theirs)
    if master == shadow or not diffs:
        return
    new_shadow = result_text(diffs)
    assert_as_patches(differ, master, shadow, diffs,
                      differ.merge(master, shadow, diffs, new_shadow)[:2])


def assert_as_patches(differ: Differ, master: str, shadow: str, diffs: list[Any],
                      merged: tuple[str, int]) -> None:
    """*merged* is what the patches give, except where they found no place for a
    change at an end of the shadow and the merge placed it after (or before) the
    text beside it, which it left unchanged."""
    expected = by_patches(differ, master, shadow, diffs)
    if expected[1] == 1 and merged[1] == 0:
        assert merged[0] != master
        return
    assert merged == expected


def test_an_intact_hunk_needs_no_patch_objects(monkeypatch: pytest.MonkeyPatch) -> None:
    """The common case (one edit whose context the master still holds) skips them."""
    differ = Differ(0.1)

    def refuse(*args: Any) -> None:
        raise AssertionError("patch_make called")

    monkeypatch.setattr(differ.dmp, "patch_make", refuse)
    shadow = "The quick brown fox jumps over the lazy dog."
    diffs = differ.diff(shadow, shadow.replace("brown", "red"))
    master = "So: " + shadow + " The end."
    assert differ.merge(master, shadow, diffs, "")[:2] == (
        "So: The quick red fox jumps over the lazy dog. The end.", 0)


def test_a_lost_context_fails_as_a_patch_does() -> None:
    """A hunk whose surroundings are gone from the master leaves it as it is."""
    differ = Differ(0.1)
    shadow = "The quick brown fox jumps over the lazy dog."
    diffs = differ.diff(shadow, shadow.replace("brown", "red"))
    master = "Something else entirely, nothing like it at all, 1234567890."
    assert differ.merge(master, shadow, diffs, "")[:2] == (master, 1)
    assert by_patches(differ, master, shadow, diffs) == (master, 1)


@pytest.mark.parametrize("differ", differs[:2], ids=["native", "python"])
def test_packed_counters_mislead_patches_but_not_the_engine(differ: Differ) -> None:
    """A one-counter edit whose context holds only neighbours' changing digits
    is put by patches on the next counter, whose context differs from the
    patch's in 2 characters where its own place differs in 3 (the crowd
    benchmark's late edits, BENCHMARKS.md): fuzzy patching with too little
    context.  The engine knows which master the view's shadow was, and carries
    the edit through the changes since onto its own counter (core/placement.py)."""
    shadow = " [0:09] [1:09] [2:07] [3:03] [4:03]"
    new_shadow = " [0:09] [1:10] [2:07] [3:03] [4:03]"
    master = " [0:10] [1:09] [2:09] [3:07] [4:09]"
    diffs = differ.diff(shadow, new_shadow)
    misplaced = " [0:10] [1:09] [2:10] [3:07] [4:09]"
    assert differ.merge(master, shadow, diffs, new_shadow)[:2] == (misplaced, 0)
    assert by_patches(differ, master, shadow, diffs) == (misplaced, 0)
    for coarse in (False, True):
        crowd = Crowd(shadow, 5, coarse)
        crowd.engine.differ = differ
        for typist, start, end in ((0, 9, 10), (2, 7, 9), (3, 3, 7), (4, 3, 9)):
            for count in range(start, end):
                crowd.type(typist, counter(typist, count), counter(typist, count + 1))
                crowd.sync(typist)
        assert crowd.master == master and crowd.text(1) == shadow
        crowd.type(1, counter(1, 9), counter(1, 10))
        crowd.sync(1)
        assert crowd.master == " [0:10] [1:10] [2:09] [3:07] [4:09]"


@settings(max_examples=1000, deadline=None)
@given(TEXT, st.integers(0, 200), st.integers(1, 32), st.integers(-10, 260),
       st.sampled_from(differs), st.booleans())
def test_nearest_exact_occurrence_is_what_match_main_finds(
        text: str, at: int, length: int, loc: int, differ: Differ, padded: bool) -> None:
    """Where the shortcut answers, match_main answers the same, on the padded
    text too (searched without its padding when the pattern has none)."""
    pattern = text[at:at + length] or "a"
    distance, threshold = differ.dmp.Match_Distance, differ.dmp.Match_Threshold
    loc = max(0, loc)
    if padded and not any(character in pattern for character in NULL):
        size = len(text) + 2 * len(NULL)
        found = _nearest(text, len(NULL), size, pattern, min(loc, size), distance, threshold)
        text = NULL + text + NULL
    else:
        found = _nearest(text, 0, len(text), pattern, min(loc, len(text)), distance,
                         threshold)
    if found is not None:
        assert found == differ.dmp.match_main(text, pattern, loc)


@given(TEXT, st.integers(0, 220), st.integers(0, 220))
def test_padded_part_is_a_slice_of_the_padded_text(text: str, low: int, high: int) -> None:
    """The window of the padded text is the same slice of it."""
    assert _padded(text, NULL, low, high) == (NULL + text + NULL)[low:high]


def typed_tokens(numbers: str) -> str:
    """Editors' tokens as the many-daemon tests type them: ``<editor.count>``."""
    return "".join(f"<{number}>" for number in numbers.split())


# A lagging editor's shadow, and the master others had appended to meanwhile (one of
# them between its last two tokens), from a run that lost the editor's typing.
SHADOW = typed_tokens("""2.1 2.2 2.3 0.1 0.2 3.1 3.2 5.1 1.1 4.1 4.2 0.3 0.4 0.5 0.6 1.2 1.3 4.3 1.4 2.4 4.4
5.2 5.3 5.4 3.3 3.4 1.5 5.5 2.5 2.6 2.7 2.8 2.9 3.5 4.5 4.6 3.6 1.6 3.7 1.7 1.8 4.7
4.8 3.8 5.6 5.7 5.8 0.7 0.8 0.9 3.9""")
MASTER = typed_tokens("""2.1 2.2 2.3 0.1 0.2 3.1 3.2 5.1 1.1 4.1 4.2 0.3 0.4 0.5 0.6 1.2 1.3 4.3 1.4 2.4 4.4
5.2 5.3 5.4 3.3 3.4 1.5 5.5 2.5 2.6 2.7 2.8 2.9 3.5 4.5 4.6 3.6 1.6 3.7 1.7 1.8 1.9
1.10 4.7 4.8 4.9 4.10 4.11 4.12 3.8 5.6 5.7 5.8 5.9 5.10 0.7 0.8 0.9 0.10 3.9 2.10
1.11 1.12 0.11 0.12 5.11 2.11 5.12 5.13 2.12 2.13 1.13 4.13 1.14 5.14 4.14""")


@pytest.mark.parametrize("differ", differs)
def test_text_typed_at_the_end_is_merged_into_a_master_others_appended_to(
        differ: Differ) -> None:
    """Patching finds no place for it (the padding past the shadow's end is no longer
    the master's end, and a token landed beside it): it goes in after the text before
    it (as near as that is found), instead of being acknowledged and dropped."""
    typed = typed_tokens("3.10 3.11 3.12 3.13 3.14")
    assert differ.dmp.patch_apply(differ.dmp.patch_make(SHADOW, [(EQUAL, SHADOW), (INSERT, typed)]),
                                  MASTER)[1] == [False]
    merged, failed, _ = differ.merge(MASTER, SHADOW, [(EQUAL, SHADOW), (INSERT, typed)],
                                     SHADOW + typed)
    assert failed == 0
    assert typed in merged and merged.replace(typed, "", 1) == MASTER


@pytest.mark.parametrize("differ", differs[:2], ids=["native", "python"])
def test_a_replacement_that_keeps_what_it_deletes_is_split_into_insertions(
        differ: Differ) -> None:
    """Typing on both sides of words, which diff clean-up sends as deleting the
    words and typing them again, goes back to the insertions it is; a true
    replacement, and a change without one, are left alone (None)."""
    diffs = [(EQUAL, "alpha, "), (DELETE, "bravo, charli"),
             (INSERT, "seventeen, bravo, nineteen, charlie, twentyon"), (EQUAL, "e, delta")]
    assert differ.insertions(diffs) == [
        (EQUAL, "alpha, "), (INSERT, "seventeen, "), (EQUAL, "bravo, "),
        (INSERT, "nineteen, "), (EQUAL, "charli"), (INSERT, "e, twentyon"),
        (EQUAL, "e, delta")]
    assert differ.insertions([(EQUAL, "a "), (DELETE, "cat"), (INSERT, "mouse")]) is None
    assert differ.insertions([(EQUAL, "a "), (INSERT, "big "), (EQUAL, "cat")]) is None


@pytest.mark.parametrize("differ", differs[:2], ids=["native", "python"])
def test_changes_merged_apart_land_where_they_belong_around_others_typing(
        differ: Differ) -> None:
    """Patched together, the changes after the first land wrongly once the master
    holds a word between them (patch_apply counts the text inserted before them
    twice); one patch per change puts each in its place."""
    shadow = "Words in order: alpha, bravo, charlie, delta, echo."
    master = shadow.replace("bravo, ", "bravo, zulu, ")
    split = differ.insertions([(EQUAL, shadow[:23]), (DELETE, "bravo, charli"),
                               (INSERT, "seventeen, bravo, nineteen, charlie, twentyon"),
                               (EQUAL, shadow[36:])]) or []
    assert by_patches(differ, master, shadow, split)[0] != (
        "Words in order: alpha, seventeen, bravo, zulu, nineteen, charlie, twentyone, delta, "
        "echo.")
    assert differ.merge_apart(master, shadow, split) == (
        "Words in order: alpha, seventeen, bravo, zulu, nineteen, charlie, twentyone, delta, "
        "echo.", 0)
