// What the editor pages share: learning the gateway URL, reading the
// document name from the query string, showing the connection state, and
// the service worker that opens them while the daemon is down.

import mobwrite from './mobwrite.js';
import { fragmentToken } from './token.js';

const FALLBACK_GATEWAY = '/scripts/q.py';
const STATE_LABELS = { synced: 'Synced', syncing: 'Syncing…' };
const MAX_NAME_LENGTH = 100;
// How often an offline badge's countdown is redrawn.
const COUNTDOWN_MS = 250;

// sw.js keeps the site's own files so that a page opens with the daemon down.
globalThis.navigator?.serviceWorker?.register('sw.js').catch((error) => {
  if (mobwrite.debug) console.info(`mobwrite: no service worker (${error.message})`);
});

/** Why name cannot be a document name, or null when it can. */
export function nameProblem(name) {
  if (!name) return 'Type a name.';
  if (name.length > MAX_NAME_LENGTH) return `Use at most ${MAX_NAME_LENGTH} characters.`;
  if (!mobwrite.validName(name)) {
    return 'Start with a letter; then use letters, digits, "-", "_", "." or ":".';
  }
  if (name.includes('--')) return 'Do not use two hyphens in a row.';
  return null;
}

/** The document name from `?doc=NAME`, or fallback when the parameter is absent. */
export function documentName(fallback = null) {
  return new URLSearchParams(location.search).get('doc') ?? fallback;
}

/**
 * Give mobwrite the token of the URL fragment (`#token=...`), now and
 * whenever the fragment changes. The token stays in the fragment, so a
 * reload or a bookmark opens the page with it (docs/browser-client.md).
 */
export function takeFragmentToken() {
  const take = () => {
    const token = fragmentToken(location.hash);
    if (token && token !== mobwrite.token) mobwrite.token = token;
  };
  take();
  addEventListener('hashchange', take);
}

/**
 * Point mobwrite at the gateway named by ./config.js (served by the editor
 * site: `export default { gateway: "http://host:port/" }`), else the
 * same-origin legacy path; take the token of the URL fragment.
 */
export async function connect() {
  takeFragmentToken();
  let config = {};
  try {
    const module = await import('./config.js');
    config = module.default ?? module;
  } catch {
    // No config.js: a plain static server, or a site behind the original gateway path.
  }
  mobwrite.syncGateway = config.gateway || FALLBACK_GATEWAY;
  if (config.jsonp) mobwrite.jsonp = true;
  return mobwrite;
}

/** What the state badge says now: live or polling while answered, offline, full, out of room, or denied. */
export function stateLabel(state = mobwrite.state) {
  if (state === 'denied') {
    const reason = (mobwrite.denial ?? '').replace(/^forbidden: /, '');
    return `Denied — ${reason}${mobwrite.unsent ? ' (your edits are kept here)' : ''}`;
  }
  if (state === 'offline') {
    const wait = mobwrite.retryIn;
    const when = wait === null ? 'retrying…' : `retrying in ${Math.ceil(wait / 1000)} s`;
    return `Offline — ${mobwrite.unsent ? 'edits kept, ' : ''}${when}`;
  }
  if (state === 'full') {
    const limit = Math.min(...Object.values(mobwrite.refusals));
    return `This document is full (limit ${limit.toLocaleString('en')} characters): `
      + 'your latest changes are kept here but not shared until it is shorter';
  }
  if (state === 'no-room') {
    return 'The server is out of room: your latest changes are kept here '
      + 'and sent again at every sync until it takes them';
  }
  const label = STATE_LABELS[state] ?? state;
  return mobwrite.transport === 'live' ? `Live — ${label.toLowerCase()}` : `Polling — ${label.toLowerCase()}`;
}

/**
 * Keep element showing mobwrite's connection state (text and data-state),
 * with a "Retry now" button after it while offline.
 */
export function showState(element) {
  const retry = document.createElement('button');
  retry.type = 'button';
  retry.id = 'retry';
  retry.className = 'retry';
  retry.textContent = 'Retry now';
  retry.hidden = true;
  retry.addEventListener('click', () => mobwrite.syncNow());
  element.after(retry);
  let countdown = null;
  const render = (state) => {
    element.dataset.state = state;
    element.dataset.transport = mobwrite.transport;
    // Unchanged text is not rewritten: the badge is a live region.
    const label = stateLabel(state);
    if (element.textContent !== label) element.textContent = label;
    retry.hidden = state !== 'offline';
    if (state === 'offline' && countdown === null) {
      countdown = setInterval(() => render(mobwrite.state), COUNTDOWN_MS);
    } else if (state !== 'offline' && countdown !== null) {
      clearInterval(countdown);
      countdown = null;
    }
  };
  render(mobwrite.state);
  document.addEventListener('mobwrite:state', (event) => render(event.detail.state));
}

/** Show a problem message in element. */
export function showProblem(element, message) {
  element.textContent = message;
  element.hidden = false;
}

/** Refuse a page's document name: no state badge, content hidden, the reason shown. */
export function refuseName(content, message) {
  document.getElementById('state').hidden = true;
  content.hidden = true;
  showProblem(document.getElementById('name-error'), message);
}

/**
 * Start a demo page: documents named `<doc>_<element id>` (`?doc=`,
 * default fallback), or a problem shown instead of `content`. Resolves
 * with the name, or null when the name was refused.
 */
export async function startDemo(fallback, content, ...targets) {
  const name = documentName(fallback);
  const problem = nameProblem(name);
  if (problem) {
    refuseName(content, `"${name}" is not a document name. ${problem}`);
    return null;
  }
  document.getElementById('doc-label').textContent = name;
  showState(document.getElementById('state'));
  await connect();
  mobwrite.idPrefix = `${name}_`;
  mobwrite.share(...targets);
  return name;
}

export { mobwrite };
