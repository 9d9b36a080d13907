// Form element handlers (docs/protocol.md §11.9, §11.10): each turns a page
// element into a shared object for the SyncClient (see core.js).

import { applyPatches } from './patching.js';
import { UndoHistory, splice } from './undo.js';

const TEXT_TYPES = new Set(['text', 'password', 'search', 'email', 'url', 'tel']);
const TEXT_NUMBER = /^\s*-?[\d.,]+\s*$/;
const HIDDEN_NUMBER = /^\s*-?[\d.]+\s*$/;

/** What a text field holds, as it goes on the wire: LF line breaks (docs/protocol.md §6.3). */
export function normalizeText(value) {
  return value.replace(/\r\n?/g, '\n');
}

/**
 * The document name of an element: its id, as in the original, unless a
 * `data-mobwrite-name` attribute names it (so pages can keep fixed ids).
 */
export function sharedName(element) {
  return element.dataset?.mobwriteName || element.id;
}

function fireChange(element) {
  element.dispatchEvent(new Event('change', { bubbles: true }));
}

/**
 * One shared element: named after it, null once it has left the page (the
 * core then unshares it). Subclasses read() the text to send.
 */
class SharedElement {
  constructor(element, mergeChanges) {
    this.element = element;
    this.name = sharedName(element);
    this.mergeChanges = mergeChanges;
  }

  getClientText() {
    return this.element.isConnected ? this.read() : null;
  }
}

const HISTORY_INPUT = new Set(['historyUndo', 'historyRedo']);

/**
 * textarea, input text/password (and other one-line text types), with an
 * undo history of the person's own edits that other people's changes do
 * not wipe (setting `value` empties the browser's own).
 */
class TextField extends SharedElement {
  constructor(element) {
    super(element, true);
    this.history = new UndoHistory();
    // The text as last seen: an input event's change is the difference.
    this.seen = normalizeText(element.value);
  }

  /** Listen for the person's edits and undo keys; returns a function that stops. */
  listen() {
    const element = this.element;
    const onInput = (event) => this.#noteInput(event);
    const onKey = (event) => {
      const key = event.key?.toLowerCase();
      if (!(event.ctrlKey || event.metaKey) || event.altKey || (key !== 'z' && key !== 'y')) return;
      event.preventDefault();
      this.#step(key === 'y' || event.shiftKey);
    };
    // Undo and Redo from a menu arrive as beforeinput.
    const onBeforeInput = (event) => {
      if (!HISTORY_INPUT.has(event.inputType)) return;
      event.preventDefault();
      this.#step(event.inputType === 'historyRedo');
    };
    const listeners = [['input', onInput], ['keydown', onKey], ['beforeinput', onBeforeInput]];
    for (const [type, listener] of listeners) element.addEventListener(type, listener);
    return () => {
      for (const [type, listener] of listeners) element.removeEventListener(type, listener);
    };
  }

  #noteInput(event) {
    // Our own undo and redo announce themselves as input too.
    if (HISTORY_INPUT.has(event.inputType)) return;
    const text = normalizeText(this.element.value);
    if (text === this.seen) return;
    const [start, removed, inserted] = splice(this.seen, text, this.#selection().offsets[1]);
    this.history.record(text, start, removed, inserted, event.timeStamp);
    this.seen = text;
  }

  /** Undo (or redo) the person's last step, and tell the page as an edit. */
  #step(redo) {
    const element = this.element;
    const text = normalizeText(element.value);
    const change = redo ? this.history.redo(text) : this.history.undo(text);
    if (!change) return;
    try {
      element.setRangeText(change.text, change.start, change.end, 'end');
    } catch {
      // No selection API on this input type (email): set the whole value.
      element.value = text.slice(0, change.start) + change.text + text.slice(change.end);
    }
    this.seen = normalizeText(element.value);
    element.dispatchEvent(new InputEvent('input', { bubbles: true, inputType: redo ? 'historyRedo' : 'historyUndo' }));
  }

  read() {
    const text = normalizeText(this.element.value);
    if (this.element.type === 'password') this.mergeChanges = false;
    else if (this.element.localName === 'input') this.mergeChanges = !TEXT_NUMBER.test(text);
    return text;
  }

  setClientText(text) {
    this.#write(text, null);
  }

  patchClientText(patches, dmp) {
    const live = this.getClientText();
    if (live === null) return;
    const { text, offsets } = applyPatches(dmp, patches, live, this.#selection().offsets);
    this.#write(text, offsets);
  }

  #selection() {
    const element = this.element;
    try {
      return {
        offsets: [element.selectionStart ?? 0, element.selectionEnd ?? 0],
        direction: element.selectionDirection ?? 'none',
      };
    } catch {
      // Some input types (email) have no selection API.
      return { offsets: [0, 0], direction: 'none' };
    }
  }

  /**
   * Write text if it differs, keeping focus, scroll and the selection
   * (moved to `offsets` when the caller tracked them, else clamped).
   */
  #write(text, offsets) {
    const element = this.element;
    if (normalizeText(element.value) === text) return;
    const focused = element.ownerDocument.activeElement === element;
    const selection = this.#selection();
    const { scrollTop, scrollLeft } = element;
    // Not the person's edit: their steps move past it rather than take it in.
    this.history.remote(...splice(this.seen, text));
    this.seen = text;
    element.value = text;
    if (focused) {
      const [start, end] = offsets ?? selection.offsets.map((offset) => Math.min(offset, text.length));
      try {
        element.setSelectionRange(start, end, selection.direction);
      } catch {
        // No selection API on this input type: nothing to restore.
      }
    }
    element.scrollTop = scrollTop;
    element.scrollLeft = scrollLeft;
    fireChange(element);
  }
}

