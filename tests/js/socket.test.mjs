// The socket-first transport (transport.js preferSocket) against a fake WebSocket and fake timers.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import {
  TransportError, preferSocket, readMessage, socketDelay, socketUrl,
} from '../../static/transport.js';

/** A WebSocket whose life the test drives: open(), message(), drop(). */
class FakeSocket {
  static made = [];

  constructor(url) {
    this.url = url;
    this.sent = [];
    this.closed = null;
    this.listeners = { open: [], message: [], close: [] };
    FakeSocket.made.push(this);
  }

  addEventListener(type, listener) {
    this.listeners[type].push(listener);
  }

  emit(type, event = {}) {
    for (const listener of this.listeners[type]) listener(event);
  }

  send(text) {
    this.sent.push(text);
  }

  close(code) {
    this.closed = code;
    this.emit('close', { code });
  }

  open() {
    this.emit('open');
  }

  message(data) {
    this.emit('message', { data });
  }

  drop(code = 1006) {
    this.emit('close', { code });
  }
}

class Timers {
  constructor() {
    this.pending = new Map();
    this.next = 1;
  }

  setTimeout(callback, delay) {
    this.pending.set(this.next, { callback, delay });
    return this.next++;
  }

  clearTimeout(handle) {
    this.pending.delete(handle);
  }

  /** Run the one waiting timer; returns its delay. */
  fire() {
    assert.equal(this.pending.size, 1);
    const [[handle, { callback, delay }]] = this.pending;
    this.pending.delete(handle);
    callback();
    return delay;
  }
}

/** A polling gateway answering from a list (an Error entry rejects). */
function polling(...answers) {
  return {
    sent: [],
    send(request) {
      this.sent.push(request);
      const answer = answers.shift();
      return answer instanceof Error ? Promise.reject(answer) : Promise.resolve(answer);
    },
  };
}

function setup(fallback = polling(), url = 'ws://127.0.0.1:8017/ws') {
  FakeSocket.made = [];
  const timers = new Timers();
  const heard = { notices: [], modes: [], presence: [] };
  const transport = preferSocket(fallback, {
    url: () => url, WebSocket: FakeSocket, timers, random: () => 0,
    onNotice: (names) => heard.notices.push(names), onMode: (mode) => heard.modes.push(mode),
    onPresence: (text) => heard.presence.push(text),
  });
  return { transport, timers, heard, fallback, sockets: FakeSocket.made };
}

const REQUEST = 'u:abc\nF:0:memo\nd:0:=1\n\n';

test('the socket URL is /ws beside the gateway, ws for http and wss for https, with the token in its query', () => {
  assert.equal(socketUrl('http://127.0.0.1:8017/', 'http://127.0.0.1:8000/editor.html'), 'ws://127.0.0.1:8017/ws');
  assert.equal(socketUrl('https://docs.example.org/q', 'https://docs.example.org/'), 'wss://docs.example.org/ws');
  assert.equal(socketUrl('/scripts/q.py', 'http://localhost:8000/a/b.html'), 'ws://localhost:8000/ws');
  assert.equal(socketUrl('http://127.0.0.1:8017/', 'http://127.0.0.1:8000/', 'a.b+c'), 'ws://127.0.0.1:8017/ws?token=a.b%2Bc');
});

test('socket retries back off from 1 s doubling to 60 s, less up to half by chance', () => {
  assert.deepEqual([1, 2, 3, 7, 8, 30].map((n) => socketDelay(n, () => 0)), [1000, 2000, 4000, 60000, 60000, 60000]);
  assert.equal(socketDelay(2, () => 0.999999), 2000 * (1 - 0.999999 / 2));
});

test('messages are answers, errors or notices by their first characters', () => {
  assert.deepEqual(readMessage('!changed:memo\n!changed:todo\n\n'), { kind: 'notice', names: ['memo', 'todo'] });
  assert.deepEqual(readMessage('!error:a line over MAX_LINE_BYTES (4)\n\n'),
    { kind: 'error', message: 'error:a line over MAX_LINE_BYTES (4)', status: 0 });
  assert.deepEqual(readMessage('!error:403 the token has expired\n\n'),
    { kind: 'error', message: 'the token has expired', status: 403 });
  assert.deepEqual(readMessage('F:1:memo\nd:0:=1\n\n'), { kind: 'answer', text: 'F:1:memo\nd:0:=1\n\n' });
});

