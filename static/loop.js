// The sync loop: timing, watchdog, retries and connection state
// (docs/protocol.md §11.5-11.8). No DOM: timers and the transport are passed in.
//
// States: 'synced', 'syncing', 'offline' (the last exchange failed; the
// next try is at retryAt), 'full' (the server refused an edit as too
// long; the page keeps it and every sync offers it again), 'no-room' (the
// same, but the server is out of memory or disk) and 'denied' (the
// gateway refused the token with 403; `denial` says why; the loop stops
// until resume(), edits stay on the page and in its saved state).
// A transport with `mode === 'live'` (a socket that pushes notices) makes
// the quiet interval liveSyncInterval and sends typing at once; its notices
// call schedule(0).

// States in which the server refused the page's edit: a retry keeps them until one is taken.
const REFUSED = ['full', 'no-room'];

const browserTimers = {
  setTimeout: (callback, delay) => globalThis.setTimeout(callback, delay),
  clearTimeout: (handle) => globalThis.clearTimeout(handle),
  now: () => globalThis.performance.now(),
};

/** Delay before retry number `failures` (1, 2, ...): doubling from the minimum interval. */
export function retryDelay(failures, settings) {
  const delay = settings.minSyncInterval * 2 ** Math.min(failures - 1, 16);
  return Math.min(delay, settings.maxRetryInterval);
}

export class SyncLoop {
  /**
   * client: a SyncClient; transport: see transport.js; timers: an object
   * with setTimeout, clearTimeout and now() in ms; onState(state) hears
   * every state change.
   */
  constructor({
    client, transport, timers = browserTimers, onState = () => {}, onExchange = () => {}, log = () => {},
  }) {
    this.client = client;
    this.transport = transport;
    this.timers = timers;
    this.requested = null;
    this.applying = false;
    this.onState = onState;
    // Called after every exchange, answered or not (the page saves its state then).
    this.onExchange = onExchange;
    this.log = log;
    // No request is built before this settles (the page restoring saved state).
    this.ready = Promise.resolve();
    this.held = false;
    // When the next try after a failure is due (timers.now() time), or null.
    this.retryAt = null;
    this.state = 'synced';
    // A local edit arrived after the request in flight was built.
    this.editedSinceSend = false;
    this.failures = 0;
    // The gateway's reason while the state is 'denied', else null.
    this.denial = null;
    this.inFlight = null;
    this.timer = null;
    this.watchdog = null;
  }

