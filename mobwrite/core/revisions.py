"""A document's revision log: every change of its master, to scroll back through.

Each change of the master becomes a numbered revision holding its time, its
author (a string the caller gives), its kind, and the change itself as
edits ``(position, deleted, inserted)`` with positions in UTF-16 units of
the text before (as the browser counts).  A revision keeps the text it
deleted, so showing its change needs no rebuild and a rebuild can check
every step.  Now and then the log keeps a full snapshot of the text, so
that any revision's text is a short replay away.

Rapid edits by one author fold into one revision; restores and forced
texts never fold.  Retention drops old revisions but always keeps a
snapshot at the boundary and the current text.  The log is pure: it
takes ``now`` and gives back the rows storage should write.
docs/history.md describes the model.
"""

from __future__ import annotations

import bisect
import json
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from diff_match_patch import diff_match_patch

from mobwrite.core.delta import Diff, Splice, splices, utf16_length

EDIT, RESTORE, FORCE = "edit", "restore", "force"
# An edit may fold into the revision before it; the others never fold.
KINDS = frozenset((EDIT, RESTORE, FORCE))
MAX_PAGE = 1000

# The library's common prefix and suffix (binary searches comparing in C).
_ENDS = diff_match_patch()

Edit = tuple[int, str, str]
"""Position in UTF-16 units of the text before, the text deleted there,
and the text inserted in its place."""
Change = tuple[Edit, ...]
"""A revision's edits, left to right, none overlapping."""


class RevisionError(ValueError):
    """Rows or a change that do not make a valid revision log."""


class UnknownRevision(LookupError):
    """A revision number the log does not hold (never made, or dropped)."""


@dataclass(frozen=True, slots=True)
class Policy:
    """How a log folds edits and when it takes snapshots."""

    # An edit folds into its author's previous edit revision when it comes
    # at most fold_window seconds after that revision's last change, and at
    # most fold_span seconds after its first.
    fold_window: float = 2.0
    fold_span: float = 60.0
    # A snapshot is taken once replaying the revisions since the last one
    # would move this many UTF-16 units (each edit moves about the whole
    # text), or after replay_count revisions, whichever comes first.
    replay_budget: int = 300_000_000
    replay_count: int = 4000


@dataclass(frozen=True, slots=True)
class RevisionRow:
    """A revision as storage writes it: plain values, the change as JSON."""

    number: int
    time: float
    author: str
    kind: str
    change: str


@dataclass(frozen=True, slots=True)
class SnapshotRow:
    """The full text at revision *number*."""

    number: int
    text: str


@dataclass(frozen=True, slots=True)
class Revision:
    """One revision: the change from the text of ``number - 1`` to its own."""

    number: int
    time: float
    author: str
    kind: str
    change: Change

    @property
    def inserted(self) -> int:
        """UTF-16 units inserted."""
        return sum(utf16_length(inserted) for _, _, inserted in self.change)

    @property
    def deleted(self) -> int:
        """UTF-16 units deleted."""
        return sum(utf16_length(deleted) for _, deleted, _ in self.change)

    def row(self) -> RevisionRow:
        change = json.dumps([list(edit) for edit in self.change],
                            ensure_ascii=False, separators=(",", ":"))
        return RevisionRow(self.number, self.time, self.author, self.kind, change)

    @classmethod
    def from_row(cls, row: RevisionRow) -> Revision:
        """The revision *row* holds; RevisionError if any field is malformed."""
        if not isinstance(row.number, int) or row.number < 1:
            raise RevisionError(f"bad revision number {row.number!r}")
        if not isinstance(row.time, int | float) or not math.isfinite(row.time):
            raise RevisionError(f"revision {row.number}: bad time {row.time!r}")
        if not isinstance(row.author, str):
            raise RevisionError(f"revision {row.number}: bad author {row.author!r}")
        if row.kind not in KINDS:
            raise RevisionError(f"revision {row.number}: unknown kind {row.kind!r}")
        return cls(row.number, float(row.time), row.author, row.kind,
                   _parse_change(row.number, row.change))


