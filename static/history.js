// The editor's History view (docs/browser-client.md, "History"): a panel
// with a slider over the document's revisions, the text as it was at the
// chosen one with its change marked, who made it and when, "Restore this
// version" and an Export link. Everything goes through the HTTP API
// (static/revisions.js) with the page's token; a restore reaches this page,
// like every other, by the normal sync, merged with what was typed meanwhile.
// A page whose token lacks the write right keeps "Restore" disabled, with a
// title saying why, rather than offer what the server refuses.

import mobwrite from './mobwrite.js';
import {
  ApiError, HistoryApi, apiRoot, describe, markChange,
} from './revisions.js';
import { hasRight, tokenClaims } from './token.js';

// Revisions listed per call: the slider's labels are fetched a page at a time.
const PAGE = 100;
// While the slider moves, the text is fetched once it rests this long.
const SETTLE_MS = 120;
// A change of the document is followed this long after it (several merge into one look).
const FOLLOW_MS = 300;
// Texts of revisions kept for moving back and forth.
const KEPT_TEXTS = 20;
const MARKS = { inserted: 'ins', deleted: 'del' };
const READ_ONLY_TITLE = 'This page is read-only: its link does not let it restore a version';

function element(tag, properties = {}, ...children) {
  const node = Object.assign(document.createElement(tag), properties);
  node.append(...children);
  return node;
}

/** The panel's elements (built with textContent only: document text is never HTML). */
function buildPanel(name) {
  const slider = element('input', {
    id: 'history-slider', type: 'range', min: '0', max: '0', step: '1', disabled: true,
  });
  const parts = {
    panel: element('aside', { id: 'history', className: 'history', hidden: true }),
    close: element('button', {
      id: 'history-close', type: 'button', className: 'history-close', textContent: 'Close',
    }),
    message: element('p', { id: 'history-message', className: 'history-message' }),
    slider,
    meta: element('p', { id: 'history-meta', className: 'history-meta' }),
    restore: element('button', {
      id: 'history-restore', type: 'button', textContent: 'Restore this version', disabled: true,
    }),
    exported: element('a', { id: 'history-export', textContent: 'Export', download: `${name}.txt` }),
    text: element('pre', { id: 'history-text', className: 'history-text' }),
  };
  parts.message.setAttribute('role', 'status');
  parts.panel.setAttribute('aria-labelledby', 'history-title');
  const label = element('label', { htmlFor: 'history-slider', className: 'visually-hidden', textContent: 'Revision' });
  parts.panel.append(
    element('div', { className: 'history-head' },
      element('h2', { id: 'history-title', textContent: `History of ${name}` }), parts.close),
    parts.message, label, slider, parts.meta,
    element('div', { className: 'history-actions' }, parts.restore, parts.exported),
    parts.text,
  );
  return parts;
}

/** True when the page's token says it may only read (no token: the server decides). */
function readOnlyToken(token) {
  const claims = tokenClaims(token);
  return claims !== null && !hasRight(claims, 'write');
}

/** What to say when a call failed: `doing` names the call ("see this history"). */
function failure(error, doing) {
  if (error instanceof ApiError && error.refused) return `You cannot ${doing}: ${error.message}`;
  if (error instanceof ApiError && error.status === 404) return `No history: ${error.message}`;
  return `Could not ${doing}: ${error.message}`;
}

class HistoryView {
  constructor(name, button, watched) {
    this.name = name;
    this.button = button;
    this.parts = buildPanel(name);
    this.api = null;
    this.base = 0;
    this.head = 0;
    this.meta = new Map();
    this.texts = new Map();
    this.pending = new Set();
    this.settle = null;
    this.follow = null;
    this.readOnly = false;
    const { close, slider, restore, exported } = this.parts;
    button.addEventListener('click', () => (this.parts.panel.hidden ? this.open() : this.close()));
    close.addEventListener('click', () => this.close());
    slider.addEventListener('input', () => this.moved());
    restore.addEventListener('click', () => this.restore());
    exported.addEventListener('click', (event) => this.export(event));
    this.parts.panel.addEventListener('keydown', (event) => {
      if (event.key === 'Escape') {
        this.close();
        button.focus();
      }
    });
    // A change of the text (others' edits arrive as `change`) or an exchange
    // that acknowledged our own typing may be a new revision.
    watched.addEventListener('change', () => this.followSoon());
    document.addEventListener('mobwrite:state', (event) => {
      if (event.detail.state === 'synced') this.followSoon();
    });
  }

  get isOpen() {
    return !this.parts.panel.hidden;
  }

  open() {
    this.api = new HistoryApi(apiRoot(mobwrite.syncGateway, location.href), this.name, {
      token: () => mobwrite.token,
    });
    this.parts.exported.href = this.api.textUrl;
    // Read at each opening: the page's token may have been renewed meanwhile.
    this.readOnly = readOnlyToken(mobwrite.token);
    this.parts.restore.title = this.readOnly ? READ_ONLY_TITLE : '';
    // Below the top bar, whose connection state stays in sight.
    const bar = this.button.closest('header');
    this.parts.panel.style.top = `${bar ? bar.getBoundingClientRect().bottom : 0}px`;
    this.parts.panel.hidden = false;
    this.button.setAttribute('aria-expanded', 'true');
    this.meta.clear();
    this.texts.clear();
    this.refresh(true);
  }

  close() {
    this.parts.panel.hidden = true;
    this.button.setAttribute('aria-expanded', 'false');
    clearTimeout(this.follow);
    clearTimeout(this.settle);
    this.follow = this.settle = null;
  }

