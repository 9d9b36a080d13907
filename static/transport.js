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
}

/** The form body of a `q` request. */
export function formBody(request) {
  return 'q=' + encodeURIComponent(request);
}

/** POST `q=` with fetch; works same-origin and, with CORS, cross-origin. */
export function fetchTransport(gateway, fetchFunction = globalThis.fetch.bind(globalThis)) {
  return {
    async send(request, { signal, keepalive = false } = {}) {
      let response;
      try {
        response = await fetchFunction(gateway, {
          method: 'POST',
          headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
          body: formBody(request),
          cache: 'no-store',
          signal,
          keepalive,
        });
      } catch (error) {
        throw new TransportError(`gateway unreachable: ${error.message}`);
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
 * maxChars, else buffer fragments named bufferId.
 */
export function jsonpUrls(request, gateway, maxChars, bufferId) {
  const prefix = gateway + '?p=';
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
export function jsonpTransport(gateway, { document, maxChars = 1000, newId }) {
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

    send(request, { signal, rearm = () => {} } = {}) {
      settle('reject', new TransportError('superseded by a new request'));
      return new Promise((resolve, reject) => {
        pending = { resolve, reject, rearm };
        signal?.addEventListener('abort', () => settle('reject', new TransportError('timed out')));
        jsonpUrls(request, gateway, maxChars, newId()).forEach((url, index) => {
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
