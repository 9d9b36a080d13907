"""Changes of a text as edits in UTF-16 units: found, composed and replayed.

An edit is ``(position, deleted, inserted)``: at *position*, counted in
UTF-16 units of the text before (as JavaScript counts), *deleted* gives
way to *inserted*.  A change is a tuple of edits, left to right, none
overlapping.  Keeping the deleted text makes a change checkable (replay
refuses an edit whose deleted text is not there) and showable without
the text before it.  Revision logs (revisions.py) store changes this way.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Sequence

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

Edit = tuple[int, str, str]
Change = tuple[Edit, ...]

_UTF16 = "utf-16-le"
# A raw text may hold lone surrogates: each counts as one unit.
_PASS = "surrogatepass"


class ChangeError(ValueError):
    """A change that does not fit the text it is applied to."""


def replay(text: str, changes: Sequence[Change]) -> str:
    """*text* with *changes* applied in turn; ChangeError if one does not fit.

    The text is worked on as bytes (one per unit when everything is ASCII,
    else UTF-16), so each edit is one slice assignment, and each deletion
    is checked against the bytes it removes.
    """
    narrow = text.isascii() and all(
        deleted.isascii() and inserted.isascii()
        for change in changes for _, deleted, inserted in change)
    codec, width = ("ascii", 1) if narrow else (_UTF16, 2)
    buffer = bytearray(text.encode(codec, _PASS))
    for change in changes:
        shift = 0
        floor = 0
        for position, deleted, inserted in change:
            old = deleted.encode(codec, _PASS)
            start = position * width
            at, end = start + shift, start + shift + len(old)
            if start < floor or end > len(buffer) or buffer[at:end] != old:
                raise ChangeError(f"an edit at {position} does not fit the text")
            new = inserted.encode(codec, _PASS)
            buffer[at:end] = new
            floor = start + len(old)
            shift += len(new) - len(old)
    try:
        return buffer.decode(codec)
    except UnicodeDecodeError:
        # Lone surrogates given in the text or the edits stay; made by
        # splitting a pair, they are refused.
        if not _has_lone([text, *(piece for change in changes
                                 for _, deleted, inserted in change
                                 for piece in (deleted, inserted))]):
            raise ChangeError("an edit splits a surrogate pair") from None
        return buffer.decode(codec, _PASS)


def _has_lone(texts: Iterable[str]) -> bool:
    """Whether any of *texts* holds a lone surrogate."""
    for text in texts:
        try:
            text.encode(_UTF16)
        except UnicodeEncodeError:
            return True
    return False


def splices_between(old: str, new: str,
                    diff: Callable[[str, str], list[Diff]] | None = None) -> list[Splice]:
    """The splices (in code points of *old*) turning *old* into *new*: one
    between their common ends, or, given *diff* and a middle that both
    deletes and inserts, one per hunk of the middle's diff."""
    start, tail = common_ends(old, new)
    end, new_end = len(old) - tail, len(new) - tail
    if start == end and start == new_end:
        return []
    if diff is None or start == end or start == new_end:
        return [(start, end, new[start:new_end])]
    return splices(diff(old[start:end], new[start:new_end]), start)


def fits(old: str, new: str, found: Sequence[Splice]) -> bool:
    """Whether *found* (in code points of *old*) plausibly turns *old* into *new*:
    in order, in bounds, the lengths adding up and each insertion in place."""
    at = shift = 0
    for start, end, inserted in found:
        if not at <= start <= end <= len(old) or not new.startswith(inserted, start + shift):
            return False
        shift += len(inserted) - end + start
        at = end
    return len(old) + shift == len(new)


def to_change(old: str, found: Sequence[Splice], units: int) -> Change:
    """Splices in code points of *old* as edits, the first of which starts
    *units* UTF-16 units into *old*."""
    if old.isascii():
        return tuple((start, old[start:end], inserted) for start, end, inserted in found)
    edits = []
    at = found[0][0] if found else 0
    for start, end, inserted in found:
        units += utf16_length(old[at:start])
        deleted = old[start:end]
        edits.append((units, deleted, inserted))
        units += utf16_length(deleted)
        at = end
    return tuple(edits)


