// Transports: the fetch POST of `q=` and JSONP URLs with buffer splitting (docs/protocol.md §2.3, §11.5).
import assert from 'node:assert/strict';
import { test } from 'node:test';

import {
  TransportError, fetchTransport, formBody, jsonpTransport, jsonpUrls,
} from '../../static/transport.js';

const REQUEST = 'u:wkq7r2mz\nF:0:memo\nr:1:Hi there\n\n';
const GATEWAY = 'http://example.org/mw';

test('a request that fits becomes one JSONP URL with + for spaces', () => {
  assert.deepEqual(jsonpUrls(REQUEST, GATEWAY, 1000, 'p4s8k2dx'), [
    'http://example.org/mw?p=u%3Awkq7r2mz%0AF%3A0%3Amemo%0Ar%3A1%3AHi+there%0A%0A',
  ]);
});

test('the worked example of docs/protocol.md §11.5 splits into exactly its four URLs', () => {
  assert.deepEqual(jsonpUrls(REQUEST, GATEWAY, 70, 'p4s8k2dx'), [
    'http://example.org/mw?p=b%3Ap4s8k2dx+4+1+u%253Awkq7r2mz%250AF%25%0A%0A',
    'http://example.org/mw?p=b%3Ap4s8k2dx+4+2+3A0%253Amemo%250Ar%253A%0A%0A',
    'http://example.org/mw?p=b%3Ap4s8k2dx+4+3+1%253AHi%2520there%250A%0A%0A',
    'http://example.org/mw?p=b%3Ap4s8k2dx+4+4+%250A%0A%0A',
  ]);
});

/** What the gateway (form decoding) and buffer code (join, decode) rebuild from fragment URLs. */
function reassemble(urls, prefix) {
  const pieces = urls.map((url) => {
    // decodeURIComponent throws if a URL cut an escape in two.
    const value = decodeURIComponent(url.slice(prefix.length).replace(/\+/g, ' '));
    const [, , , , piece] = value.match(/^b:(\S+) (\d+) (\d+) (.*)\n\n$/s);
    return piece;
  });
  return decodeURIComponent(pieces.join(''));
}

test('fragments never cut an escape and always rebuild the request', () => {
  const request = 'u:abcdefgh\nF:3:doc\nd:3:=5\t+' + encodeURI('caf\u00e9 😀 "quoted" 100%') + '\n\n';
  for (const max of [60, 70, 90, 110]) {
    const urls = jsonpUrls(request, GATEWAY, max, 'zzzzzzzz');
    assert.ok(urls.length > 1, `max ${max}`);
    assert.equal(reassemble(urls, GATEWAY + '?p='), request);
    for (const url of urls) assert.ok(url.length <= max, `${url.length} > ${max}`);
  }
});

test('the block count grows when its digits make the pieces too long', () => {
  const request = 'u:abcdefgh\n' + 'F:0:d\nr:1:' + 'x'.repeat(400) + '\n\n';
  const urls = jsonpUrls(request, GATEWAY, 60, 'abcdefgh');
  assert.equal(reassemble(urls, GATEWAY + '?p='), request);
  const count = urls.length;
  for (const [index, url] of urls.entries()) {
    assert.ok(url.includes(`b%3Aabcdefgh+${count}+${index + 1}+`));
    assert.ok(url.length <= 60, `${url}`);
  }
});

test('the form body is q= and the request encoded as a URI component', () => {
  assert.equal(formBody(REQUEST), 'q=u%3Awkq7r2mz%0AF%3A0%3Amemo%0Ar%3A1%3AHi%20there%0A%0A');
});

test('fetchTransport POSTs a form with keepalive when asked and returns the body', async () => {
  const calls = [];
  const fakeFetch = async (url, init) => {
    calls.push({ url, init });
    return { status: 200, text: async () => 'F:1:memo\nd:0:=8\n\n' };
  };
  const transport = fetchTransport('/scripts/q.py', fakeFetch);
  assert.equal(await transport.send(REQUEST, { keepalive: true }), 'F:1:memo\nd:0:=8\n\n');
  assert.equal(calls[0].url, '/scripts/q.py');
  assert.equal(calls[0].init.method, 'POST');
  assert.equal(calls[0].init.headers['Content-Type'], 'application/x-www-form-urlencoded');
  assert.equal(calls[0].init.body, formBody(REQUEST));
  assert.equal(calls[0].init.keepalive, true);
});

