// Diffing and fuzzy patching for the client (docs/protocol.md §5, §11.6, §11.10).
//
// The diff-match-patch library does the searching; this module fixes the
// client's settings, keeps surrogate pairs whole, and applies patches while
// moving cursor offsets along with the text.

import {
  DIFF_DELETE, DIFF_EQUAL, DIFF_INSERT, diff_match_patch as DiffMatchPatch,
} from './vendor/diff-match-patch.mjs';
import { scrubSurrogates } from './delta.js';

export const CLIENT_DIFF_TIMEOUT = 0.5;

/** A library instance with the client's settings (docs/protocol.md §11.1, §11.10). */
export function createDmp() {
  const dmp = new DiffMatchPatch();
  dmp.Diff_Timeout = CLIENT_DIFF_TIMEOUT;
  dmp.Match_Distance = 1000;
  dmp.Match_Threshold = 0.6;
  return dmp;
}

/** The client's diff of shadow into text (docs/protocol.md §5), pairs kept whole. */
export function clientDiff(dmp, shadow, text) {
  const diffs = dmp.diff_main(shadow, text, true);
  if (diffs.length > 2) {
    dmp.diff_cleanupSemantic(diffs);
    dmp.diff_cleanupEfficiency(diffs);
  }
  return dmp.diff_cleanupSplitSurrogates(diffs);
}

/** Shift offsets for `length` units inserted at `at` (only those strictly after it). */
function inserted(offsets, at, length) {
  for (let i = 0; i < offsets.length; i++) {
    if (offsets[i] > at) offsets[i] += length;
  }
}

/** Shift offsets for the units [start, end) deleted; offsets inside collapse to start. */
function deleted(offsets, start, end) {
  for (let i = 0; i < offsets.length; i++) {
    if (offsets[i] >= end) offsets[i] -= end - start;
    else if (offsets[i] > start) offsets[i] = start;
  }
}

/**
 * Move offsets through diffs (the library's [op, text] pairs from the old text
 * to the new one) by the same rule as a patch moves the cursor: an insertion
 * before an offset pushes it on, one exactly at it does not; a deletion around
 * it brings it to the deletion's start. Returns the moved offsets.
 */
export function mapOffsets(diffs, offsets) {
  const moved = [...offsets];
  let at = 0;
  for (const [op, text] of diffs) {
    if (op === DIFF_INSERT) {
      inserted(moved, at, text.length);
      at += text.length;
    } else if (op === DIFF_DELETE) {
      deleted(moved, at, at + text.length);
    } else {
      at += text.length;
    }
  }
  return moved;
}

/**
 * The changes diffs makes, as [start, end, inserted] in its old text: one
 * per run of deletions and insertions between equalities.
 */
export function splices(diffs) {
  const found = [];
  let at = 0;
  let changing = false;
  for (const [op, text] of diffs) {
    if (op === DIFF_EQUAL) {
      at += text.length;
      changing = false;
      continue;
    }
    if (!changing) found.push([at, at, '']);
    changing = true;
    const last = found[found.length - 1];
    if (op === DIFF_DELETE) {
      at += text.length;
      last[1] = at;
    } else {
      last[2] += text;
    }
  }
  return found;
}

/**
 * The server's change to the shadow (theirs, diffs of it) as diffs of the
 * live text, which is the shadow with the person's unsent typing (ours).
 * Both start from the shadow, so where no change of one meets inside one of
 * the other, theirs is placed exactly, nothing searched for (both inserting
 * at one place: theirs first), as the Python client does (docs/protocol.md
 * §11.6). Null when they overlap: then only fuzzy patching can merge them.
 */
export function mergeApart(shadow, ours, theirs) {
  const changes = [...splices(theirs).map((change) => [...change, 0]),
    ...splices(ours).map((change) => [...change, 1])];
  changes.sort((a, b) => a[0] - b[0] || a[1] - b[1] || a[3] - b[3]);
  const diffs = [];
  let at = 0;
  for (const [start, end, text, mine] of changes) {
    if (start < at) return null;
    diffs.push([DIFF_EQUAL, shadow.substring(at, start)]);
    // The live text already holds the typing; theirs replaces shadow text.
    if (mine) diffs.push([DIFF_EQUAL, text]);
    else diffs.push([DIFF_DELETE, shadow.substring(start, end)], [DIFF_INSERT, text]);
    at = end;
  }
  diffs.push([DIFF_EQUAL, shadow.substring(at)]);
  return diffs.filter(([, text]) => text !== '');
}

/**
 * Patch text fuzzily, as the library's patch_apply does, and move each
 * cursor offset through every insertion and deletion (docs/protocol.md §11.10 step 2).
 * Returns { text, offsets, applied } where applied says which patches fit.
 * Half pairs a fuzzy match may leave behind become U+FFFD.
 */
export function applyPatches(dmp, patches, text, offsets = []) {
  if (patches.length === 0) return { text, offsets: [...offsets], applied: [] };
  const work = dmp.patch_deepCopy(patches);
  const padding = dmp.patch_addPadding(work);
  dmp.patch_splitMax(work);
  let current = padding + text + padding;
  const moved = offsets.map((offset) => offset + padding.length);
  const applied = [];
  const maxBits = dmp.Match_MaxBits;
  let drift = 0;
  for (const patch of work) {
    const expected = patch.start2 + drift;
    const before = dmp.diff_text1(patch.diffs);
    let start;
    let end = -1;
    if (before.length > maxBits) {
      // Only a very long deletion is longer than the matcher's bit budget:
      // find its two ends separately.
      start = dmp.match_main(current, before.substring(0, maxBits), expected);
      if (start !== -1) {
        end = dmp.match_main(current, before.substring(before.length - maxBits),
          expected + before.length - maxBits);
        if (end === -1 || start >= end) start = -1;
      }
    } else {
      start = dmp.match_main(current, before, expected);
    }
    if (start === -1) {
      applied.push(false);
      drift -= patch.length2 - patch.length1;
      continue;
    }
    drift = start - expected;
    const found = end === -1
      ? current.substring(start, start + before.length)
      : current.substring(start, end + maxBits);
    // Map positions in the patch's old text onto the text actually found.
    let locate = (index) => index;
    if (found !== before) {
      const diffs = dmp.diff_main(before, found, false);
      if (before.length > maxBits
          && dmp.diff_levenshtein(diffs) / before.length > dmp.Patch_DeleteThreshold) {
        applied.push(false);
        continue;
      }
      dmp.diff_cleanupSemanticLossless(diffs);
      locate = (index) => dmp.diff_xIndex(diffs, index);
    }
    let index = 0;
    for (const [op, part] of patch.diffs) {
      if (op === DIFF_INSERT) {
        const at = start + locate(index);
        current = current.substring(0, at) + part + current.substring(at);
        inserted(moved, at, part.length);
      } else if (op === DIFF_DELETE) {
        const from = start + locate(index);
        const to = start + locate(index + part.length);
        current = current.substring(0, from) + current.substring(to);
        deleted(moved, from, to);
      }
      if (op !== DIFF_DELETE) index += part.length;
    }
    applied.push(true);
  }
  const result = scrubSurrogates(current.substring(padding.length, current.length - padding.length));
  const clamp = (offset) => Math.min(Math.max(offset - padding.length, 0), result.length);
  return { text: result, offsets: moved.map(clamp), applied };
}