def invert(change: Change) -> Change:
    """The change that undoes *change* (positions in the text it made)."""
    shift = 0
    undone = []
    for position, deleted, inserted in change:
        undone.append((position + shift, inserted, deleted))
        shift += utf16_length(inserted) - utf16_length(deleted)
    return tuple(undone)


Operation = tuple[int, int, bytes]
"""EQUAL, DELETE or INSERT; its length in bytes of UTF-16; its text (b"" for EQUAL)."""


def _operations(change: Change) -> deque[Operation]:
    found: deque[Operation] = deque()
    at = 0
    for position, deleted, inserted in change:
        if position > at:
            found.append((EQUAL, 2 * (position - at), b""))
        for operation, text in ((DELETE, deleted), (INSERT, inserted)):
            if text:
                data = text.encode(_UTF16, _PASS)
                found.append((operation, len(data), data))
        at = position + utf16_length(deleted)
    return found


class _Builder:
    """Collects operations on an original text back into edits."""

    def __init__(self) -> None:
        self.edits: list[tuple[int, bytearray, bytearray]] = []
        self.at = 0
        self.joining = False

    def add(self, operation: int, length: int, data: bytes) -> None:
        if operation == EQUAL:
            self.at += length
            self.joining = False
            return
        if not self.joining:
            self.edits.append((self.at, bytearray(), bytearray()))
            self.joining = True
        _, deleted, inserted = self.edits[-1]
        if operation == DELETE:
            deleted += data
            self.at += length
        else:
            inserted += data

    def change(self) -> Change:
        return tuple((at // 2, deleted.decode(_UTF16, _PASS),
                       inserted.decode(_UTF16, _PASS))
                     for at, deleted, inserted in self.edits if deleted != inserted)


def _take(operations: deque[Operation], length: int) -> None:
    """Consume *length* bytes of the first operation."""
    operation, have, data = operations[0]
    if have == length:
        operations.popleft()
    else:
        operations[0] = (operation, have - length, data[length:])


def compose(first: Change, then: Change) -> Change:
    """One change doing *first* and then *then* (a change of *first*'s result).

    Only *first*'s edits that *then* touches (or meets) are worked out
    again; those wholly before or after it stand as they are, so typing
    at one place costs the same however many places the change holds.
    """
    if not first or not then:
        return first or then
    low = then[0][0]
    high = then[-1][0] + utf16_length(then[-1][1])
    # How far the edits so far, and those wholly before *then*, moved the text.
    shift = before = 0
    begin: int | None = None
    end = len(first)
    for index, (position, deleted, inserted) in enumerate(first):
        start = position + shift
        if start > high:
            end = index
            break
        shift += utf16_length(inserted) - utf16_length(deleted)
        if begin is None:
            if start + utf16_length(inserted) < low:
                before = shift
            else:
                begin = index
    if begin is None:
        begin = end
    moved = tuple((position - before, deleted, inserted) for position, deleted, inserted in then)
    return first[:begin] + _compose_all(first[begin:end], moved) + first[end:]


def _compose_all(first: Change, then: Change) -> Change:
    """``compose`` by walking both changes as operations: what *then* keeps or
    deletes of *first*'s result is either text *first* kept (so kept or
    deleted from the original) or text *first* inserted (so inserted, or
    nothing)."""
    left, right = _operations(first), _operations(then)
    out = _Builder()
    while left or right:
        if left and left[0][0] == DELETE:
            out.add(*left.popleft())
        elif right and right[0][0] == INSERT:
            out.add(*right.popleft())
        elif not left or not right:
            # Past the other's last edit, every operation stands as it is.
            for operation in left or right:
                out.add(*operation)
            break
        else:
            kind, length, data = left[0]
            other, other_length, other_data = right[0]
            length = min(length, other_length)
            if kind == EQUAL:
                out.add(other, length, other_data[:length])
            elif other == EQUAL:
                out.add(INSERT, length, data[:length])
            _take(left, length)
            _take(right, length)
    return out.change()