def _parse_change(number: int, data: str) -> Change:
    try:
        edits = json.loads(data)
    except (TypeError, ValueError):
        raise RevisionError(f"revision {number}: the change is not JSON") from None
    if not isinstance(edits, list):
        raise RevisionError(f"revision {number}: the change is not a list")
    change = []
    for edit in edits:
        if (not isinstance(edit, list) or len(edit) != 3 or type(edit[0]) is not int
                or not isinstance(edit[1], str) or not isinstance(edit[2], str)):
            raise RevisionError(f"revision {number}: bad edit {str(edit)[:40]}")
        change.append((edit[0], edit[1], edit[2]))
    return tuple(change)


@dataclass(frozen=True, slots=True)
class Appended:
    """What an append asks storage to write.

    ``row`` is a new revision, or with ``folded`` the new content of the
    last one (same number: replace it); ``snapshot`` is a new snapshot.
    """

    row: RevisionRow
    folded: bool
    snapshot: SnapshotRow | None


@dataclass(frozen=True, slots=True)
class Pruned:
    """What a prune asks storage to do: delete the revisions numbered up to
    ``base`` and the snapshots before it, and write ``snapshot`` if given."""

    base: int
    snapshot: SnapshotRow | None


def replay(text: str, changes: Sequence[Change]) -> str:
    """*text* with *changes* applied in turn; RevisionError if one does not fit.

    The text is worked on as bytes (one per unit when everything is ASCII,
    else UTF-16), so each edit is one slice assignment and every deletion
    is checked against the bytes it removes.
    """
    narrow = text.isascii() and all(
        deleted.isascii() and inserted.isascii()
        for change in changes for _, deleted, inserted in change)
    codec, width = ("ascii", 1) if narrow else ("utf-16-le", 2)
    buffer = bytearray(text.encode(codec))
    for change in changes:
        shift = 0
        floor = 0
        for position, deleted, inserted in change:
            old = deleted.encode(codec)
            new = inserted.encode(codec)
            start = position * width
            at, end = start + shift, start + shift + len(old)
            if start < floor or end > len(buffer) or buffer[at:end] != old:
                raise RevisionError(f"an edit at {position} does not fit the text")
            buffer[at:end] = new
            floor = start + len(old)
            shift += len(new) - len(old)
    try:
        return buffer.decode(codec)
    except UnicodeDecodeError:
        raise RevisionError("an edit splits a surrogate pair") from None


def _edits(old: str, found: Iterable[Splice]) -> Change:
    """Code-point splices of *old* as edits in UTF-16 units."""
    if old.isascii():
        return tuple((start, old[start:end], inserted) for start, end, inserted in found)
    edits = []
    units = at = 0
    for start, end, inserted in found:
        units += utf16_length(old[at:start])
        deleted = old[start:end]
        edits.append((units, deleted, inserted))
        units += utf16_length(deleted)
        at = end
    return tuple(edits)


def change_between(old: str, new: str,
                   diff: Callable[[str, str], list[Diff]] | None = None) -> Change:
    """The edits turning *old* into *new*: one between their common ends, or,
    given *diff* and a middle that both deletes and inserts, one per hunk
    of the middle's diff."""
    start = _ENDS.diff_commonPrefix(old, new)
    tail = min(_ENDS.diff_commonSuffix(old, new), len(old) - start, len(new) - start)
    end, new_end = len(old) - tail, len(new) - tail
    if start == end and start == new_end:
        return ()
    if diff is None or start == end or start == new_end:
        return _edits(old, [(start, end, new[start:new_end])])
    return _edits(old, splices(diff(old[start:end], new[start:new_end]), start))


def _units(text: str) -> bytes:
    return text.encode("utf-16-le")


def _joined(first: Edit, then: Edit) -> Edit | None:
    """*first* followed by *then* (an edit of the text *first* made) as one
    edit, where *then* works inside or beside *first*'s insertion."""
    position, deleted, inserted = first
    at, removed, added = then
    length = utf16_length(inserted)
    if position <= at and at + utf16_length(removed) <= position + length:
        units = _units(inserted)
        offset = 2 * (at - position)
        joined = units[:offset] + _units(added) + units[offset + len(_units(removed)):]
        return (position, deleted, joined.decode("utf-16-le"))
    if at + utf16_length(removed) == position:
        return (at, removed + deleted, added + inserted)
    if at == position + length:
        return (position, deleted + removed, inserted + added)
    return None


