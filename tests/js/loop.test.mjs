// The sync loop: scheduling, watchdog, retries with backoff, state, unload (docs/protocol.md §11.5-11.8).
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { SyncClient } from '../../static/core.js';
import { SyncLoop, retryDelay } from '../../static/loop.js';
import { TransportError } from '../../static/transport.js';

/** Timers that only move when the test says so. */
class FakeClock {
  constructor() {
    this.time = 0;
    this.timers = new Map();
    this.next = 1;
  }

  setTimeout(callback, delay) {
    const handle = this.next++;
    this.timers.set(handle, { due: this.time + delay, callback });
    return handle;
  }

  clearTimeout(handle) {
    this.timers.delete(handle);
  }

  now() {
    return this.time;
  }

  /** The delay until the earliest timer, or null. */
  get nextDelay() {
    const dues = [...this.timers.values()].map((timer) => timer.due);
    return dues.length ? Math.min(...dues) - this.time : null;
  }

  async advance(ms) {
    const end = this.time + ms;
    for (;;) {
      const due = [...this.timers.entries()].filter(([, timer]) => timer.due <= end)
        .sort((a, b) => a[1].due - b[1].due)[0];
      if (!due) break;
      this.timers.delete(due[0]);
      this.time = due[1].due;
      due[1].callback();
      await settle();
    }
    this.time = end;
  }
}

async function settle() {
  for (let i = 0; i < 10; i++) await Promise.resolve();
}

/** A gateway whose answers the test gives one by one. */
class ScriptedTransport {
  constructor() {
    this.sent = [];
  }

  send(request, options = {}) {
    return new Promise((resolve, reject) => {
      const exchange = { request, options, resolve, reject };
      options.signal?.addEventListener('abort', () => reject(new TransportError('aborted')));
      this.sent.push(exchange);
    });
  }

  get last() {
    return this.sent[this.sent.length - 1];
  }
}

function field(name, text) {
  return { name, text, getClientText() { return this.text; }, setClientText(v) { this.text = v; } };
}

function setup(...objects) {
  const clock = new FakeClock();
  const transport = new ScriptedTransport();
  const client = new SyncClient({ userId: 'wkq7r2mz' });
  const states = [];
  for (const object of objects) client.share(object);
  const loop = new SyncLoop({ client, transport, timers: clock, onState: (s) => states.push(s) });
  return { clock, transport, client, loop, states };
}

test('an answer schedules the next sync after the adapted interval', async () => {
  const { clock, transport, loop } = setup(field('memo', 'a'));
  loop.sync();
  transport.last.resolve('F:1:memo\nd:0:=1\n\n');
  await settle();
  assert.equal(clock.nextDelay, 2900);
  await clock.advance(2900);
  assert.equal(transport.sent.length, 2);
  assert.equal(transport.last.request, 'u:wkq7r2mz\nF:1:memo\nd:1:=1\n\n');
});

test('only one request is in flight; a share meanwhile is honoured after the answer', async () => {
  const { clock, transport, loop } = setup(field('memo', 'a'));
  loop.sync();
  loop.sync();
  loop.schedule(10);
  assert.equal(transport.sent.length, 1);
  transport.last.resolve('F:1:memo\nd:0:=1\n\n');
  await settle();
  assert.equal(clock.nextDelay, 10);
});

test('scheduling sooner brings a pending sync forward, later does not delay it', async () => {
  const { clock, loop } = setup(field('memo', 'a'));
  loop.schedule(5000);
  loop.schedule(10);
  assert.equal(clock.nextDelay, 10);
  loop.schedule(3000);
  assert.equal(clock.nextDelay, 10);
  assert.equal(clock.timers.size, 1);
});

test('the watchdog aborts a silent request and retries, backing off when it repeats', async () => {
  const { clock, transport, loop, states } = setup(field('memo', 'a'));
  loop.sync();
  await clock.advance(30000);
  assert.equal(transport.sent[0].options.signal.aborted, true);
  assert.equal(loop.state, 'offline');
  assert.equal(clock.nextDelay, 1000);
  await clock.advance(1000);
  assert.equal(transport.sent.length, 2);
  // The lost raw is resent, stacked, under the same version.
  assert.equal(transport.last.request, 'u:wkq7r2mz\nF:0:memo\nr:1:a\n\n');
  await clock.advance(30000);
  assert.equal(clock.nextDelay, 2000);
  transport.sent.length = 0;
  await clock.advance(2000);
  transport.last.resolve('F:1:memo\nd:0:=1\n\n');
  await settle();
  assert.equal(loop.state, 'synced');
  assert.deepEqual(states, ['syncing', 'offline', 'synced']);
});

test('an error status retries well before the watchdog and doubles up to a cap', async () => {
  const { clock, transport, loop } = setup(field('memo', 'a'));
  const delays = [];
  loop.sync();
  for (let n = 0; n < 7; n++) {
    transport.last.reject(new TransportError('gateway answered 503', 503));
    await settle();
    delays.push(clock.nextDelay);
    await clock.advance(clock.nextDelay);
  }
  // Capped low by default, so the page is back within 2 s of the server.
  assert.deepEqual(delays, [1000, 2000, 2000, 2000, 2000, 2000, 2000]);
  assert.equal(transport.sent.length, 8);
});

