// The person's own undo history, moved through other people's changes (issue 14).
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { GROUP_MS, UndoHistory, splice } from '../../static/undo.js';

/** A field whose text changes through the history, as the page's would. */
class Field {
  constructor(text = '') {
    this.text = text;
    this.history = new UndoHistory();
    this.time = 0;
  }

  /** The person types or deletes: replace [start, end) by text. */
  edit(start, end, text, pause = 0) {
    this.time += pause + 10;
    const removed = this.text.slice(start, end);
    this.text = this.text.slice(0, start) + text + this.text.slice(end);
    this.history.record(this.text, start, removed, text, this.time);
  }

  type(at, text, pause = 0) {
    [...text].forEach((character, index) => this.edit(at + index, at + index, character, index ? 0 : pause));
  }

  remote(start, end, text) {
    const removed = this.text.slice(start, end);
    this.text = this.text.slice(0, start) + text + this.text.slice(end);
    this.history.remote(start, removed, text);
  }

  #apply(change) {
    if (change) this.text = this.text.slice(0, change.start) + change.text + this.text.slice(change.end);
    return change !== null;
  }

  undo() {
    return this.#apply(this.history.undo(this.text));
  }

  redo() {
    return this.#apply(this.history.redo(this.text));
  }
}

test('splice finds the one change, ending at the cursor among equal characters', () => {
  assert.deepEqual(splice('abc', 'abXc'), [2, '', 'X']);
  assert.deepEqual(splice('aa', 'aaa', 1), [0, '', 'a']);
  assert.deepEqual(splice('abc', 'ab', 2), [2, 'c', '']);
  assert.deepEqual(splice('hello world', 'hello there', 11), [6, 'world', 'there']);
});

test('typing in one go is one step; a pause starts another', () => {
  const field = new Field();
  field.type(0, 'Hello');
  field.type(5, ' world', GROUP_MS);
  assert.equal(field.undo(), true);
  assert.equal(field.text, 'Hello');
  assert.equal(field.undo(), true);
  assert.equal(field.text, '');
  assert.equal(field.undo(), false);
  field.redo();
  field.redo();
  assert.equal(field.text, 'Hello world');
});

test('undo after a remote edit takes back only the own typing; the other text stays', () => {
  const field = new Field('shared');
  field.type(6, ' mine');
  field.remote(0, 0, 'THEIRS ');
  assert.equal(field.text, 'THEIRS shared mine');
  field.undo();
  assert.equal(field.text, 'THEIRS shared');
  field.remote(0, 0, 'Oh, ');
  field.redo();
  assert.equal(field.text, 'Oh, THEIRS shared mine');
});

test('a step someone else typed into is not undone (their text stays); older steps still are', () => {
  const field = new Field();
  field.type(0, 'one');
  field.type(3, ' two', GROUP_MS);
  field.remote(5, 5, 'X');
  assert.equal(field.text, 'one tXwo');
  assert.equal(field.undo(), false);
  assert.equal(field.text, 'one tXwo');
  field.undo();
  assert.equal(field.text, ' tXwo');
});

test('erasing is grouped and restored in place', () => {
  const field = new Field('abcdef');
  field.edit(5, 6, '', GROUP_MS);
  field.edit(4, 5, '');
  field.edit(3, 4, '');
  assert.equal(field.text, 'abc');
  field.remote(0, 1, '');
  field.undo();
  assert.equal(field.text, 'bcdef');
});

test('backspacing over what was just typed stays in the same step', () => {
  const field = new Field();
  field.type(0, 'Helo');
  field.edit(3, 4, '');
  field.type(3, 'lo');
  assert.equal(field.text, 'Hello');
  field.undo();
  assert.equal(field.text, '');
});

test('an own edit inside an older own edit undoes in order, exactly, around remote text', () => {
  const field = new Field();
  field.type(0, 'hello');
  field.edit(1, 4, 'X', GROUP_MS);
  assert.equal(field.text, 'hXo');
  field.remote(3, 3, ' there');
  field.undo();
  assert.equal(field.text, 'hello there');
  field.undo();
  assert.equal(field.text, ' there');
  field.redo();
  field.redo();
  assert.equal(field.text, 'hXo there');
});

test('an own edit within an older step undoes in order, exactly', () => {
  const field = new Field();
  field.type(0, 'hello');
  field.type(5, ' you', GROUP_MS);
  field.edit(1, 4, 'X', GROUP_MS);
  assert.equal(field.text, 'hXo you');
  field.undo();
  assert.equal(field.text, 'hello you');
  field.undo();
  field.undo();
  assert.equal(field.text, '');
});

test('a new edit clears what could be redone', () => {
  const field = new Field();
  field.type(0, 'abc');
  field.undo();
  field.type(0, 'x', GROUP_MS);
  assert.equal(field.redo(), false);
  assert.equal(field.text, 'x');
});

test('any run of own edits undoes back to the start, and redoes through the same texts', () => {
  let seed = 7;
  const random = (n) => {
    seed = (seed * 1103515245 + 12345) % 2147483648;
    return seed % n;
  };
  for (let run = 0; run < 1000; run++) {
    const field = new Field('seed text');
    const start = field.text;
    for (let step = 0; step < 12; step++) {
      const from = random(field.text.length + 1);
      const to = from + random(Math.min(3, field.text.length - from) + 1);
      field.edit(from, to, 'xyz'.slice(0, random(3)), random(2) * GROUP_MS);
    }
    const texts = [field.text];
    while (field.undo()) texts.push(field.text);
    assert.equal(field.text, start);
    texts.pop();
    while (field.redo()) assert.equal(field.text, texts.pop());
    assert.deepEqual(texts, []);
  }
});