@dataclass(slots=True)
class _Open:
    """The last revision while edits may still fold into it."""

    before: str
    started: float


class RevisionLog:
    """The kept revisions of one document, from ``base + 1`` to ``head``.

    ``text`` is the current text (the text at ``head``); the text at
    ``base`` is always a snapshot.  *diff* (e.g. ``Differ.diff``) splits a
    replacement into its hunks; without it a change is one edit between
    the texts' common ends.
    """

    def __init__(self, text: str = "", base: int = 0, *, policy: Policy = Policy(),
                 diff: Callable[[str, str], list[Diff]] | None = None) -> None:
        self.policy = policy
        self.text = text
        self.base = base
        self.revisions: list[Revision] = []
        self._diff = diff
        self._snapshots = {base: text}
        self._snapshot_numbers = [base]
        self._units = utf16_length(text)
        self._replay_units = 0
        self._replay_count = 0
        self._open: _Open | None = None

    @property
    def head(self) -> int:
        """The number of the current text's revision."""
        return self.base + len(self.revisions)

    def append(self, text: str, author: str, now: float, kind: str = EDIT,
               splice: Splice | None = None) -> Appended | None:
        """Record the master's change into *text*; None if it is unchanged.

        *splice*, if given, is the change as ``(start, end, inserted)`` in
        code points of the previous text (what the engine's merge returns),
        which spares comparing the texts.
        """
        if kind not in KINDS:
            raise ValueError(f"unknown revision kind {kind!r}")
        old = self.text
        if text == old:
            return None
        step = None
        if splice is not None:
            start, end, inserted = splice
            if (len(old) - end + start + len(inserted) == len(text)
                    and text.startswith(inserted, start)):
                step = _edits(old, [splice])
        if step is None:
            step = change_between(old, text, self._diff)
        self.text = text
        self._units += sum(utf16_length(inserted) - utf16_length(deleted)
                           for _, deleted, inserted in step)
        last = self.revisions[-1] if self.revisions else None
        opened = self._open
        if (kind == EDIT and last is not None and opened is not None
                and last.kind == EDIT and last.author == author
                and now - last.time <= self.policy.fold_window
                and now - opened.started <= self.policy.fold_span):
            change: Change | None = None
            if len(last.change) == 1 and len(step) == 1:
                joined = _joined(last.change[0], step[0])
                if joined is not None:
                    # Edits that cancel out leave a revision that changes nothing.
                    change = (joined,) if joined[1] != joined[2] else ()
            if change is None:
                change = change_between(opened.before, text, self._diff)
            revision = Revision(last.number, now, author, kind, change)
            self.revisions[-1] = revision
            return Appended(revision.row(), True, None)
        revision = Revision(self.head + 1, now, author, kind, step)
        self.revisions.append(revision)
        self._open = _Open(old, now) if kind == EDIT else None
        self._replay_count += 1
        self._replay_units += self._units + revision.inserted
        snapshot = None
        if (self._replay_units >= self.policy.replay_budget
                or self._replay_count >= self.policy.replay_count):
            snapshot = self._snapshot(revision.number, text)
            # A snapshot's revision must not change any more.
            self._open = None
        return Appended(revision.row(), False, snapshot)

    def _snapshot(self, number: int, text: str) -> SnapshotRow:
        self._snapshots[number] = text
        bisect.insort(self._snapshot_numbers, number)
        if number == self._snapshot_numbers[-1]:
            self._replay_units = self._replay_count = 0
        return SnapshotRow(number, text)

    def revision(self, number: int) -> Revision:
        """Revision *number*; UnknownRevision if it is not kept."""
        if not self.base < number <= self.head:
            raise UnknownRevision(f"no revision {number} (kept: {self.base + 1} to {self.head})")
        return self.revisions[number - self.base - 1]

    def page(self, start: int | None = None, limit: int = 100,
             newest_first: bool = False) -> list[Revision]:
        """Up to *limit* revisions from number *start* on (or back, newest first)."""
        if not 1 <= limit <= MAX_PAGE:
            raise ValueError(f"a page holds 1 to {MAX_PAGE} revisions, not {limit}")
        if newest_first:
            last = self.head if start is None else min(start, self.head)
            stop = max(last - self.base, 0)
            return self.revisions[max(stop - limit, 0):stop][::-1]
        first = self.base + 1 if start is None else max(start, self.base + 1)
        index = first - self.base - 1
        return self.revisions[index:index + limit]

    def text_at(self, number: int) -> str:
        """The text as revision *number* left it; UnknownRevision if not kept."""
        if number == self.head:
            return self.text
        if not self.base <= number < self.head:
            raise UnknownRevision(f"no revision {number} (kept: {self.base} to {self.head})")
        numbers = self._snapshot_numbers
        start = numbers[bisect.bisect_right(numbers, number) - 1]
        changes = [revision.change for revision in
                   self.revisions[start - self.base:number - self.base]]
        return replay(self._snapshots[start], changes)

    def prune(self, now: float, keep: float | None) -> Pruned | None:
        """Drop the revisions at least *keep* seconds old (None keeps all),
        from the oldest up to the first younger one; None if none went.

        The text at the new base becomes a snapshot if it was not one, so
        every kept revision still rebuilds; the current text always stays.
        """
        if keep is None:
            return None
        if keep < 0:
            raise ValueError(f"a keep duration cannot be negative: {keep}")
        count = 0
        for revision in self.revisions:
            if now - revision.time < keep:
                break
            count += 1
        if not count:
            return None
        base = self.base + count
        snapshot = None
        if base not in self._snapshots:
            snapshot = self._snapshot(base, self.text_at(base))
        cut = bisect.bisect_left(self._snapshot_numbers, base)
        for number in self._snapshot_numbers[:cut]:
            del self._snapshots[number]
        del self._snapshot_numbers[:cut]
        del self.revisions[:count]
        self.base = base
        if base == self.head:
            self._open = None
        return Pruned(base, snapshot)

    def rows(self) -> tuple[list[RevisionRow], list[SnapshotRow]]:
        """Every row of the log, as storage writes them."""
        return ([revision.row() for revision in self.revisions],
                [SnapshotRow(number, self._snapshots[number])
                 for number in self._snapshot_numbers])

    @classmethod
    def from_rows(cls, revisions: Iterable[RevisionRow], snapshots: Iterable[SnapshotRow],
                  *, policy: Policy = Policy(),
                  diff: Callable[[str, str], list[Diff]] | None = None) -> RevisionLog:
        """The log *revisions* and *snapshots* hold; RevisionError if they do not
        make one (a gap, no snapshot at the oldest, an edit that does not fit).

        No edit folds into a loaded revision: the next change starts a new one.
        """
        loaded = sorted((Revision.from_row(row) for row in revisions),
                        key=lambda revision: revision.number)
        kept = sorted(snapshots, key=lambda snapshot: snapshot.number)
        if not kept:
            raise RevisionError("a revision log needs at least one snapshot")
        base = kept[0].number
        if len({snapshot.number for snapshot in kept}) != len(kept):
            raise RevisionError("two snapshots have the same number")
        for index, revision in enumerate(loaded):
            if revision.number != base + 1 + index:
                raise RevisionError(
                    f"revision {base + 1 + index} is missing (found {revision.number})")
        head = base + len(loaded)
        for snapshot in kept:
            if not isinstance(snapshot.text, str) or not base <= snapshot.number <= head:
                raise RevisionError(f"snapshot {snapshot.number} is outside {base} to {head}")
        last = kept[-1]
        text = replay(last.text, [revision.change for revision in loaded[last.number - base:]])
        log = cls(kept[0].text, base, policy=policy, diff=diff)
        log.revisions = loaded
        for snapshot in kept[1:]:
            log._snapshot(snapshot.number, snapshot.text)
        log.text = text
        log._units = utf16_length(text)
        log._replay_count = head - last.number
        log._replay_units = log._replay_count * log._units
        return log
