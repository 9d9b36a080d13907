// The page API: a global `mobwrite` object compatible with the original
// client (share, unshare, syncGateway, idPrefix, debug, nullifyAll,
// callback), wiring the DOM handlers to the sync core and loop.

import { NAME_PATTERN, SyncClient, randomId } from './core.js';
import { sharedName, sharedObjectsFor } from './handlers.js';
import { SyncLoop } from './loop.js';
import { fetchTransport, jsonpTransport } from './transport.js';

const SHARE_DELAY = 10;

const client = new SyncClient({ log: (message) => debug(message) });
const listeners = new Map();
const radioGroups = new Map();
let jsonp = null;

function debug(message) {
  if (mobwrite.debug) console.info(`mobwrite: ${message}`);
}

// Chooses fetch POST or JSONP at each send, so a page may set
// mobwrite.syncGateway and mobwrite.jsonp at any time before or after share().
const transport = {
  send(request, options) {
    if (!mobwrite.jsonp) return fetchTransport(mobwrite.syncGateway).send(request, options);
    if (jsonp?.gateway !== mobwrite.syncGateway || jsonp?.maxChars !== mobwrite.get_maxchars) {
      jsonp = jsonpTransport(mobwrite.syncGateway, {
        document, maxChars: mobwrite.get_maxchars, newId: () => randomId(),
      });
    }
    return jsonp.send(request, options);
  },
};

function announce(state) {
  debug(`state ${state}`);
  document.dispatchEvent(new CustomEvent('mobwrite:state', { detail: { state } }));
  mobwrite.onstatechange?.(state);
}

const loop = new SyncLoop({ client, transport, onState: announce, log: debug });

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
      const onInput = () => loop.noteLocalChange();
      const events = element.localName === 'input' && element.type === 'radio' ? ['change'] : ['input', 'change'];
      const watched = object.buttons ? object.buttons() : [element];
      for (const node of watched) for (const type of events) node.addEventListener(type, onInput);
      listeners.set(object.name, () => {
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

const SETTINGS = ['minSyncInterval', 'maxSyncInterval', 'timeoutInterval', 'maxRetryInterval', 'idPrefix'];

const mobwrite = {
  syncGateway: '/scripts/q.py',
  /** Send with JSONP GETs (`p=`) for gateways that cannot answer CORS POSTs. */
  jsonp: false,
  get_maxchars: 1000,
  debug: false,
  /** Called with 'synced' | 'syncing' | 'offline' on every state change. */
  onstatechange: null,

  /** Share elements, element ids, forms, or objects with getClientText(). */
  share(...targets) {
    const added = targets.map(shareOne).some(Boolean);
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

  /** Sync now rather than at the next scheduled time. */
  syncNow() {
    return loop.sync();
  },

  get syncUsername() {
    return client.userId;
  },

  /** The connection state: 'synced', 'syncing' or 'offline'. */
  get state() {
    return loop.state;
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

addEventListener('pagehide', () => loop.flush());

globalThis.mobwrite = mobwrite;

export { mobwrite };
export default mobwrite;
