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
from json.encoder import encode_basestring as _quote
from typing import NamedTuple

from mobwrite.core.changes import (
    Change,
    ChangeError,
    compose,
    fits,
    invert,
    replay,
    splices_between,
    to_change,
)
from mobwrite.core.delta import Diff, Splice, utf16_length

EDIT, RESTORE, FORCE = "edit", "restore", "force"
# An edit may fold into the revision before it; the others never fold.
KINDS = frozenset((EDIT, RESTORE, FORCE))
MAX_PAGE = 1000


class RevisionError(ChangeError):
    """Rows that do not make a valid revision log."""


class UnknownRevision(LookupError):
    """A revision number the log does not hold (never made, or dropped)."""


@dataclass(frozen=True, slots=True)
class Policy:
    """How a log folds edits and when it takes snapshots."""

    # An edit folds into the last revision when that is an edit by the same
    # author, still open (loaded and snapshotted revisions are closed), last
    # changed at most fold_window seconds before, and begun at most
    # fold_span seconds before.
    fold_window: float = 2.0
    fold_span: float = 60.0
    # A snapshot is taken once replaying the revisions since the last one
    # would move this many UTF-16 units (each edit moves about the whole
    # text), or after replay_count revisions, whichever comes first.
    replay_budget: int = 300_000_000
    replay_count: int = 4000


class RevisionRow(NamedTuple):
    """A revision as storage writes it: plain values (the change as JSON),
    a tuple that can go straight to a database's parameters."""

    number: int
    time: float
    author: str
    kind: str
    change: str


class SnapshotRow(NamedTuple):
    """The full text at revision *number*."""

    number: int
    text: str


class Revision(NamedTuple):
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
        change = "[%s]" % ",".join("[%d,%s,%s]" % (position, _quote(deleted), _quote(inserted))
                                   for position, deleted, inserted in self.change)
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


class Appended(NamedTuple):
    """What an append asks storage to write.

    ``row`` is a new revision, or with ``folded`` the new content of the
    last one (same number: replace it); ``snapshot`` is a new snapshot.
    """

    row: RevisionRow
    folded: bool
    snapshot: SnapshotRow | None


