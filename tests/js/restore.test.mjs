// A page's sync state saved with snapshot() and given back by restore(name, saved)
// on the next page: unsent edits survive and merge at the next sync (issue 14).
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { SyncClient } from '../../static/core.js';
import { field } from './fields.mjs';

/** A page that synced `text`, then had `typed` appended while its answer was lost. */
function closedOffline(text, typed) {
  const memo = field('memo', text);
  const client = new SyncClient({ userId: 'wkq7r2mz' });
  client.share(memo);
  client.buildRequest();
  client.applyResponse(`F:1:memo\nd:0:=${text.length}\n\n`);
  memo.text = text + typed;
  client.buildRequest();
  // Typed again after the failed request: only on the page so far.
  memo.text += '!';
  // Through JSON, as the page stores it.
  return JSON.parse(JSON.stringify(client.snapshot()));
}

/** A new page given the saved state of its `memo`. */
function reopened(saved) {
  const memo = field('memo');
  const client = new SyncClient({ userId: 'wkq7r2mz' });
  client.share(memo);
  client.restore('memo', saved);
  return { client, memo };
}

test('a snapshot holds the live text and the shadow state, and says it is unsent', () => {
  const saved = closedOffline('Hello', ' world');
  assert.equal(saved.memo.live, 'Hello world!');
  assert.equal(saved.memo.text, 'Hello world');
  assert.equal(saved.memo.clientVersion, 2);
  assert.equal(saved.memo.editStack.length, 1);
  assert.equal(SyncClient.unsent(saved.memo), true);
});

test('a synced snapshot is not unsent', () => {
  const memo = field('memo', 'Hi');
  const client = new SyncClient({ userId: 'wkq7r2mz' });
  client.share(memo);
  client.buildRequest();
  client.applyResponse('F:1:memo\nd:0:=2\n\n');
  assert.equal(SyncClient.unsent(client.snapshot().memo), false);
});

test('a restored page shows the saved text and resends the unacknowledged edits with the new one', () => {
  const saved = closedOffline('Hello', ' world');
  const { client, memo } = reopened(saved.memo);
  assert.equal(memo.text, 'Hello world!');
  assert.equal(client.buildRequest(), 'u:wkq7r2mz\nF:1:memo\nd:1:=5\t+ world\nd:2:=11\t+!\n\n');
  // The server kept the view: it applies both and merges another person's edit.
  client.applyResponse('F:3:memo\nd:1:+Oh, \t=12\n\n');
  assert.equal(memo.text, 'Oh, Hello world!');
  assert.equal(client.pending, false);
});

test('a restored page whose view the server lost puts its unsent edits on the server\'s text', () => {
  const saved = closedOffline('Hello', ' world');
  const { client, memo } = reopened(saved.memo);
  client.buildRequest();
  // A new view: the server reseeds with its text, which someone else changed meanwhile.
  client.applyResponse('F:0:memo\nr:0:Hello there\n\n');
  assert.equal(memo.text, 'Hello world! there');
  assert.equal(client.buildRequest(), 'u:wkq7r2mz\nF:0:memo\nd:0:=5\t+ world!\t=6\n\n');
});

test('a restored page with nothing unsent takes the server\'s text on a reseed', () => {
  const memo = field('memo', 'Hi');
  const first = new SyncClient({ userId: 'wkq7r2mz' });
  first.share(memo);
  first.buildRequest();
  first.applyResponse('F:1:memo\nd:0:=2\n\n');
  const saved = JSON.parse(JSON.stringify(first.snapshot()));
  const { client, memo: again } = reopened(saved.memo);
  client.buildRequest();
  client.applyResponse('F:0:memo\nr:0:Hi, changed since\n\n');
  assert.equal(again.text, 'Hi, changed since');
});

test('a restored page told to overwrite (R) still keeps its unsent edits, on the server\'s text', () => {
  const saved = closedOffline('Hello', ' world');
  const { client, memo } = reopened(saved.memo);
  client.buildRequest();
  client.applyResponse('F:1:memo\nR:4:Hello there\n\n');
  assert.equal(memo.text, 'Hello world! there');
});
