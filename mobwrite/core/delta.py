"""Deltas: building and reading the tab-separated edit scripts of docs/protocol.md §5.

Lengths on the wire count UTF-16 code units, as JavaScript strings do,
while Python strings count code points; this module converts between them.
A diff is a list of ``(operation, text)`` pairs as diff-match-patch uses.
"""

from __future__ import annotations

import codecs
import itertools
import re
import time

import fast_diff_match_patch
from diff_match_patch import diff_match_patch, patch_obj

from mobwrite.core.escaping import DecodeError, decode_text, encode_text

DELETE, EQUAL, INSERT = -1, 0, 1
Diff = tuple[int, str]
# A change of a text: the characters from start to end replaced by a string.
Splice = tuple[int, int, str]

_LENGTH = re.compile(rb"[0-9]{1,15}")


class DeltaError(ValueError):
    """A delta that does not apply to the base text it was given."""


def utf16_length(text: str) -> int:
    """Length of *text* in UTF-16 code units (a JavaScript string's length)."""
    if text.isascii():
        return len(text)
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


def to_delta(diffs: list[Diff]) -> str:
    """Encode *diffs* as a delta (tokens joined by TAB)."""
    tokens = []
    for operation, text in diffs:
        if operation == INSERT:
            tokens.append("+" + encode_text(text))
        elif operation == DELETE:
            tokens.append("-%d" % utf16_length(text))
        else:
            tokens.append("=%d" % utf16_length(text))
    return "\t".join(tokens)


def _take_units(text: str, start: int, count: int) -> str:
    """The part of *text* from code point *start* that is *count* UTF-16 units long."""
    part = text[start:start + count]
    if part.isascii():
        if len(part) < count:
            raise DeltaError("the delta is longer than the base text")
        return part
    units = part.encode("utf-16-le")
    if len(units) == 2 * count:
        return part
    if len(units) < 2 * count:
        raise DeltaError("the delta is longer than the base text")
    # Characters beyond U+FFFF took two units each: decode exactly *count*
    # units; an unfinished pair at the end is left unconsumed.
    part, consumed = codecs.utf_16_le_decode(units[:2 * count], "strict", False)
    if consumed != 2 * count:
        raise DeltaError("a length splits a surrogate pair")
    return part


def from_delta(base_text: str, delta: bytes) -> list[Diff]:
    """Decode *delta* against *base_text*, validating every token.

    Raises DeltaError when a token is malformed, an insertion is not valid
    percent-encoded UTF-8, or the lengths do not add up to the base text.
    """
    diffs: list[Diff] = []
    index = 0
    for token in delta.split(b"\t"):
        if not token:
            continue
        operation, value = token[:1], token[1:]
        if operation == b"+":
            try:
                diffs.append((INSERT, decode_text(value)))
            except DecodeError as error:
                raise DeltaError(f"bad insertion: {error}") from None
        elif operation in (b"=", b"-"):
            if not _LENGTH.fullmatch(value):
                raise DeltaError(f"bad length {value[:20]!r}")
            part = _take_units(base_text, index, int(value))
            index += len(part)
            diffs.append((EQUAL if operation == b"=" else DELETE, part))
        else:
            raise DeltaError(f"unknown operation {operation!r}")
    if index != len(base_text):
        covered = utf16_length(base_text[:index])
        raise DeltaError(
            f"the delta covers {covered} units, the base text has {utf16_length(base_text)}"
        )
    return diffs


# The stretch (old and new text together) up to which a coarse delta is made.
COARSE_CHARS = 16384

# The library's common prefix and suffix (binary searches comparing in C).
_ENDS = diff_match_patch()


def common_ends(old: str, new: str) -> tuple[int, int]:
    """How long the common start of *old* and *new* is, and then their common
    end, which never overlaps it (code points)."""
    start = _ENDS.diff_commonPrefix(old, new)
    return start, min(_ENDS.diff_commonSuffix(old, new), len(old) - start, len(new) - start)