test('the first send polls and opens the socket; once open, requests go on it', async () => {
  const { transport, heard, fallback, sockets } = setup(polling('\n'));
  assert.equal(await transport.send(REQUEST), '\n');
  assert.deepEqual(fallback.sent, [REQUEST]);
  assert.equal(sockets.length, 1);
  assert.equal(sockets[0].url, 'ws://127.0.0.1:8017/ws');
  assert.equal(transport.mode, 'polling');
  sockets[0].open();
  assert.equal(transport.mode, 'live');
  assert.deepEqual(heard.modes, ['live']);
  const answer = transport.send(REQUEST);
  assert.deepEqual(sockets[0].sent, [REQUEST]);
  sockets[0].message('F:1:memo\nd:0:=1\n\n');
  assert.equal(await answer, 'F:1:memo\nd:0:=1\n\n');
  assert.equal(fallback.sent.length, 1);
});

test('a notice is passed on and is not taken for the answer', async () => {
  const { transport, heard, sockets } = setup(polling('\n'));
  await transport.send(REQUEST);
  sockets[0].open();
  const answer = transport.send(REQUEST);
  sockets[0].message('!changed:memo\n\n');
  assert.deepEqual(heard.notices, [['memo']]);
  sockets[0].message('\n');
  assert.equal(await answer, '\n');
});

test('presence messages and presence errors are passed on and are not taken for the answer', async () => {
  const { transport, heard, sockets } = setup(polling('\n'));
  assert.equal(transport.tell('!presence:{}'), false);
  await transport.send(REQUEST);
  sockets[0].open();
  assert.equal(transport.tell('!presence:{"name":"Ann","color":"#d03030"}'), true);
  const answer = transport.send(REQUEST);
  const messages = ['!presence-id:p3', '!presence:{"memo":{"p4":null}}', '!error:presence: name over 64 characters\n\n'];
  for (const message of messages) sockets[0].message(message);
  sockets[0].message('F:1:memo\nd:0:=1\n\n');
  assert.equal(await answer, 'F:1:memo\nd:0:=1\n\n');
  assert.deepEqual(heard.presence, messages);
  assert.deepEqual(sockets[0].sent, [
    '!presence:{"name":"Ann","color":"#d03030"}', REQUEST]);
});

test('an error in place of the answer rejects that request; the socket stays', async () => {
  const { transport, sockets } = setup(polling('\n'));
  await transport.send(REQUEST);
  sockets[0].open();
  const answer = transport.send('u:abc\n');
  sockets[0].message('!error:incomplete request: end it with a blank line\n\n');
  await assert.rejects(answer, (error) => error instanceof TransportError && /incomplete request/.test(error.message));
  assert.equal(transport.mode, 'live');
});

test('a refusal on the socket is a denial, as the gateway\'s 403 is', async () => {
  const { transport, sockets } = setup(polling('\n'));
  await transport.send(REQUEST);
  sockets[0].open();
  const answer = transport.send(REQUEST);
  sockets[0].message('!error:403 the token has expired\n\n');
  await assert.rejects(answer, (error) => error instanceof TransportError && error.denied
    && error.message === 'the token has expired');
});

test('a request unanswered on a dropped socket is sent again by polling; the socket is retried', async () => {
  const { transport, timers, heard, fallback, sockets } = setup(polling('\n', 'F:1:memo\n\n'));
  await transport.send(REQUEST);
  sockets[0].open();
  const answer = transport.send(REQUEST);
  sockets[0].drop(1001);
  assert.equal(await answer, 'F:1:memo\n\n');
  assert.deepEqual(fallback.sent, [REQUEST, REQUEST]);
  assert.deepEqual(heard.modes, ['live', 'polling']);
  assert.equal(transport.mode, 'polling');
  assert.equal(timers.fire(), 1000);
  assert.equal(sockets.length, 2);
  sockets[1].open();
  assert.equal(transport.mode, 'live');
});

