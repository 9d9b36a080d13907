// A page whose view the server lost is reseeded with a lowercase raw
// (docs/protocol.md §15.1): only the page's own unsent change goes back,
// on top of the server's text, so nobody else's edit is deleted.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { SyncClient } from '../../static/core.js';
import { encodeText, fromDelta, resultText } from '../../static/delta.js';
import { applyPatches } from '../../static/patching.js';
import { field } from './fields.mjs';

/** A page whose `memo` the server holds as `text`, in step. */
function synced(memo) {
  const client = new SyncClient({ userId: 'wkq7r2mz' });
  client.share(memo);
  client.buildRequest();
  client.applyResponse(`F:1:memo\nd:0:=${memo.text.length}\n\n`);
  return client;
}

/** The master after the server applies the request's one delta to `master` (its shadow). */
function applied(request, master) {
  const [, file, delta, end] = request.split('\n');
  assert.equal(file, 'F:0:memo');
  assert.equal(end, '');
  return resultText(fromDelta(master, delta.replace(/^d:0:/, '')));
}

const OTHERS = 'one two three 🎉';

test('typing while the view was lost goes back alone, on top of the edits others made meanwhile', () => {
  const memo = field('memo', 'one two');
  const client = synced(memo);
  memo.text = 'zero one two';
  client.buildRequest();
  // The view is gone; someone else wrote " three 🎉" meanwhile.
  client.applyResponse(`F:0:memo\nr:0:${encodeText(OTHERS)}\n\n`);
  assert.equal(memo.text, `zero ${OTHERS}`);
  const request = client.buildRequest();
  assert.equal(request, `u:wkq7r2mz\nF:0:memo\nd:0:+zero \t=${OTHERS.length}\n\n`);
  assert.equal(applied(request, OTHERS), `zero ${OTHERS}`);
});

test('a page with nothing unsent takes the server\'s text on a reseed and sends a poll', () => {
  const memo = field('memo', 'one two');
  const client = synced(memo);
  client.buildRequest();
  client.applyResponse(`F:0:memo\nr:0:${encodeText(OTHERS)}\n\n`);
  assert.equal(memo.text, OTHERS);
  assert.equal(client.buildRequest(), `u:wkq7r2mz\nF:0:memo\nd:0:=${OTHERS.length}\n\n`);
});

test('edits stacked over several lost answers are all measured from the last acknowledged text', () => {
  const memo = field('memo', 'one two');
  const client = synced(memo);
  memo.text = 'zero one two';
  client.buildRequest();
  // That answer was lost; more typing at the end.
  memo.text = 'zero one two!';
  client.buildRequest();
  client.applyResponse(`F:0:memo\nr:0:${encodeText('one two three')}\n\n`);
  assert.equal(memo.text, 'zero one two! three');
});

test('an empty reseed (the document is missing) keeps the page\'s text and sends it whole', () => {
  const memo = field('memo', 'one two');
  const client = synced(memo);
  memo.text = 'zero one two';
  client.buildRequest();
  client.applyResponse('F:0:memo\nr:0:\n\n');
  assert.equal(memo.text, 'zero one two');
  assert.equal(client.buildRequest(), 'u:wkq7r2mz\nF:0:memo\nd:0:+zero one two\n\n');
});

test('an overwrite field keeps a value chosen while the view was lost, else takes the server\'s', () => {
  const chosen = { ...field('memo', '1'), mergeChanges: false };
  const client = synced(chosen);
  chosen.text = '2';
  client.buildRequest();
  client.applyResponse('F:0:memo\nr:0:3\n\n');
  assert.equal(chosen.text, '2');
  assert.equal(client.buildRequest(), 'u:wkq7r2mz\nF:0:memo\nD:0:-1\t+2\n\n');

  const untouched = { ...field('memo', '1'), mergeChanges: false };
  const other = synced(untouched);
  other.buildRequest();
  other.applyResponse('F:0:memo\nr:0:3\n\n');
  assert.equal(untouched.text, '3');
});

test('the rebased text is merged into the field, so the caret stays where the person was typing', () => {
  // A field like a textarea: writing its value puts the caret at the end,
  // patching it moves the caret with the text.
  const memo = {
    ...field('memo', 'one two'),
    caret: 0,
    setClientText(value) {
      this.text = value;
      this.caret = value.length;
    },
    patchClientText(patches, dmp) {
      const { text, offsets } = applyPatches(dmp, patches, this.text, [this.caret]);
      [this.text, this.caret] = [text, offsets[0]];
    },
  };
  const client = synced(memo);
  memo.text = 'one zero two';
  memo.caret = 'one zero '.length;
  client.buildRequest();
  client.applyResponse(`F:0:memo\nr:0:${encodeText('Oh, one two three')}\n\n`);
  assert.equal(memo.text, 'Oh, one zero two three');
  assert.equal(memo.caret, 'Oh, one zero '.length);
});

test('an uppercase R still replaces the text of a page that was not restored', () => {
  const memo = field('memo', 'one two');
  const client = synced(memo);
  memo.text = 'zero one two';
  client.buildRequest();
  client.applyResponse('F:2:memo\nR:1:one two three\n\n');
  assert.equal(memo.text, 'one two three');
});

test('a reseed while the page\'s raw is unacknowledged measures the page\'s change from that raw', () => {
  // The server takes a raw as its shadow and leaves its own text alone: the
  // change to keep is what was typed after it.
  const memo = field('memo', 'local words');
  const client = new SyncClient({ userId: 'wkq7r2mz' });
  client.share(memo);
  client.buildRequest();
  memo.text = 'local words, more';
  client.applyResponse('F:0:memo\nr:0:master words\n\n');
  assert.equal(memo.text, 'master words, more');
});
