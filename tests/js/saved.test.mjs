// Saved sessions: which one a new page carries on, held by one page at a time (issue 14).
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { SavedSessions, candidates, hasUnsent } from '../../static/saved.js';

/** localStorage's interface over a Map. */
class MemoryStorage {
  constructor() {
    this.items = new Map();
  }

  get length() {
    return this.items.size;
  }

  key(index) {
    return [...this.items.keys()][index] ?? null;
  }

  getItem(key) {
    return this.items.get(key) ?? null;
  }

  setItem(key, value) {
    this.items.set(key, String(value));
  }

  removeItem(key) {
    this.items.delete(key);
  }
}

/** navigator.locks for one browser: a lock is held while its callback's promise is pending. */
class Locks {
  constructor() {
    this.held = new Set();
  }

  async request(name, options, callback) {
    if (this.held.has(name)) return callback(null);
    this.held.add(name);
    try {
      return await callback({ name });
    } finally {
      this.held.delete(name);
    }
  }
}

function state(live, text = live) {
  return { live, text, clientVersion: 1, serverVersion: 1, deltaOk: true, editStack: [], acknowledged: 1 };
}

function session(userId, documents, savedAt, gateway = 'http://gw/') {
  return { userId, gateway, savedAt, documents };
}

test('sessions with unsent edits come first, then the latest; only for these documents and gateway', () => {
  const sessions = [
    session('old', { doc: state('a') }, 1),
    session('new', { doc: state('b') }, 3),
    session('unsent', { doc: state('typed', 'c') }, 2),
    session('other', { else: state('typed', 'x') }, 4),
    session('elsewhere', { doc: state('typed', 'x') }, 5, 'http://other/'),
  ];
  assert.deepEqual(candidates(sessions, ['doc'], 'http://gw/').map((s) => s.userId), ['unsent', 'new', 'old']);
  assert.equal(hasUnsent(sessions[2]), true);
  assert.equal(hasUnsent(sessions[1]), false);
});

test('a page carries on a saved session no other page holds; a second page gets another', async () => {
  const storage = new MemoryStorage();
  const locks = new Locks();
  const store = new SavedSessions(storage, locks);
  store.save(session('first', { doc: state('typed', 'x') }, 1));
  store.save(session('second', { doc: state('more', 'x') }, 2));
  const one = await store.adopt(['doc'], 'http://gw/');
  const two = await store.adopt(['doc'], 'http://gw/');
  const three = await store.adopt(['doc'], 'http://gw/');
  assert.deepEqual([one.userId, two.userId, three], ['second', 'first', null]);
  assert.equal(one.documents.doc.live, 'more');
});

test('sessions left behind with nothing unsent are forgotten; those with unsent edits stay', async () => {
  const storage = new MemoryStorage();
  const store = new SavedSessions(storage, new Locks());
  store.save(session('latest', { doc: state('a') }, 3));
  store.save(session('stale', { doc: state('a') }, 1));
  store.save(session('unsent', { doc: state('typed', 'a') }, 2));
  const adopted = await store.adopt(['doc'], 'http://gw/');
  assert.equal(adopted.userId, 'unsent');
  assert.deepEqual(store.all().map((s) => s.userId), ['unsent']);
});

test('an unreadable entry is skipped, and a full storage is reported, not thrown', () => {
  const storage = new MemoryStorage();
  const logged = [];
  const store = new SavedSessions(storage, new Locks(), (message) => logged.push(message));
  storage.setItem('mobwrite.session.broken', '{');
  storage.setItem('unrelated', '{}');
  assert.deepEqual(store.all(), []);
  storage.setItem = () => {
    throw new Error('QuotaExceededError');
  };
  assert.equal(store.save(session('x', {}, 1)), false);
  assert.equal(logged.length, 2);
});
