// The client algorithm against scripted gateway answers: docs/protocol.md §11.2-11.4, §11.6, §11.7.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { DEFAULTS, SyncClient, nextInterval, randomId } from '../../static/core.js';

/** A shared object holding its live text in memory. */
function field(name, text = '', mergeChanges = true) {
  return {
    name,
    text,
    mergeChanges,
    writes: 0,
    getClientText() {
      return this.text;
    },
    setClientText(value) {
      this.text = value;
      this.writes += 1;
    },
  };
}

function session(...objects) {
  const client = new SyncClient({ userId: 'wkq7r2mz' });
  for (const object of objects) client.share(object);
  return client;
}

test('the first sync sends the text raw and the request ends with a blank line', () => {
  const client = session(field('memo', 'Hi there'));
  assert.equal(client.buildRequest(), 'u:wkq7r2mz\nF:0:memo\nr:1:Hi there\n\n');
});

test('typing before the first exchange goes as a delta after the shared text, so a document that exists keeps it', () => {
  const memo = field('memo', '');
  const client = session(memo);
  memo.text = 'shar';
  // A lowercase raw of the text there was at share time leaves the server's text alone; the typing is merged.
  assert.equal(client.buildRequest(), 'u:wkq7r2mz\nF:0:memo\nr:1:\nd:1:+shar\n\n');
  memo.text = 'shared';
  client.applyResponse('F:2:memo\nd:0:=4\t+Hi \n\n');
  // Both inserted after 'shar': the server's text goes first (see merge.test.mjs).
  assert.equal(memo.text, 'sharHi ed');
  assert.equal(client.buildRequest(), 'u:wkq7r2mz\nF:1:memo\nd:2:=7\t+ed\n\n');
});

test('an acknowledged raw is followed by no-op deltas as polls', () => {
  const memo = field('memo', 'Hi there');
  const client = session(memo);
  client.buildRequest();
  client.applyResponse('F:1:memo\nd:0:=8\n\n');
  assert.equal(client.buildRequest(), 'u:wkq7r2mz\nF:1:memo\nd:1:=8\n\n');
  assert.equal(client.pending, false);
});

test('unacknowledged edits are resent with the new one, oldest first', () => {
  const memo = field('memo', 'Hi');
  const client = session(memo);
  client.buildRequest();
  client.applyResponse('F:1:memo\nd:0:=2\n\n');
  memo.text = 'Hi!';
  assert.equal(client.buildRequest(), 'u:wkq7r2mz\nF:1:memo\nd:1:=2\t+!\n\n');
  // That answer was lost; the next request repeats the edit.
  memo.text = 'Hi!?';
  assert.equal(client.buildRequest(), 'u:wkq7r2mz\nF:1:memo\nd:1:=2\t+!\nd:2:=3\t+?\n\n');
  assert.equal(client.pending, true);
  client.applyResponse('F:3:memo\nd:1:=4\n\n');
  assert.equal(client.buildRequest(), 'u:wkq7r2mz\nF:2:memo\nd:3:=4\n\n');
});

test('an edit stack with pending edits sends no extra poll', () => {
  const memo = field('memo', 'a');
  const client = session(memo);
  client.buildRequest();
  client.applyResponse('F:1:memo\nd:0:=1\n\n');
  memo.text = 'ab';
  client.buildRequest();
  assert.equal(client.buildRequest(), 'u:wkq7r2mz\nF:1:memo\nd:1:=1\t+b\n\n');
});

test('a server delta merges into the live text, keeping a concurrent local edit', () => {
  const memo = field('memo', 'The cat sat on the mat');
  const client = session(memo);
  client.buildRequest();
  client.applyResponse('F:1:memo\nd:0:=22\n\n');
  memo.text = 'The cat sat on the mat today';
  client.buildRequest();
  client.applyResponse('F:2:memo\nd:1:=4\t-3\t+dog\t=21\n\n');
  assert.equal(memo.text, 'The dog sat on the mat today');
  assert.equal(client.changedRemotely, true);
  assert.equal(client.buildRequest(), 'u:wkq7r2mz\nF:2:memo\nd:2:=28\n\n');
});

test('a repeated server delta is skipped, a future one forces a raw', () => {
  const memo = field('memo', 'abc');
  const client = session(memo);
  client.buildRequest();
  client.applyResponse('F:1:memo\nd:0:=3\t+d\n\n');
  assert.equal(memo.text, 'abcd');
  client.buildRequest();
  // The same delta again (the server resent its stack): applied once only.
  client.applyResponse('F:2:memo\nd:0:=3\t+d\nd:1:=4\t+e\n\n');
  assert.equal(memo.text, 'abcde');
  client.buildRequest();
  client.applyResponse('F:3:memo\nd:7:=5\t+z\n\n');
  assert.equal(memo.text, 'abcde');
  assert.equal(client.buildRequest(), 'u:wkq7r2mz\nF:2:memo\nr:4:abcde\n\n');
});