test('a socket that never opens is retried with growing delays; an open one resets them', async () => {
  const { transport, timers, heard, sockets } = setup(polling('\n'));
  await transport.send(REQUEST);
  const delays = [];
  for (let i = 0; i < 8; i++) {
    sockets[sockets.length - 1].drop();
    delays.push(timers.fire());
  }
  assert.deepEqual(delays, [1000, 2000, 4000, 8000, 16000, 32000, 60000, 60000]);
  assert.deepEqual(heard.modes, []);
  sockets[sockets.length - 1].open();
  sockets[sockets.length - 1].drop();
  assert.equal(timers.fire(), 1000);
});

test('no answer in time: the request fails, the socket is closed and opened again later', async () => {
  const { transport, timers, sockets } = setup(polling('\n'));
  await transport.send(REQUEST);
  sockets[0].open();
  const controller = new AbortController();
  const answer = transport.send(REQUEST, { signal: controller.signal });
  controller.abort();
  await assert.rejects(answer, /timed out/);
  assert.equal(sockets[0].closed, 1000);
  assert.equal(transport.mode, 'polling');
  // The late answer on the old socket is not taken for anything.
  sockets[0].message('F:1:memo\n\n');
  assert.equal(timers.fire(), 1000);
  assert.equal(sockets.length, 2);
});

test('the gateway answering again after failing brings the socket back at once', async () => {
  const { transport, timers, sockets } = setup(polling(new TransportError('down'), '\n'));
  await assert.rejects(transport.send(REQUEST), /down/);
  sockets[0].drop();
  assert.equal(timers.pending.size, 1);
  await transport.send(REQUEST);
  assert.equal(timers.pending.size, 0);
  assert.equal(sockets.length, 2);
});

test('keepalive sends (page unload) poll even while the socket is open', async () => {
  const { transport, fallback, sockets } = setup(polling('\n', '\n'));
  await transport.send(REQUEST);
  sockets[0].open();
  await transport.send(REQUEST, { keepalive: true });
  assert.deepEqual(sockets[0].sent, []);
  assert.equal(fallback.sent.length, 2);
});

/** A transport polling on two answers whose socket URL the test changes with socketAt(url). */
function movable(first) {
  let url = first;
  const fallback = polling('\n', '\n');
  FakeSocket.made = [];
  const modes = [];
  const transport = preferSocket(fallback, {
    url: () => url, WebSocket: FakeSocket, timers: new Timers(), onMode: (mode) => modes.push(mode),
  });
  return {
    transport, fallback, modes, socketAt: (next) => { url = next; },
  };
}

test('without a socket URL the transport only polls, and turning it off closes the socket', async () => {
  const none = setup(polling('\n'), null);
  await none.transport.send(REQUEST);
  assert.equal(none.sockets.length, 0);
  const { transport, fallback, modes, socketAt } = movable('ws://127.0.0.1:8017/ws');
  await transport.send(REQUEST);
  FakeSocket.made[0].open();
  socketAt(null);
  await transport.send(REQUEST);
  assert.equal(FakeSocket.made[0].closed, 1000);
  assert.deepEqual(modes, ['live', 'polling']);
  assert.equal(fallback.sent.length, 2);
});

test('a new socket URL (a new token) closes the open socket and opens one at the new URL', async () => {
  const { transport, fallback, modes, socketAt } = movable('ws://127.0.0.1:8017/ws?token=old');
  await transport.send(REQUEST);
  FakeSocket.made[0].open();
  const sent = transport.send(REQUEST);
  FakeSocket.made[0].message('F:1:memo\n\n');
  await sent;
  assert.equal(FakeSocket.made.length, 1);
  socketAt('ws://127.0.0.1:8017/ws?token=new');
  await transport.send(REQUEST);
  assert.equal(FakeSocket.made[0].closed, 1000);
  assert.deepEqual(FakeSocket.made.map((socket) => socket.url), [
    'ws://127.0.0.1:8017/ws?token=old', 'ws://127.0.0.1:8017/ws?token=new']);
  assert.equal(fallback.sent.length, 2);
  assert.deepEqual(modes, ['live', 'polling']);
});
