// Presence without a browser (presence.js): messages, the table, names, caret mapping, the rate.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { createDmp, mapOffsets } from '../../static/patching.js';
import {
  MAX_NAME_CHARS, PALETTE, PresenceTable, cleanName, colorFor, guestName, presenceMessage,
  readPresence, throttle,
} from '../../static/presence.js';

const dmp = createDmp();

/** Where offset of before lands in after, by the library's diff of the two. */
function mapped(before, after, offset) {
  return mapOffsets(dmp.diff_main(before, after, false), [offset])[0];
}

test('a published message is !presence: and the JSON of name, colour and carets', () => {
  const message = presenceMessage({ name: 'Ann <b>', color: '#d03030', carets: { memo: [4, 9] } });
  assert.equal(message, '!presence:{"name":"Ann <b>","color":"#d03030","carets":{"memo":[4,9]}}');
});

test('the daemon\'s presence messages are updates, our id, or errors; anything else is not presence', () => {
  assert.deepEqual(readPresence('!presence:{"memo":{"p3":null}}'), { kind: 'update', update: { memo: { p3: null } } });
  assert.deepEqual(readPresence('!presence-id:p7'), { kind: 'id', id: 'p7' });
  assert.deepEqual(readPresence('!error:presence: name over 64 characters\n\n'),
    { kind: 'error', message: 'error:presence: name over 64 characters' });
  assert.equal(readPresence('!presence:[1]').kind, 'error');
  assert.equal(readPresence('!presence:{').kind, 'error');
  assert.equal(readPresence('!changed:memo\n\n'), null);
  assert.equal(readPresence('F:1:memo\n\n'), null);
});

test('the table sets entries, deletes them on null, ignores ourselves and bad entries', () => {
  const table = new PresenceTable();
  const bo = { name: 'Bo', color: '#3060d0', caret: [12, 12] };
  assert.deepEqual(table.apply({ memo: { p3: bo, p5: { name: 'Me', color: '#2a8a3a', caret: null } } }), ['memo']);
  table.setSelf('p5');
  assert.deepEqual(table.on('memo'), [['p3', bo]]);
  assert.deepEqual(table.apply({ memo: { p5: { name: 'Me', color: '#2a8a3a' }, p9: { name: 'x', color: 'red' } } }), []);
  assert.deepEqual(table.apply({ memo: { p4: { name: 'Al', color: '#d03030', caret: [1, -1] } } }), []);
  table.apply({ memo: { p4: { name: 'Al', color: '#d03030', caret: null } }, todo: { p3: bo } });
  assert.deepEqual(table.people(['memo', 'todo']).map(([id]) => id), ['p4', 'p3']);
  table.apply({ memo: { p3: null } });
  assert.deepEqual(table.on('memo').map(([id]) => id), ['p4']);
  table.clear();
  assert.deepEqual(table.people(['memo', 'todo']), []);
  assert.equal(table.self, null);
});

test('a caret moves on past an insertion before it, not one exactly at it', () => {
  assert.equal(mapped('hello world', 'oh, hello world', 6), 10);
  assert.equal(mapped('hello world', 'hello big world', 6), 6);
  assert.equal(mapped('hello world', 'hello world!', 6), 6);
  assert.equal(mapped('hello world', 'hello world!', 11), 11);
});

test('a caret in a deletion lands at its start; after one, it moves back by its length', () => {
  assert.equal(mapped('hello big world', 'hello world', 8), 6);
  assert.equal(mapped('hello big world', 'hello world', 10), 6);
  assert.equal(mapped('hello big world', 'hello world', 12), 8);
  assert.equal(mapped('abc', '', 2), 0);
});

test('a caret follows its character through a replacement and several edits at once', () => {
  const before = 'one two three four';
  const after = 'ONE two 3 four five';
  const offset = before.indexOf('four');
  assert.equal(after.slice(mapped(before, after, offset)), 'four five');
  assert.equal(mapped(before, after, before.indexOf('two')), after.indexOf('two'));
});

test('offsets are UTF-16 units: an emoji before the caret counts two', () => {
  assert.equal(mapped('ab', '\u{1F600}ab', 1), 3);
});

test('a name is trimmed, freed of control characters and cut to 64 characters', () => {
  assert.equal(cleanName('  Ann\u0007 \n'), 'Ann');
  assert.equal(cleanName('x'.repeat(100)).length, MAX_NAME_CHARS);
  assert.equal(cleanName('<b>x</b>'), '<b>x</b>');
  assert.equal(cleanName(' \t '), '');
});

test('a default name is a guest number; a name always gets the same palette colour', () => {
  assert.equal(guestName(() => 0), 'Guest 1000');
  assert.match(guestName(), /^Guest [0-9]{4}$/);
  assert.equal(colorFor('Ann'), colorFor('Ann'));
  assert.ok(PALETTE.includes(colorFor('Ann')));
  assert.ok(new Set(['Ann', 'Bo', 'Cy', 'Di', 'Ed', 'Flo'].map(colorFor)).size > 1);
});

test('publishing sends at once after a quiet spell, else the latest once per interval', () => {
  let now = 0;
  const pending = [];
  const timers = { now: () => now, setTimeout: (callback, delay) => pending.push({ callback, delay }) };
  const sent = [];
  const publish = throttle((message) => sent.push(message), 100, timers);
  publish('a');
  assert.deepEqual(sent, ['a']);
  now = 30;
  publish('b');
  publish('c');
  assert.deepEqual(sent, ['a']);
  assert.deepEqual(pending.map(({ delay }) => delay), [70]);
  now = 100;
  pending.shift().callback();
  assert.deepEqual(sent, ['a', 'c']);
  now = 250;
  publish('d');
  assert.deepEqual(sent, ['a', 'c', 'd']);
  assert.equal(pending.length, 0);
});
