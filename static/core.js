// The client half of Differential Synchronization, without DOM or I/O
// (docs/protocol.md §11.2-11.4, §11.6, §11.7).
//
// A SyncClient holds the shared objects and their shadows. buildRequest()
// gives the text to send and applyResponse() takes the answer. A shared
// object is anything with:
//   name                 the document name (without idPrefix)
//   getClientText()      the live text, or null when the object is gone
//   setClientText(text)  replace the live text (raw and overwrite updates)
//   patchClientText(patches, dmp)   merge a remote change (optional)
//   mergeChanges         false for overwrite mode; read after getClientText()
//
// Each stacked edit remembers the shadow it was computed from, so that an
// edit the server refuses (`x:too_long:<limit>` or `x:no_room:<setting>`
// after its F line) can be taken back: the shadow and version return to what they were, the page
// keeps its text, and the next request diffs again.

import {
  DeltaError, decodeRaw, encodeText, fromDelta, isNoOp, resultText, scrubSurrogates, toDelta,
} from './delta.js';
import { applyPatches, clientDiff, createDmp, mergeApart } from './patching.js';

export const NAME_PATTERN = /^[A-Za-z][-.:\w]*$/;

export const DEFAULTS = Object.freeze({
  minSyncInterval: 1000,
  maxSyncInterval: 10000,
  syncInterval: 2000,
  timeoutInterval: 30000,
  maxRetryInterval: 2000,
  // The safety poll while pushed notices arrive on a socket.
  liveSyncInterval: 60000,
  idPrefix: '',
});

const FIRST = 'abcdefghijklmnopqrstuvwxyz';
const OTHERS = FIRST + '0123456789-_:.';

function randomIndex(size, random) {
  // Rejection sampling keeps every symbol equally likely.
  const limit = 256 - (256 % size);
  for (;;) {
    const byte = random();
    if (byte < limit) return byte % size;
  }
}

function cryptoByte() {
  return globalThis.crypto.getRandomValues(new Uint8Array(1))[0];
}

/** An eight-character id as user ids and buffer names are drawn (docs/protocol.md §11.2). */
export function randomId(random = cryptoByte) {
  for (;;) {
    let id = FIRST[randomIndex(FIRST.length, random)];
    for (let i = 0; i < 7; i++) id += OTHERS[randomIndex(OTHERS.length, random)];
    if (!id.includes('--')) return id;
  }
}

/** The interval after a sync, given what changed (docs/protocol.md §11.7). */
export function nextInterval(interval, settings, changedLocally, changedRemotely) {
  const range = settings.maxSyncInterval - settings.minSyncInterval;
  let next = interval;
  if (changedLocally) next -= range * 0.4;
  if (changedRemotely) next -= range * 0.2;
  if (!changedLocally && !changedRemotely) next += range * 0.1;
  return Math.min(Math.max(next, settings.minSyncInterval), settings.maxSyncInterval);
}

// A versioned command line: letter, ':', digits, ':', payload.
const VERSIONED = /^([FfDdRr]):([0-9]{1,15}):(.*)$/s;

// The state of a shadow that survives a page: see snapshot() and restore().
const SAVED_FIELDS = ['text', 'clientVersion', 'serverVersion', 'deltaOk', 'editStack', 'acknowledged'];

/** Per-object synchronization state (docs/protocol.md §11.3). */
class Shadow {
  constructor(object) {
    this.object = object;
    this.text = '';
    this.clientVersion = 0;
    this.serverVersion = 0;
    this.deltaOk = false;
    // The text the page had when it was shared: the first raw carries it, and
    // what was typed since follows as a delta (null: the first raw is the live text).
    this.seed = null;
    // [client version, line, shadow text before the edit]
    this.editStack = [];
    this.acknowledged = 0;
    // Restored from a saved page and not yet followed by the server: even an
    // uppercase raw then keeps the unsent edits (see #applyRaw).
    this.restored = false;
    // Entries the last F line acknowledged, kept until the block's end for a refusal.
    this.settled = [];
  }
}

/** True when the entry's line is a poll: a delta keeping the whole shadow. */
function isPoll([, line]) {
  return POLL.test(line);
}

