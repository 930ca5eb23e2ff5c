// BlobHub Realtime client: one dependency-free ES module for browsers and Node >= 20 (docs/protocol.md).
//
//   import { RealtimeClient } from "/client/blobhub-realtime.js";
//   const client = new RealtimeClient({ url: "wss://…/v1", token: "…" });  // or apiKey, or getToken
//   const sub = client.subscribe({ scope: "revision", scope_id, target: "session", target_id }, (e) => {});
//   await sub.ready; sub.unsubscribe(); client.close();
//
// The client keeps one WebSocket, reconnects with jittered exponential backoff, and adds every
// subscription again with `since` = the last delivered offset and the log's `epoch`, so callbacks see
// every event once, in offset order, across reconnects (docs/protocol.md, "Offsets, epoch and recovery").

/** A `since` beyond any real offset: the server replays nothing and answers with the log head, which
 *  becomes the subscription's starting point (so a drop before its first event loses nothing). */
const ANCHOR_SINCE = Number.MAX_SAFE_INTEGER;
const BEARER_MARKER = "authorization.bearer.base64";
const API_KEY_MARKER = "x-api-key.base64";

/** Close codes after which the client stops: the request or the client is at fault (docs/protocol.md). */
const FATAL_CLOSES = new Set([1002, 1003, 1007, 1009]);

/** Error from the server: a JSON-RPC error object, or a close the client cannot recover from. */
export class RealtimeError extends Error {
  /** @param {string} message @param {{code?: number, data?: any, closeCode?: number}} [details] */
  constructor(message, details = {}) {
    super(message);
    this.name = "RealtimeError";
    /** JSON-RPC error code (HTTP-style: 400, 403, 405, 429, 500), or undefined. */
    this.code = details.code;
    /** The error's `data` (`reason`, `field`), or undefined. */
    this.data = details.data;
    /** The WebSocket close code that ended the client, or undefined. */
    this.closeCode = details.closeCode;
  }
}

