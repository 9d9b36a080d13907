// The delta codec: docs/protocol.md §5, §6.1 and §15.2.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import {
  DIFF_DELETE, DIFF_EQUAL, DIFF_INSERT, DeltaError, decodeRaw, decodeText, encodeText,
  fromDelta, resultText, scrubSurrogates, toDelta,
} from '../../static/delta.js';

test('encodeText escapes exactly what encodeURI escapes, keeping spaces', () => {
  for (let code = 0; code < 0x800; code++) {
    const char = String.fromCharCode(code);
    assert.equal(encodeText(char), encodeURI(char).replace(/%20/g, ' '), `U+${code.toString(16)}`);
  }
  assert.equal(encodeText("A-Z_.!~*'();/?:@&=+$,# "), "A-Z_.!~*'();/?:@&=+$,# ");
});

test('encodeText follows the examples of docs/protocol.md §6.1 with uppercase hex', () => {
  assert.equal(encodeText('café 50% \ttab'), 'caf%C3%A9 50%25 %09tab');
  assert.equal(encodeText('\u3046'), '%E3%81%86');
  assert.equal(encodeText('😀'), '%F0%9F%98%80');
  assert.equal(encodeText('"<>[\\]^`{|}\x7f\0\n\r'), '%22%3C%3E%5B%5C%5D%5E%60%7B%7C%7D%7F%00%0A%0D');
});

test('encodeText never throws on a lone surrogate (encodeURI would)', () => {
  assert.throws(() => encodeURI('\uD83D'));
  assert.equal(encodeText('a\uD83Db'), 'a%EF%BF%BDb');
});

test('decodeText accepts either hex case and unneeded escapes, keeps plus signs', () => {
  assert.equal(decodeText('caf%c3%a9+%2B%3a'), 'café++:');
  assert.equal(decodeText('%F0%9F%98%80 ok'), '😀 ok');
  assert.equal(decodeText('déjà'), 'déjà');
});

test('decodeText is strict about stray percent signs and invalid UTF-8', () => {
  assert.throws(() => decodeText('50%'), DeltaError);
  assert.throws(() => decodeText('%zz'), DeltaError);
  assert.throws(() => decodeText('%C3'), DeltaError);
  assert.throws(() => decodeText('%ED%A0%BD'), DeltaError); // an encoded surrogate half
  assert.throws(() => decodeText('%FF'), DeltaError);
});

test('decodeRaw keeps a stray percent sign literally but still wants UTF-8', () => {
  assert.equal(decodeRaw('100% sure%2'), '100% sure%2');
  assert.equal(decodeRaw('caf%C3%A9 50%25'), 'café 50%');
  assert.throws(() => decodeRaw('%C3'), DeltaError);
});

test('toDelta counts UTF-16 code units and encodes insertions', () => {
  const diffs = [[DIFF_EQUAL, 'a😀'], [DIFF_DELETE, '🙂x'], [DIFF_INSERT, 'é\t+ ']];
  assert.equal(toDelta(diffs), '=3\t-3\t+%C3%A9%09+ ');
  assert.equal(toDelta([]), '');
  assert.equal(toDelta([[DIFF_EQUAL, 'Hello']]), '=5');
});

test('fromDelta applies the examples of docs/protocol.md §5', () => {
  const base = 'Hello world';
  assert.equal(resultText(fromDelta(base, '=6\t-5\t+there')), 'Hello there');
  assert.equal(resultText(fromDelta(base, '-5\t+Goodbye\t=6')), 'Goodbye world');
  assert.equal(resultText(fromDelta(base, '=11\t+%0A%E2%9C%93')), 'Hello world\n\u2713');
  assert.throws(() => fromDelta(base, '=5'), DeltaError);
});

test('fromDelta accepts both spellings of an empty delta and trailing tabs', () => {
  assert.deepEqual(fromDelta('', ''), []);
  assert.deepEqual(fromDelta('', '=0'), [[DIFF_EQUAL, '']]);
  assert.equal(resultText(fromDelta('abc', '=3\t')), 'abc');
});

test('fromDelta rejects malformed tokens', () => {
  for (const bad of ['=-1', '=+3', '= 3', '=3.0', '=x', '*3', '=1\t=1\t=2', '=4', '=2\t+%', '=1e1']) {
    assert.throws(() => fromDelta('abc', bad), DeltaError, bad);
  }
});

test('fromDelta rejects a length that splits a surrogate pair', () => {
  const base = 'a😀b';
  assert.equal(resultText(fromDelta(base, '=1\t-2\t+🙂\t=1')), 'a🙂b');
  assert.throws(() => fromDelta(base, '=2\t-2'), DeltaError);
  assert.throws(() => fromDelta(base, '=1\t-1\t=2'), DeltaError);
});

test('a delta round-trips through toDelta and fromDelta with emoji', () => {
  const diffs = [[DIFF_EQUAL, '👍🏽 ok'], [DIFF_DELETE, '𝒜'], [DIFF_INSERT, '🎉\n%']];
  const decoded = fromDelta('👍🏽 ok𝒜', toDelta(diffs));
  assert.deepEqual(decoded, diffs);
});

test('scrubSurrogates replaces only unpaired halves, keeping the length', () => {
  const text = 'a\uD83D b\uDE00 😀 \uDE00\uD83D';
  const scrubbed = scrubSurrogates(text);
  assert.equal(scrubbed, 'a\uFFFD b\uFFFD 😀 \uFFFD\uFFFD');
  assert.equal(scrubbed.length, text.length);
});
