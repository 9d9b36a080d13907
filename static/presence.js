// Presence without DOM or I/O (docs/websocket.md, "Presence"): the messages,
// the table of who is where, names and colours, and moving a remote caret
// through an edit so that it stays on its character.


export const PRESENCE = '!presence:';
// The daemon tells a socket its own id once, at its first publish.
export const PRESENCE_ID = '!presence-id:';
export const PRESENCE_ERROR = '!error:presence:';
export const MAX_NAME_CHARS = 64;
// The least time between two presence messages a page sends.
export const PUBLISH_INTERVAL_MS = 100;
export const COLOR = /^#[0-9a-fA-F]{6}$/;
// Readable on light and dark backgrounds alike.
export const PALETTE = [
  '#d03030', '#3060d0', '#2a8a3a', '#b05cc8', '#d07a10', '#138a8a', '#c2407a', '#6a6ad8',
];

/** A name as the daemon takes it: trimmed, control characters out, at most 64 characters. */
export function cleanName(name) {
  const clean = [...String(name)].filter((char) => !/\p{Cc}|\p{Cs}/u.test(char)).join('').trim();
  return clean.slice(0, MAX_NAME_CHARS).trim();
}

/** A default name such as "Guest 4821". */
export function guestName(random = Math.random) {
  return `Guest ${1000 + Math.floor(random() * 9000)}`;
}

/** The palette colour for name: the same name always gets the same colour. */
export function colorFor(name) {
  let hash = 0;
  for (const char of name) hash = (hash * 31 + char.codePointAt(0)) >>> 0;
  return PALETTE[hash % PALETTE.length];
}

/** The `!presence:` message publishing name, color and carets ({document: [start, end]}). */
export function presenceMessage({ name, color, carets = {} }) {
  return PRESENCE + JSON.stringify({ name, color, carets });
}

/**
 * What a daemon's message about presence says: { kind: 'update', update },
 * { kind: 'id', id }, { kind: 'error', message }, or null for any other message.
 */
export function readPresence(text) {
  if (text.startsWith(PRESENCE)) {
    let update;
    try {
      update = JSON.parse(text.slice(PRESENCE.length));
    } catch {
      return { kind: 'error', message: 'presence: an update that is not JSON' };
    }
    return update && typeof update === 'object' && !Array.isArray(update)
      ? { kind: 'update', update } : { kind: 'error', message: 'presence: an update that is not an object' };
  }
  if (text.startsWith(PRESENCE_ID)) return { kind: 'id', id: text.slice(PRESENCE_ID.length).trim() };
  if (text.startsWith(PRESENCE_ERROR)) return { kind: 'error', message: text.split('\n')[0].slice(1) };
  return null;
}

function validEntry(entry) {
  return entry && typeof entry.name === 'string' && COLOR.test(entry.color ?? '')
    && (entry.caret === null || entry.caret === undefined
      || (Array.isArray(entry.caret) && entry.caret.length === 2
        && entry.caret.every((offset) => Number.isInteger(offset) && offset >= 0)));
}

/**
 * Who is on each document: document → id → { name, color, caret }. Our own
 * id (once the daemon has said it) is never in it.
 */
export class PresenceTable {
  constructor() {
    this.documents = new Map();
    this.self = null;
  }

  /** Take an update (docs/websocket.md); returns the names of the documents it changed. */
  apply(update) {
    const changed = [];
    for (const [document, people] of Object.entries(update)) {
      if (!people || typeof people !== 'object') continue;
      const table = this.documents.get(document) ?? new Map();
      this.documents.set(document, table);
      for (const [id, entry] of Object.entries(people)) {
        if (id === this.self) continue;
        if (entry === null) table.delete(id);
        else if (validEntry(entry)) table.set(id, { name: entry.name, color: entry.color, caret: entry.caret ?? null });
        else continue;
        changed.push(document);
      }
    }
    return [...new Set(changed)];
  }

  /** The daemon told us our id: drop what we were told of ourselves before. */
  setSelf(id) {
    this.self = id;
    for (const table of this.documents.values()) table.delete(id);
  }

  /** Forget everyone (the socket closed: on reconnect the first update lists them again). */
  clear() {
    this.documents.clear();
    this.self = null;
  }

  /** The people on document, as [id, entry] pairs. */
  on(document) {
    return [...(this.documents.get(document) ?? [])];
  }

  /** Everyone present on any of documents, once each, as [id, entry] sorted by name. */
  people(documents) {
    const found = new Map();
    for (const document of documents) for (const [id, entry] of this.on(document)) found.set(id, entry);
    return [...found].sort(([a, x], [b, y]) => x.name.localeCompare(y.name) || a.localeCompare(b));
  }
}

/**
 * A sender that sends at once when it has been quiet for `interval` ms, and
 * otherwise once at the end of the interval, with the latest message only.
 */
export function throttle(send, interval = PUBLISH_INTERVAL_MS, timers = globalThis) {
  let last = -Infinity;
  let timer = null;
  let latest = null;
  const flush = () => {
    timer = null;
    last = timers.now();
    const message = latest;
    latest = null;
    send(message);
  };
  return (message) => {
    latest = message;
    if (timer !== null) return;
    const wait = last + interval - timers.now();
    if (wait <= 0) flush();
    else timer = timers.setTimeout(flush, wait);
  };
}