  say(message, problem = false) {
    const { message: line } = this.parts;
    line.textContent = message;
    line.classList.toggle('error', problem);
    line.setAttribute('role', problem ? 'alert' : 'status');
  }

  followSoon() {
    if (!this.isOpen || this.follow !== null) return;
    this.follow = setTimeout(() => {
      this.follow = null;
      if (this.isOpen) this.refresh(false);
    }, FOLLOW_MS);
  }

  /** Fetch the newest page: the slider's ends; move to the head when `toHead` or when it was there. */
  async refresh(toHead) {
    const { slider } = this.parts;
    const atHead = slider.disabled || slider.valueAsNumber === this.head;
    let page;
    try {
      page = await this.api.page(null, PAGE);
    } catch (error) {
      this.say(failure(error, "see this document's history"), true);
      slider.disabled = true;
      this.parts.restore.disabled = true;
      this.parts.text.replaceChildren();
      this.parts.meta.textContent = '';
      return;
    }
    this.remember(page.revisions);
    this.base = page.base;
    this.head = page.head;
    slider.min = String(page.base);
    slider.max = String(page.head);
    slider.disabled = page.base === page.head;
    if (toHead || atHead) slider.value = String(page.head);
    // Just opened with the button: the arrow keys move the slider at once.
    if (toHead && !slider.disabled && document.activeElement === this.button) slider.focus();
    if (slider.disabled) {
      this.say(page.head === 0 ? 'No revisions yet.' : 'Only the current text is kept: no earlier revisions.');
    } else if (this.parts.message.classList.contains('error') || toHead) {
      const count = page.head - page.base;
      this.say(`${count} revision${count === 1 ? '' : 's'} kept, ${page.base + 1} to ${page.head}.`);
    }
    this.show(slider.valueAsNumber);
  }

  remember(revisions) {
    for (const revision of revisions) this.meta.set(revision.number, revision);
  }

  moved() {
    const number = this.parts.slider.valueAsNumber;
    this.label(number);
    clearTimeout(this.settle);
    this.settle = setTimeout(() => this.show(number), SETTLE_MS);
    if (!this.meta.has(number) && number > this.base) this.fetchPage(number);
  }

  /** The labels of the page of revisions back from `number`, fetched once. */
  async fetchPage(number) {
    const start = Math.min(number + PAGE / 2, this.head);
    if (this.pending.has(start)) return;
    this.pending.add(start);
    try {
      this.remember((await this.api.page(start, PAGE)).revisions);
      if (this.parts.slider.valueAsNumber === number) this.label(number);
    } catch {
      // The label waits for the revision's own answer, which says what went wrong.
    } finally {
      this.pending.delete(start);
    }
  }

  label(number) {
    const { meta, slider, restore } = this.parts;
    const known = this.meta.get(number);
    const line = known ? describe(known) : `Revision ${number}`;
    meta.textContent = number === this.head ? `${line} (the current text)` : line;
    slider.setAttribute('aria-valuetext', meta.textContent);
    restore.disabled = this.readOnly || number === this.head;
  }

  /** Show the text at revision `number`, its change marked. */
  async show(number) {
    this.label(number);
    let revision = this.texts.get(number);
    if (!revision) {
      try {
        revision = await this.api.revision(number);
      } catch (error) {
        if (this.parts.slider.valueAsNumber === number) this.say(failure(error, 'see this revision'), true);
        return;
      }
      // The head may still grow (the next keystrokes fold into it): only older ones are kept.
      if (number < this.head) this.texts.set(number, revision);
      if (this.texts.size > KEPT_TEXTS) this.texts.delete(this.texts.keys().next().value);
    }
    if (this.parts.slider.valueAsNumber !== number) return; // moved on meanwhile
    if (revision.time !== null) this.meta.set(number, revision);
    this.label(number);
    this.render(revision);
  }

  render(revision) {
    const { text } = this.parts;
    text.dataset.revision = String(revision.number);
    text.replaceChildren(...markChange(revision.text, revision.change).map((piece) => {
      const tag = MARKS[piece.kind];
      return tag ? element(tag, { textContent: piece.text }) : document.createTextNode(piece.text);
    }));
    text.querySelector('ins, del')?.scrollIntoView({ block: 'nearest' });
  }

  async restore() {
    const { slider, restore } = this.parts;
    const number = slider.valueAsNumber;
    restore.disabled = true;
    let answer;
    try {
      answer = await this.api.restore(number);
    } catch (error) {
      this.say(failure(error, 'restore this version'), true);
      restore.disabled = false;
      return;
    }
    // The page gets the text by its own sync (merged with any typing); the slider goes to it.
    await this.refresh(true);
    this.say(`Restored revision ${number} as revision ${answer.revision}.`);
  }

  /** With a token, the download must carry it: fetch the text and save it from here. */
  async export(event) {
    if (!mobwrite.token) return;
    event.preventDefault();
    let blob;
    try {
      blob = await this.api.text();
    } catch (error) {
      this.say(failure(error, 'export this document'), true);
      return;
    }
    const url = URL.createObjectURL(blob);
    const link = element('a', { href: url, download: `${this.name}.txt` });
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(url), 0);
  }
}

/**
 * Give the editor page its History view for document `name`: `button`
 * opens and closes the panel (placed after `after`); `watched` is the
 * shared text element, whose changes may be new revisions.
 */
export function setUpHistory(button, name, watched, after) {
  const view = new HistoryView(name, button, watched);
  button.setAttribute('aria-controls', 'history');
  button.setAttribute('aria-expanded', 'false');
  button.hidden = false;
  after.after(view.parts.panel);
  return view;
}
