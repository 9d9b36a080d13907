// Getting a request to the gateway and its answer back (docs/protocol.md §2.3, §11.5).
//
// A transport is an object with send(request, options) -> Promise<string>
// resolving with the response text (ending in a blank line when complete)
// and rejecting with a TransportError. options: { signal, keepalive, rearm }.

export class TransportError extends Error {
  constructor(message, status = 0) {
    super(message);
    this.status = status;
  }

  /** True for the gateway's 403: access control refused the request (the message says why). */
  get denied() {
    return this.status === 403;
  }
}

/** The form body of a `q` request. */
export function formBody(request) {
  return 'q=' + encodeURIComponent(request);
}

/** POST `q=` with fetch; works same-origin and, with CORS, cross-origin. A token goes in `Authorization: Bearer`. */
export function fetchTransport(gateway, fetchFunction = globalThis.fetch.bind(globalThis), token = null) {
  const headers = { 'Content-Type': 'application/x-www-form-urlencoded' };
  if (token) headers.Authorization = `Bearer ${token}`;
  return {
    async send(request, { signal, keepalive = false } = {}) {
      let response;
      try {
        response = await fetchFunction(gateway, {
          method: 'POST',
          headers,
          body: formBody(request),
          cache: 'no-store',
          signal,
          keepalive,
        });
      } catch (error) {
        throw new TransportError(`gateway unreachable: ${error.message}`);
      }
      if (response.status === 403) {
        // The gateway's one line: "forbidden: <why>; nothing was done".
        const reason = (await response.text().catch(() => '')).split('\n')[0];
        throw new TransportError(reason || 'forbidden', 403);
      }
      if (response.status !== 200) {
        throw new TransportError(`gateway answered ${response.status}`, response.status);
      }
      return response.text();
    },
  };
}

/**
 * The GET URLs carrying request as JSONP (docs/protocol.md §11.5): one URL when it fits in
 * maxChars, else buffer fragments named bufferId. A token goes in a `token` field.
 */
export function jsonpUrls(request, gateway, maxChars, bufferId, token = null) {
  const prefix = gateway + (token ? `?token=${encodeURIComponent(token)}&p=` : '?p=');
  const encoded = encodeURIComponent(request);
  const single = encoded.replace(/%20/g, '+');
  if (single.length <= maxChars - prefix.length) return [prefix + single];
  // Fragments are form-decoded by the gateway and percent-decoded again by
  // the buffer code, hence the second layer.
  const twice = encodeURIComponent(encoded);
  let minimum = 0;
  for (;;) {
    const digits = minimum ? String(minimum).length : 1;
    const overhead = (prefix + 'b%3A' + bufferId + '+++' + '%0A%0A').length + 2 * digits;
    const blockLength = Math.max(maxChars - overhead, 3);
    const count = Math.max(Math.ceil(twice.length / blockLength), minimum);
    if (String(count).length > digits) {
      // The original let the URLs overshoot here; recount with room for the digits.
      minimum = count;
      continue;
    }
    const urls = [];
    let position = 0;
    for (let x = 1; x <= count; x++) {
      let piece = twice.substr(position, blockLength);
      const escape = piece.indexOf('%', piece.length - 2);
      if (escape !== -1 && position + blockLength < twice.length) piece = piece.slice(0, escape);
      position += piece.length;
      urls.push(`${prefix}b%3A${bufferId}+${count}+${x}+${piece}%0A%0A`);
    }
    if (position >= twice.length) return urls;
    minimum = count + 1;
  }
}

/**
 * JSONP over script elements, for gateways of the original kind that answer
 * `mobwrite.callback("...")`. The page must route that global callback to
 * this transport's callback().
 */
export function jsonpTransport(gateway, {
  document, maxChars = 1000, newId, token = null,
}) {
  let pending = null;
  let scripts = [];

  function removeScripts() {
    for (const script of scripts) script.remove();
    scripts = [];
  }

  function settle(action, value) {
    if (!pending) return;
    const { resolve, reject } = pending;
    pending = null;
    removeScripts();
    (action === 'resolve' ? resolve : reject)(value);
  }

  return {
    gateway,
    maxChars,
    token,

    send(request, { signal, rearm = () => {} } = {}) {
      settle('reject', new TransportError('superseded by a new request'));
      return new Promise((resolve, reject) => {
        pending = { resolve, reject, rearm };
        signal?.addEventListener('abort', () => settle('reject', new TransportError('timed out')));
        jsonpUrls(request, gateway, maxChars, newId(), token).forEach((url, index) => {
          const script = document.createElement('script');
          script.id = `mobwrite_sync${index}`;
          script.src = url;
          script.onerror = () => settle('reject', new TransportError('gateway unreachable'));
          document.getElementById(script.id)?.remove();
          scripts.push(script);
          document.head.appendChild(script);
        });
      });
    },

    /** mobwrite.callback: "" acknowledges a buffer fragment, else the answer. */
    callback(text) {
      if (!pending) return;
      if (text === '') pending.rearm();
      else settle('resolve', text + '\n');
    },
  };
}

/**
 * The daemon's socket URL beside gateway (docs/websocket.md): http(s) becomes ws(s), path /ws,
 * and a token goes in its query (`?token=`).
 */
export function socketUrl(gateway, base, token = null) {
  const url = new URL('/ws', new URL(gateway, base));
  url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
  if (token) url.search = new URLSearchParams({ token }).toString();
  return url.href;
}

/** Delay before socket attempt number `failures` (1, 2, ...): 1 s doubling to 60 s, less up to half by chance. */
export function socketDelay(failures, random = Math.random) {
  const delay = Math.min(1000 * 2 ** Math.min(failures - 1, 6), 60000);
  return delay * (1 - random() / 2);
}

