// A server refusing an edit that would make a document too long: the
// `x:too_long:<limit>` line after the file's F line (issue 14).
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { SyncClient } from '../../static/core.js';
import { field } from './fields.mjs';

/** A client whose `memo` the server already holds as `text`. */
function synced(text) {
  const memo = field('memo', text);
  const client = new SyncClient({ userId: 'wkq7r2mz' });
  client.share(memo);
  client.buildRequest();
  client.applyResponse(`F:1:memo\nd:0:=${text.length}\n\n`);
  return { client, memo };
}

test('a refused delta is taken back: shadow and version as before, the page keeps its text', () => {
  const { client, memo } = synced('abc');
  memo.text = 'abcdef';
  assert.equal(client.buildRequest(), 'u:wkq7r2mz\nF:1:memo\nd:1:=3\t+def\n\n');
  // The server left its view as it was (client version 1) and says why.
  client.applyResponse('F:1:memo\nx:too_long:5\nd:1:=3\n\n');
  assert.deepEqual([...client.refusals], [['memo', 5]]);
  assert.equal(memo.text, 'abcdef');
  // The next request diffs again from the old shadow, under the same version.
  assert.equal(client.buildRequest(), 'u:wkq7r2mz\nF:2:memo\nd:1:=3\t+def\n\n');
});

test('the reply after a refusal still merges other people\'s edits into the page', () => {
  const { client, memo } = synced('abc');
  memo.text = 'abcdef';
  client.buildRequest();
  client.applyResponse('F:1:memo\nx:too_long:5\nd:1:+X\t=3\n\n');
  assert.equal(memo.text, 'Xabcdef');
  // Shorter now: the next request carries the person's edit again, and succeeds.
  memo.text = 'Xabcd';
  assert.equal(client.buildRequest(), 'u:wkq7r2mz\nF:2:memo\nd:1:=4\t+d\n\n');
  client.applyResponse('F:2:memo\nd:2:=5\n\n');
  assert.deepEqual([...client.refusals], []);
  assert.equal(client.pending, false);
});

test('every edit stacked after the refused one goes with it, into one new delta', () => {
  const { client, memo } = synced('abc');
  memo.text = 'abcd';
  client.buildRequest();
  // That answer was lost; a second edit is stacked on the first.
  memo.text = 'abcde';
  assert.equal(client.buildRequest(), 'u:wkq7r2mz\nF:1:memo\nd:1:=3\t+d\nd:2:=4\t+e\n\n');
  client.applyResponse('F:1:memo\nx:too_long:3\nd:1:=3\n\n');
  assert.equal(memo.text, 'abcde');
  assert.equal(client.buildRequest(), 'u:wkq7r2mz\nF:2:memo\nd:1:=3\t+de\n\n');
});

test('a refused first raw text is sent raw again next time', () => {
  const memo = field('memo', 'too long');
  const client = new SyncClient({ userId: 'wkq7r2mz' });
  client.share(memo);
  assert.equal(client.buildRequest(), 'u:wkq7r2mz\nF:0:memo\nr:1:too long\n\n');
  client.applyResponse('F:0:memo\nx:too_long:4\nd:0:\n\n');
  assert.equal(memo.text, 'too long');
  memo.text = 'ok';
  assert.equal(client.buildRequest(), 'u:wkq7r2mz\nF:1:memo\nr:1:ok\n\n');
});

test('an unknown x line is ignored and clears nothing', () => {
  const { client, memo } = synced('abc');
  memo.text = 'abcd';
  client.buildRequest();
  client.applyResponse('F:2:memo\nx:something_else\nd:1:=4\n\n');
  assert.deepEqual([...client.refusals], []);
  assert.equal(client.pending, false);
});

test('a server out of room takes the edit back like too_long, but is told apart', () => {
  const { client, memo } = synced('abc');
  memo.text = 'abcdef';
  client.buildRequest();
  client.applyResponse('F:1:memo\nx:no_room:MAX_STORED\nd:1:+X\t=3\n\n');
  assert.deepEqual([...client.outOfRoom], [['memo', 'MAX_STORED']]);
  assert.deepEqual([...client.refusals], []);
  assert.equal(memo.text, 'Xabcdef');
  // The same text goes again, under the same version, and is taken once there is room.
  assert.equal(client.buildRequest(), 'u:wkq7r2mz\nF:2:memo\nd:1:=4\t+def\n\n');
  client.applyResponse('F:2:memo\nd:2:=7\n\n');
  assert.deepEqual([...client.outOfRoom], []);
  assert.equal(client.pending, false);
});

test('a no_room line without a readable limit name is ignored', () => {
  const { client, memo } = synced('abc');
  memo.text = 'abcd';
  client.buildRequest();
  client.applyResponse('F:2:memo\nx:no_room:\nx:no_room:a b\nd:1:=4\n\n');
  assert.deepEqual([...client.outOfRoom], []);
  assert.equal(client.pending, false);
});
