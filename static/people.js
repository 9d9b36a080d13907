// Presence on a page (docs/websocket.md, "What a page must do"; docs/browser-client.md):
// the person's name and colour, the list of who else is here, and their
// carets over the shared text fields. Everything travels on mobwrite's socket;
// while the page polls there is no presence, and the page says so.

import { CaretOverlay } from './carets.js';
import {
  COLOR, PUBLISH_INTERVAL_MS, PresenceTable, cleanName, colorFor, guestName, presenceMessage, readPresence,
  throttle,
} from './presence.js';

const NAME_KEY = 'mobwrite.presence.name';
const COLOR_KEY = 'mobwrite.presence.color';
const NOTES = {
  polling: 'Presence needs the live connection: who else is here is not shown while the page polls.',
  alone: 'No one else is here.',
  together: '',
};

function stored(storage, key) {
  try {
    return storage?.getItem(key) ?? null;
  } catch {
    return null;
  }
}

function store(storage, key, value) {
  try {
    storage?.setItem(key, value);
  } catch {
    // Storage full or refused: the name holds for this page only.
  }
}

/**
 * Show presence on a page that shares `fields` with `mobwrite`:
 * `nameInput` (an input; applied on change), optional `colorInput` (an
 * input type=color), `list` (a list element: one item per person, names as
 * text), `note` (says when presence is unavailable). Returns the state, for
 * tests and for pages that want more: { table, overlays, publish }.
 */
export function showPresence(mobwrite, {
  fields, nameInput, colorInput = null, list, note, storage = globalThis.localStorage,
}) {
  const table = new PresenceTable();
  const me = { name: cleanName(stored(storage, NAME_KEY) ?? '') || guestName() };
  const color = stored(storage, COLOR_KEY);
  me.color = COLOR.test(color ?? '') ? color.toLowerCase() : colorFor(me.name);
  store(storage, NAME_KEY, me.name);
  store(storage, COLOR_KEY, me.color);
  nameInput.value = me.name;
  if (colorInput) colorInput.value = me.color;
  const wireName = (field) => mobwrite.idPrefix + (field.dataset.mobwriteName || field.id);
  const overlays = new Map(fields.map((field) => [wireName(field), new CaretOverlay(field)]));
  let lastSent = null;
  // Why the daemon refused our last message, shown until the next rename.
  let refusal = null;

  const send = throttle((message) => {
    if (message !== lastSent && mobwrite.sendPresence(message)) lastSent = message;
  }, PUBLISH_INTERVAL_MS, { now: () => performance.now(), setTimeout: (callback, delay) => setTimeout(callback, delay) });

  /** Publish who we are and the caret of the focused field (others are left out). */
  function publish() {
    const carets = {};
    for (const field of fields) {
      if (document.activeElement === field) carets[wireName(field)] = [field.selectionStart, field.selectionEnd];
    }
    send(presenceMessage({ ...me, carets }));
  }

  function render() {
    const live = mobwrite.transport === 'live';
    const others = live ? table.people(overlays.keys()) : [];
    const items = [[table.self ?? 'self', { ...me, self: true }], ...others].map(([id, entry]) => {
      const item = document.createElement('li');
      item.dataset.id = id;
      const swatch = document.createElement('span');
      swatch.className = 'presence-swatch';
      if (COLOR.test(entry.color)) swatch.style.background = entry.color;
      const label = document.createElement('span');
      label.className = 'presence-name';
      label.textContent = entry.name;
      item.append(swatch, label);
      if (entry.self) {
        item.classList.add('presence-self');
        item.append(' (you)');
      }
      return item;
    });
    list.replaceChildren(...items);
    let state = 'together';
    if (!live) state = 'polling';
    else if (refusal) state = 'refused';
    else if (others.length === 0) state = 'alone';
    note.textContent = state === 'refused' ? `Your presence was refused (${refusal}).` : NOTES[state];
    note.dataset.state = state;
    for (const [name, overlay] of overlays) overlay.set(live ? table.on(name) : []);
  }

  function rename() {
    refusal = null;
    const name = cleanName(nameInput.value);
    if (name) me.name = name;
    nameInput.value = me.name;
    if (colorInput && COLOR.test(colorInput.value)) me.color = colorInput.value.toLowerCase();
    store(storage, NAME_KEY, me.name);
    store(storage, COLOR_KEY, me.color);
    publish();
    render();
  }

  document.addEventListener('mobwrite:presence', (event) => {
    const message = readPresence(event.detail.text);
    if (message?.kind === 'update') table.apply(message.update);
    else if (message?.kind === 'id') table.setSelf(message.id);
    else if (message?.kind === 'error') refusal = message.message.replace(/^error:presence: /, '');
    render();
  });
  let transport = mobwrite.transport;
  document.addEventListener('mobwrite:state', (event) => {
    const { state } = event.detail;
    if (event.detail.transport !== transport) {
      transport = event.detail.transport;
      // A new socket knows nothing of us; a closed one's table is stale.
      table.clear();
      lastSent = null;
      if (transport === 'live') publish();
      render();
    } else if (state === 'synced' && transport === 'live') {
      // Our edits have reached the others: say again where our caret is now, in
      // case they placed it on a text that did not have those edits yet.
      lastSent = null;
      publish();
    }
  });
  nameInput.addEventListener('change', rename);
  colorInput?.addEventListener('change', rename);
  for (const field of fields) {
    for (const type of ['input', 'focus', 'blur', 'select', 'keyup', 'mouseup']) field.addEventListener(type, publish);
  }
  document.addEventListener('selectionchange', publish);
  if (transport === 'live') publish();
  render();
  return { table, overlays, publish };
}