test('a lost answer is repaired: the server resends from its backup and the edit arrives once', () => {
  const memo = field('memo', 'ab');
  const client = session(memo);
  client.buildRequest();
  client.applyResponse('F:1:memo\nd:0:=2\n\n');
  memo.text = 'abc';
  client.buildRequest();
  // The answer "F:2 / d:1:=3 +X" was lost: the client still expects server edit 1.
  assert.equal(client.buildRequest(), 'u:wkq7r2mz\nF:1:memo\nd:1:=2\t+c\n\n');
  client.applyResponse('F:2:memo\nd:1:=3\t+X\n\n');
  assert.equal(memo.text, 'abcX');
  client.applyResponse('F:2:memo\nd:1:=3\t+X\n\n');
  assert.equal(memo.text, 'abcX');
  assert.equal(client.buildRequest(), 'u:wkq7r2mz\nF:2:memo\nd:2:=4\n\n');
});

test('a delta after an acknowledgement that does not match our version forces a raw', () => {
  const memo = field('memo', 'xy');
  const client = session(memo);
  client.buildRequest();
  client.applyResponse('F:0:memo\nd:0:=2\t+z\n\n');
  assert.equal(memo.text, 'xy');
  // The unacknowledged raw stays on the stack under the new one.
  assert.equal(client.buildRequest(), 'u:wkq7r2mz\nF:0:memo\nr:1:xy\nr:2:xy\n\n');
});

test('a delta that does not fit the shadow forces a raw at the shortest interval', () => {
  const memo = field('memo', 'abc');
  const client = session(memo);
  client.buildRequest();
  const interval = client.applyResponse('F:1:memo\nd:0:=10\n\n');
  assert.equal(interval, DEFAULTS.minSyncInterval);
  assert.equal(client.buildRequest(), 'u:wkq7r2mz\nF:0:memo\nr:2:abc\n\n');
});

test('R replaces shadow and live text; versions come from the F and R lines', () => {
  const memo = field('memo', 'mine');
  const client = session(memo);
  client.buildRequest();
  client.applyResponse('F:1:memo\nR:5:caf%C3%A9 50%25 %09tab\n\n');
  assert.equal(memo.text, 'café 50% \ttab');
  assert.equal(client.buildRequest(), 'u:wkq7r2mz\nF:5:memo\nd:1:=13\n\n');
});

test('an empty r replaces only the shadow, so the next delta carries the local text', () => {
  const memo = field('memo', 'local words');
  const client = session(memo);
  client.buildRequest();
  client.applyResponse('F:1:memo\nr:3:\n\n');
  assert.equal(memo.text, 'local words');
  assert.equal(memo.writes, 0);
  assert.equal(client.buildRequest(), 'u:wkq7r2mz\nF:3:memo\nd:1:+local words\n\n');
});

test('D overwrites the live text wholesale', () => {
  const count = field('count', '12', false);
  const client = session(count);
  client.buildRequest();
  client.applyResponse('F:1:count\nd:0:=2\n\n');
  count.text = '13';
  assert.equal(client.buildRequest(), 'u:wkq7r2mz\nF:1:count\nD:1:=1\t-1\t+3\n\n');
  client.applyResponse('F:2:count\nD:1:-2\t+20\n\n');
  assert.equal(count.text, '20');
});

test('the overwrite letter follows the mode the object reports at each sync', () => {
  const price = field('price', '5');
  const client = session(price);
  client.buildRequest();
  client.applyResponse('F:1:price\nd:0:=1\n\n');
  price.mergeChanges = false;
  price.text = '6';
  assert.match(client.buildRequest(), /\nD:1:/);
});

test('idPrefix is added to F lines and required on answers', () => {
  const client = new SyncClient({ userId: 'wkq7r2mz', settings: { idPrefix: 'site:' } });
  const memo = field('memo', 'x');
  client.share(memo);
  assert.equal(client.buildRequest(), 'u:wkq7r2mz\nF:0:site:memo\nr:1:x\n\n');
  client.applyResponse('F:1:memo\nR:0:wrong\n\n');
  assert.equal(memo.text, 'x');
  client.applyResponse('F:1:site:memo\nR:0:right\n\n');
  assert.equal(memo.text, 'right');
});

test('lines after an F naming an unknown document are ignored until the next F', () => {
  const memo = field('memo', 'a');
  const client = session(memo);
  client.buildRequest();
  client.applyResponse('F:1:other\nR:0:nope\nF:1:memo\nR:0:yes\n\n');
  assert.equal(memo.text, 'yes');
});

test('a truncated answer changes nothing', () => {
  const memo = field('memo', 'a');
  const client = session(memo);
  client.buildRequest();
  client.applyResponse('F:1:memo\nR:0:cut\n');
  assert.equal(memo.text, 'a');
  assert.equal(client.buildRequest(), 'u:wkq7r2mz\nF:0:memo\nr:1:a\n\n');
});