test('while offline the loop says when the next try is, and a sync now tries at once', async () => {
  const { clock, transport, loop } = setup(field('memo', 'a'));
  loop.sync();
  transport.last.reject(new TransportError('gateway unreachable'));
  await settle();
  assert.equal(loop.state, 'offline');
  assert.equal(loop.retryIn, 1000);
  await clock.advance(400);
  assert.equal(loop.retryIn, 600);
  // "Retry now": the scheduled try is replaced by one at once.
  loop.sync();
  assert.equal(transport.sent.length, 2);
  assert.equal(loop.retryIn, null);
  transport.last.resolve('F:1:memo\nd:0:=1\n\n');
  await settle();
  assert.equal(loop.state, 'synced');
  assert.equal(clock.timers.size, 1);
});

for (const [notice, state] of [['too_long:2', 'full'], ['no_room:MAX_MEMORY', 'no-room']]) {
  test(`a refused edit (x:${notice}) shows as ${state} until a sync is accepted`, async () => {
    const memo = field('memo', 'a');
    const { transport, loop, states } = setup(memo);
    loop.sync();
    transport.last.resolve('F:1:memo\nd:0:=1\n\n');
    await settle();
    memo.text = 'abc';
    loop.noteLocalChange();
    loop.sync();
    transport.last.resolve(`F:1:memo\nx:${notice}\nd:1:=1\n\n`);
    await settle();
    assert.equal(loop.state, state);
    // Still refused: the retry keeps the state without flickering through syncing.
    loop.sync();
    assert.match(transport.last.request, /d:1:=1\t\+bc/);
    transport.last.resolve(`F:1:memo\nx:${notice}\nd:2:=1\n\n`);
    await settle();
    memo.text = 'ab';
    loop.sync();
    transport.last.resolve('F:2:memo\nd:3:=2\n\n');
    await settle();
    assert.equal(loop.state, 'synced');
    assert.deepEqual(states, ['syncing', 'synced', 'syncing', state, 'synced']);
  });
}

test('a held loop builds no request until the hold settles, and unload sends nothing meanwhile', async () => {
  const memo = field('memo', 'a');
  const { transport, client, loop } = setup(memo);
  let release;
  loop.hold(new Promise((resolve) => {
    release = resolve;
  }));
  loop.sync();
  loop.flush();
  await settle();
  assert.equal(transport.sent.length, 0);
  client.userId = 'restored';
  release();
  await settle();
  assert.equal(transport.last.request, 'u:restored\nF:0:memo\nr:1:a\n\n');
});

test('every exchange, answered or not, is reported', async () => {
  const { transport, client, loop } = setup(field('memo', 'a'));
  const seen = [];
  loop.onExchange = () => seen.push(loop.state);
  const failed = loop.sync();
  transport.last.reject(new TransportError('down'));
  await failed;
  const answered = loop.sync();
  transport.last.resolve('F:1:memo\nd:0:=1\n\n');
  await answered;
  assert.deepEqual(seen, ['offline', 'synced']);
  assert.equal(client.pending, false);
});

test('retryDelay doubles from the shortest interval up to maxRetryInterval', () => {
  const settings = { minSyncInterval: 1000, maxRetryInterval: 30000 };
  assert.deepEqual([1, 2, 3, 5, 6, 100].map((n) => retryDelay(n, settings)), [1000, 2000, 4000, 16000, 30000, 30000]);
});

test('a rearm from an unfinished JSONP buffer restarts the watchdog', async () => {
  const { clock, transport, loop } = setup(field('memo', 'a'));
  loop.sync();
  await clock.advance(20000);
  transport.last.options.rearm();
  await clock.advance(20000);
  assert.equal(transport.last.options.signal.aborted, false);
  await clock.advance(10000);
  assert.equal(transport.last.options.signal.aborted, true);
});

test('local edits show as syncing until the server acknowledges them', async () => {
  const memo = field('memo', 'a');
  const { transport, loop } = setup(memo);
  loop.sync();
  transport.last.resolve('F:1:memo\nd:0:=1\n\n');
  await settle();
  assert.equal(loop.state, 'synced');
  memo.text = 'ab';
  loop.noteLocalChange();
  assert.equal(loop.state, 'syncing');
  loop.sync();
  assert.equal(loop.state, 'syncing');
  transport.last.resolve('F:2:memo\nd:1:=2\n\n');
  await settle();
  assert.equal(loop.state, 'synced');
});

test('an edit made while a request is in flight keeps the state at syncing', async () => {
  const memo = field('memo', 'a');
  const { transport, loop } = setup(memo);
  loop.sync();
  memo.text = 'ab';
  loop.noteLocalChange();
  transport.last.resolve('F:1:memo\nd:0:=1\n\n');
  await settle();
  assert.equal(loop.state, 'syncing');
  loop.sync();
  assert.match(transport.last.request, /d:1:=1\t\+b/);
  transport.last.resolve('F:2:memo\nd:1:=2\n\n');
  await settle();
  assert.equal(loop.state, 'synced');
});

