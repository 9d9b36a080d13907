"""Deltas in UTF-16 units (docs/protocol.md §5, §15.2)."""

from __future__ import annotations

from itertools import pairwise

import pytest
from diff_match_patch import diff_match_patch
from hypothesis import given
from hypothesis import strategies as st

from mobwrite.core.delta import (
    DELETE,
    EQUAL,
    INSERT,
    DeltaError,
    Differ,
    coarse_delta,
    from_delta,
    result_text,
    to_delta,
    utf16_length,
)

TEXTS = st.text(st.characters(exclude_categories=["Cs"]), max_size=40)


@pytest.mark.parametrize(("delta", "result"), [
    (b"=6\t-5\t+there", "Hello there"),
    (b"-5\t+Goodbye\t=6", "Goodbye world"),
    (b"=11\t+%0A%E2%9C%93", "Hello world\n\u2713"),
    (b"=11\t", "Hello world"),
])
def test_spec_examples(delta: bytes, result: str) -> None:
    """The worked examples of docs/protocol.md §5 decode to the stated texts."""
    assert result_text(from_delta("Hello world", delta)) == result


@pytest.mark.parametrize("delta", [
    b"=5", b"=12", b"*3", b"=-1", b"=x", b"= 3\t=8", b"=+3\t=8", b"+%ZZ\t=11",
    b"+%FF\t=11", "=١١".encode(),
])
def test_malformed_deltas_refused(delta: bytes) -> None:
    """Wrong lengths, unknown operations, bad numbers and bad escapes are refused."""
    with pytest.raises(DeltaError):
        from_delta("Hello world", delta)


def test_lengths_count_utf16_units() -> None:
    """An emoji counts two units, as in JavaScript."""
    assert utf16_length("a😀é") == 4
    assert to_delta([(EQUAL, "a😀"), (DELETE, "é"), (INSERT, "😀")]) == "=3\t-1\t+%F0%9F%98%80"
    assert result_text(from_delta("a😀é", b"=3\t-1\t+x")) == "a😀x"


def test_split_surrogate_pair_refused() -> None:
    """A length that ends inside an emoji is malformed."""
    with pytest.raises(DeltaError):
        from_delta("😀", b"=1\t-1")


@given(TEXTS, st.lists(st.integers(0, 80), min_size=1, max_size=4))
def test_lengths_cut_the_text_as_javascript_would(text: str, cuts: list[int]) -> None:
    """Keeps and deletes of any lengths give the slices of the UTF-16 text,
    or DeltaError where a length ends inside a surrogate pair or past the end."""
    units = text.encode("utf-16-le")
    offsets = sorted({min(cut, len(units) // 2) for cut in cuts} | {len(units) // 2})
    lengths = [end - start for start, end in pairwise([0, *offsets])]
    delta = "\t".join(("=%d" if i % 2 else "-%d") % n for i, n in enumerate(lengths))
    try:
        expected = [units[2 * start:2 * end].decode("utf-16-le")
                    for start, end in pairwise([0, *offsets])]
    except UnicodeDecodeError:
        with pytest.raises(DeltaError):
            from_delta(text, delta.encode("ascii"))
        return
    assert [part for _, part in from_delta(text, delta.encode("ascii"))] == expected


def test_empty_delta_and_zero_equality() -> None:
    """Both spellings of 'nothing' are read for an empty base text."""
    assert from_delta("", b"") == []
    assert from_delta("", b"=0") == [(EQUAL, "")]


@given(TEXTS, TEXTS)
def test_delta_round_trip(old: str, new: str) -> None:
    """The server's delta from old to new decodes against old into new."""
    delta = Differ(0.1).delta(old, new)
    assert result_text(from_delta(old, delta.encode("ascii"))) == new


@given(TEXTS, TEXTS)
def test_same_bytes_as_library(old: str, new: str) -> None:
    """Our encoder writes what diff-match-patch's own toDelta writes."""
    dmp = diff_match_patch()
    diffs = dmp.diff_main(old, new)
    assert to_delta(diffs) == dmp.diff_toDelta(diffs)


def test_identical_texts_give_one_keep() -> None:
    """Equal texts give a single '=len' token, empty texts an empty delta."""
    differ = Differ(0.1)
    assert differ.delta("abc😀", "abc😀") == "=5"
    assert differ.delta("", "") == ""


def test_merge_keeps_concurrent_edits() -> None:
    """A change made against an old shadow is patched into a newer master."""
    differ = Differ(0.1)
    diffs = differ.diff("Hello world", "Hello world!")
    assert differ.merge("Goodbye world", "Hello world", diffs, "Hello world!")[:2] == (
        "Goodbye world!", 0)


@given(TEXTS, TEXTS)
def test_a_coarse_delta_turns_the_old_text_into_the_new(old: str, new: str) -> None:
    """Read back against the old text (lengths in UTF-16 units), a coarse delta gives
    the new text, with at most one deletion and one insertion between equalities."""
    delta = coarse_delta(old, new)
    assert delta is not None
    diffs = from_delta(old, delta.encode("utf-8"))
    assert result_text(diffs) == new
    assert [operation for operation, _ in diffs if operation != EQUAL] in (
        [], [DELETE], [INSERT], [DELETE, INSERT])


def test_a_coarse_delta_replaces_the_stretch_between_the_changes() -> None:
    """Two changes far apart: one replacement from the first to the last, emoji
    counted as two units; none when that stretch is over the limit."""
    assert coarse_delta("😀 one two three 😀", "😀 ONE two THREE 😀") == (
        "=3\t-13\t+ONE two THREE\t=3")
    assert coarse_delta("same", "same") == "=4"
    assert coarse_delta("ab" * 10, "xb" * 9 + "ax", max_chars=37) is None