test('malformed lines are skipped and parsing stops at the blank line', () => {
  const memo = field('memo', 'a');
  const client = session(memo);
  client.buildRequest();
  client.applyResponse('xx\nF:-1:memo\nF: 1:memo\nF:1:memo\nR:x:bad\nR:2:good\n\nR:3:after\n\n');
  assert.equal(memo.text, 'good');
});

test('lowercase f acknowledges like F', () => {
  const memo = field('memo', 'a');
  const client = session(memo);
  client.buildRequest();
  client.applyResponse('f:1:memo\nd:0:=1\n\n');
  assert.equal(client.pending, false);
});

test('an undecodable raw answer asks for a resync instead of throwing', () => {
  const memo = field('memo', 'a');
  const client = session(memo);
  client.buildRequest();
  client.applyResponse('F:1:memo\nR:0:%FF\n\n');
  assert.equal(memo.text, 'a');
  assert.match(client.buildRequest(), /\nr:2:a\n/);
});

test('emoji and lone surrogates never break a sync', () => {
  const memo = field('memo', '😀 hi');
  const client = session(memo);
  assert.equal(client.buildRequest(), 'u:wkq7r2mz\nF:0:memo\nr:1:%F0%9F%98%80 hi\n\n');
  client.applyResponse('F:1:memo\nd:0:=5\t+%F0%9F%99%82\n\n');
  assert.equal(memo.text, '😀 hi🙂');
  memo.text = '😀 hi🙂😁';
  assert.equal(client.buildRequest(), 'u:wkq7r2mz\nF:1:memo\nd:1:=7\t+%F0%9F%98%81\n\n');
  memo.text = '\uD83D';
  assert.match(client.buildRequest(), /\nd:2:-9\t\+%EF%BF%BD\n/);
});

test('nullifyAll sends N for every object, unshares them, then nothing is left to send', () => {
  const client = new SyncClient({ userId: 'wkq7r2mz', settings: { idPrefix: 'p.' } });
  client.share(field('one'));
  client.share(field('two'));
  client.nullifyAll = true;
  assert.equal(client.buildRequest(), 'u:wkq7r2mz\nN:p.one\nN:p.two\n\n');
  assert.equal(client.buildRequest(), null);
});

test('an object that has left the page is unshared when read', () => {
  const memo = field('memo');
  memo.getClientText = () => null;
  const client = session(memo, field('other', 'o'));
  assert.equal(client.buildRequest(), 'u:wkq7r2mz\nF:0:other\nr:1:o\n\n');
  assert.deepEqual(client.names, ['other']);
});

test('names must match the original pattern; a shared name keeps its state', () => {
  const client = new SyncClient();
  assert.equal(client.share(field('1abc')), false);
  assert.equal(client.share(field('a b')), false);
  assert.equal(client.share(field('ok.name:part-2_x')), true);
  assert.equal(client.share(field('ok.name:part-2_x', 'other')), false);
});

test('user ids have eight characters from the original alphabet and never "--"', () => {
  const bytes = [3, 39, 38, 38, 1, 2, 3, 4, 5];
  let i = 0;
  const scripted = () => bytes[i++ % bytes.length];
  const id = randomId(scripted);
  assert.equal(id, 'd.::bcde');
  for (let n = 0; n < 200; n++) assert.match(randomId(), /^[a-z][a-z0-9\-_:.]{7}$/);
  // A draw containing "--" is thrown away.
  const dashes = [0, 36, 36, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1];
  let j = 0;
  assert.equal(randomId(() => dashes[j++]), 'bbbbbbbb');
});

test('the interval shrinks on changes and grows when idle, within its bounds (docs/protocol.md §11.7)', () => {
  const settings = DEFAULTS;
  assert.equal(nextInterval(2000, settings, false, false), 2900);
  assert.equal(nextInterval(9500, settings, false, false), 10000);
  assert.equal(nextInterval(10000, settings, true, false), 6400);
  assert.equal(nextInterval(10000, settings, false, true), 8200);
  assert.equal(nextInterval(10000, settings, true, true), 4600);
  assert.equal(nextInterval(2000, settings, true, true), 1000);
  let interval = 1000;
  for (let n = 0; n < 10; n++) interval = nextInterval(interval, settings, false, false);
  assert.equal(interval, 10000);
});

test('the client computes the interval from what each exchange changed', () => {
  const memo = field('memo', 'a');
  const client = session(memo);
  client.buildRequest();
  assert.equal(client.applyResponse('F:1:memo\nd:0:=1\n\n'), 2900);
  memo.text = 'ab';
  client.buildRequest();
  assert.equal(client.applyResponse('F:2:memo\nd:1:=2\n\n'), 1000);
});
