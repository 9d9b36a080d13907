// A server delta merged into unsent typing (docs/protocol.md §11.6 step 5):
// both start from the shadow, so where they do not overlap the server's
// change is made exactly, and the caret moves with the text as patching moves it.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { SyncClient } from '../../static/core.js';
import { DIFF_INSERT, resultText, toDelta } from '../../static/delta.js';
import { applyPatches, clientDiff, createDmp, mergeApart } from '../../static/patching.js';
import { field } from './fields.mjs';

const dmp = createDmp();

/** A field like a textarea: patching it moves its selection with the text. */
function textarea(text) {
  return {
    ...field('memo', text),
    selection: [0, 0],
    patchClientText(patches, library) {
      const { text: patched, offsets } = applyPatches(library, patches, this.text, this.selection);
      [this.text, this.selection] = [patched, offsets];
    },
  };
}

/**
 * The field after the server changes `shadow` into `changed` (with the
 * delta `theirs`, else the client's diff) while `live` was typed, unsent,
 * with the selection at `selection`.
 */
function merge({ shadow, live, changed, theirs = clientDiff(dmp, shadow, changed), selection = [0, 0] }) {
  assert.equal(resultText(theirs), changed);
  const memo = textarea(shadow);
  const client = new SyncClient({ userId: 'wkq7r2mz' });
  client.share(memo);
  client.buildRequest();
  client.applyResponse(`F:1:memo\nd:0:=${shadow.length}\n\n`);
  memo.text = live;
  memo.selection = selection;
  client.applyResponse(`F:1:memo\nd:1:${toDelta(theirs)}\n\n`);
  // The shadow is the server's text: the next request sends the typing alone.
  const request = client.buildRequest();
  assert.equal(request, `u:wkq7r2mz\nF:2:memo\nd:1:${toDelta(clientDiff(dmp, changed, memo.text))}\n\n`);
  return memo;
}

/** The old merge, for comparison: the server's change patched fuzzily into the typing. */
function patched(shadow, live, theirs) {
  return applyPatches(dmp, dmp.patch_make(shadow, theirs), live).text;
}

test('typing and a server change apart are both made exactly', () => {
  const memo = merge({
    shadow: 'The cat sat on the mat.', live: 'The black cat sat on the mat.', changed: 'The cat sat on the red mat!',
  });
  assert.equal(memo.text, 'The black cat sat on the red mat!');
});

test('both inserting at one place: the server\'s text goes first, the caret stays after the typing', () => {
  const live = 'Notes: mine';
  const memo = merge({ shadow: 'Notes: ', live, changed: 'Notes: theirs ', selection: [live.length, live.length] });
  assert.equal(memo.text, 'Notes: theirs mine');
  assert.deepEqual(memo.selection, [memo.text.length, memo.text.length]);
});

test('the caret and a selection move with the server\'s change', () => {
  // Typed "big " before "dog"; the caret is after it and "dog" is selected.
  const live = 'a big dog and a cat';
  const at = 'a big '.length;
  const memo = merge({ shadow: 'a dog and a cat', live, changed: 'one dog and a kitten', selection: [at, at + 3] });
  assert.equal(memo.text, 'one big dog and a kitten');
  assert.deepEqual(memo.selection, ['one big '.length, 'one big dog'.length]);
  // A deletion around the caret brings it to the deletion's start.
  const cut = merge({ shadow: 'keep drop this', live: 'new keep drop this', changed: 'keep this',
    selection: ['new keep dr'.length, 'new keep dr'.length] });
  assert.equal(cut.text, 'new keep this');
  assert.deepEqual(cut.selection, ['new keep '.length, 'new keep '.length]);
});

test('overlapping changes fall back to fuzzy patching', () => {
  const shadow = 'The quick brown fox';
  // Typed inside the word the server replaced.
  const live = 'The quick brOwn fox';
  const changed = 'The quick red fox';
  const theirs = clientDiff(dmp, shadow, changed);
  assert.equal(mergeApart(shadow, clientDiff(dmp, shadow, live), theirs), null);
  assert.equal(merge({ shadow, live, changed }).text, patched(shadow, live, theirs));
  // A coarse change replacing a stretch the typing is inside.
  const coarse = [[0, 'The quick '], [-1, 'brown fox'], [1, 'red fox']];
  const lazy = 'The quick brown lazy fox';
  assert.equal(mergeApart(shadow, clientDiff(dmp, shadow, lazy), coarse), null);
  assert.equal(merge({ shadow, live: lazy, changed, theirs: coarse }).text, patched(shadow, lazy, coarse));
});

test('emoji stay whole: surrogate pairs are never split', () => {
  const memo = merge({ shadow: '😀😁 x 🙂', live: '😀🎉😁 x 🙂', changed: '😀😁 y 🙂👍', selection: [4, 4] });
  assert.equal(memo.text, '😀🎉😁 y 🙂👍');
  assert.deepEqual(memo.selection, [4, 4]);
  // Both inserting between the halves' neighbours: theirs first, pairs intact.
  const both = merge({ shadow: '😀😁', live: '😀🎉😁', changed: '😀👍😁', selection: [4, 4] });
  assert.equal(both.text, '😀👍🎉😁');
  assert.deepEqual(both.selection, [6, 6]);
});

test('many server changes around the typing: patching lost it, the exact merge keeps every character', () => {
  // A text of repeated words, where patches' context matches in many places.
  const shadow = 'echo echo echo india india alpha echo india alpha india india india';
  const live = 'echo echo echo india india alpha echo india TYPED alpha india india india';
  const changed = 'echo echo india alpha india india alpha alpha';
  const theirs = [[0, 'echo echo '], [-1, 'echo india '], [0, 'india alpha '], [-1, 'echo '],
    [0, 'india '], [-1, 'alpha india india indi'], [1, 'india alpha alph'], [0, 'a']];
  assert.ok(!patched(shadow, live, theirs).includes('TYPED'));
  const memo = merge({ shadow, live, changed, theirs });
  assert.equal(memo.text, 'echo echo india alpha india TYPED india alpha alpha');
});

test('any merge made apart is the live text with exact diffs, and applies as made', () => {
  let state = 3;
  const next = (n) => {
    state = (state * 1103515245 + 12345) & 0x7fffffff;
    return state % n;
  };
  const points = ['a', 'b', ' ', '😀', 'é', '🙂'];
  const text = (n) => Array.from({ length: n }, () => points[next(points.length)]).join('');
  const edit = (base) => {
    const chars = Array.from(base);
    for (let k = next(4); k >= 0; k--) chars.splice(next(chars.length + 1), next(3), ...Array.from(text(next(3))));
    return chars.join('');
  };
  let apart = 0;
  for (let i = 0; i < 2000; i++) {
    const shadow = text(next(30));
    const live = edit(shadow);
    const changed = edit(shadow);
    const diffs = mergeApart(shadow, clientDiff(dmp, shadow, live), clientDiff(dmp, shadow, changed));
    if (diffs === null) continue;
    apart += 1;
    const old = diffs.filter(([op]) => op !== DIFF_INSERT).map(([, part]) => part).join('');
    assert.equal(old, live);
    const merged = resultText(diffs);
    assert.equal(applyPatches(dmp, dmp.patch_make(live, diffs), live).text, merged);
    if (live === shadow) assert.equal(merged, changed);
    if (changed === shadow) assert.equal(merged, live);
  }
  assert.ok(apart > 500, `only ${apart} of 2000 merges were apart`);
});
