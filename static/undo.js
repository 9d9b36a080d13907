// Undo and redo of the person's own edits in a text field, across other
// people's changes. No DOM: positions and strings only (see handlers.js).
//
// Every entry is kept in the coordinates of the text as it is now: the
// region [start, start + inserted.length) holds what the edit inserted, and
// undoing it puts `removed` back there. Each change moves the entries: the
// person's own changes (and undos) widen an entry they touch, so undoing
// them in order stays exact; a change by someone else that touches an
// entry drops that entry, so an undo never removes another person's text.

// Typing within this many ms of the last edit, at its end, is one undo step.
export const GROUP_MS = 1000;
const LIMIT = 500;

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

/**
 * Move `entry` through a change replacing `removed` at `start` by `inserted`.
 * Returns false when the entry must be dropped (someone else changed it).
 */
function transform(entry, start, removed, inserted, remote) {
  const a = entry.start;
  const b = a + entry.inserted.length;
  const end = start + removed.length;
  if (!remote && entry.covered && start === a && removed === '') {
    // Putting back what an own change took from over this entry's place
    // (undoing or redoing in order): the entry holds it again.
    entry.inserted = inserted;
    entry.covered = false;
    return true;
  }
  if (a === b && start === a && removed === '') {
    // Text put where an erasure was: it goes on the side the erasure last touched.
    if (entry.after) entry.start += inserted.length;
    return true;
  }
  if (end <= a) {
    entry.start += inserted.length - removed.length;
    if (end === a) entry.after = true;
    return true;
  }
  if (start >= b) {
    if (start === b) entry.after = false;
    return true;
  }
  if (remote) return false;
  const left = start < a ? removed.slice(0, a - start) : '';
  const right = end > b ? removed.slice(removed.length - (end - b)) : '';
  const from = Math.min(a, start);
  const region = left + entry.inserted + right;
  entry.inserted = region.slice(0, start - from) + inserted + region.slice(end - from);
  entry.removed = left + entry.removed + right;
  entry.start = from;
  entry.covered = entry.inserted === '';
  return true;
}

export class UndoHistory {
  constructor() {
    this.undos = [];
    this.redos = [];
  }

  /** The person replaced `removed` at `start` by `inserted`, at `time` ms. */
  record(start, removed, inserted, time) {
    if (removed === inserted) return;
    this.redos = [];
    const top = this.undos.at(-1);
    this.#move(start, removed, inserted, false, top);
    if (top && time - top.time < GROUP_MS && UndoHistory.#join(top, start, removed, inserted)) {
      top.time = time;
      if (top.removed === '' && top.inserted === '') this.undos.pop();
      return;
    }
    if (top) transform(top, start, removed, inserted, false);
    this.undos.push({ start, removed, inserted, time, after: true });
    if (this.undos.length > LIMIT) this.undos.shift();
  }

  /** Someone else replaced `removed` at `start` by `inserted`. */
  remote(start, removed, inserted) {
    this.#move(start, removed, inserted, true);
  }

  /**
   * Take back the last edit of `text` (the field's text now): returns
   * { start, end, text } to put in place of [start, end), or null.
   */
  undo(text) {
    return this.#swap(this.undos, this.redos, text);
  }

  /** Do again the last undone edit: like undo(). */
  redo(text) {
    return this.#swap(this.redos, this.undos, text);
  }

  #swap(from, to, text) {
    const entry = from.pop();
    if (!entry) return null;
    const end = entry.start + entry.inserted.length;
    if (text.slice(entry.start, end) !== entry.inserted) {
      // The field changed behind our back: no step can be trusted any more.
      this.undos = [];
      this.redos = [];
      return null;
    }
    this.#move(entry.start, entry.inserted, entry.removed, false);
    to.push({ start: entry.start, removed: entry.inserted, inserted: entry.removed, time: -Infinity, after: true });
    return { start: entry.start, end, text: entry.removed };
  }

  /** Move every entry but `except` through a change. */
  #move(start, removed, inserted, remote, except = null) {
    for (const stack of [this.undos, this.redos]) {
      const kept = stack.filter((entry) => entry === except || transform(entry, start, removed, inserted, remote));
      stack.splice(0, stack.length, ...kept);
    }
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