/** input type=hidden: overwrite when it holds a number; no change event. */
class HiddenField extends SharedElement {
  constructor(element) {
    super(element, true);
  }

  read() {
    const text = this.element.value;
    this.mergeChanges = !HIDDEN_NUMBER.test(text);
    return text;
  }

  setClientText(text) {
    this.element.value = text;
  }
}

/** input type=checkbox: its value when checked, "" when not; overwrite. */
class Checkbox extends SharedElement {
  constructor(element) {
    super(element, false);
  }

  #value() {
    return this.element.value || 'on';
  }

  read() {
    return this.element.checked ? this.#value() : '';
  }

  setClientText(text) {
    const checked = text === this.#value();
    if (this.element.checked === checked) return;
    this.element.checked = checked;
    fireChange(this.element);
  }
}

/** A radio group, named after the first button shared; overwrite. */
class RadioGroup extends SharedElement {
  constructor(element) {
    super(element, false);
  }

  buttons() {
    const { form, name } = this.element;
    const root = this.element.ownerDocument;
    return [...root.querySelectorAll('input[type=radio]')]
      .filter((button) => button.name === name && button.form === form);
  }

  read() {
    const checked = this.buttons().find((button) => button.checked);
    return checked ? checked.value : '';
  }

  setClientText(text) {
    for (const button of this.buttons()) {
      const checked = button.value === text;
      if (button.checked !== checked) {
        button.checked = checked;
        fireChange(button);
      }
    }
  }
}

/** select-one (overwrite) and select-multiple (values joined by NUL; merge). */
class Select extends SharedElement {
  constructor(element) {
    super(element, element.type === 'select-multiple');
    this.multiple = this.mergeChanges;
  }

  read() {
    const selected = [...this.element.options].filter((option) => option.selected);
    return selected.map((option) => option.value).join('\0');
  }

  setClientText(text) {
    const wanted = '\0' + text + '\0';
    let changed = false;
    for (const option of this.element.options) {
      const selected = this.multiple ? wanted.includes('\0' + option.value + '\0') : option.value === text;
      if (option.selected !== selected) {
        option.selected = selected;
        changed = true;
      }
    }
    if (changed) fireChange(this.element);
  }
}

/**
 * The shared objects for one element (a form yields one per element),
 * in the original's handler order: form, hidden, checkbox, select, radio,
 * text. `radioGroups` maps (form, name) groups already shared.
 */
export function sharedObjectsFor(element, radioGroups) {
  const tag = element.localName;
  if (tag === 'form') {
    return [...element.elements].filter((child) => sharedName(child))
      .flatMap((child) => sharedObjectsFor(child, radioGroups));
  }
  if (!sharedName(element)) return [];
  if (tag === 'textarea') return [new TextField(element)];
  if (tag === 'select') return [new Select(element)];
  if (tag !== 'input') return [];
  const type = element.type;
  if (type === 'hidden') return [new HiddenField(element)];
  if (type === 'checkbox') return [new Checkbox(element)];
  if (type === 'radio') {
    const groups = radioGroups.get(element.form) ?? new Map();
    radioGroups.set(element.form, groups);
    if (groups.has(element.name)) return [];
    const group = new RadioGroup(element);
    groups.set(element.name, group);
    return [group];
  }
  if (TEXT_TYPES.has(type)) return [new TextField(element)];
  return [];
}
