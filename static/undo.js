// Undo and redo of the person's own edits in a text field, across other
// people's changes. No DOM: strings and positions only (see handlers.js).
//
// Each step is kept as the field's text right after it had it: the step
// put `inserted` at `start` in place of `removed`, between `left` and
// `right`. Undoing is a patch from that text to the one without the step,
// applied to the text as it is now, found by its context the way remote
// changes are merged: with no remote change it lands exactly where it was;
// after one, other people's text around it stays.

import { applyPatches, createDmp } from './patching.js';

// Typing within this many ms of the last edit, at its end, is one undo step.
export const GROUP_MS = 1000;
const LIMIT = 500;
// Characters of context kept on either side of a step.
const CONTEXT = 16;

/**
 * The one change turning `before` into `after` as [start, removed, inserted].
 * `end` (the cursor after the change) settles which of equal characters changed.
 */
export function splice(before, after, end = null) {
  const shorter = Math.min(before.length, after.length);
  let suffix = 0;
  const maxSuffix = end === null ? shorter : Math.min(shorter, after.length - end);
  while (suffix < maxSuffix && before[before.length - 1 - suffix] === after[after.length - 1 - suffix]) suffix += 1;
  let prefix = 0;
  while (prefix < shorter - suffix && before[prefix] === after[prefix]) prefix += 1;
  return [prefix, before.slice(prefix, before.length - suffix), after.slice(prefix, after.length - suffix)];
}

/** A step: `inserted` at `start` of `text` took the place of `removed`. */
function step(text, start, removed, inserted, time) {
  const end = start + inserted.length;
  return {
    start, removed, inserted, time,
    left: text.slice(Math.max(start - CONTEXT, 0), start),
    right: text.slice(end, end + CONTEXT),
  };
}

export class UndoHistory {
  constructor() {
    this.undos = [];
    this.redos = [];
    this.dmp = createDmp();
  }

  /**
   * The person replaced `removed` at `start` by `inserted` at `time` ms,
   * giving `text`.
   */
  record(text, start, removed, inserted, time) {
    if (removed === inserted) return;
    this.redos = [];
    const top = this.undos.at(-1);
    if (top && time - top.time < GROUP_MS && UndoHistory.#join(top, start, removed, inserted)) {
      this.undos.pop();
      if (top.removed !== top.inserted) this.undos.push(step(text, top.start, top.removed, top.inserted, time));
      return;
    }
    this.undos.push(step(text, start, removed, inserted, time));
    if (this.undos.length > LIMIT) this.undos.shift();
  }

  /** Someone else replaced `removed` at `start` by `inserted`: steps after it move along. */
  remote(start, removed, inserted) {
    const end = start + removed.length;
    for (const entry of [...this.undos, ...this.redos]) {
      if (end <= entry.start) entry.start += inserted.length - removed.length;
    }
  }

  /**
   * Take back the last step from `text` (the field's text now): returns
   * { start, end, text } to put in place of [start, end), or null when
   * there is none or it no longer fits (then it is forgotten).
   */
  undo(text) {
    return this.#revert(this.undos, this.redos, text);
  }

  /** Do again the last undone step: like undo(). */
  redo(text) {
    return this.#revert(this.redos, this.undos, text);
  }

  #revert(from, to, text) {
    const entry = from.pop();
    if (!entry) return null;
    const before = entry.left + entry.inserted + entry.right;
    const after = entry.left + entry.removed + entry.right;
    const patches = this.dmp.patch_make(before, after);
    const offset = entry.start - entry.left.length;
    for (const patch of patches) {
      patch.start1 += offset;
      patch.start2 += offset;
    }
    const result = applyPatches(this.dmp, patches, text);
    if (!result.applied.every(Boolean)) return null;
    const [start, removed, inserted] = splice(text, result.text);
    // Only the step's own text may go, and only what it replaced come back:
    // never someone else's text typed into the middle of it.
    if (removed === inserted || !before.includes(removed) || !after.includes(inserted)
        || inserted.length - removed.length !== entry.removed.length - entry.inserted.length) {
      return null;
    }
    to.push(step(result.text, start, removed, inserted, -Infinity));
    return { start, end: start + removed.length, text: inserted };
  }

  /** Fold a change into `top` when it continues it (typing on, or erasing backwards). */
  static #join(top, start, removed, inserted) {
    const end = top.start + top.inserted.length;
    if (removed === '' && start === end) {
      top.inserted += inserted;
      return true;
    }
    if (inserted !== '' || start + removed.length !== end) return false;
    if (top.inserted.endsWith(removed)) {
      top.inserted = top.inserted.slice(0, top.inserted.length - removed.length);
      return true;
    }
    if (top.inserted === '') {
      top.start = start;
      top.removed = removed + top.removed;
      return true;
    }
    return false;
  }
}
