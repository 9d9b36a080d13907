// Text encoding and deltas on the wire (docs/protocol.md §5, §6.1, §15.2).
//
// Our own codec: the library's diff_toDelta/diff_fromDelta use encodeURI,
// which throws on a lone surrogate, and decode leniently. Lengths are UTF-16
// code units (JavaScript string lengths), never splitting a surrogate pair.

import { DIFF_DELETE, DIFF_EQUAL, DIFF_INSERT } from './vendor/diff-match-patch.mjs';

export { DIFF_DELETE, DIFF_EQUAL, DIFF_INSERT };

export class DeltaError extends Error {}

// The 83 characters that travel unescaped: encodeURI's set plus the space.
const SAFE = /^[A-Za-z0-9\-_.!~*'();/?:@&=+$,# ]*$/;
const SAFE_BYTE = new Uint8Array(128);
for (const c of "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.!~*'();/?:@&=+$,# ") {
  SAFE_BYTE[c.charCodeAt(0)] = 1;
}
const HEX = '0123456789ABCDEF';
const utf8 = new TextEncoder();
const strictUtf8 = new TextDecoder('utf-8', { fatal: true });
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;

/** Replace each unpaired surrogate by U+FFFD (same length, always encodable). */
export function scrubSurrogates(text) {
  return text.replace(LONE_SURROGATE, '\uFFFD');
}

/** Percent-encode text as every MobWrite peer does (docs/protocol.md §6.1); never throws. */
export function encodeText(text) {
  if (SAFE.test(text)) return text;
  let out = '';
  for (const byte of utf8.encode(text)) {
    out += byte < 128 && SAFE_BYTE[byte]
      ? String.fromCharCode(byte)
      : '%' + HEX[byte >> 4] + HEX[byte & 15];
  }
  return out;
}

// Runs of %XX escapes; a lone '%' is matched separately so strict decoding can refuse it.
const ESCAPES = /(?:%[0-9A-Fa-f]{2})+|%/g;

function unescapeRun(run) {
  const bytes = new Uint8Array(run.length / 3);
  for (let i = 0; i < bytes.length; i++) {
    bytes[i] = parseInt(run.substr(3 * i + 1, 2), 16);
  }
  try {
    return strictUtf8.decode(bytes);
  } catch {
    throw new DeltaError('escaped bytes are not UTF-8');
  }
}

/** Decode a delta insertion: every '%' must start an escape, bytes must be UTF-8. */
export function decodeText(encoded) {
  if (!encoded.includes('%')) return encoded;
  return encoded.replace(ESCAPES, (run) => {
    if (run === '%') throw new DeltaError("a '%' is not followed by two hex digits");
    return unescapeRun(run);
  });
}

/** Decode a raw payload: a stray '%' stays literal, as the original did (docs/protocol.md §6.2). */
export function decodeRaw(encoded) {
  if (!encoded.includes('%')) return encoded;
  return encoded.replace(ESCAPES, (run) => (run === '%' ? run : unescapeRun(run)));
}

/** True when offset falls between the two halves of a surrogate pair. */
function splitsPair(text, offset) {
  if (offset <= 0 || offset >= text.length) return false;
  const before = text.charCodeAt(offset - 1);
  const after = text.charCodeAt(offset);
  return before >= 0xd800 && before <= 0xdbff && after >= 0xdc00 && after <= 0xdfff;
}

/** Encode diffs as a delta: TAB-separated =N, -N, +text (docs/protocol.md §5). */
export function toDelta(diffs) {
  const tokens = [];
  for (const [op, text] of diffs) {
    if (op === DIFF_INSERT) tokens.push('+' + encodeText(text));
    else if (op === DIFF_DELETE) tokens.push('-' + text.length);
    else tokens.push('=' + text.length);
  }
  return tokens.join('\t');
}

const LENGTH = /^[0-9]{1,15}$/;

/**
 * Decode a delta against base, validating every token; throws DeltaError
 * when a token is malformed, a length splits a surrogate pair, or the
 * lengths do not add up to the base text (the checksum).
 */
export function fromDelta(base, delta) {
  const diffs = [];
  let pointer = 0;
  for (const token of delta.split('\t')) {
    if (!token) continue;
    const op = token[0];
    const value = token.slice(1);
    if (op === '+') {
      diffs.push([DIFF_INSERT, decodeText(value)]);
    } else if (op === '=' || op === '-') {
      if (!LENGTH.test(value)) throw new DeltaError(`bad length ${JSON.stringify(value.slice(0, 20))}`);
      const end = pointer + Number(value);
      if (end > base.length) throw new DeltaError('the delta is longer than the base text');
      if (splitsPair(base, end)) throw new DeltaError('a length splits a surrogate pair');
      diffs.push([op === '=' ? DIFF_EQUAL : DIFF_DELETE, base.slice(pointer, end)]);
      pointer = end;
    } else {
      throw new DeltaError(`unknown operation ${JSON.stringify(op)}`);
    }
  }
  if (pointer !== base.length) {
    throw new DeltaError(`the delta covers ${pointer} units, the base text has ${base.length}`);
  }
  return diffs;
}

/** The text a diff produces (its equalities and insertions). */
export function resultText(diffs) {
  let text = '';
  for (const [op, part] of diffs) if (op !== DIFF_DELETE) text += part;
  return text;
}

/** True when diffs changes nothing. */
export function isNoOp(diffs) {
  return diffs.every(([op]) => op === DIFF_EQUAL);
}