/** Unpadded URL-safe base64 of a UTF-8 string: browsers refuse `=` and `/` in subprotocol values. */
export function subprotocolCredential(text) {
  const bytes = new TextEncoder().encode(text);
  let binary = "";
  for (const b of bytes) binary += String.fromCharCode(b);
  return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

/** Seconds until a JWT's `exp`, or null when it has none or cannot be read. */
function secondsUntilExpiry(token, nowMs) {
  try {
    const part = token.split(".")[1];
    const json = atob(part.replace(/-/g, "+").replace(/_/g, "/") + "===".slice((part.length + 3) % 4));
    const exp = JSON.parse(json).exp;
    return typeof exp === "number" ? exp - nowMs / 1000 : null;
  } catch {
    return null;
  }
}

/** One subscription: callbacks, its position in the log, and its `ready` promise. */
class Subscription {
  constructor(client, params, onEvent, options) {
    this._client = client;
    /** The identity and filter as given (`scope`, `scope_id`, `target`, `target_id`, `types`). */
    this.params = params;
    this._onEvent = onEvent;
    this._onReset = options.onReset;
    this._onRevoked = options.onRevoked;
    /** Highest offset delivered to the callback (or the starting point); null until known. */
    this.lastOffset = options.since ?? null;
    /** The epoch `lastOffset` belongs to. */
    this.epoch = options.epoch ?? null;
    /** False after a resume the server could not replay completely (`onReset` was called). */
    this.recovered = true;
    this.active = true;
    this._confirmed = false;
    this.ready = new Promise((resolve, reject) => { this._resolve = resolve; this._reject = reject; });
    this.ready.catch(() => {});   // a caller that never awaits it must not see an unhandled rejection
  }

  /** Ends the subscription; no callback runs after this returns. */
  unsubscribe() {
    if (!this.active) return Promise.resolve();
    this.active = false;
    return this._client._remove(this);
  }

  get key() {
    const p = this.params;
    return [p.scope, p.scope_id ?? "", p.target, p.target_id].join("\u0000");
  }

  _deliver(offset, type, event) {
    if (!this.active || (this.lastOffset !== null && offset <= this.lastOffset)) return;   // replay overlap
    this.lastOffset = offset;
    // several subscribe() calls with one identity share the server's subscription (types merged there)
    const types = this.params.types;
    if (types && types.length && !types.includes(type)) return;
    try { this._onEvent({ offset, type, event }); } catch (error) { this._client._report(error); }
  }
}

/**
 * A connection to a BlobHub Realtime node that survives disconnects.
 *
 * options: `url` (ws:// or wss:// …/v1); one of `token`, `apiKey`, `getToken` (async () => token, also
 * used to refresh before expiry and after 4001); `WebSocket` (a constructor; default globalThis.WebSocket);
 * `requestTimeoutMs` (10 s); `backoffMs` ([250, 30000]); `clientInfo` ({name, version});
 * `onReset(sub)` for every subscription resumed with `recovered: false`; `onError(error)`.
 */
export class RealtimeClient {
  constructor(options) {
    if (!options || typeof options.url !== "string") throw new TypeError("RealtimeClient: options.url is required");
    const credentials = ["token", "apiKey", "getToken"].filter((k) => options[k] !== undefined);
    if (credentials.length !== 1) throw new TypeError("RealtimeClient: give exactly one of token, apiKey, getToken");
    this._options = options;
    this._WebSocket = options.WebSocket ?? globalThis.WebSocket;
    if (typeof this._WebSocket !== "function") throw new TypeError("RealtimeClient: no WebSocket (pass options.WebSocket)");
    this._token = options.token ?? null;
    this._timeout = options.requestTimeoutMs ?? 10000;
    [this._backoffMin, this._backoffMax] = options.backoffMs ?? [250, 30000];
    /** @type {Map<string, Subscription[]>} subscriptions by identity (several callbacks may share one) */
    this._subs = new Map();
    this._stateListeners = new Set();
    this._pending = new Map();
    this._nextId = 1;
    this._attempt = 0;
    this._state = "connecting";
    this._closed = false;
    this._socket = null;
    this._epoch = null;
    this._timers = new Set();
    this._connect();
  }

  /** "connecting" | "open" | "reconnecting" | "closed" */
  get state() { return this._state; }
  /** The log's epoch from the last initialize, or null. */
  get epoch() { return this._epoch; }

  /** Calls `listener(state)` on every state change; returns a function that removes it. */
  onState(listener) {
    this._stateListeners.add(listener);
    return () => this._stateListeners.delete(listener);
  }

  /**
   * Subscribes; `onEvent({offset, type, event})` runs for every matching event, once, in offset order.
   * options: `since`/`epoch` to continue from a stored position; `onReset(sub)` when events were lost;
   * `onRevoked(reason)` when access went away (the subscription has ended; `ready` rejects if still pending).
   */
  subscribe(params, onEvent, options = {}) {
    if (this._closed) throw new RealtimeError("client is closed");
    if (typeof onEvent !== "function") throw new TypeError("subscribe: onEvent must be a function");
    const sub = new Subscription(this, { ...params }, onEvent, options);
    const list = this._subs.get(sub.key) ?? [];
    list.push(sub);
    this._subs.set(sub.key, list);
    if (this._state === "open") this._add(sub, false);
    return sub;
  }

  /** Sends a JSON-RPC request on the current connection; resolves with its result. */
  request(method, params) {
    return new Promise((resolve, reject) => {
      const socket = this._socket;
      if (!socket || socket.readyState !== 1 || !this._initialized) return reject(new RealtimeError("not connected"));
      const id = this._nextId++;
      const timer = this._later(this._timeout, () => {
        this._pending.delete(id);
        reject(new RealtimeError(`${method}: no answer within ${this._timeout} ms`));
        socket.close(4000, "request timeout");   // a silent connection: start over
      });
      this._pending.set(id, { resolve, reject, timer, method });
      socket.send(JSON.stringify({ jsonrpc: "2.0", id, method, ...(params ? { params } : {}) }));
    });
  }

  /** Closes the connection for good. */
  close() {
    if (this._closed) return;
    this._closed = true;
    for (const timer of this._timers) clearTimeout(timer);
    this._timers.clear();
    this._failPending(new RealtimeError("client closed"));
    for (const list of this._subs.values()) for (const sub of list) { sub.active = false; sub._reject(new RealtimeError("client closed")); }
    this._subs.clear();
    if (this._socket) try { this._socket.close(1000); } catch { /* already closed */ }
    this._setState("closed");
  }

  // --- connection ---------------------------------------------------------------------------

  async _connect() {
    if (this._closed) return;
    let protocols;
    try {
      if (this._options.apiKey !== undefined) protocols = [API_KEY_MARKER, subprotocolCredential(this._options.apiKey)];
      else {
        if (this._options.getToken && (this._token === null || this._needsNewToken)) {
          this._token = await this._options.getToken();
          this._needsNewToken = false;
        }
        protocols = [BEARER_MARKER, subprotocolCredential(this._token)];
      }
    } catch (error) {
      this._report(error);
      return this._retry();
    }
    if (this._closed) return;
    const socket = new this._WebSocket(this._options.url, protocols);
    this._socket = socket;
    this._initialized = false;
    socket.onopen = () => this._opened(socket);
    socket.onmessage = (message) => { if (socket === this._socket) this._received(message.data); };
    socket.onclose = (event) => { if (socket === this._socket) this._lost(event.code, event.reason); };
    socket.onerror = () => {};   // a close follows
  }

  async _opened(socket) {
    try {
      this._initialized = true;   // initialize is the one request allowed first
      const info = this._options.clientInfo ?? { name: "blobhub-realtime.js", version: "0.1.0" };
      const result = await this.request("status/initialize", { client_info: info });
      if (socket !== this._socket) return;
      if (this._epoch !== null && result.epoch !== this._epoch) {
        // another log: stored offsets mean nothing there; start from its head and tell the caller
        for (const list of this._subs.values()) for (const sub of list) { sub.lastOffset = null; sub.epoch = null; this._reset(sub); }
      }
      this._epoch = result.epoch;
      this._heartbeat(socket, result.heartbeat_interval_ms ?? 25000);
      this._scheduleRefresh(socket);
      this._setState("open");
      const adds = [];
      for (const list of this._subs.values()) for (const sub of list) adds.push(this._add(sub, true));
      await Promise.all(adds);
      this._attempt = 0;   // reset after a successful subscribe round
    } catch (error) {
      if (socket === this._socket) this._report(error);
    }
  }

  /** Adds one subscription with its position; on a resume, tells the caller when events were lost. */
  async _add(sub, resuming) {
    const p = sub.params;
    const params = { scope: p.scope, target: p.target, target_id: p.target_id };
    if (p.scope_id !== undefined && p.scope_id !== null) params.scope_id = p.scope_id;
    if (p.types && p.types.length) params.types = p.types;
    const anchored = sub.lastOffset === null;
    params.since = anchored ? ANCHOR_SINCE : sub.lastOffset;
    if (!anchored && sub.epoch) params.epoch = sub.epoch;
    try {
      const result = await this.request("subscription/add", params);
      if (!sub.active) return;
      if (anchored) {
        if (sub.lastOffset === null) sub.lastOffset = result.offset;
      } else if (result.recovered === false) {
        this._reset(sub);
      }
      sub.epoch = result.epoch ?? this._epoch;
      sub._confirmed = true;
      sub._resolve();
    } catch (error) {
      if (error instanceof RealtimeError && (error.code === 400 || error.code === 403)) {
        // the server refuses this subscription: it will not succeed on a reconnect either
        sub.active = false;
        this._drop(sub);
        sub._reject(error);
      } else if (!resuming) {
        // connection trouble: the resume after the reconnect adds it
      }
    }
  }

  _reset(sub) {
    sub.recovered = false;
    for (const callback of [sub._onReset, this._options.onReset]) {
      if (callback) try { callback(sub); } catch (error) { this._report(error); }
    }
  }

  async _remove(sub) {
    this._drop(sub);
    if (this._subs.has(sub.key) || this._state !== "open") return;   // still shared, or nothing to tell
    const p = sub.params;
    const params = { scope: p.scope, target: p.target, target_id: p.target_id };
    if (p.scope_id !== undefined && p.scope_id !== null) params.scope_id = p.scope_id;
    try { await this.request("subscription/remove", params); } catch { /* the connection went away: nothing to remove */ }
  }

  _drop(sub) {
    const list = (this._subs.get(sub.key) ?? []).filter((s) => s !== sub);
    if (list.length) this._subs.set(sub.key, list); else this._subs.delete(sub.key);
  }

  _received(data) {
    let message;
    try { message = JSON.parse(data); } catch { return; }
    for (const m of Array.isArray(message) ? message : [message]) {
      if (m.method === "subscription/event") this._event(m.params);
      else if (m.method === "subscription/revoked") this._revoked(m.params);
      else if (m.id !== undefined && this._pending.has(m.id)) {
        const pending = this._pending.get(m.id);
        this._pending.delete(m.id);
        clearTimeout(pending.timer);
        this._timers.delete(pending.timer);
        if (m.error) pending.reject(new RealtimeError(`${pending.method}: ${m.error.message}`, m.error));
        else pending.resolve(m.result);
      }
    }
  }

  _event(params) {
    const key = [params.scope, params.scope_id ?? "", params.target, params.target_id].join("\u0000");
    for (const sub of this._subs.get(key) ?? []) sub._deliver(params.offset, params.event?.type, params.event);
  }

  _revoked(params) {
    const key = [params.scope, params.scope_id ?? "", params.target, params.target_id].join("\u0000");
    for (const sub of this._subs.get(key) ?? []) {
      sub.active = false;
      sub._reject(new RealtimeError(`subscription revoked: ${params.reason}`, { code: 403 }));
      if (sub._onRevoked) sub._onRevoked(params.reason);
    }
    this._subs.delete(key);
  }

  /** Our own heartbeat: `status/ping` every interval; no answer in time closes and reconnects. */
  _heartbeat(socket, intervalMs) {
    const beat = () => {
      if (socket !== this._socket || this._closed) return;
      this.request("status/ping").catch(() => {});
      this._later(intervalMs, beat);
    };
    this._later(intervalMs, beat);
  }

  /** With getToken: a fresh token through `status/authenticate` before the current one expires. */
  _scheduleRefresh(socket) {
    if (!this._options.getToken || !this._token) return;
    const left = secondsUntilExpiry(this._token, Date.now());
    if (left === null) return;
    const delay = Math.max(1000, Math.min(left / 2, left - 30) * 1000);
    this._later(delay, async () => {
      if (socket !== this._socket || this._closed) return;
      try {
        const token = await this._options.getToken();
        await this.request("status/authenticate", { token });
        this._token = token;
      } catch (error) {
        this._report(error);
      }
      this._scheduleRefresh(socket);
    });
  }

  _lost(code, reason) {
    this._socket = null;
    this._initialized = false;
    this._failPending(new RealtimeError(`connection closed (${code})`, { closeCode: code }));
    if (this._closed) return;
    if (FATAL_CLOSES.has(code)) return this._stop(new RealtimeError(`closed by the server: ${code} ${reason || ""}`.trim(), { closeCode: code }));
    if (code === 4001) {
      if (!this._options.getToken) return this._stop(new RealtimeError("authentication expired or revoked (4001)", { closeCode: 4001 }));
      this._needsNewToken = true;
      return this._retry(0);
    }
    if (code === 1001 || code === 4013) return this._retry(Math.random() * 1000);   // resume at once, with jitter
    if (code === 4029) return this._retry(5000 + Math.random() * 5000);             // request flood: back off
    this._retry();
  }

  _retry(delayMs) {
    if (this._closed) return;
    this._setState("reconnecting");
    this._attempt += 1;
    // full jitter: a refused browser upgrade (401/503) looks like 1006 before open, so back off every time
    const ceiling = Math.min(this._backoffMax, this._backoffMin * 2 ** Math.min(this._attempt - 1, 16));
    const delay = delayMs ?? Math.random() * ceiling;
    if (this._attempt > 3 && this._options.getToken) this._needsNewToken = true;   // maybe the token went stale
    this._later(delay, () => this._connect());
  }

  _stop(error) {
    this._report(error);
    for (const list of this._subs.values()) for (const sub of list) sub._reject(error);
    this._closed = true;
    for (const timer of this._timers) clearTimeout(timer);
    this._timers.clear();
    this._setState("closed");
  }

  _failPending(error) {
    for (const pending of this._pending.values()) { clearTimeout(pending.timer); this._timers.delete(pending.timer); pending.reject(error); }
    this._pending.clear();
  }

  _later(ms, fn) {
    const timer = setTimeout(() => { this._timers.delete(timer); fn(); }, ms);
    this._timers.add(timer);
    return timer;
  }

  _setState(state) {
    if (state === this._state) return;
    this._state = state;
    for (const listener of this._stateListeners) try { listener(state); } catch (error) { this._report(error); }
  }

  _report(error) {
    if (this._options.onError) try { this._options.onError(error); } catch { /* the reporter must not throw into us */ }
  }
}
