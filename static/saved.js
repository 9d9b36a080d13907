// A page's sync state kept in the browser's storage, so that nothing typed
// is lost when the tab closes before the server has it (issue 14).
//
// A session is one page's user id with, per document (its name on the
// wire), what SyncClient.snapshot() gives: the text on the page, the
// shadow, the versions and the edit stack. A new page carries on a saved
// session that no open page holds: it takes over the user id, so the
// server's view of that user (kept on disk) still matches the shadow, and
// the unsent edits merge at the first sync. Which page holds which user id
// is a Web Lock per id, held for the page's life and let go by the browser
// when the page goes; two pages never carry on the same session.

import { SyncClient } from './core.js';

const KEY_PREFIX = 'mobwrite.session.';
const LOCK_PREFIX = 'mobwrite.user.';

/** True when a saved session holds some edit the server has not acknowledged. */
export function hasUnsent(session) {
  return Object.values(session.documents).some((saved) => SyncClient.unsent(saved));
}

/** Sessions to try for `names` on `gateway`: unsent edits first, then the latest. */
export function candidates(sessions, names, gateway) {
  return sessions
    .filter((session) => session.gateway === gateway && names.some((name) => name in session.documents))
    .sort((a, b) => (hasUnsent(b) - hasUnsent(a)) || (b.savedAt - a.savedAt));
}

export class SavedSessions {
  /** storage: a Storage (localStorage); locks: a LockManager (navigator.locks). */
  constructor(storage, locks, log = () => {}) {
    this.storage = storage;
    this.locks = locks;
    this.log = log;
  }

  /** The sessions in this browser's storage for this site. */
  all() {
    const sessions = [];
    for (let index = 0; index < this.storage.length; index++) {
      const key = this.storage.key(index);
      if (!key?.startsWith(KEY_PREFIX)) continue;
      try {
        const session = JSON.parse(this.storage.getItem(key));
        if (session?.userId && session.documents) sessions.push(session);
      } catch (error) {
        this.log(`ignoring unreadable saved state ${key} (${error.message})`);
      }
    }
    return sessions;
  }

  /** Write a session; false when the storage refused it (full, or disabled). */
  save(session) {
    try {
      this.storage.setItem(KEY_PREFIX + session.userId, JSON.stringify(session));
      return true;
    } catch (error) {
      this.log(`could not save the page's state (${error.message})`);
      return false;
    }
  }

  remove(userId) {
    this.storage.removeItem(KEY_PREFIX + userId);
  }

  /** Hold user id `userId` for this page's life; resolves false if another page holds it. */
  claim(userId) {
    return new Promise((resolve, reject) => {
      this.locks.request(LOCK_PREFIX + userId, { ifAvailable: true }, (lock) => {
        resolve(lock !== null);
        // Never settles: the lock goes when the page does.
        return lock === null ? undefined : new Promise(() => {});
      }).catch(reject);
    });
  }

  /** True when no page holds `userId` now. */
  async free(userId) {
    return this.locks.request(LOCK_PREFIX + userId, { ifAvailable: true }, (lock) => lock !== null);
  }

  /**
   * Take over the best saved session for documents `names` on `gateway`
   * that no page holds, or resolve null. Sessions for the same documents
   * that no page holds and that hold nothing unsent are forgotten.
   */
  async adopt(names, gateway) {
    let adopted = null;
    for (const session of candidates(this.all(), names, gateway)) {
      if (adopted === null) {
        if (await this.claim(session.userId)) adopted = session;
      } else if (!hasUnsent(session) && await this.free(session.userId)) {
        this.remove(session.userId);
      }
    }
    return adopted;
  }
}