  #setState(state) {
    if (state === this.state) return;
    this.state = state;
    this.onState(state);
  }

  /** Build no request until `promise` settles. */
  hold(promise) {
    this.held = true;
    this.ready = promise.finally(() => {
      this.held = false;
    });
  }

  /** Milliseconds until the next try after a failure, or null when none is waiting. */
  get retryIn() {
    if (this.retryAt === null || this.state !== 'offline') return null;
    return Math.max(this.retryAt - this.timers.now(), 0);
  }

  /** Run a sync after `delay` ms, bringing a later scheduled one forward. */
  schedule(delay) {
    if (this.inFlight) {
      // Remembered until the answer arrives, then honoured.
      this.requested = Math.min(delay, this.requested ?? Infinity);
      return;
    }
    const due = this.timers.now() + delay;
    if (this.timer !== null) {
      if (this.timer.due <= due) return;
      this.timers.clearTimeout(this.timer.handle);
    }
    const handle = this.timers.setTimeout(() => {
      this.timer = null;
      this.sync();
    }, delay);
    this.timer = { handle, due };
  }

  /** A local edit happened: show it as unsynced and sync soon. */
  noteLocalChange() {
    // Our own synthetic change events while applying an answer are not edits.
    if (this.applying) return;
    this.editedSinceSend = true;
    // Denied: nothing is sent until resume(); the edit waits on the page.
    if (this.state === 'denied') return;
    if (this.state === 'synced') this.#setState('syncing');
    // On a live socket typing leaves at once (keystrokes gather while a sync is in flight).
    this.schedule(this.transport.mode === 'live' ? 0 : this.client.settings.minSyncInterval);
  }

  #cancelTimer() {
    if (this.timer !== null) {
      this.timers.clearTimeout(this.timer.handle);
      this.timer = null;
    }
  }

  #armWatchdog(controller) {
    this.#disarmWatchdog();
    this.watchdog = this.timers.setTimeout(() => {
      this.watchdog = null;
      this.log('no answer in time; retrying');
      controller.abort();
    }, this.client.settings.timeoutInterval);
  }

  #disarmWatchdog() {
    if (this.watchdog !== null) {
      this.timers.clearTimeout(this.watchdog);
      this.watchdog = null;
    }
  }

  /** Send one sync now, unless one is in flight; resolves when it is settled. */
  sync() {
    if (this.inFlight) return this.inFlight;
    this.#cancelTimer();
    this.inFlight = this.#exchange().catch((error) => {
      // A failing page handler must not stop the loop: log it and carry on.
      this.log(`sync error: ${error?.stack ?? error}`);
      return this.client.settings.maxSyncInterval;
    }).then((delay) => {
      this.inFlight = null;
      this.onExchange();
      if (delay !== null) this.#continue(delay);
    });
    return this.inFlight;
  }

  /** One exchange; resolves with the delay until the next, or null to stop. */
  async #exchange() {
    // Only wait when held: otherwise the request leaves at once, in this call.
    if (this.held) await this.ready;
    this.retryAt = null;
    const request = this.client.buildRequest();
    this.editedSinceSend = false;
    if (request === null) {
      this.#setState('synced');
      return null;
    }
    if ((this.client.changedLocally || this.client.pending) && !REFUSED.includes(this.state)) {
      this.#setState(this.failures ? 'offline' : 'syncing');
    }
    const controller = new AbortController();
    this.#armWatchdog(controller);
    this.log(`sending\n${request}`);
    let response;
    try {
      response = await this.transport.send(request, {
        signal: controller.signal,
        rearm: () => this.#armWatchdog(controller),
      });
    } catch (error) {
      if (error.denied) {
        // Retrying cannot help: the same token is refused the same way.
        this.log(`denied (${error.message}); stopped`);
        this.denial = error.message;
        this.#setState('denied');
        return null;
      }
      this.failures += 1;
      this.log(`sync failed (${error.message}); retry ${this.failures}`);
      // The edit stacks keep what was not acknowledged; the next request resends it.
      const delay = retryDelay(this.failures, this.client.settings);
      this.retryAt = this.timers.now() + delay;
      this.#setState('offline');
      return delay;
    } finally {
      this.#disarmWatchdog();
    }
    this.log(`received\n${response}`);
    this.failures = 0;
    this.denial = null;
    this.applying = true;
    let interval;
    try {
      interval = this.client.applyResponse(response);
    } finally {
      this.applying = false;
    }
    if (this.client.refusals.size) this.#setState('full');
    else if (this.client.outOfRoom.size) this.#setState('no-room');
    // unsent, not just pending: after a reseed the page's own change is on the page only.
    else this.#setState(this.client.unsent || this.editedSinceSend ? 'syncing' : 'synced');
    // While the socket is live, others' edits are announced: poll only for safety.
    if (this.transport.mode === 'live' && !this.client.pending) {
      return Math.max(interval, this.client.settings.liveSyncInterval);
    }
    return interval;
  }

  #continue(delay) {
    const requested = this.requested ?? Infinity;
    this.requested = null;
    if (this.client.shadows.size === 0) return;
    this.schedule(Math.min(delay, requested));
  }

  /**
   * Page unload: one last request so recent keystrokes reach the server,
   * unless one is already in flight; its answer is ignored.
   */
  flush() {
    if (this.inFlight || this.held || this.state === 'denied') return;
    this.#cancelTimer();
    const request = this.client.buildRequest();
    if (request === null) return;
    this.transport.send(request, { keepalive: true }).catch(() => {});
  }

  /** Try again after a denial (the page has a new token): sync now. */
  resume() {
    if (this.state !== 'denied') return;
    this.#setState('syncing');
    this.sync();
  }

  /** Stop timers (used when nothing is shared any more, and by tests). */
  stop() {
    this.#cancelTimer();
    this.#disarmWatchdog();
  }
}