/**
 * What a socket message says: an answer, an error in place of one, a notice naming
 * documents, or presence (never an answer: docs/websocket.md, "Presence").
 */
export function readMessage(text) {
  if (/^!(presence:|presence-id:|error:presence:)/.test(text)) return { kind: 'presence', text };
  if (text.startsWith('!changed:')) {
    const names = text.split('\n').filter((line) => line.startsWith('!changed:'));
    return { kind: 'notice', names: names.map((line) => line.slice('!changed:'.length)) };
  }
  if (text.startsWith('!error:')) {
    const line = text.split('\n')[0];
    // `!error:403 <why>`: access control refused the request, as the gateway's 403 does.
    const refused = line.match(/^!error:403 (.*)$/);
    if (refused) return { kind: 'error', message: refused[1] || 'forbidden', status: 403 };
    return { kind: 'error', message: line.slice(1), status: 0 };
  }
  return { kind: 'answer', text };
}

/**
 * A transport that sends on the daemon's WebSocket while it is open and on
 * `fallback` (the polling transport) otherwise; it opens the socket at the
 * first send and again after each drop, with backoff.
 *
 * url() gives the socket URL (null: no socket); WebSocket is the class;
 * timers has setTimeout and clearTimeout; onNotice(names) hears each
 * `!changed:` notice, onPresence(text) each presence message, onMode(mode)
 * every change between 'live' (socket open) and 'polling'.
 */
export function preferSocket(fallback, {
  url, WebSocket = globalThis.WebSocket, timers = globalThis, random = Math.random,
  onNotice = () => {}, onPresence = () => {}, onMode = () => {}, log = () => {},
}) {
  let socket = null;
  // The URL the socket was opened with: a new one (a new token) replaces the socket.
  let address = null;
  let open = false;
  let failures = 0;
  let retry = null;
  // The request waiting for its answer on the socket: { request, options, resolve, reject }.
  let waiting = null;
  let fallbackFailed = false;

  function stop() {
    if (retry !== null) timers.clearTimeout(retry);
    retry = null;
    const current = socket;
    socket = null;
    if (open) onMode('polling');
    open = false;
    current?.close(1000);
  }

  function connect() {
    retry = null;
    address = WebSocket ? url() : null;
    if (!address) return;
    try {
      socket = new WebSocket(address);
    } catch (error) {
      log(`no socket (${error.message})`);
      socket = null;
      later();
      return;
    }
    const current = socket;
    current.addEventListener('open', () => {
      if (current !== socket) return;
      open = true;
      failures = 0;
      log('socket open');
      onMode('live');
    });
    current.addEventListener('message', (event) => {
      if (current === socket) receive(event.data);
    });
    current.addEventListener('close', (event) => {
      if (current === socket) dropped(`socket closed (${event.code})`);
    });
  }

  function later() {
    failures += 1;
    const delay = socketDelay(failures, random);
    log(`socket again in ${Math.round(delay)} ms`);
    retry = timers.setTimeout(connect, delay);
  }

  function dropped(reason) {
    const wasOpen = open;
    socket = null;
    open = false;
    log(reason);
    if (wasOpen) onMode('polling');
    if (waiting) {
      // Unanswered: send it again by polling (the edit stack makes that safe).
      const { request, resolve, reject, options } = waiting;
      waiting = null;
      sendPolling(request, options).then(resolve, reject);
    }
    later();
  }

  function receive(data) {
    const message = readMessage(String(data));
    if (message.kind === 'notice') {
      onNotice(message.names);
      return;
    }
    if (message.kind === 'presence') {
      onPresence(message.text);
      return;
    }
    if (!waiting) return;
    const { resolve, reject } = waiting;
    waiting = null;
    if (message.kind === 'answer') resolve(message.text);
    else reject(new TransportError(message.message, message.status));
  }

  function sendOnSocket(request, options) {
    return new Promise((resolve, reject) => {
      const entry = { request, options, resolve, reject };
      waiting = entry;
      options.signal?.addEventListener('abort', () => {
        if (waiting !== entry) return;
        waiting = null;
        reject(new TransportError('timed out'));
        // An answer arriving now would be taken for the next request's: start afresh.
        const stale = socket;
        dropped('socket gave no answer in time');
        stale.close(1000);
      });
      socket.send(request);
    });
  }

  async function sendPolling(request, options) {
    try {
      const text = await fallback.send(request, options);
      // The gateway answers again after failing: the daemon may be back, so may its socket.
      if (fallbackFailed && retry !== null && !options.keepalive) {
        timers.clearTimeout(retry);
        connect();
      }
      fallbackFailed = false;
      return text;
    } catch (error) {
      fallbackFailed = true;
      throw error;
    }
  }

  return {
    /** 'live' while the socket is open, else 'polling'. */
    get mode() {
      return open ? 'live' : 'polling';
    },

    /** Send a message that gets no answer (presence) if the socket is open; false if not. */
    tell(text) {
      if (!open) return false;
      socket.send(text);
      return true;
    },

    send(request, options = {}) {
      // A page that turns the socket off (its URL becomes null) polls from now on;
      // a new URL (such as a new token) closes the socket and opens one there.
      const wanted = WebSocket ? url() : null;
      if (!wanted || (socket !== null && wanted !== address)) stop();
      if (wanted && socket === null && retry === null) connect();
      if (open && !waiting && !options.keepalive) return sendOnSocket(request, options);
      return sendPolling(request, options);
    },
  };
}
