"""What simulated editors write, and how their latencies are summed up.

One model for ``mobwrite loadtest`` and the benchmarks: a starting text of
prose, bursts of typing into it, and the nearest-rank percentile of the
round trips measured.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from fractions import Fraction

WORDS = ("the of and to in is that it for on with as was at by an be this from "
         "have or one had not but what all were when we there can your which "
         "their said if do will each about how up out them then she many some "
         "café naïve façade déjà vu Grüße 東京 ").split(" ")
EMOJI = ("😀", "🎉", "👍", "🚀", "中", "é")
LETTERS = "abcdefghijklmnopqrstuvwxyz    ,."


def make_text(size: int, rng: random.Random) -> str:
    """About *size* bytes of prose in lines of ~70 characters, some non-ASCII."""
    parts: list[str] = []
    length = 0
    line = 0
    while length < size:
        word = rng.choice(WORDS) or "x"
        parts.append(word)
        length += len(word.encode("utf-8")) + 1
        line += len(word) + 1
        if line > 70:
            parts.append("\n")
            line = 0
        else:
            parts.append(" ")
    return "".join(parts)[:size]


def type_into(text: str, rng: random.Random, length: int | None = None) -> str:
    """One burst of typing: insert a few letters, delete a few, or add an emoji.

    Bursts add about two characters on average; once the text is *length*
    characters long, deletions become more likely than the rest, so that a
    document keeps about that size.
    """
    at = rng.randint(0, len(text))
    roll = rng.random()
    deleting = 0.2 if length is None or len(text) < length else 0.6
    if roll < deleting and text:
        at = min(at, len(text) - 1)
        return text[:at] + text[at + rng.randint(1, 3):]
    if roll < deleting + 0.1:
        return text[:at] + rng.choice(EMOJI) + text[at:]
    return text[:at] + "".join(rng.choice(LETTERS) for _ in range(rng.randint(1, 5))) + text[at:]


def percentile(values: Sequence[float], percent: float) -> float:
    """The nearest-rank *percent* percentile of *values* (0.0 when there are none).

    The value of rank ``ceil(percent / 100 * n)`` in ascending order (rank 1
    for percent 0).  The rank is computed on the decimal value of *percent*,
    so that 7 % of 100 is rank 7, not the 8 that ``0.07 * 100`` rounds up to.
    """
    if not 0 <= percent <= 100:
        raise ValueError(f"a percentile is between 0 and 100, not {percent}")
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = math.ceil(Fraction(str(percent)) * len(ordered) / 100)
    return ordered[max(rank, 1) - 1]