export class SyncClient {
  constructor({ settings = {}, userId = randomId(), log = () => {} } = {}) {
    this.settings = { ...DEFAULTS, ...settings };
    this.userId = userId;
    this.log = log;
    this.shadows = new Map();
    this.dmp = createDmp();
    this.nullifyAll = false;
    this.interval = this.settings.syncInterval;
    this.changedLocally = false;
    this.changedRemotely = false;
    this.refused = new Map();
    this.roomless = new Map();
  }

  /** Register a shared object; an already shared name keeps its state. */
  share(object) {
    if (!NAME_PATTERN.test(object.name)) {
      this.log(`refusing to share ${JSON.stringify(object.name)}: not a valid name`);
      return false;
    }
    if (this.shadows.has(object.name)) return false;
    const shadow = new Shadow(object);
    try {
      shadow.seed = object.getClientText();
    } catch {
      // A failing handler: the first sync reads it again and reports the failure.
    }
    this.shadows.set(object.name, shadow);
    return true;
  }

  /**
   * Give a shared object the state `saved` (one entry of snapshot(), from
   * an earlier page) and put its live text back on the page.
   */
  restore(name, saved) {
    const shadow = this.shadows.get(name);
    if (!shadow) return;
    shadow.seed = null;
    for (const key of SAVED_FIELDS) shadow[key] = saved[key];
    shadow.editStack = saved.editStack.map((entry) => [...entry]);
    shadow.restored = true;
    if (shadow.object.getClientText() !== saved.live) shadow.object.setClientText(saved.live);
  }

  /**
   * The state of each shared object worth keeping across pages, by name:
   * the shadow's fields plus `live`, the text on the page now.
   */
  snapshot() {
    const saved = {};
    for (const [name, shadow] of this.shadows) {
      const live = shadow.object.getClientText();
      if (live === null) continue;
      saved[name] = { live };
      for (const key of SAVED_FIELDS) saved[name][key] = shadow[key];
      saved[name].editStack = shadow.editStack.map((entry) => [...entry]);
    }
    return saved;
  }

  /** True when a saved object (from snapshot()) holds edits the server has not acknowledged. */
  static unsent(saved) {
    return saved.live !== saved.text || !saved.deltaOk || !saved.editStack.every(isPoll);
  }

  /** Names whose last answer refused an edit as too long, with the server's limit. */
  get refusals() {
    return this.refused;
  }

  /** Names whose last answer refused an edit for want of room on the server, with the limit's name. */
  get outOfRoom() {
    return this.roomless;
  }

  unshare(name) {
    return this.shadows.delete(name);
  }

  get names() {
    return [...this.shadows.keys()];
  }

  /** Build the next request (docs/protocol.md §11.4); null when nothing is shared. */
  buildRequest() {
    this.changedLocally = false;
    this.changedRemotely = false;
    const prefix = this.settings.idPrefix;
    const lines = [`u:${this.userId}`];
    for (const [name, shadow] of [...this.shadows]) {
      if (this.nullifyAll) {
        this.shadows.delete(name);
        lines.push(`N:${prefix}${name}`);
        continue;
      }
      const text = shadow.object.getClientText();
      if (text === null) {
        this.log(`${name} has left the page; unsharing it`);
        this.shadows.delete(name);
        continue;
      }
      // A half surrogate pair (pasted, or cut by a script) cannot be encoded.
      this.#stackEdit(shadow, scrubSurrogates(text));
      lines.push(`F:${shadow.serverVersion}:${prefix}${name}`);
      for (const [, line] of shadow.editStack) lines.push(line);
    }
    this.nullifyAll = false;
    if (lines.length === 1) return null;
    return lines.join('\n') + '\n\n';
  }

