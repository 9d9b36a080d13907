"""Exact placement: a client's change carried onto the master through its recent splices.

A view's shadow is, most of the time, a master text the server made.  When
the client's change to it arrives, other views' changes may have moved the
master on, and fuzzy patching (docs/protocol.md §8.4) finds where the change
goes by the text around it; where that text is what the others changed (many
editors' small edits packed together) it can pick the wrong place.  A
``SpliceLog`` remembers, for each recent version of a master, which stretches
its change replaced and by how much text (positions only, no text), so a
change of an older version is carried onto the current master by one walk
over the versions since: shifted by the changes before it, placed where it
was typed, unless another change touched the very stretch it replaces (a
conflict, which is left to fuzzy patching).

Offsets count code points (Python string indices), as the diffs of a
decoded delta do.
"""

from __future__ import annotations

from collections.abc import Callable
from itertools import islice

from mobwrite.core.changes import splices_between
from mobwrite.core.delta import Diff, Splice

Step = tuple[int, int, int]
"""A stretch of the older text, from start to end, replaced by this many characters."""

# A change of more stretches than this is logged as the one stretch around them all.
MAX_STEPS = 8
# How many versions back a log reaches: a view lags one version per change
# made since the server last gave it a text, so about the number of views
# for each second it waits when everyone types once a second; this many per
# view reaches back that many seconds (an overloaded daemon answers and
# pushes seconds late), plus some slack, up to a cap.  A version costs
# about 300 bytes.
VERSIONS_PER_VIEW = 16
SLACK = 64
MAX_VERSIONS = 16384


class SpliceLog:
    """Where each recent version of one master text changed the one before."""

    def __init__(self, text: str, diff: Callable[[str, str], list[Diff]]) -> None:
        self._diff = diff
        self.text = text
        self.version = self.base = 0
        # The steps of each version since base, one list: each version's from
        # right to left, so that taking them one at a time moves a place as
        # taking them at once does.  Version base + 1 + i starts at step
        # _firsts[i] (counted from the first step ever logged, _dropped
        # steps ago).
        self._steps: list[Step] = []
        self._firsts: list[int] = []
        self._dropped = 0
        # Versions by the identity of their text; an id may be reused by
        # another string once a version's text is freed, so the id and the
        # hash of version base + i are kept too, to forget and to check.
        self._ids = {id(text): 0}
        self._keys = [id(text)]
        self._hashes = [hash(text)]

    def version_of(self, text: str) -> int | None:
        """The version whose master is the very string *text*, if still held."""
        version = self._ids.get(id(text))
        if version is None or self._hashes[version - self.base] != hash(text):
            return None
        return version

    def record(self, text: str, views: int, splices: list[Splice] | None = None) -> None:
        """Log the master's change into *text*, a document with *views* views.

        *splices*, if given, is the change: stretches of the old text, in
        order, each replaced by a string.  Else (or if they do not make
        *text*) it is found between the common ends of the two texts, by a
        diff of what lies between them if that both deletes and inserts,
        so that a change of several far apart stretches (patching's) stays
        several small ones.
        """
        old = self.text
        steps: tuple[Step, ...] = ()
        if splices:
            steps = tuple((start, end, len(inserted)) for start, end, inserted in splices)
            if len(old) + sum(n - end + start for start, end, n in steps) != len(text):
                steps = ()
        if not steps:
            steps = tuple((start, end, len(inserted)) for start, end, inserted
                          in splices_between(old, text, self._diff))
        if len(steps) > MAX_STEPS:
            start, end = steps[0][0], steps[-1][1]
            steps = ((start, end, len(text) - len(old) + end - start),)
        self.version += 1
        self.text = text
        self._firsts.append(self._dropped + len(self._steps))
        self._steps.extend(reversed(steps))
        self._ids[id(text)] = self.version
        self._keys.append(id(text))
        self._hashes.append(hash(text))
        window = min(VERSIONS_PER_VIEW * views + SLACK, MAX_VERSIONS)
        if self.version - self.base > window + window // 4:
            self._forget(self.version - window)

    def _forget(self, base: int) -> None:
        """Forget the versions before *base*."""
        cut = base - self.base
        first = self._first_step(cut)
        del self._steps[:first - self._dropped]
        del self._firsts[:cut]
        self._dropped = first
        for key, version in zip(self._keys[:cut], range(self.base, base), strict=True):
            if self._ids.get(key) == version:
                del self._ids[key]
        del self._keys[:cut]
        del self._hashes[:cut]
        self.base = base

    def _first_step(self, later: int) -> int:
        """The first step (counted from the first ever logged) of the versions after
        version base + *later*."""
        if later < len(self._firsts):
            return self._firsts[later]
        return self._dropped + len(self._steps)

    def carry(self, shadow: str, hunks: list[Splice]) -> tuple[str, list[Splice]] | None:
        """The master with *hunks* (a change of *shadow*, in order) made where they
        were typed, and the hunks as placed in it; None if *shadow* is not a
        version still held, or another change since touched a stretch a hunk
        replaces.

        A hunk's place moves by every change before it.  Text put in at a
        point where another change put text since goes after that text (as
        patching maps a point inside its context), and a hunk never takes in
        text put in at either of its ends.
        """
        since = self.version_of(shadow)
        if since is None:
            return None
        first = self._first_step(since - self.base) - self._dropped
        master = self.text
        placed: list[Splice] = []
        parts: list[str] = []
        done = 0
        for typed_start, typed_end, inserted in hunks:
            start, end = typed_start, typed_end
            for a, b, n in islice(self._steps, first, None):
                if b <= start:
                    moved = n - b + a
                    start += moved
                    end += moved
                elif a < end:
                    return None
            if start < done or master[start:end] != shadow[typed_start:typed_end]:
                return None
            parts += (master[done:start], inserted)
            placed.append((start, end, inserted))
            done = end
        parts.append(master[done:])
        return "".join(parts), placed
