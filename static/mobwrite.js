// The page API: a global `mobwrite` object compatible with the original
// client (share, unshare, syncGateway, idPrefix, debug, nullifyAll,
// callback), wiring the DOM handlers to the sync core and loop, and
// keeping the page's sync state in localStorage (saved.js).

import { NAME_PATTERN, SyncClient, randomId } from './core.js';
import { sharedName, sharedObjectsFor } from './handlers.js';
import { SyncLoop } from './loop.js';
import { SavedSessions } from './saved.js';
import {
  fetchTransport, jsonpTransport, preferSocket, socketUrl,
} from './transport.js';

const SHARE_DELAY = 10;
// Typing is saved this long after a keystroke (and at once on leaving), or
// SAVE_SHARE times as long as the last save took: a large document is
// saved less often, so that saving takes a small share of the time.
const SAVE_DELAY = 200;
const SAVE_SHARE = 20;

const client = new SyncClient({ log: (message) => debug(message) });
const listeners = new Map();
const radioGroups = new Map();
let jsonp = null;
// The access token sent with every request (mobwrite.token), or null.
let token = null;

function debug(message) {
  if (mobwrite.debug) console.info(`mobwrite: ${message}`);
}

// Chooses fetch POST or JSONP at each send, so a page may set
// mobwrite.syncGateway and mobwrite.jsonp at any time before or after share().
const polling = {
  send(request, options) {
    if (!mobwrite.jsonp) return fetchTransport(mobwrite.syncGateway, undefined, token).send(request, options);
    if (jsonp?.gateway !== mobwrite.syncGateway || jsonp?.maxChars !== mobwrite.get_maxchars
        || jsonp?.token !== token) {
      jsonp = jsonpTransport(mobwrite.syncGateway, {
        document, maxChars: mobwrite.get_maxchars, newId: () => randomId(), token,
      });
    }
    return jsonp.send(request, options);
  },
};

// The daemon's socket while it is open (notices make the loop sync at once), else polling.
const transport = preferSocket(polling, {
  url: () => {
    if (mobwrite.websocket === false) return null;
    return mobwrite.websocket || socketUrl(mobwrite.syncGateway, location.href, token);
  },
  onNotice: () => loop.schedule(0),
  // Presence is the page's business (presence.js, people.js): it hears the messages as an event.
  onPresence: (text) => document.dispatchEvent(new CustomEvent('mobwrite:presence', { detail: { text } })),
  onMode: (mode) => {
    debug(`transport ${mode}`);
    // Sync at once: a new socket follows only the documents its answers named,
    // and a dropped one may mean the daemon is gone (the state then says so).
    if (client.shadows.size) loop.schedule(0);
    tellPage(loop.state);
  },
  log: debug,
});

/** Tell the page (the `mobwrite:state` event) what state and transport it is on now. */
function tellPage(state) {
  document.dispatchEvent(new CustomEvent('mobwrite:state', { detail: { state, transport: transport.mode } }));
}

function announce(state) {
  debug(`state ${state}`);
  tellPage(state);
  mobwrite.onstatechange?.(state);
}

const loop = new SyncLoop({ client, transport, onState: announce, onExchange: save, log: debug });

// Web Locks and localStorage need a secure context (https, or localhost).
const sessions = globalThis.navigator?.locks && globalThis.localStorage
  ? new SavedSessions(globalThis.localStorage, globalThis.navigator.locks, debug) : null;
// This page's saved session, once it has claimed one (or its own).
let session = null;
let claiming = null;
let saveTimer = null;
let saveCost = 0;

function wireName(name) {
  return client.settings.idPrefix + name;
}

/** Take over a saved session for these newly shared names, or claim our own id. */
async function claimSession(names) {
  const found = await sessions.adopt(names.map(wireName), mobwrite.syncGateway);
  if (found) {
    debug(`carrying on saved session ${found.userId}`);
    client.userId = found.userId;
    session = found;
  } else {
    await sessions.claim(client.userId);
    session = { userId: client.userId, documents: {} };
  }
}

/** Restore the saved state of newly shared names (the loop waits for it). */
function restore(names) {
  if (!sessions) return;
  claiming = (claiming ?? claimSession(names)).then(() => {
    for (const name of names) {
      const saved = session.documents[wireName(name)];
      if (saved) client.restore(name, saved);
    }
  }).catch((error) => debug(`saved state not restored: ${error?.stack ?? error}`));
  loop.hold(claiming);
}

/** Write this page's state to storage now. */
function save() {
  clearTimeout(saveTimer);
  saveTimer = null;
  if (!session || loop.held) return;
  const start = performance.now();
  for (const [name, saved] of Object.entries(client.snapshot())) session.documents[wireName(name)] = saved;
  session.gateway = mobwrite.syncGateway;
  session.savedAt = Date.now();
  sessions.save(session);
  saveCost = performance.now() - start;
}

function saveSoon() {
  if (saveTimer === null && session) saveTimer = setTimeout(save, Math.max(SAVE_DELAY, SAVE_SHARE * saveCost));
}

function resolve(target) {
  if (typeof target !== 'string') return target;
  const element = document.getElementById(target);
  if (!element) debug(`no element with id ${JSON.stringify(target)}`);
  return element;
}

