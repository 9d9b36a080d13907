// Other people's carets and selections drawn over a text field (docs/websocket.md,
// "What a page must do"). An overlay beside the field holds a hidden mirror of
// its text, laid out with the same font, padding, width and scroll, so that a
// Range in the mirror measures where an offset is; the field's value and undo
// history are never touched. Between two updates the offsets move with every
// edit of the field (the person's typing, or a merged remote change), so each
// caret stays on its character.
//
// Offsets are UTF-16 code units, as the field's own selection is.

import { createDmp, mapOffsets } from './patching.js';
import { COLOR } from './presence.js';

// The field's styles that decide where its text falls.
const COPIED = [
  'fontFamily', 'fontSize', 'fontWeight', 'fontStyle', 'fontVariant', 'fontStretch', 'fontKerning',
  'fontFeatureSettings', 'lineHeight', 'letterSpacing', 'wordSpacing', 'textIndent', 'textTransform',
  'textAlign', 'tabSize', 'direction', 'overflowWrap', 'wordBreak',
  'paddingTop', 'paddingRight', 'paddingBottom', 'paddingLeft',
];

function element(tag, className) {
  const made = document.createElement(tag);
  made.className = className;
  return made;
}

/** The carets of the people on one field, drawn over it. */
export class CaretOverlay {
  /** field: a textarea (or a one-line text input) already on the page. */
  constructor(field, dmp = createDmp()) {
    this.field = field;
    this.dmp = dmp;
    this.seen = field.value;
    // id → { name, color, caret: [start, end] } in offsets of this.seen.
    this.people = new Map();
    this.overlay = element('div', 'presence-overlay');
    this.overlay.setAttribute('aria-hidden', 'true');
    // Placed from the containing block's corner (see draw()), never where it would flow.
    Object.assign(this.overlay.style, { left: '0px', top: '0px' });
    this.mirror = element('div', 'presence-mirror');
    this.text = document.createTextNode('');
    this.mirror.append(this.text);
    this.marks = element('div', 'presence-marks');
    this.overlay.append(this.mirror, this.marks);
    field.after(this.overlay);
    const draw = () => this.draw();
    field.addEventListener('input', () => this.#follow());
    field.addEventListener('change', () => this.#follow());
    field.addEventListener('scroll', draw);
    new ResizeObserver(draw).observe(field);
    addEventListener('resize', draw);
  }

  /**
   * Show these people: [id, { name, color, caret }] pairs, the caret in offsets of
   * the field's text now. The entries are kept, not copied: their carets are moved
   * along with each edit, so the same entries given again are still in place.
   */
  set(people) {
    this.seen = this.field.value;
    this.people = new Map();
    for (const [id, entry] of people) {
      if (!COLOR.test(entry.color) || !entry.caret) continue;
      entry.caret = entry.caret.map((offset) => Math.min(offset, this.seen.length));
      this.people.set(id, entry);
    }
    this.draw();
  }

  /** The field's text changed: move every caret through the change. */
  #follow() {
    const text = this.field.value;
    if (text === this.seen) return;
    if (this.people.size) {
      const diffs = this.dmp.diff_main(this.seen, text, false);
      for (const entry of this.people.values()) entry.caret = mapOffsets(diffs, entry.caret);
    }
    this.seen = text;
    this.draw();
  }

  /** Lay the mirror over the field as it is now, and draw the carets from scratch. */
  draw() {
    const { field, overlay, mirror, marks } = this;
    this.marks.replaceChildren();
    overlay.hidden = this.people.size === 0 || !field.isConnected || field.hidden;
    if (overlay.hidden) return;
    const fieldBox = field.getBoundingClientRect();
    const box = overlay.getBoundingClientRect();
    overlay.style.left = `${fieldBox.left - box.left + parseFloat(overlay.style.left)}px`;
    overlay.style.top = `${fieldBox.top - box.top + parseFloat(overlay.style.top)}px`;
    overlay.style.width = `${fieldBox.width}px`;
    overlay.style.height = `${fieldBox.height}px`;
    const style = getComputedStyle(field);
    for (const property of COPIED) mirror.style[property] = style[property];
    const oneLine = field.localName === 'input';
    mirror.style.whiteSpace = oneLine ? 'pre' : 'pre-wrap';
    // The marks are clipped to the field's inside, as its text is.
    for (const layer of [mirror, marks]) {
      layer.style.left = `${field.clientLeft}px`;
      layer.style.top = `${field.clientTop}px`;
      layer.style.width = `${field.clientWidth}px`;
      layer.style.height = `${field.clientHeight}px`;
    }
    if (oneLine) {
      // An input centres its one line; a line as tall as its content box does the same.
      mirror.style.lineHeight = `${field.clientHeight - parseFloat(style.paddingTop) - parseFloat(style.paddingBottom)}px`;
    }
    // A last empty line still has a height: the zero-width space holds it.
    const shown = `${this.seen}\u200b`;
    if (this.text.data !== shown) this.text.data = shown;
    mirror.scrollTop = field.scrollTop;
    mirror.scrollLeft = field.scrollLeft;
    const origin = marks.getBoundingClientRect();
    for (const [id, entry] of this.people) this.#drawOne(id, entry, origin);
  }

  #drawOne(id, { name, color, caret }, origin) {
    const [start, end] = [Math.min(...caret), Math.max(...caret)];
    const range = document.createRange();
    if (start !== end) {
      range.setStart(this.text, start);
      range.setEnd(this.text, end);
      for (const rect of range.getClientRects()) {
        const shade = element('div', 'presence-selection');
        Object.assign(shade.style, {
          left: `${rect.left - origin.left}px`, top: `${rect.top - origin.top}px`,
          width: `${rect.width}px`, height: `${rect.height}px`, background: color,
        });
        shade.dataset.id = id;
        this.marks.append(shade);
      }
    }
    // The caret is where the selection's moving end is: its second offset.
    const at = caret[1];
    range.setStart(this.text, at);
    range.setEnd(this.text, at);
    const rect = range.getClientRects()[0] ?? range.getBoundingClientRect();
    const mark = element('div', 'presence-caret');
    Object.assign(mark.style, {
      left: `${rect.left - origin.left}px`, top: `${rect.top - origin.top}px`,
      height: `${rect.height}px`, background: color,
    });
    mark.dataset.id = id;
    mark.dataset.offset = String(at);
    const label = element('span', 'presence-label');
    label.textContent = name;
    label.style.background = color;
    mark.append(label);
    this.marks.append(mark);
  }
}
