"""The load model shared by ``mobwrite loadtest`` and the benchmarks."""

from __future__ import annotations

import random

import pytest

from mobwrite.tools.loadmodel import make_text, percentile, type_into


def shuffled(count: int) -> list[float]:
    """1.0 to *count* in a random order."""
    values = [float(v) for v in range(1, count + 1)]
    random.Random(3).shuffle(values)
    return values


def test_percentiles_of_a_hundred_values_are_their_ranks() -> None:
    """Of 1..100, the p-th percentile is p, whatever the order of the values."""
    values = shuffled(100)
    assert [percentile(values, p) for p in (1, 7, 50, 95, 99, 100)] == [1, 7, 50, 95, 99, 100]


@pytest.mark.parametrize(("count", "percent", "expected"), [
    (9, 50, 5.0),  # rank ceil(4.5) = 5, where round() gives 4
    (1001, 50, 501.0),  # ceil(500.5) = 501, where round() gives 500
    (12, 10, 2.0),  # ceil(1.2) = 2, where round() gives 1
    (10, 50, 5.0),  # a whole rank is taken as it is
    (1000, 99.9, 999.0),  # a fractional percent, computed exactly
])
def test_the_rank_is_rounded_up(count: int, percent: float, expected: float) -> None:
    """Nearest rank: the value of rank ceil(percent / 100 * n)."""
    assert percentile(shuffled(count), percent) == expected


def test_percentile_edges() -> None:
    """No values give 0.0; one value is every percentile; 0 % is the smallest value."""
    assert percentile([], 50) == 0.0
    assert [percentile([7.0], p) for p in (0, 1, 50, 100)] == [7.0] * 4
    assert percentile([3.0, 1.0, 2.0], 0) == 1.0
    assert percentile([3.0, 1.0, 2.0], 100) == 3.0


@pytest.mark.parametrize("percent", [-1, 100.5, float("nan"), float("inf")])
def test_a_percent_out_of_range_is_refused(percent: float) -> None:
    with pytest.raises(ValueError, match="between 0 and 100"):
        percentile([1.0], percent)


def test_typing_keeps_a_document_near_its_size() -> None:
    """Bursts add about two characters each, unless the document's size is given."""
    rng = random.Random(7)
    start = make_text(1024, rng)
    free = bounded = start
    for _ in range(5000):
        free = type_into(free, rng)
        bounded = type_into(bounded, rng, len(start))
    assert len(free) > len(start) + 5000
    assert abs(len(bounded) - len(start)) < 200


def test_typing_from_nothing_only_grows_by_small_bursts() -> None:
    """From an empty document every burst changes at most five characters."""
    rng = random.Random(5)
    text = ""
    for _ in range(200):
        typed = type_into(text, rng)
        assert abs(len(typed) - len(text)) <= 5
        text = typed
    assert text


def test_made_text_has_the_size_asked_for() -> None:
    """A starting text is about *size* bytes of UTF-8, in lines of about 70 characters."""
    text = make_text(1024, random.Random(1))
    assert 1024 <= len(text.encode("utf-8")) < 1024 + 20
    assert any(ord(character) > 127 for character in text)
    assert max(len(line) for line in text.split("\n")) < 90
