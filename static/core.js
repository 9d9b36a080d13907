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

import {
  DeltaError, decodeRaw, encodeText, fromDelta, isNoOp, resultText, scrubSurrogates, toDelta,
} from './delta.js';
import { applyPatches, clientDiff, createDmp } from './patching.js';

export const NAME_PATTERN = /^[A-Za-z][-.:\w]*$/;

export const DEFAULTS = Object.freeze({
  minSyncInterval: 1000,
  maxSyncInterval: 10000,
  syncInterval: 2000,
  timeoutInterval: 30000,
  maxRetryInterval: 30000,
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

/** Per-object synchronization state (docs/protocol.md §11.3). */
class Shadow {
  constructor(object) {
    this.object = object;
    this.text = '';
    this.clientVersion = 0;
    this.serverVersion = 0;
    this.deltaOk = false;
    this.editStack = [];
    this.acknowledged = 0;
  }
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
  }

  /** Register a shared object; an already shared name keeps its state. */
  share(object) {
    if (!NAME_PATTERN.test(object.name)) {
      this.log(`refusing to share ${JSON.stringify(object.name)}: not a valid name`);
      return false;
    }
    if (this.shadows.has(object.name)) return false;
    this.shadows.set(object.name, new Shadow(object));
    return true;
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
    if (!shadow.deltaOk) {
      shadow.text = text;
      shadow.clientVersion += 1;
      shadow.editStack.push([shadow.clientVersion, `r:${shadow.clientVersion}:${encodeText(text)}`]);
      shadow.deltaOk = true;
      return;
    }
    const changed = text !== shadow.text;
    if (!changed && shadow.editStack.length) return;
    const delta = toDelta(clientDiff(this.dmp, shadow.text, text));
    if (changed) {
      shadow.text = text;
      this.changedLocally = true;
    }
    const letter = shadow.object.mergeChanges === false ? 'D' : 'd';
    shadow.editStack.push([shadow.clientVersion, `${letter}:${shadow.clientVersion}:${delta}`]);
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
    for (const line of complete ? text.split('\n') : []) {
      if (line === '') break;
      if (line[1] !== ':') continue;
      const letter = line[0];
      if ('FfDdRr'.includes(letter)) {
        const match = VERSIONED.exec(line);
        if (!match) continue;
        const version = Number(match[2]);
        if (letter === 'F' || letter === 'f') current = this.#acknowledge(match[3], version);
        else if (current === null) continue;
        else if (letter === 'R' || letter === 'r') this.#applyRaw(current, letter, version, match[3]);
        else this.#applyDelta(current, letter, version, match[3]);
      }
    }
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
    shadow.editStack = shadow.editStack.filter(([stacked]) => stacked > version);
    return shadow;
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
    shadow.text = text;
    shadow.clientVersion = shadow.acknowledged;
    shadow.serverVersion = version;
    shadow.editStack = [];
    if (letter === 'R') shadow.object.setClientText(text);
    this.changedRemotely = true;
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
    if (isNoOp(diffs)) return;
    const result = resultText(diffs);
    if (letter === 'D') {
      shadow.text = result;
      shadow.object.setClientText(result);
    } else {
      const patches = this.dmp.patch_make(shadow.text, diffs);
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

  /** True while some object has edits the server has not acknowledged. */
  get pending() {
    for (const shadow of this.shadows.values()) {
      if (!shadow.deltaOk || shadow.editStack.some(([, line]) => !POLL.test(line))) return true;
    }
    return false;
  }
}

// A stacked delta that keeps the whole shadow carries no edit: it is a poll.
const POLL = /^[dD]:[0-9]+:(=[0-9]+)?$/;
