"""Recent changes of a master text, so lagging shadows get deltas without a diff.

When several editors share a document, each view's shadow lags the edits
the others made since its last sync, and diffing the two texts costs time
in the number of those edits times the text's length.  A ``RecentChanges`` keeps
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

from mobwrite.core.delta import (
    DELETE,
    EQUAL,
    INSERT,
    Diff,
    Splice,
    common_ends,
    splices,
    utf16_length,
)
from mobwrite.core.escaping import encode_text

# The "deleted in" version of a piece still alive.
ALIVE = 1 << 62
# How many versions back a history reaches: views lag about one change per
# other editor, or several when pushes come in batches (a crowd's pushes are
# paced up to 0.5 s apart) or a busy daemon answers late, so this many per
# view plus some slack, up to a cap.
VERSIONS_PER_VIEW = 4
SLACK = 16
MAX_VERSIONS = 2048
# Deleted text kept for lagging views, at most this many times the master
# plus the slack; beyond it the history forgets everything before now.
DEAD_CHARS_PER_CHAR = 2
DEAD_CHARS_SLACK = 4096

Piece = tuple[int, int, int, int, str]
"""Length, length in UTF-16 units (what deltas count), version inserted,
version deleted (or ALIVE), and text: a deleted piece's own, an inserted
piece's as a delta writes it (each view that lags gets it), else ""
(alive pieces' text is the master's)."""


class RecentChanges:
    """The recent versions of one master text, from ``base`` to ``version``."""

    def __init__(self, text: str, diff: Callable[[str, str], list[Diff]]) -> None:
        self._diff = diff
        self.text = text
        self.version = self.base = 0
        self.pieces: list[Piece] = [(len(text), utf16_length(text), 0, ALIVE, "")] if text else []
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
            self._splice(old, *splice)
        else:
            start, tail = common_ends(old, text)
            end = len(old) - tail
            if start == end or start == len(text) - tail:
                self._splice(old, start, end, text[start:len(text) - tail])
            else:
                # Right to left, so that each splice's offsets still hold.
                for hunk in reversed(splices(
                        self._diff(old[start:end], text[start:len(text) - tail]), start)):
                    self._splice(old, *hunk)
        if self.dead_chars > DEAD_CHARS_PER_CHAR * len(text) + DEAD_CHARS_SLACK:
            self._compact(self.version)
            return
        window = min(VERSIONS_PER_VIEW * views + SLACK, MAX_VERSIONS)
        if self.version - self.base > window + window // 4:
            self._compact(self.version - window)

    def _splice(self, old: str, start: int, end: int, inserted: str) -> None:
        """Mark *old*[start:end] deleted and put *inserted* at *end* (offsets in
        *old*, which the pieces before *end* still follow)."""
        first, position = self._boundary(old, start, 0, 0)
        last, _ = self._boundary(old, end, first, position)
        version = self.version
        pieces = self.pieces
        for index in range(first, last):
            length, units, born, died, _ = pieces[index]
            if died == ALIVE:
                pieces[index] = (length, units, born, version, old[position:position + length])
                self.dead_chars += length
                position += length
        if inserted:
            pieces.insert(last, (len(inserted), utf16_length(inserted), version, ALIVE,
                                 encode_text(inserted)))

    def _boundary(self, old: str, offset: int, index: int, position: int) -> tuple[int, int]:
        """The index of the first alive piece starting at *offset* (splitting one
        if need be) and *offset*, walking from piece *index* at *position*."""
        pieces = self.pieces
        while index < len(pieces):
            length, units, born, died, _ = pieces[index]
            if died == ALIVE:
                if position == offset:
                    break
                if position + length > offset:
                    # Count the units of the shorter side only.
                    if 2 * (offset - position) <= length:
                        left = utf16_length(old[position:offset])
                    else:
                        left = units - utf16_length(old[offset:position + length])
                    pieces[index:index + 1] = [
                        (offset - position, left, born, ALIVE, ""),
                        (position + length - offset, units - left, born, ALIVE, "")]
                    index += 1
                    break
                position += length
            index += 1
        return index, offset

    def _compact(self, base: int) -> None:
        """Forget the versions before *base*: drop their deletions, merge their pieces."""
        pieces: list[Piece] = []
        dead = 0
        for length, units, born, died, text in self.pieces:
            if died <= base:
                continue
            if born <= base:
                born = base
                if died == ALIVE:
                    # No view is still without it: it merges into its neighbours.
                    text = ""
                    if pieces and pieces[-1][2:4] == (base, ALIVE):
                        previous = pieces[-1]
                        pieces[-1] = (previous[0] + length, previous[1] + units, base, ALIVE, "")
                        continue
            if died != ALIVE:
                dead += len(text)
            pieces.append((length, units, born, died, text))
        self.pieces = pieces
        self.dead_chars = dead
        cut = base - self.base
        for key, version in zip(self._order[:cut], range(self.base, base), strict=True):
            if self._ids.get(key) == version:
                del self._ids[key]
        del self._order[:cut]
        self.base = base

    def delta(self, since: int, own: int | None, shadow: str) -> str | None:
        """The delta from *shadow* to the master, or None if the log cannot give it.

        *shadow* should be the master of version *since*, with the change of
        version *own* (the view's own edit, just merged) applied to it; the
        walk rebuilds that text and gives up if it is not *shadow*.  The
        lengths come from the pieces, and one-piece insertions are already
        encoded.
        """
        walked = self._walk(since, own, shadow)
        if walked is None:
            return None
        tokens = []
        for (operation, text), units, code in zip(*walked, strict=True):
            if operation == INSERT:
                tokens.append("+" + (code or encode_text(text)))
            else:
                tokens.append(("=%d" if operation == EQUAL else "-%d") % units)
        return "\t".join(tokens)

    def _walk(self, since: int, own: int | None,
              shadow: str) -> tuple[list[Diff], list[int], list[str]] | None:
        """The diffs from *shadow* to the master, the UTF-16 length of each, and
        the encoded text of insertions that are one piece (else "")."""
        if since < self.base:
            return None
        own = ALIVE if own is None else own
        out = _Diffs(self.text)
        deleted: list[str] = []
        deleted_units = equal_units = 0
        position = equal_from = 0
        changed_from = -1
        code = ""
        for length, units, born, died, text in self.pieces:
            if died == ALIVE:
                if born <= since or born == own:
                    if changed_from >= 0:
                        out.change(deleted, deleted_units, changed_from, position, code)
                        deleted = []
                        deleted_units = 0
                        changed_from = -1
                        equal_from = position
                    equal_units += units
                else:
                    if changed_from < 0:
                        out.equal(equal_from, position, equal_units)
                        equal_units = 0
                        changed_from = position
                    # An insertion of one piece can use the piece's encoding.
                    code = text if position == changed_from else ""
                position += length
            elif died > since and died != own and (born <= since or born == own):
                if changed_from < 0:
                    out.equal(equal_from, position, equal_units)
                    equal_units = 0
                    changed_from = position
                deleted.append(text)
                deleted_units += units
        if changed_from >= 0:
            out.change(deleted, deleted_units, changed_from, position, code)
        else:
            out.equal(equal_from, position, equal_units)
        if position != len(self.text) or not out.rebuilds(shadow):
            return None
        return out.diffs, out.sizes, out.codes


class _Diffs:
    """The diffs a walk finds, their UTF-16 lengths, and the old text's parts."""

    def __init__(self, master: str) -> None:
        self.master = master
        self.diffs: list[Diff] = []
        self.sizes: list[int] = []
        self.codes: list[str] = []
        self.seen: list[str] = []

    def equal(self, start: int, end: int, units: int) -> None:
        if end > start:
            part = self.master[start:end]
            self.diffs.append((EQUAL, part))
            self.sizes.append(units)
            self.codes.append("")
            self.seen.append(part)

    def change(self, deleted: list[str], units: int, start: int, end: int,
               code: str) -> None:
        """One change: deletions before insertions, as diff-match-patch orders them."""
        if deleted:
            removed = "".join(deleted)
            self.diffs.append((DELETE, removed))
            self.sizes.append(units)
            self.codes.append("")
            self.seen.append(removed)
        if end > start:
            self.diffs.append((INSERT, self.master[start:end]))
            self.sizes.append(0)
            self.codes.append(code)

    def rebuilds(self, shadow: str) -> bool:
        """Whether the old text found is *shadow* (compared part by part,
        which spares joining a copy of a long text)."""
        offset = 0
        for part in self.seen:
            if not shadow.startswith(part, offset):
                return False
            offset += len(part)
        return offset == len(shadow)
