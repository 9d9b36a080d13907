// The History view's calls and change marking, without a browser (static/revisions.js).
import assert from 'node:assert/strict';
import { test } from 'node:test';

import {
  ApiError, HistoryApi, apiRoot, describe, markChange,
} from '../../static/revisions.js';

test('the API root is beside the gateway, on its origin', () => {
  assert.equal(apiRoot('http://127.0.0.1:8081/', 'http://127.0.0.1:8080/editor.html'),
    'http://127.0.0.1:8081/api/v1/');
  assert.equal(apiRoot('/scripts/q.py', 'https://example.org/mobwrite/editor.html?doc=a'),
    'https://example.org/api/v1/');
});

test('a change is marked where it falls in the text at its revision', () => {
  // "one two three" -> "one 2 three!" : "two" replaced, "!" appended.
  const change = [[4, 'two', '2'], [13, '', '!']];
  assert.deepEqual(markChange('one 2 three!', change), [
    { kind: 'same', text: 'one ' },
    { kind: 'deleted', text: 'two' },
    { kind: 'inserted', text: '2' },
    { kind: 'same', text: ' three' },
    { kind: 'inserted', text: '!' },
  ]);
});

test('positions count UTF-16 units, as JavaScript strings do', () => {
  // An emoji before the change counts two units.
  assert.deepEqual(markChange('😀 ab', [[3, '', 'ab']]), [
    { kind: 'same', text: '😀 ' },
    { kind: 'inserted', text: 'ab' },
  ]);
});

test('a pure deletion shows the removed text at its place', () => {
  assert.deepEqual(markChange('ac', [[1, 'b', '']]), [
    { kind: 'same', text: 'a' },
    { kind: 'deleted', text: 'b' },
    { kind: 'same', text: 'c' },
  ]);
});

test('the base revision, an empty change or one that does not fit marks nothing', () => {
  assert.deepEqual(markChange('kept', null), [{ kind: 'same', text: 'kept' }]);
  assert.deepEqual(markChange('kept', []), [{ kind: 'same', text: 'kept' }]);
  assert.deepEqual(markChange('kept', [[2, '', 'zz']]), [{ kind: 'same', text: 'kept' }]);
  assert.deepEqual(markChange('', null), []);
});

function fakeFetch(answers) {
  const calls = [];
  const fetchImpl = async (url, options) => {
    calls.push({ url, ...options });
    const [status, body] = answers.shift();
    return new Response(typeof body === 'string' ? body : JSON.stringify(body), {
      status, headers: { 'Content-Type': 'application/json' },
    });
  };
  return { calls, fetchImpl };
}

test('calls carry the token as the bearer and name the document escaped', async () => {
  const { calls, fetchImpl } = fakeFetch([[200, { base: 0, head: 2, revisions: [] }],
    [200, { number: 1, text: 'a' }], [200, { revision: 3 }]]);
  const api = new HistoryApi('http://h:1/api/v1/', 'notes/a b', { token: () => 'T0K', fetchImpl });
  assert.deepEqual(await api.page(), { base: 0, head: 2, revisions: [] });
  assert.equal((await api.revision(1)).text, 'a');
  assert.equal((await api.restore(1)).revision, 3);
  assert.deepEqual(calls.map((call) => [call.method, call.url, call.headers.Authorization]), [
    ['GET', 'http://h:1/api/v1/documents/notes%2Fa%20b/revisions?order=newest&limit=100', 'Bearer T0K'],
    ['GET', 'http://h:1/api/v1/documents/notes%2Fa%20b/revisions/1', 'Bearer T0K'],
    ['POST', 'http://h:1/api/v1/documents/notes%2Fa%20b/revisions/1/restore', 'Bearer T0K'],
  ]);
  assert.equal(api.textUrl, 'http://h:1/api/v1/documents/notes%2Fa%20b/text');
});

test('older pages start back from a number; no token sends no header', async () => {
  const { calls, fetchImpl } = fakeFetch([[200, { base: 0, head: 500, revisions: [] }]]);
  await new HistoryApi('http://h/api/v1/', 'd', { fetchImpl }).page(250, 100);
  assert.equal(calls[0].url, 'http://h/api/v1/documents/d/revisions?order=newest&limit=100&start=250');
  assert.equal(calls[0].headers.Authorization, undefined);
});

test('a refusal becomes an ApiError with the server\'s reason', async () => {
  const { fetchImpl } = fakeFetch([[403, { error: 'this needs a token with the write right' }],
    [502, '<html>bad gateway</html>']]);
  const api = new HistoryApi('http://h/api/v1/', 'd', { fetchImpl });
  await assert.rejects(api.restore(1), (error) => error instanceof ApiError && error.status === 403
    && error.refused && error.message === 'this needs a token with the write right');
  await assert.rejects(api.page(), (error) => error.status === 502 && !error.refused
    && /answered 502/.test(error.message));
});

test('an unreachable server is an ApiError with status 0', async () => {
  const api = new HistoryApi('http://h/api/v1/', 'd', {
    fetchImpl: async () => { throw new TypeError('Failed to fetch'); },
  });
  await assert.rejects(api.page(), (error) => error.status === 0 && /could not be reached/.test(error.message));
});

test('a revision is described by who, when, kind and size', () => {
  const line = describe({
    number: 7, time: 0, author: 'alice', kind: 'restore', inserted: 3, deleted: 1,
  }, 'en-GB');
  assert.match(line, /^Revision 7 \(restored\) by alice, .*1970.*: \+3 −1$/);
  assert.equal(describe({ number: 2, time: null }), 'Revision 2: the oldest text kept');
});