def coarse_delta(old: str, new: str, max_chars: int = COARSE_CHARS) -> str | None:
    """The delta turning *old* into *new* by one replacement of the stretch between
    their common start and end, or None if that stretch (old and new text
    together) is over *max_chars* (docs/websocket.md, *Coarse deltas*).

    It costs two binary searches and one encoding, however many changes lie
    in the stretch, and it is as cheap to apply.
    """
    if old == new:
        return "=%d" % utf16_length(old) if old else ""
    start, tail = common_ends(old, new)
    removed = old[start:len(old) - tail]
    added = new[start:len(new) - tail]
    if len(removed) + len(added) > max_chars:
        return None
    tokens = []
    if start:
        tokens.append("=%d" % utf16_length(old[:start]))
    if removed:
        tokens.append("-%d" % utf16_length(removed))
    if added:
        tokens.append("+" + encode_text(added))
    if tail:
        tokens.append("=%d" % utf16_length(old[len(old) - tail:]))
    return "\t".join(tokens)


def result_text(diffs: list[Diff]) -> str:
    """The text a diff produces (its equalities and insertions)."""
    return "".join(text for operation, text in diffs if operation != DELETE)


def is_no_op(diffs: list[Diff]) -> bool:
    """True when *diffs* changes nothing."""
    return all(operation == EQUAL for operation, _ in diffs)


_OPERATIONS = {"=": EQUAL, "-": DELETE, "+": INSERT}
# The native library works on whole code points only where wchar_t is 32
# bits wide; with 16-bit units it could split a surrogate pair.
NATIVE = fast_diff_match_patch.CHAR_WIDTH == 4


def _native_diff(old: str, new: str, timeout: float, checklines: bool,
                 cleanup: str) -> list[Diff]:
    """diff-match-patch's diff computed by its C++ port, as Python tuples.

    Given the same time budget it returns the very same diffs as the pure
    Python ``diff_main`` (and ``diff_cleanupEfficiency``), ten to a hundred
    times faster; only when the budget runs out can they differ, and then
    the native one has simply got further.
    """
    parts = fast_diff_match_patch.diff(
        old, new, timelimit=max(timeout, 0.0), checklines=checklines,
        cleanup=cleanup, counts_only=False)
    return [(_OPERATIONS[operation], text) for operation, text in parts]


# Above this many characters (both texts together), handing the whole texts
# to the native library costs more than the diff itself: it copies them to
# 32-bit strings and back (30 ms for a 1 MB document with one edit).
LARGE_TEXTS = 8192


class _NativeDiffMatchPatch(diff_match_patch):
    """diff-match-patch whose diffs and fuzzy matches are native.

    ``patch_apply`` stays the pure Python one, so patching follows the same
    steps; only its two hot loops (``diff_main`` and the bitap search in
    ``match_main``) run in C++, with the same results.
    """

    def diff_main(self, text1: str, text2: str, checklines: bool = True,
                  deadline: float | None = None) -> list[Diff]:
        if deadline is None:
            timeout = self.Diff_Timeout
        else:
            timeout = max(deadline - time.time(), 1e-6)
        return self.diff_native(text1, text2, timeout, checklines, "No")

    def diff_native(self, text1: str, text2: str, timeout: float, checklines: bool,
                    cleanup: str) -> list[Diff]:
        """The native diff; of large texts, only the part between their common ends.

        diff_main itself starts by setting the common prefix and suffix
        aside and merges them back at the end, so doing that here, with
        the pure Python helpers (which compare in C without copying much),
        gives the same diffs.
        """
        if len(text1) + len(text2) <= LARGE_TEXTS:
            return _native_diff(text1, text2, timeout, checklines, cleanup)
        head = self.diff_commonPrefix(text1, text2)
        tail = self.diff_commonSuffix(text1[head:], text2[head:])
        if not head and not tail:
            return _native_diff(text1, text2, timeout, checklines, cleanup)
        diffs = _native_diff(text1[head:len(text1) - tail], text2[head:len(text2) - tail],
                             timeout, checklines, "No")
        if head:
            diffs.insert(0, (EQUAL, text1[:head]))
        if tail:
            diffs.append((EQUAL, text1[len(text1) - tail:]))
        self.diff_cleanupMerge(diffs)
        if cleanup == "Efficiency":
            self.diff_cleanupEfficiency(diffs)
        return diffs

    def match_main(self, text: str, pattern: str, loc: int) -> int:
        return fast_diff_match_patch.match(
            text, pattern, loc, match_threshold=self.Match_Threshold,
            match_distance=self.Match_Distance, match_maxbits=self.Match_MaxBits)