  #stackEdit(shadow, text) {
    const before = shadow.text;
    if (!shadow.deltaOk) {
      // A lowercase raw leaves an existing document alone: typing done before
      // the first exchange goes after it as a delta, so the server merges it.
      const raw = shadow.seed === null ? text : scrubSurrogates(shadow.seed);
      shadow.seed = null;
      shadow.text = raw;
      shadow.clientVersion += 1;
      shadow.editStack.push([shadow.clientVersion, `r:${shadow.clientVersion}:${encodeText(raw)}`, before]);
      shadow.deltaOk = true;
      if (raw === text) return;
    }
    const changed = text !== shadow.text;
    if (!changed && shadow.editStack.length) return;
    const delta = toDelta(clientDiff(this.dmp, shadow.text, text));
    if (changed) {
      shadow.text = text;
      this.changedLocally = true;
    }
    const letter = shadow.object.mergeChanges === false ? 'D' : 'd';
    shadow.editStack.push([shadow.clientVersion, `${letter}:${shadow.clientVersion}:${delta}`, before]);
    shadow.clientVersion += 1;
  }

  /**
   * Apply a response (docs/protocol.md §11.6 steps 1-5) and compute the next interval.
   * A text that does not end with a blank line is truncated: nothing in it
   * is applied. Returns the interval until the next sync.
   */
  applyResponse(text) {
    const complete = text.endsWith('\n\n');
    let current = null;
    if (complete) {
      this.refused = new Map();
      this.roomless = new Map();
    }
    for (const line of complete ? text.split('\n') : []) {
      if (line === '') break;
      if (line[1] !== ':') continue;
      const letter = line[0];
      if (letter === 'x' && current !== null) {
        this.#notice(current, line.slice(2));
      } else if ('FfDdRr'.includes(letter)) {
        const match = VERSIONED.exec(line);
        if (!match) continue;
        const version = Number(match[2]);
        if (letter === 'F' || letter === 'f') current = this.#acknowledge(match[3], version);
        else if (current === null) continue;
        else if (letter === 'R' || letter === 'r') this.#applyRaw(current, letter, version, match[3]);
        else this.#applyDelta(current, letter, version, match[3]);
      }
    }
    for (const shadow of this.shadows.values()) shadow.settled = [];
    this.interval = nextInterval(this.interval, this.settings, this.changedLocally, this.changedRemotely);
    return this.interval;
  }

  #acknowledge(fileId, version) {
    const prefix = this.settings.idPrefix;
    if (!fileId.startsWith(prefix)) return null;
    const shadow = this.shadows.get(fileId.slice(prefix.length));
    if (!shadow) return null;
    shadow.deltaOk = true;
    shadow.acknowledged = version;
    shadow.settled = shadow.editStack.filter(([stacked]) => stacked <= version);
    shadow.editStack = shadow.editStack.filter(([stacked]) => stacked > version);
    return shadow;
  }

  /** An `x:` line about the current file: `too_long:<limit>` or `no_room:<setting>`. */
  #notice(shadow, notice) {
    const tooLong = /^too_long:([0-9]{1,15})$/.exec(notice);
    const noRoom = /^no_room:(\w{1,64})$/.exec(notice);
    if (tooLong) this.refused.set(shadow.object.name, Number(tooLong[1]));
    else if (noRoom) this.roomless.set(shadow.object.name, noRoom[1]);
    else return;
    this.#takeBack(shadow);
  }

  /**
   * The server refused the first edit it had not applied: return to the
   * shadow and version before it and drop it with every edit after it.
   * The live text is untouched, so the next request carries it all again.
   */
  #takeBack(shadow) {
    const version = shadow.acknowledged;
    const refused = [...shadow.settled, ...shadow.editStack].find(([stacked, line]) => (
      line[0] === 'r' || line[0] === 'R' ? stacked > version : stacked >= version));
    shadow.settled = [];
    if (!refused) return;
    const [stacked, line, before] = refused;
    shadow.text = before;
    if (line[0] === 'r' || line[0] === 'R') {
      shadow.clientVersion = stacked - 1;
      shadow.deltaOk = false;
    } else {
      shadow.clientVersion = stacked;
    }
    shadow.editStack = [];
    shadow.acknowledged = shadow.clientVersion;
  }

  #applyRaw(shadow, letter, version, payload) {
    let text;
    try {
      text = decodeRaw(payload);
    } catch (error) {
      this.log(`${shadow.object.name}: undecodable raw text (${error.message})`);
      shadow.deltaOk = false;
      return;
    }
    const agreed = this.#agreed(shadow);
    // A lowercase raw with text reseeds a lost view (docs/protocol.md §15.1); a
    // restored page's saved versions may be behind the server's, so for it an
    // uppercase one means the same. An empty one (no document) keeps the page's text.
    const rebase = text !== '' && (letter === 'r' || shadow.restored);
    shadow.text = text;
    shadow.clientVersion = shadow.acknowledged;
    shadow.serverVersion = version;
    shadow.editStack = [];
    shadow.restored = false;
    if (rebase) {
      // The person's own change is on the page only now: send it soon.
      if (this.#rebase(shadow.object, agreed, text)) this.interval = 0;
    } else if (letter === 'R') {
      shadow.object.setClientText(text);
    }
    this.changedRemotely = true;
  }

  /**
   * The text the server last agreed to, before this answer: the shadow the
   * oldest unacknowledged edit was made from, or, after a raw (which the
   * server takes as its shadow), the raw's text.
   */
  #agreed(shadow) {
    let agreed = shadow.text;
    for (const [, line, before] of [...shadow.settled, ...shadow.editStack].reverse()) {
      if (line[0] === 'r' || line[0] === 'R') break;
      agreed = before;
    }
    return agreed;
  }

  /**
   * Put the page's own unsent change (from `agreed` to its live text) on top
   * of `text`, the server's, so that the next delta carries that change
   * alone and not the removal of what others wrote meanwhile. An overwrite
   * object keeps a value changed since `agreed`, or takes `text`. True when
   * the page keeps a change of its own, to be sent.
   */
  #rebase(object, agreed, text) {
    const live = object.getClientText();
    if (live === null) return false;
    if (object.mergeChanges === false) {
      if (live !== agreed) return live !== text;
      if (live !== text) object.setClientText(text);
      return false;
    }
    const own = this.dmp.patch_make(agreed, clientDiff(this.dmp, agreed, live));
    const rebased = applyPatches(this.dmp, own, text).text;
    // Merged as patches, not written whole, so the field keeps its caret.
    if (rebased !== live) this.#merge(object, this.dmp.patch_make(live, clientDiff(this.dmp, live, rebased)));
    return rebased !== text;
  }

  #applyDelta(shadow, letter, version, payload) {
    if (shadow.acknowledged !== shadow.clientVersion || version > shadow.serverVersion) {
      shadow.deltaOk = false;
      return;
    }
    if (version < shadow.serverVersion) return;
    let diffs;
    try {
      diffs = fromDelta(shadow.text, payload);
    } catch (error) {
      if (!(error instanceof DeltaError)) throw error;
      this.log(`${shadow.object.name}: delta does not fit the shadow (${error.message})`);
      shadow.deltaOk = false;
      // Bring the raw resync forward; the interval is clamped afterwards.
      this.interval = 0;
      return;
    }
    shadow.serverVersion += 1;
    shadow.restored = false;
    if (isNoOp(diffs)) return;
    const result = resultText(diffs);
    if (letter === 'D') {
      shadow.text = result;
      shadow.object.setClientText(result);
    } else {
      // Apart from the unsent typing, the change is placed exactly: patches
      // of the live text, which apply where they were made. Else fuzzily.
      const live = shadow.object.getClientText();
      const apart = live === null ? null : mergeApart(shadow.text, clientDiff(this.dmp, shadow.text, live), diffs);
      const patches = apart ? this.dmp.patch_make(live, apart) : this.dmp.patch_make(shadow.text, diffs);
      shadow.text = result;
      this.#merge(shadow.object, patches);
    }
    this.changedRemotely = true;
  }

  #merge(object, patches) {
    if (object.patchClientText) {
      object.patchClientText(patches, this.dmp);
      return;
    }
    const live = object.getClientText();
    if (live === null) return;
    const merged = applyPatches(this.dmp, patches, live).text;
    if (merged !== live) object.setClientText(merged);
  }

  /** True while some object has edits not yet sent, or sent and not acknowledged. */
  get unsent() {
    if (this.pending) return true;
    for (const shadow of this.shadows.values()) {
      const live = shadow.object.getClientText();
      if (live !== null && live !== shadow.text) return true;
    }
    return false;
  }

  /** True while some object has edits the server has not acknowledged. */
  get pending() {
    for (const shadow of this.shadows.values()) {
      if (!shadow.deltaOk || !shadow.editStack.every(isPoll)) return true;
    }
    return false;
  }
}

// A stacked delta that keeps the whole shadow carries no edit: it is a poll.
const POLL = /^[dD]:[0-9]+:(=[0-9]+)?$/;