test('fetchTransport turns an error status or a network failure into a TransportError', async () => {
  const refused = fetchTransport('/q', async () => ({ status: 503, text: async () => 'busy' }));
  await assert.rejects(refused.send(REQUEST), (error) => error instanceof TransportError && error.status === 503);
  const down = fetchTransport('/q', async () => {
    throw new TypeError('Failed to fetch');
  });
  await assert.rejects(down.send(REQUEST), (error) => error instanceof TransportError && error.status === 0);
});

/** Just enough of a document for script-tag JSONP. */
function fakeDocument() {
  const scripts = new Map();
  return {
    scripts,
    head: { appendChild: (script) => scripts.set(script.id, script) },
    getElementById: (id) => scripts.get(id) ?? null,
    createElement: () => {
      const script = { remove: () => scripts.delete(script.id) };
      return script;
    },
  };
}

test('JSONP loads one script per fragment and resolves on the real answer', async () => {
  const document = fakeDocument();
  const transport = jsonpTransport(GATEWAY, { document, maxChars: 70, newId: () => 'p4s8k2dx' });
  let rearmed = 0;
  const answer = transport.send(REQUEST, { rearm: () => { rearmed += 1; } });
  assert.deepEqual([...document.scripts.keys()], ['mobwrite_sync0', 'mobwrite_sync1', 'mobwrite_sync2', 'mobwrite_sync3']);
  assert.equal(document.scripts.get('mobwrite_sync3').src, 'http://example.org/mw?p=b%3Ap4s8k2dx+4+4+%250A%0A%0A');
  transport.callback('');
  transport.callback('');
  assert.equal(rearmed, 2);
  transport.callback('F:1:memo\nd:0:=8\n');
  assert.equal(await answer, 'F:1:memo\nd:0:=8\n\n');
  assert.equal(document.scripts.size, 0);
});

test('JSONP rejects on a script error or an abort and cleans up its scripts', async () => {
  const document = fakeDocument();
  const transport = jsonpTransport(GATEWAY, { document, newId: () => 'p4s8k2dx' });
  const failed = transport.send(REQUEST);
  document.scripts.get('mobwrite_sync0').onerror();
  await assert.rejects(failed, TransportError);
  const controller = new AbortController();
  const aborted = transport.send(REQUEST, { signal: controller.signal });
  controller.abort();
  await assert.rejects(aborted, TransportError);
  assert.equal(document.scripts.size, 0);
  // A late answer for an abandoned request is ignored.
  transport.callback('F:1:memo\n');
});

test('fetchTransport sends a token as Authorization: Bearer, and none without one', async () => {
  const calls = [];
  const fakeFetch = async (url, init) => {
    calls.push(init);
    return { status: 200, text: async () => '\n' };
  };
  await fetchTransport('/q', fakeFetch, 'aaa.bbb.ccc').send(REQUEST);
  await fetchTransport('/q', fakeFetch).send(REQUEST);
  assert.equal(calls[0].headers.Authorization, 'Bearer aaa.bbb.ccc');
  assert.equal('Authorization' in calls[1].headers, false);
});

test("a 403 becomes a denial carrying the gateway's one-line reason", async () => {
  const line = "forbidden: the token has expired; nothing was done";
  const refused = fetchTransport('/q', async () => ({ status: 403, text: async () => `${line}\n` }), 'x.y.z');
  await assert.rejects(refused.send(REQUEST),
    (error) => error instanceof TransportError && error.denied && error.status === 403 && error.message === line);
  const busy = fetchTransport('/q', async () => ({ status: 503, text: async () => 'busy' }));
  await assert.rejects(busy.send(REQUEST), (error) => !error.denied);
});

test('JSONP URLs carry a token as a token field before p=, in every fragment', () => {
  assert.deepEqual(jsonpUrls(REQUEST, GATEWAY, 1000, 'p4s8k2dx', 'a.b+c'), [
    'http://example.org/mw?token=a.b%2Bc&p=u%3Awkq7r2mz%0AF%3A0%3Amemo%0Ar%3A1%3AHi+there%0A%0A',
  ]);
  const urls = jsonpUrls('x'.repeat(300), GATEWAY, 120, 'abcdefgh', 'tok');
  assert.ok(urls.length > 1);
  for (const url of urls) {
    assert.ok(url.startsWith('http://example.org/mw?token=tok&p=b%3Aabcdefgh+'), url);
    assert.ok(url.length <= 120, url);
  }
});