class Differ:
    """Computes server-side diffs with a time budget (docs/protocol.md §5)."""

    def __init__(self, timeout: float, native: bool = NATIVE) -> None:
        self.dmp = _NativeDiffMatchPatch() if native else diff_match_patch()
        self.dmp.Diff_Timeout = timeout

    def diff(self, old: str, new: str) -> list[Diff]:
        """Diff *old* into *new*, cleaned up for efficiency."""
        if old == new:
            return [(EQUAL, old)] if old else []
        if isinstance(self.dmp, _NativeDiffMatchPatch):
            return self.dmp.diff_native(old, new, self.dmp.Diff_Timeout, True, "Efficiency")
        diffs = self.dmp.diff_main(old, new)
        self.dmp.diff_cleanupEfficiency(diffs)
        return diffs

    def delta(self, old: str, new: str) -> str:
        """The delta turning *old* into *new*."""
        if old == new:
            return "=%d" % utf16_length(old) if old else ""
        return to_delta(self.diff(old, new))

    def insertions(self, diffs: list[Diff]) -> list[Diff] | None:
        """*diffs* with each replacement that keeps all it deletes split back into
        its insertions, or None if there is none.

        Cleaning up a diff for people turns typing on both sides of a short
        stretch into deleting the stretch and typing it again; merged as
        that, it would delete whatever others typed inside the stretch.
        """
        found: list[Diff] = []
        for operation, text in diffs:
            if (operation == INSERT and found and found[-1][0] == DELETE
                    and len(found[-1][1]) < len(text)):
                kept = self.dmp.diff_main(found[-1][1], text, False)
                if all(part[0] != DELETE for part in kept):
                    found[-1:] = kept
                    continue
            found.append((operation, text))
        if len(found) == len(diffs):
            return None
        self.dmp.diff_cleanupMerge(found)
        return found

    def merge_apart(self, master: str, old_shadow: str, diffs: list[Diff]) -> tuple[str, int]:
        """Patch *diffs* into *master* as ``merge`` does, but with one change a patch;
        the merged text and how many patches found no place.

        A patch holding several changes places those after the first wrongly
        where the master differs between them (patch_apply maps their offsets
        counting the text inserted before them twice); one patch per change,
        each with the context of the whole, places each where it belongs.
        """
        patches = []
        for patch in self.dmp.patch_make(old_shadow, diffs):
            patches.extend(_one_change_each(patch))
        merged, applied = self.dmp.patch_apply(patches, master)
        return merged, applied.count(False)

    def merge(self, master: str, old_shadow: str, diffs: list[Diff],
              new_shadow: str) -> tuple[str, int, Splice | None]:
        """Patch the change *diffs* (*old_shadow* into *new_shadow*) into *master*.

        Returns the merged text, how many patches found no place to apply,
        and the change to *master* as a splice where it is one.  A change
        that is one hunk, with its context found intact in the master, is
        placed by the same steps as ``patch_make`` and ``patch_apply`` take
        for a single patch (its context, the padding, the search from the
        expected place) without building patches; any other change goes
        through them.
        """
        hunk = _hunk(diffs)
        if master == old_shadow:
            # Returning the caller's string, not an equal copy, keeps one
            # text in memory for the master and the shadow (a copy per sync).
            return new_shadow, 0, hunk
        if hunk is not None:
            placed = self._place(master, old_shadow, hunk)
            if placed == -1:
                placed = self._place_at_end(master, old_shadow, hunk)
            if placed == -1:
                return master, 1, None
            if placed is not None:
                start = placed
                end = start + hunk[1] - hunk[0]
                merged = "".join((master[:start], hunk[2], master[end:]))
                return merged, 0, (start, end, hunk[2])
        patches = self.dmp.patch_make(old_shadow, diffs)
        merged, applied = self.dmp.patch_apply(patches, master)
        return merged, applied.count(False), None

    def _place_at_end(self, master: str, old_shadow: str, hunk: Splice) -> int:
        """Where in *master* a change at the very end (or start) of *old_shadow* goes,
        matched by the text before (or after) it alone: -1 for nowhere.

        Patching takes the padding past a text's end as context, and that
        context is gone from a master others appended to (or prepended to),
        so text typed at an end would find no place once the few characters
        beside it were disturbed too.  The changed text itself must still be
        found unchanged in the master.
        """
        start, end, _ = hunk
        dmp = self.dmp
        reach = dmp.Match_MaxBits or 32
        if end - start >= reach or 0 < start and end < len(old_shadow):
            return -1
        at_end = end == len(old_shadow)
        # The context beside the change, grown as patching grows it: until unique.
        size = dmp.Patch_Margin
        while True:
            pattern = old_shadow[max(0, start - size):end] if at_end else old_shadow[:end + size]
            if (len(pattern) >= reach or len(pattern) == len(old_shadow)
                    or old_shadow.find(pattern) == old_shadow.rfind(pattern)):
                break
            size += dmp.Patch_Margin
        pattern = pattern[-reach:] if at_end else pattern[:reach]
        if not pattern:
            return -1
        # Where the change starts within the pattern, and where the pattern should be.
        offset = len(pattern) - (end - start) if at_end else 0
        expected = end - len(pattern) if at_end else 0
        found = dmp.match_main(master, pattern, max(0, min(expected, len(master))))
        if found == -1:
            return -1
        at = found + offset
        if master[at:at + end - start] != old_shadow[start:end]:
            return -1
        return at

    def _place(self, master: str, old_shadow: str, hunk: Splice) -> int | None:
        """Where in *master* patching puts *hunk* of *old_shadow*: -1 for nowhere,
        None where patching would go further than an exact match."""
        start, end, _ = hunk
        dmp = self.dmp
        margin = dmp.Patch_Margin
        prefix = suffix = ""
        if old_shadow:
            # The context patch_addContext gives: grown until the pattern is unique.
            pattern = old_shadow[start:end]
            padding = 0
            while (old_shadow.find(pattern) != old_shadow.rfind(pattern)
                   and (not dmp.Match_MaxBits
                        or len(pattern) < dmp.Match_MaxBits - 2 * margin)):
                padding += margin
                pattern = old_shadow[max(0, start - padding):end + padding]
            padding += margin
            prefix = old_shadow[max(0, start - padding):start]
            suffix = old_shadow[end:end + padding]
        # patch_addPadding: the texts get null characters on both ends, which
        # the context takes in where it reaches an end.
        null = "".join(map(chr, range(1, margin + 1)))
        if len(prefix) < margin:
            prefix = null[len(prefix):] + prefix
        if len(suffix) < margin:
            suffix += null[:margin - len(suffix)]
        before = prefix + old_shadow[start:end] + suffix
        if dmp.Match_MaxBits and len(before) > dmp.Match_MaxBits:
            return None
        size = len(master) + 2 * margin
        loc = max(0, min(start + margin - len(prefix), size))
        # The padded text only as far around the expected place as a match
        # can score (no copy of a long master, and a short search).
        low, high = 0, size
        if dmp.Match_Threshold < 1:
            reach = max(int(dmp.Match_Threshold * dmp.Match_Distance) + 1,
                        -(-dmp.Match_Distance // len(before))) + 2 * len(before)
            low, high = max(0, loc - reach), min(size, loc + reach)
        window = _padded(master, null, low, high)
        found = _nearest(window, low, size, before, loc, dmp.Match_Distance,
                         dmp.Match_Threshold)
        if found is None:
            found = dmp.match_main(window, before, loc - low)
            if found == -1:
                return -1
            found += low
            if not window.startswith(before, found - low):
                return None
        at = found + len(prefix) - margin
        return at if 0 <= at and at + end - start <= len(master) else None


def splices(diffs: list[Diff], offset: int = 0) -> list[Splice]:
    """The changes *diffs* makes: one splice per run of deletions and
    insertions between equalities, in offsets of its old text plus *offset*."""
    found: list[Splice] = []
    at = offset
    changing = False
    for operation, text in diffs:
        if operation == EQUAL:
            at += len(text)
            changing = False
            continue
        if not changing:
            found.append((at, at, ""))
            changing = True
        start, end, inserted = found[-1]
        if operation == DELETE:
            at += len(text)
            found[-1] = (start, at, inserted)
        else:
            found[-1] = (start, end, inserted + text)
    return found


def _one_change_each(patch: patch_obj) -> list[patch_obj]:
    """*patch* as patches of one change each (a run of deletions and insertions),
    applied in turn: each holds the whole patch's text, the changes before
    it made."""
    diffs = patch.diffs
    runs = [index for index, (operation, _) in enumerate(diffs)
            if operation != EQUAL and (index == 0 or diffs[index - 1][0] == EQUAL)]
    if len(runs) < 2:
        return [patch]
    found = []
    for start in runs:
        end = start
        while end < len(diffs) and diffs[end][0] != EQUAL:
            end += 1
        before = "".join(text for operation, text in diffs[:start] if operation != DELETE)
        after = "".join(text for operation, text in diffs[end:] if operation != INSERT)
        one = patch_obj()
        one.diffs = ([(EQUAL, before)] if before else []) + diffs[start:end] + (
            [(EQUAL, after)] if after else [])
        one.start1 = one.start2 = patch.start2
        one.length1 = len(before) + len(after) + sum(
            len(text) for operation, text in diffs[start:end] if operation == DELETE)
        one.length2 = len(before) + len(after) + sum(
            len(text) for operation, text in diffs[start:end] if operation == INSERT)
        found.append(one)
    return found


def _hunk(diffs: list[Diff]) -> Splice | None:
    """The change *diffs* makes as one splice, if its changes are all together.

    A delta no differ writes (an empty token, or two of one kind in a row)
    can give ``patch_make`` another context than the splice's, so such a
    change is left to the patches.
    """
    if not all(text for _, text in diffs) or any(
            a[0] == b[0] for a, b in itertools.pairwise(diffs)):
        return None
    found = splices(diffs)
    return found[0] if len(found) == 1 else None


def _nearest(text: str, offset: int, size: int, pattern: str, loc: int,
             distance: int, threshold: float) -> int | None:
    """``match_main``'s answer where an exact occurrence must win, else None.

    *text* starts at *offset* of the searched text of *size* characters.
    The score is errors / len(pattern) + distance / Match_Distance (at
    most Match_Threshold), so an exact occurrence closer than
    Match_Distance / len(pattern) beats any inexact one, and the closest
    exact one wins unless one on each side is as close (which the search
    itself settles).
    """
    at = loc - offset
    if at >= 0 and text.startswith(pattern, at):
        return loc
    # Farther than this an exact occurrence decides nothing: look no further.
    reach = -(-distance // len(pattern))
    right = text.find(pattern, max(at, 0), max(at, 0) + reach + len(pattern))
    left = text.rfind(pattern, max(at - reach, 0), at - 1 + len(pattern)) if at > 0 else -1
    after = right + offset - loc if right != -1 else size
    before = loc - left - offset if left != -1 else size
    nearest = min(after, before)
    if after != before and nearest * len(pattern) < distance and nearest < threshold * distance:
        return right + offset if after < before else left + offset
    return None


def _padded(text: str, null: str, low: int, high: int) -> str:
    """``(null + text + null)[low:high]``, without building the whole."""
    pad = len(null)
    return "".join((null[low:min(high, pad)],
                    text[max(low - pad, 0):max(high - pad, 0)],
                    null[max(low - pad - len(text), 0):max(high - pad - len(text), 0)]))
