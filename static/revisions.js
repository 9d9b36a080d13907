// A document's history through the HTTP API (docs/api.md, docs/history.md),
// without the DOM: the calls the History view makes, with the page's token
// as the bearer, and a revision's change cut into marked pieces of its text.

/** The API's root (`/api/v1/`) on the gateway that `gateway` names, resolved against `page`. */
export function apiRoot(gateway, page) {
  return new URL('/api/v1/', new URL(gateway, page)).href;
}

/** A call the API refused (its status and its one-line reason), or one that never got an answer. */
export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.name = 'ApiError';
    /** The HTTP status, or 0 when the server could not be reached. */
    this.status = status;
  }

  /** True when the token lacks the right (401: no or a bad token; 403: not allowed). */
  get refused() {
    return this.status === 401 || this.status === 403;
  }
}

/**
 * The history calls for one document. `token()` gives the bearer token now
 * (null for none); `fetchImpl` is `fetch` (another for tests).
 */
export class HistoryApi {
  constructor(root, name, { token = () => null, fetchImpl = globalThis.fetch } = {}) {
    this.document = `${root}documents/${encodeURIComponent(name)}`;
    this.token = token;
    // Called unbound: fetch refuses any receiver but the window.
    this.fetch = (...args) => fetchImpl(...args);
  }

  /** Where the current text downloads as a file (the Export link). */
  get textUrl() {
    return `${this.document}/text`;
  }

  /**
   * Up to `limit` revisions, newest first, back from number `start` (from
   * the head when null): `{base, head, revisions}`.
   */
  async page(start = null, limit = 100) {
    const query = new URLSearchParams({ order: 'newest', limit: String(limit) });
    if (start !== null) query.set('start', String(start));
    return this.#json('GET', `/revisions?${query}`);
  }

  /** Revision `number` with its text: `{number, time, author, kind, change, text}` (nulls at the base). */
  async revision(number) {
    return this.#json('GET', `/revisions/${number}`);
  }

  /** Put revision `number`'s text back as a new revision; the document after it. */
  async restore(number) {
    return this.#json('POST', `/revisions/${number}/restore`);
  }

  /** The current text as a Blob (the download, sent with the token). */
  async text() {
    const response = await this.#send('GET', '/text');
    return response.blob();
  }

  async #json(method, path) {
    const response = await this.#send(method, path);
    return response.json();
  }

  async #send(method, path) {
    const headers = {};
    const token = this.token();
    if (token) headers.Authorization = `Bearer ${token}`;
    let response;
    try {
      response = await this.fetch(this.document + path, { method, headers, cache: 'no-store' });
    } catch (error) {
      throw new ApiError(0, `the server could not be reached (${error.message})`);
    }
    if (!response.ok) throw new ApiError(response.status, await reason(response));
    return response;
  }
}

/** The `{"error": ...}` of a refusal, else its status line. */
async function reason(response) {
  try {
    const body = await response.json();
    if (typeof body?.error === 'string' && body.error) return body.error;
  } catch {
    // Not the API's JSON (a proxy's page, say): the status says enough.
  }
  return `the server answered ${response.status} ${response.statusText}`.trim();
}

/**
 * The text at a revision cut into pieces `{kind, text}` for display, in
 * order: `same` (unchanged), `inserted` (what the revision added, in the
 * text) and `deleted` (what it removed, shown where it was). `change` is
 * the revision's edits `[position, deleted, inserted]`, positions in
 * UTF-16 units of the text before it (docs/history.md); null (the base
 * revision) marks nothing. Edits that do not fit the text mark nothing
 * rather than mark the wrong place.
 */
export function markChange(text, change) {
  if (!Array.isArray(change) || change.length === 0) return text ? [{ kind: 'same', text }] : [];
  const pieces = [];
  let cursor = 0;
  let shift = 0;
  for (const [position, deleted, inserted] of change) {
    const start = position + shift;
    if (start < cursor || text.slice(start, start + inserted.length) !== inserted) {
      return text ? [{ kind: 'same', text }] : [];
    }
    if (start > cursor) pieces.push({ kind: 'same', text: text.slice(cursor, start) });
    if (deleted) pieces.push({ kind: 'deleted', text: deleted });
    if (inserted) pieces.push({ kind: 'inserted', text: inserted });
    cursor = start + inserted.length;
    shift += inserted.length - deleted.length;
  }
  if (cursor < text.length) pieces.push({ kind: 'same', text: text.slice(cursor) });
  return pieces;
}

/** One line about a revision: who made it, when, what kind, how much it changed. */
export function describe(revision, locale = undefined) {
  if (revision.time === null || revision.time === undefined) {
    return `Revision ${revision.number}: the oldest text kept`;
  }
  const when = new Date(revision.time * 1000).toLocaleString(locale);
  const kind = { edit: '', restore: ' (restored)', force: ' (overwritten)' }[revision.kind] ?? '';
  return `Revision ${revision.number}${kind} by ${revision.author}, ${when}: `
    + `+${revision.inserted} −${revision.deleted}`;
}