class Pruned(NamedTuple):
    """What a prune asks storage to do: delete the revisions numbered up to
    ``base`` and the snapshots before it, and write ``snapshot`` if given."""

    base: int
    snapshot: SnapshotRow | None


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
        # When the last revision began, while edits may still fold into it.
        self._started: float | None = None
        # A code point offset of the text and the UTF-16 units before it: the
        # place of the last change, where the next one likely is.
        self._anchor = (0, 0)

    @property
    def head(self) -> int:
        """The number of the current text's revision."""
        return self.base + len(self.revisions)

    def append(self, text: str, author: str, now: float, kind: str = EDIT,
               found: Sequence[Splice] = ()) -> Appended | None:
        """Record the master's change into *text* by *author* at *now*, as a
        new revision or folded into the last one (see Policy); None if the
        text is unchanged.  *kind* is EDIT, or RESTORE or FORCE (never folded).

        *found*, if given, is the change as splices ``(start, end, inserted)``
        in code points of the previous text, left to right (what the
        engine's merge knows), which spares comparing the texts.
        """
        if kind not in KINDS:
            raise ValueError(f"unknown revision kind {kind!r}")
        old = self.text
        if text == old:
            return None
        if not found or not fits(old, text, found):
            found = splices_between(old, text, self._diff)
        step = self._step(old, found)
        self.text = text
        last = self.revisions[-1] if self.revisions else None
        if (kind == EDIT and last is not None and self._started is not None
                and last.kind == EDIT and last.author == author
                and now - last.time <= self.policy.fold_window
                and now - self._started <= self.policy.fold_span):
            revision = Revision(last.number, now, author, kind, compose(last.change, step))
            self.revisions[-1] = revision
            return Appended(revision.row(), True, None)
        revision = Revision(self.head + 1, now, author, kind, step)
        self.revisions.append(revision)
        self._started = now if kind == EDIT else None
        self._replay_count += 1
        self._replay_units += self._units
        snapshot = None
        if (self._replay_units >= self.policy.replay_budget
                or self._replay_count >= self.policy.replay_count):
            snapshot = self._snapshot(revision.number, text)
            # A snapshot's revision must not change any more.
            self._started = None
        return Appended(revision.row(), False, snapshot)

    def close(self) -> None:
        """Let no later edit fold into the last revision (one whose number
        was handed out, as the API does)."""
        self._started = None

    @property
    def open_since(self) -> float | None:
        """When the last revision began, while edits may still fold into it
        (None once it is closed): what a store shared by several daemons
        keeps so that any of them folds the next edit the same way."""
        return self._started

    def _step(self, old: str, found: Sequence[Splice]) -> Change:
        """*found* as edits, keeping the text's length in units and the anchor."""
        step = to_change(old, found, self._units_before(old, found[0][0]))
        shift = units = 0
        for (start, end, inserted), (_, removed, added) in zip(found, step, strict=True):
            shift += len(inserted) - end + start
            units += utf16_length(added) - utf16_length(removed)
        self._units += units
        if self._units == len(old) + shift:
            # Units and code points agree: the anchor is not needed.
            self._anchor = (0, 0)
        else:
            position, deleted, _ = step[-1]
            self._anchor = (found[-1][1] + shift, position + utf16_length(deleted) + units)
        return step

    def _units_before(self, text: str, offset: int) -> int:
        """UTF-16 units of *text* (the current text) before code point *offset*,
        counted from the nearest of its start, its end and the anchor."""
        if self._units == len(text):
            return offset
        at, units = self._anchor
        if offset >= at:
            if len(text) - offset < offset - at:
                return self._units - utf16_length(text[offset:])
            return units + utf16_length(text[at:offset])
        if offset < at - offset:
            return utf16_length(text[:offset])
        return units - utf16_length(text[offset:at])

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
        """The text as revision *number* left it; UnknownRevision if not kept
        (ChangeError if a damaged row loaded from storage does not fit)."""
        if number == self.head:
            return self.text
        if not self.base <= number < self.head:
            raise UnknownRevision(f"no revision {number} (kept: {self.base} to {self.head})")
        numbers = self._snapshot_numbers
        index = bisect.bisect_right(numbers, number)
        start = numbers[index - 1]
        after = numbers[index] if index < len(numbers) else self.head
        if number - start <= after - number:
            return replay(self._snapshots[start], [revision.change for revision in
                          self.revisions[start - self.base:number - self.base]])
        # Nearer the next snapshot (or the current text): undo back to it.
        return replay(self._snapshots.get(after, self.text), [
            invert(revision.change) for revision in
            reversed(self.revisions[number - self.base:after - self.base])])

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
            self._started = None
        return Pruned(base, snapshot)

    def rows(self) -> tuple[list[RevisionRow], list[SnapshotRow]]:
        """Every row of the log, as storage writes them."""
        return ([revision.row() for revision in self.revisions],
                [SnapshotRow(number, self._snapshots[number])
                 for number in self._snapshot_numbers])

    @classmethod
    def tail(cls, text: str, last: RevisionRow | None, head: int, last_snapshot: int,
             open_since: float | None = None, *, policy: Policy = Policy(),
             diff: Callable[[str, str], list[Diff]] | None = None) -> RevisionLog:
        """The end of a stored log, all that appending needs: the current *text*
        at revision *head*, the row of that revision (*last*, None when no
        revision is kept) and the number of the log's newest snapshot.

        Its appends (and a prune with keep 0) give the rows the whole log
        would give; it holds no older revision, so it cannot read them.
        *open_since* reopens the last revision to folding (``open_since``).
        RevisionError if *last* does not fit *text*.
        """
        if last is None:
            log = cls(text, head, policy=policy, diff=diff)
        else:
            revision = Revision.from_row(last)
            if revision.number != head:
                raise RevisionError(f"the last revision is {revision.number}, not {head}")
            try:
                before = replay(text, [invert(revision.change)])
            except ChangeError as error:
                raise RevisionError(str(error)) from None
            log = cls(before, head - 1, policy=policy, diff=diff)
            log.revisions = [revision]
            log.text = text
            log._units = utf16_length(text)
            if revision.kind == EDIT:
                log._started = open_since
        log._replay_count = max(head - last_snapshot, 0)
        log._replay_units = log._replay_count * log._units
        return log

    @classmethod
    def from_rows(cls, revisions: Iterable[RevisionRow], snapshots: Iterable[SnapshotRow],
                  *, policy: Policy = Policy(),
                  diff: Callable[[str, str], list[Diff]] | None = None,
                  open_since: float | None = None) -> RevisionLog:
        """The log *revisions* and *snapshots* hold; RevisionError if they do not
        make one (a gap, no snapshot at the oldest, an edit that does not fit).

        No edit folds into a loaded revision (the next change starts a new
        one) unless *open_since* says when the last one began (``open_since``).
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
        try:
            text = replay(last.text,
                          [revision.change for revision in loaded[last.number - base:]])
        except ChangeError as error:
            raise RevisionError(str(error)) from None
        log = cls(kept[0].text, base, policy=policy, diff=diff)
        log.revisions = loaded
        for snapshot in kept[1:]:
            log._snapshot(snapshot.number, snapshot.text)
        log.text = text
        log._units = utf16_length(text)
        log._replay_count = head - last.number
        log._replay_units = log._replay_count * log._units
        if loaded and loaded[-1].kind == EDIT and last.number < head:
            log._started = open_since
        return log
