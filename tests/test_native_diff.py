"""The native diff library gives the server the very same deltas and merges."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from mobwrite.client.session import ClientSession
from mobwrite.core.delta import NATIVE, Differ

ALPHABET = st.sampled_from(list("ab \n.") + ["é", "😀", "𝄞", "中"])
TEXT = st.lists(ALPHABET, max_size=300).map("".join)
EDIT = st.tuples(st.integers(0, 400), st.integers(0, 6), st.lists(ALPHABET, max_size=5).map("".join))


def edited(text: str, edits: list[tuple[int, int, str]]) -> str:
    for position, length, insertion in edits:
        at = position % (len(text) + 1)
        text = text[:at] + insertion + text[at + length:]
    return text


# No time budget, so neither diff can stop early and the results must agree.
native, pure = Differ(0, native=True), Differ(0, native=False)


def test_native_diff_is_in_use() -> None:
    """On this platform the server and the Python client use the native library."""
    assert NATIVE
    assert type(Differ(0.1).dmp) is type(native.dmp) is not type(pure.dmp)
    assert type(ClientSession().dmp) is type(native.dmp)


@settings(max_examples=200, deadline=None)
@given(TEXT, st.lists(EDIT, max_size=30))
def test_same_delta(text: str, edits: list[tuple[int, int, str]]) -> None:
    """Both libraries produce the same delta, byte for byte."""
    other = edited(text, edits)
    assert native.delta(text, other) == pure.delta(text, other)


@settings(max_examples=200, deadline=None)
@given(TEXT, st.lists(EDIT, max_size=8), st.lists(EDIT, min_size=1, max_size=30))
def test_same_merge(shadow: str, mine: list[tuple[int, int, str]],
                    theirs: list[tuple[int, int, str]]) -> None:
    """Fuzzy patching a client's change into a moved-on master agrees too."""
    new_shadow = edited(shadow, mine)
    diffs = pure.diff(shadow, new_shadow)
    master = edited(shadow, theirs)
    assert (native.merge(master, shadow, diffs, new_shadow)[:2]
            == pure.merge(master, shadow, diffs, new_shadow)[:2])
