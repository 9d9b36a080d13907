"""Edits in UTF-16 units: finding, composing and replaying changes."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mobwrite.core import changes
from mobwrite.core.delta import Differ, utf16_length

DIFF = Differ(1.0).diff
TEXTS = st.text(st.sampled_from("ab \né中😀🎉"), max_size=30)


def change_of(old: str, new: str, diffing: bool = True):
    found = changes.splices_between(old, new, DIFF if diffing else None)
    return changes.to_change(old, found, utf16_length(old[:found[0][0]]) if found else 0)


@settings(max_examples=300, deadline=None)
@given(old=TEXTS, new=TEXTS, diffing=st.booleans())
def test_found_changes_replay(old, new, diffing):
    """The change found between any two texts turns one into the other, and
    its inverse turns it back."""
    change = change_of(old, new, diffing)
    assert changes.replay(old, [change]) == new
    assert changes.replay(new, [changes.invert(change)]) == old
    assert changes.fits(old, new, changes.splices_between(old, new, DIFF if diffing else None))


@settings(max_examples=300, deadline=None)
@given(first=TEXTS, second=TEXTS, third=TEXTS)
def test_composed_change_does_both(first, second, third):
    """Composing two changes gives one that goes straight from the first text
    to the third, with every edit's deleted text where it says."""
    composed = changes.compose(change_of(first, second), change_of(second, third))
    assert changes.replay(first, [composed]) == third
    positions = [position for position, _, _ in composed]
    assert positions == sorted(positions)
    assert all(deleted != inserted for _, deleted, inserted in composed)


def test_positions_are_utf16_units():
    """An emoji counts two units before an edit, as in a browser."""
    assert change_of("😀ab", "😀aXb") == ((3, "", "X"),)
    assert changes.replay("😀ab", [((2, "a", "Y"),)]) == "😀Yb"


def test_compose_joins_typing_and_cancels_out():
    typed = changes.compose(((1, "", "h"),), ((2, "", "i"),))
    assert typed == ((1, "", "hi"),)
    assert changes.compose(typed, ((1, "hi", ""),)) == ()
    assert changes.compose(((4, "x", ""),), ((0, "ab", "c"),)) == ((0, "ab", "c"), (4, "x", ""))


@pytest.mark.parametrize(("old", "new", "found", "expected"), [
    ("abc", "aXc", [(1, 2, "X")], True),
    ("abc", "aXc", [(1, 2, "Y")], False),
    ("abc", "aXc", [(2, 1, "X")], False),
    ("abc", "aXc", [(1, 9, "X")], False),
    ("abc", "XbY", [(2, 3, "Y"), (0, 1, "X")], False),
    ("abc", "XbY", [(0, 1, "X"), (2, 3, "Y")], True),
    ("abc", "aXXc", [(1, 2, "X")], False),
])
def test_fits_checks_order_bounds_and_lengths(old, new, found, expected):
    assert changes.fits(old, new, found) is expected


@pytest.mark.parametrize(("text", "change", "message"), [
    ("abc", ((0, "x", ""),), "does not fit"),
    ("abc", ((4, "", "x"),), "does not fit"),
    ("abc", ((-1, "", "x"),), "does not fit"),
    ("abc", ((2, "", ""), (1, "", "")), "does not fit"),
    ("a😀", ((2, "", "x"),), "surrogate"),
])
def test_changes_that_do_not_fit_are_refused(text, change, message):
    with pytest.raises(changes.ChangeError, match=message):
        changes.replay(text, [change])
