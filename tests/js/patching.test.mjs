// Client diffs and fuzzy patching with cursor tracking: docs/protocol.md §5, §11.6, §11.10.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { fromDelta, resultText, toDelta } from '../../static/delta.js';
import { applyPatches, clientDiff, createDmp } from '../../static/patching.js';

const LONE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
const ALPHABET = ['a', 'b', ' ', '\n', 'é', '😀', '😁', '🙂', '𝒜', 'x'];

function generator(seed) {
  let state = seed;
  const next = (n) => {
    state = (state * 1103515245 + 12345) & 0x7fffffff;
    return state % n;
  };
  const text = (n) => Array.from({ length: n }, () => ALPHABET[next(ALPHABET.length)]).join('');
  const mutate = (base) => {
    const points = Array.from(base);
    for (let k = next(5) + 1; k > 0; k--) {
      points.splice(next(points.length + 1), next(4), ...Array.from(text(next(5))));
    }
    return points.join('');
  };
  return { next, text, mutate };
}

test('clientDiff never cuts a surrogate pair, so its delta always decodes', () => {
  const dmp = createDmp();
  const random = generator(1);
  for (let i = 0; i < 3000; i++) {
    const shadow = random.text(random.next(40));
    const live = random.mutate(shadow);
    const diffs = clientDiff(dmp, shadow, live);
    for (const [, part] of diffs) assert.ok(!LONE.test(part), JSON.stringify({ shadow, live }));
    assert.equal(resultText(fromDelta(shadow, toDelta(diffs))), live);
  }
});

test('applyPatches gives the same text as the library patch_apply', () => {
  const dmp = createDmp();
  const random = generator(2);
  for (let i = 0; i < 1500; i++) {
    const shadow = random.text(random.next(80));
    const edited = random.mutate(shadow);
    const live = random.mutate(shadow);
    const patches = dmp.patch_make(shadow, clientDiff(dmp, shadow, edited));
    const [expected] = dmp.patch_apply(patches, live);
    const ours = applyPatches(dmp, patches, live, [0, live.length]).text;
    // Ours differs only where a fuzzy match left half a pair behind.
    assert.equal(ours, expected.replace(new RegExp(LONE.source, 'g'), '\uFFFD'));
    assert.ok(!LONE.test(ours));
  }
});

function patchesFor(dmp, before, after) {
  return dmp.patch_make(before, clientDiff(dmp, before, after));
}

test('an insertion before the cursor moves it right, one after it does not', () => {
  const dmp = createDmp();
  const live = 'The quick brown fox jumps over the lazy dog';
  const cursor = live.indexOf('fox');
  const patches = patchesFor(dmp, live, 'The very quick brown fox jumps over the lazy old dog');
  const { text, offsets } = applyPatches(dmp, patches, live, [cursor, cursor]);
  assert.equal(text, 'The very quick brown fox jumps over the lazy old dog');
  assert.deepEqual(offsets, [text.indexOf('fox'), text.indexOf('fox')]);
});

test('an insertion exactly at the cursor leaves the cursor before it', () => {
  const dmp = createDmp();
  const live = 'Hello world, how are you';
  const at = 'Hello'.length;
  const { text, offsets } = applyPatches(dmp, patchesFor(dmp, live, 'Hello there world, how are you'), live, [at]);
  assert.equal(text, 'Hello there world, how are you');
  assert.deepEqual(offsets, [at]);
});

test('a deletion covering the cursor moves it to the start of the deletion', () => {
  const dmp = createDmp();
  const live = 'one two three four five six';
  const inside = live.indexOf('three') + 2;
  const after = live.indexOf('five');
  const patches = patchesFor(dmp, live, 'one two four five six');
  const { text, offsets } = applyPatches(dmp, patches, live, [inside, after]);
  assert.equal(text, 'one two four five six');
  assert.deepEqual(offsets, [live.indexOf('three'), text.indexOf('five')]);
});

test('the cursor follows its text when the patch lands fuzzily', () => {
  const dmp = createDmp();
  const shadow = 'Alpha beta gamma delta epsilon zeta eta theta';
  const live = 'Alpha beta GAMMA delta epsilon zeta eta theta, local typing';
  const cursor = live.length;
  const patches = patchesFor(dmp, shadow, 'Intro. Alpha beta gamma delta epsilon zeta eta theta');
  const { text, offsets } = applyPatches(dmp, patches, live, [cursor, cursor]);
  assert.equal(text, 'Intro. Alpha beta GAMMA delta epsilon zeta eta theta, local typing');
  assert.deepEqual(offsets, [text.length, text.length]);
});

test('emoji before the cursor shift it by UTF-16 units', () => {
  const dmp = createDmp();
  const live = 'abc def';
  const { text, offsets } = applyPatches(dmp, patchesFor(dmp, live, '😀😀abc def'), live, [4]);
  assert.equal(text, '😀😀abc def');
  assert.deepEqual(offsets, [8]);
});

test('no patches leave text and offsets alone', () => {
  const dmp = createDmp();
  assert.deepEqual(applyPatches(dmp, [], 'same', [2, 3]), { text: 'same', offsets: [2, 3], applied: [] });
});
