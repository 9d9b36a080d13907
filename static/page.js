// What the editor pages share: learning the gateway URL, reading the
// document name from the query string, and showing the connection state.

import mobwrite from './mobwrite.js';

const FALLBACK_GATEWAY = '/scripts/q.py';
const STATE_LABELS = { synced: 'Synced', syncing: 'Syncing…', offline: 'Offline' };
const MAX_NAME_LENGTH = 100;

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
 * Point mobwrite at the gateway named by ./config.js (served by the editor
 * site: `export default { gateway: "http://host:port/" }`), else the
 * same-origin legacy path.
 */
export async function connect() {
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

/** Keep element showing mobwrite's connection state (text and data-state). */
export function showState(element) {
  const render = (state) => {
    element.dataset.state = state;
    element.textContent = STATE_LABELS[state] ?? state;
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
