"""Recent changes of a master text, so lagging shadows get deltas without a diff.

When several editors share a document, each view's shadow lags the edits
the others made since its last sync, and diffing the two texts costs time
in the number of those edits times the text's length.  A ``History`` keeps
the master as a list of pieces, each tagged with the version that inserted
it and, once deleted, the version that deleted it (and its text).  The text
of any recent version is then the pieces alive at that version, and the
diff from one version to another is one walk over the pieces.

Master texts are known by identity: ``version_of`` maps a master string
(which a view keeps as its shadow) to its version.  Every delta is checked
against the shadow it is for, so a stale or mistaken entry costs only the
fallback to a real diff, never a wrong delta.
"""

from __future__ import annotations

from collections.abc import Callable

from mobwrite.delta import DELETE, EQUAL, INSERT, Diff, Splice

# The "deleted in" version of a piece still alive.
ALIVE = 1 << 62
# How many versions back a history reaches: views lag about one change per
# other editor, so this many per view plus some slack, up to a cap.
VERSIONS_PER_VIEW = 1
SLACK = 16
MAX_VERSIONS = 512
# Deleted text kept for lagging views, at most this many times the master
# plus the slack; beyond it the history forgets everything before now.
DEAD_CHARS_PER_CHAR = 2
DEAD_CHARS_SLACK = 4096

Piece = tuple[int, int, int, str]
"""Length (alive pieces take their text from the master), version inserted,
version deleted (or ALIVE), text (deleted pieces only)."""


def _common_prefix(a: str, b: str) -> int:
    """Length of the longest common prefix, by halving (compares in C)."""
    low, high = 0, min(len(a), len(b))
    while low < high:
        middle = (low + high + 1) // 2
        if a[low:middle] == b[low:middle]:
            low = middle
        else:
            high = middle - 1
    return low


def _common_suffix(a: str, b: str) -> int:
    """Length of the longest common suffix."""
    low, high = 0, min(len(a), len(b))
    while low < high:
        middle = (low + high + 1) // 2
        if a[len(a) - middle:len(a) - low] == b[len(b) - middle:len(b) - low]:
            low = middle
        else:
            high = middle - 1
    return low