test('nullifyAll stops the loop once the N lines are sent', async () => {
  const { clock, transport, client, loop } = setup(field('memo', 'a'));
  client.nullifyAll = true;
  loop.sync();
  assert.equal(transport.last.request, 'u:wkq7r2mz\nN:memo\n\n');
  transport.last.resolve('\n');
  await settle();
  assert.equal(clock.nextDelay, null);
});

test('unload sends one last request with keepalive unless one is in flight', async () => {
  const memo = field('memo', 'a');
  const { transport, loop } = setup(memo);
  loop.sync();
  loop.flush();
  assert.equal(transport.sent.length, 1);
  transport.last.resolve('F:1:memo\nd:0:=1\n\n');
  await settle();
  memo.text = 'ab';
  loop.flush();
  assert.equal(transport.sent.length, 2);
  assert.equal(transport.last.options.keepalive, true);
  assert.equal(transport.last.request, 'u:wkq7r2mz\nF:1:memo\nd:1:=1\t+b\n\n');
});

test('a page handler that throws does not stop the loop', async () => {
  const broken = field('memo', 'a');
  const { clock, transport, loop } = setup(broken);
  let failing = true;
  broken.getClientText = () => {
    if (failing) {
      failing = false;
      throw new Error('handler bug');
    }
    return 'a';
  };
  await loop.sync();
  assert.equal(transport.sent.length, 0);
  assert.equal(clock.nextDelay, 10000);
  await clock.advance(10000);
  assert.equal(transport.sent.length, 1);
  assert.equal(transport.last.request, 'u:wkq7r2mz\nF:0:memo\nr:1:a\n\n');
});

test('while the transport is live, a quiet session polls only at liveSyncInterval; typing does not wait', async () => {
  const { clock, transport, loop, client } = setup(field('memo', 'a'));
  transport.mode = 'live';
  loop.sync();
  transport.last.resolve('F:1:memo\nd:0:=1\n\n');
  await settle();
  assert.equal(clock.nextDelay, client.settings.liveSyncInterval);
  // A notice brings it forward.
  loop.schedule(0);
  assert.equal(clock.nextDelay, 0);
  await clock.advance(0);
  // Typing while that sync is in flight is sent right after its answer, not a second later.
  client.shadows.get('memo').object.text = 'ab';
  loop.noteLocalChange();
  transport.last.resolve('F:1:memo\nd:1:=1\n\n');
  await settle();
  assert.equal(clock.nextDelay, 0);
});

test('a 403 stops the loop in the denied state with its reason; typing is kept; resume syncs it', async () => {
  const memo = field('memo', 'a');
  const { clock, transport, loop, client, states } = setup(memo);
  loop.sync();
  transport.last.reject(new TransportError('forbidden: the token has expired; nothing was done', 403));
  await settle();
  assert.equal(loop.state, 'denied');
  assert.equal(loop.denial, 'forbidden: the token has expired; nothing was done');
  assert.equal(loop.retryIn, null);
  assert.equal(clock.nextDelay, null);
  // Typing while denied sends nothing (every request would be refused) but stays on the page.
  memo.text = 'ab';
  loop.noteLocalChange();
  await clock.advance(60000);
  assert.equal(transport.sent.length, 1);
  assert.equal(loop.state, 'denied');
  assert.equal(client.unsent, true);
  loop.flush();
  assert.equal(transport.sent.length, 1);
  // A new token: the loop tries again at once and the edit leaves.
  loop.resume();
  assert.equal(transport.sent.length, 2);
  assert.equal(transport.last.request, 'u:wkq7r2mz\nF:0:memo\nr:1:a\nd:1:=1\t+b\n\n');
  transport.last.resolve('F:2:memo\nd:0:=2\n\n');
  await settle();
  assert.equal(loop.state, 'synced');
  assert.equal(loop.denial, null);
  assert.deepEqual(states, ['syncing', 'denied', 'syncing', 'synced']);
});

test('a reseed that leaves the page a change of its own says syncing and sends it at the minimum interval', async () => {
  const memo = field('memo', 'one two');
  const { clock, transport, loop } = setup(memo);
  loop.sync();
  transport.last.resolve('F:1:memo\nd:0:=7\n\n');
  await settle();
  assert.equal(loop.state, 'synced');
  memo.text = 'zero one two';
  loop.sync();
  // The answer comes from a view the daemon re-created: it reseeds with the text others changed.
  transport.last.resolve('F:0:memo\nr:0:one two three\n\n');
  await settle();
  assert.equal(memo.text, 'zero one two three');
  assert.equal(loop.state, 'syncing');
  assert.equal(clock.nextDelay, 1000);
  await clock.advance(1000);
  assert.equal(transport.last.request, 'u:wkq7r2mz\nF:0:memo\nd:0:+zero \t=13\n\n');
  transport.last.resolve('F:1:memo\nd:0:=18\n\n');
  await settle();
  assert.equal(loop.state, 'synced');
});