/** Share one target; true when something new is shared. */
function shareOne(target) {
  const item = resolve(target);
  if (!item) return false;
  // An object that already speaks the shared-object interface is shared as is.
  const objects = typeof item.getClientText === 'function' ? [item] : sharedObjectsFor(item, radioGroups);
  if (objects.length === 0) debug(`nothing to share in ${item.id || item.localName || item}`);
  let added = false;
  for (const object of objects) {
    if (!client.share(object)) continue;
    added = true;
    const element = object.element;
    if (element) {
      const onInput = () => {
        loop.noteLocalChange();
        saveSoon();
      };
      const events = element.localName === 'input' && element.type === 'radio' ? ['change'] : ['input', 'change'];
      const watched = object.buttons ? object.buttons() : [element];
      for (const node of watched) for (const type of events) node.addEventListener(type, onInput);
      const stopListening = object.listen?.();
      listeners.set(object.name, () => {
        stopListening?.();
        for (const node of watched) for (const type of events) node.removeEventListener(type, onInput);
        if (object.buttons) radioGroups.get(element.form)?.delete(element.name);
      });
    }
  }
  return added;
}

function unshareOne(target) {
  const element = typeof target === 'string' ? document.getElementById(target) : target;
  const name = element?.localName ? sharedName(element) : element?.name ?? target;
  if (!name || !client.unshare(name)) return;
  listeners.get(name)?.();
  listeners.delete(name);
}

const SETTINGS = [
  'minSyncInterval', 'maxSyncInterval', 'timeoutInterval', 'maxRetryInterval', 'liveSyncInterval', 'idPrefix',
];

const mobwrite = {
  syncGateway: '/scripts/q.py',
  /** Send with JSONP GETs (`p=`) for gateways that cannot answer CORS POSTs. */
  jsonp: false,
  /** The socket URL (default: /ws beside syncGateway), or false to poll only. */
  websocket: null,
  get_maxchars: 1000,
  debug: false,
  /** Called with 'synced' | 'syncing' | 'offline' | 'full' | 'no-room' | 'denied' on every state change. */
  onstatechange: null,

  /** Share elements, element ids, forms, or objects with getClientText(). */
  share(...targets) {
    const before = new Set(client.names);
    const added = targets.map(shareOne).some(Boolean);
    if (added) restore(client.names.filter((name) => !before.has(name)));
    // A new document is unsynced until its first exchange.
    if (added) loop.noteLocalChange();
    if (client.shadows.size) loop.schedule(SHARE_DELAY);
  },

  /** Stop sharing elements or ids (a form's elements are unshared one by one). */
  unshare(...targets) {
    for (const target of targets) unshareOne(target);
  },

  /** JSONP answers arrive here: mobwrite.callback("...") from the gateway. */
  callback(text) {
    jsonp?.callback(text);
  },

  /** Sync now rather than at the next scheduled time ("retry now" while offline). */
  syncNow() {
    return loop.sync();
  },

  /** While offline: ms until the next try, or null while one is under way. */
  get retryIn() {
    return loop.retryIn;
  },

  /** True while this page holds edits the server has not acknowledged. */
  get unsent() {
    return client.unsent;
  },

  /** Documents (names without prefix) whose last edit the server refused as too long, with its limit. */
  get refusals() {
    return Object.fromEntries(client.refusals);
  },

  /** Documents (names without prefix) whose last edit the server had no room for, with the limit's name. */
  get outOfRoom() {
    return Object.fromEntries(client.outOfRoom);
  },

  get syncUsername() {
    return client.userId;
  },

  /** The connection state: 'synced', 'syncing', 'offline', 'full', 'no-room' or 'denied'. */
  get state() {
    return loop.state;
  },

  /** While denied: the gateway's one-line reason (such as "forbidden: the token has expired; ..."). */
  get denial() {
    return loop.denial;
  },

  /**
   * The access token (docs/security.md), sent with every request; null for none.
   * Setting one after a denial syncs again at once.
   */
  get token() {
    return token;
  },
  set token(value) {
    token = value || null;
    loop.resume();
  },

  /** Send a `!presence:` message on the socket (docs/websocket.md); false while polling. */
  sendPresence(message) {
    return transport.tell(message);
  },

  /** 'live' while syncing over the daemon's socket, else 'polling'. */
  get transport() {
    return transport.mode;
  },

  /** Names currently shared (without idPrefix). */
  get shared() {
    return client.names;
  },

  get syncInterval() {
    return client.interval;
  },
  set syncInterval(value) {
    client.interval = value;
  },

  get nullifyAll() {
    return client.nullifyAll;
  },
  /** Setting it true deletes every shared document at the next sync and stops. */
  set nullifyAll(value) {
    client.nullifyAll = Boolean(value);
    if (client.nullifyAll) {
      for (const name of client.names) {
        listeners.get(name)?.();
        listeners.delete(name);
        delete session?.documents[wireName(name)];
      }
      loop.schedule(SHARE_DELAY);
    }
  },

  validName(name) {
    return NAME_PATTERN.test(name);
  },
};

for (const key of SETTINGS) {
  Object.defineProperty(mobwrite, key, {
    get: () => client.settings[key],
    set: (value) => {
      client.settings[key] = value;
    },
    enumerable: true,
  });
}

addEventListener('pagehide', () => {
  loop.flush();
  save();
});
// Edits that cannot leave now (offline, or refused) are kept in storage,
// but the person should still know before closing.
addEventListener('beforeunload', (event) => {
  if (['offline', 'full', 'no-room', 'denied'].includes(loop.state) && client.unsent) {
    event.preventDefault();
    // Older browsers ask only when returnValue is set.
    event.returnValue = '';
  }
});
addEventListener('online', () => {
  if (loop.state === 'offline') loop.sync();
});

globalThis.mobwrite = mobwrite;

export { mobwrite };
export default mobwrite;