class History:
    """The recent versions of one master text, from ``base`` to ``version``."""

    def __init__(self, text: str, diff: Callable[[str, str], list[Diff]]) -> None:
        self._diff = diff
        self.text = text
        self.version = self.base = 0
        self.pieces: list[Piece] = [(len(text), 0, ALIVE, "")] if text else []
        self._ids = {id(text): 0}
        self._order = [id(text)]
        self.dead_chars = 0

    def version_of(self, text: str) -> int | None:
        """The version whose master is the very string *text*, if still held."""
        return self._ids.get(id(text))

    def record(self, text: str, views: int, splice: Splice | None = None) -> None:
        """Log the master's change into *text*, a document with *views* views.

        *splice*, if given, is the change (old text from start to end
        replaced).  Else a change that only inserts or only deletes is one
        splice between the common ends, and a replacement is diffed, so that
        edits at both ends of the text stay two small edits for the views
        that lag.
        """
        old = self.text
        self.version += 1
        self.text = text
        self._ids[id(text)] = self.version
        self._order.append(id(text))
        if splice is not None and len(old) - splice[1] + splice[0] + len(splice[2]) == len(text):
            self._splice(old, splice[0], splice[1], len(splice[2]))
        else:
            start = _common_prefix(old, text)
            tail = _common_suffix(old[start:], text[start:])
            end = len(old) - tail
            if start == end or start == len(text) - tail:
                self._splice(old, start, end, len(text) - tail - start)
            else:
                # Right to left, so that each splice's offsets still hold.
                for at, removed, inserted in reversed(self._hunks(
                        old[start:end], text[start:len(text) - tail], start)):
                    self._splice(old, at, at + removed, inserted)
        if self.dead_chars > DEAD_CHARS_PER_CHAR * len(text) + DEAD_CHARS_SLACK:
            self._compact(self.version)
            return
        window = min(VERSIONS_PER_VIEW * views + SLACK, MAX_VERSIONS)
        if self.version - self.base > window + window // 4:
            self._compact(self.version - window)

    def _hunks(self, old: str, new: str, offset: int) -> list[tuple[int, int, int]]:
        """The edits of the diff from *old* to *new*, as (start, removed, inserted)
        with starts in the coordinates of the text *old* begins at *offset* of."""
        hunks: list[tuple[int, int, int]] = []
        at = offset
        for operation, part in self._diff(old, new):
            if operation == EQUAL:
                at += len(part)
                continue
            if not hunks or hunks[-1][0] + hunks[-1][1] != at:
                hunks.append((at, 0, 0))
            start, removed, inserted = hunks[-1]
            if operation == DELETE:
                hunks[-1] = (start, removed + len(part), inserted)
                at += len(part)
            else:
                hunks[-1] = (start, removed, inserted + len(part))
        return hunks

    def _splice(self, old: str, start: int, end: int, inserted: int) -> None:
        """Mark *old*[start:end] deleted and insert *inserted* new characters at
        *end* (offsets in *old*, which the pieces before *end* still follow)."""
        first, position = self._boundary(start, 0, 0)
        last, _ = self._boundary(end, first, position)
        version = self.version
        pieces = self.pieces
        for index in range(first, last):
            length, born, died, _ = pieces[index]
            if died == ALIVE:
                pieces[index] = (length, born, version, old[position:position + length])
                self.dead_chars += length
                position += length
        if inserted:
            pieces.insert(last, (inserted, version, ALIVE, ""))

    def _boundary(self, offset: int, index: int, position: int) -> tuple[int, int]:
        """The index of the first alive piece starting at *offset* (splitting one
        if need be) and *offset*, walking from piece *index* at *position*."""
        pieces = self.pieces
        while index < len(pieces):
            length, born, died, _ = pieces[index]
            if died == ALIVE:
                if position == offset:
                    break
                if position + length > offset:
                    cut = offset - position
                    pieces[index:index + 1] = [(cut, born, ALIVE, ""),
                                               (length - cut, born, ALIVE, "")]
                    index += 1
                    break
                position += length
            index += 1
        return index, offset

    def _compact(self, base: int) -> None:
        """Forget the versions before *base*: drop their deletions, merge their pieces."""
        pieces: list[Piece] = []
        dead = 0
        for length, born, died, text in self.pieces:
            if died <= base:
                continue
            born = max(born, base)
            if died == ALIVE and born == base and pieces and pieces[-1][1:3] == (base, ALIVE):
                pieces[-1] = (pieces[-1][0] + length, base, ALIVE, "")
                continue
            if died != ALIVE:
                dead += len(text)
            pieces.append((length, born, died, text))
        self.pieces = pieces
        self.dead_chars = dead
        cut = base - self.base
        for key, version in zip(self._order[:cut], range(self.base, base), strict=True):
            if self._ids.get(key) == version:
                del self._ids[key]
        del self._order[:cut]
        self.base = base

    def diffs(self, since: int, own: int | None, shadow: str) -> list[Diff] | None:
        """The diff from *shadow* to the master, or None if the log cannot give it.

        *shadow* should be the master of version *since*, with the change of
        version *own* (the view's own edit, just merged) applied to it; the
        walk rebuilds that text and gives up if it is not *shadow*.
        """
        if since < self.base:
            return None
        own = ALIVE if own is None else own
        master = self.text
        diffs: list[Diff] = []
        # The shadow's text as the walk finds it, to check against *shadow*.
        seen: list[str] = []
        deleted: list[str] = []
        position = 0
        equal_from = 0
        changed_from = -1
        for length, born, died, text in self.pieces:
            if died == ALIVE:
                if born <= since or born == own:
                    if changed_from >= 0:
                        _end_change(diffs, seen, deleted, master[changed_from:position])
                        deleted = []
                        changed_from = -1
                        equal_from = position
                elif changed_from < 0:
                    if position > equal_from:
                        part = master[equal_from:position]
                        diffs.append((EQUAL, part))
                        seen.append(part)
                    changed_from = position
                position += length
            elif died > since and died != own and (born <= since or born == own):
                if changed_from < 0:
                    if position > equal_from:
                        part = master[equal_from:position]
                        diffs.append((EQUAL, part))
                        seen.append(part)
                    changed_from = position
                deleted.append(text)
        if changed_from >= 0:
            _end_change(diffs, seen, deleted, master[changed_from:position])
        elif position > equal_from:
            part = master[equal_from:position]
            diffs.append((EQUAL, part))
            seen.append(part)
        if position != len(master):
            return None
        # Part by part, which spares joining a copy of a long shadow.
        offset = 0
        for part in seen:
            if not shadow.startswith(part, offset):
                return None
            offset += len(part)
        return diffs if offset == len(shadow) else None


def _end_change(diffs: list[Diff], seen: list[str], deleted: list[str], inserted: str) -> None:
    """Append one change (deletions before insertions, as diff-match-patch orders them)."""
    if deleted:
        removed = "".join(deleted)
        diffs.append((DELETE, removed))
        seen.append(removed)
    if inserted:
        diffs.append((INSERT, inserted))
