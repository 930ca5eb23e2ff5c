// BlobHub Realtime client: one dependency-free ES module for browsers and Node >= 20 (docs/protocol.md).
//
//   import { RealtimeClient } from "/client/blobhub-realtime.js";
//   const client = new RealtimeClient({ url: "wss://realtime.example.com/v1", token });  // or apiKey, or getToken
//   const sub = client.subscribe({ scope: "revision", scope_id, target: "session", target_id }, (e) => {
//     console.log(e.offset, e.type, e.event);
//   });
//   await sub.ready;  sub.unsubscribe();  client.close();
//
// The client keeps one WebSocket, authenticated the browser way (the credential as a subprotocol, in
// unpadded URL-safe base64). After a disconnect it reconnects with jittered exponential backoff and adds
// every subscription again with `since` = its position in the log and the log's `epoch`, so callbacks
// see every event once, in offset order, across reconnects (docs/protocol.md, "Offsets, epoch and
// recovery"). Types are in blobhub-realtime.d.ts; behaviour and examples in clients/js/README.md.

export const VERSION = "0.1.0";

/** A `since` beyond any real offset: the server replays nothing and answers with the log head, which
 *  becomes the subscription's starting point (so a drop before its first event loses nothing). */
const ANCHOR_SINCE = Number.MAX_SAFE_INTEGER;
const BEARER_MARKER = "authorization.bearer.base64";
const API_KEY_MARKER = "x-api-key.base64";
/** Close codes after which reconnecting cannot help: the client sent something wrong. */
const FATAL_CLOSES = new Set([1002, 1003, 1007, 1009]);
/** Close codes after which the client reconnects at once (0–1 s of jitter) and resumes. */
const IMMEDIATE_CLOSES = new Set([1001, 4013]);
const OPEN = 1;

// --- errors ---------------------------------------------------------------------------------------

/** Every error the client reports or rejects with. */
export class RealtimeError extends Error {
  /**
   * @param {string} message
   * @param {{code?: number, data?: any, closeCode?: number, closeReason?: string, method?: string}} [details]
   */
  constructor(message, details = {}) {
    super(message);
    this.name = "RealtimeError";
    /** JSON-RPC error code (HTTP-style: 400, 403, 405, 429, 500) when the server answered with an error. */
    this.code = details.code;
    /** The error's `data` (`{field, reason}`) when it had one. */
    this.data = details.data;
    /** The WebSocket close code, when a close caused this error. */
    this.closeCode = details.closeCode;
    /** The close frame's reason text, when a close caused this error. */
    this.closeReason = details.closeReason;
    /** The JSON-RPC method of the request that failed, if any. */
    this.method = details.method;
  }

  /** `data.field` of an invalid-params error (400), else undefined. */
  get field() { return this.data?.field; }
  /** `data.reason` of an invalid-params or wrong-state error (400), else undefined. */
  get reason() { return this.data?.reason; }
}

// --- helpers --------------------------------------------------------------------------------------

/**
 * Unpadded URL-safe base64 of a UTF-8 string: the form browsers accept as a subprotocol value.
 * @param {string} text
 * @returns {string}
 */
export function subprotocolCredential(text) {
  let binary = "";
  for (const byte of new TextEncoder().encode(text)) binary += String.fromCharCode(byte);
  return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

/** A JWT's `exp` in epoch milliseconds, or null when it has none or cannot be read. */
function tokenExpiry(token) {
  try {
    const part = token.split(".")[1];
    const padded = part.replace(/-/g, "+").replace(/_/g, "/") + "===".slice((part.length + 3) % 4);
    const bytes = Uint8Array.from(atob(padded), (c) => c.charCodeAt(0));
    const exp = JSON.parse(new TextDecoder().decode(bytes)).exp;
    return typeof exp === "number" ? exp * 1000 : null;
  } catch {
    return null;
  }
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** The server's identity of a subscription: UUID-form ids compare case-insensitively, others exactly. */
function subscriptionKey(scope, scopeId, target, targetId) {
  const id = (value) => (typeof value === "string" && UUID.test(value) ? value.toLowerCase() : value ?? "");
  return [scope, id(scopeId), target, id(targetId)].join("\u0000");
}

const random = (from, to) => from + Math.random() * (to - from);

// --- subscription ---------------------------------------------------------------------------------

/** One `subscribe()` call: its callback, its position in the log, and its `ready` promise. */
export class Subscription {
  constructor(client, params, onEvent, options) {
    this._client = client;
    /** The identity and filter as given: `scope`, `scope_id`, `target`, `target_id`, `types`. */
    this.params = Object.freeze({ ...params, types: params.types ? [...params.types] : undefined });
    this._types = params.types && params.types.length ? new Set(params.types) : null;
    this._onEvent = onEvent;
    this._onReset = options.onReset;
    this._onRevoked = options.onRevoked;
    this._since = options.since ?? null;
    /** Offset of the last event handed to the callback; null before the first one. */
    this.lastOffset = null;
    /** The resume point: the highest offset seen for this subscription (or its start), null until confirmed. */
    this.position = options.since ?? null;
    /** The epoch `position` belongs to. */
    this.epoch = options.epoch ?? null;
    /** The log head the server reported when this subscription was first added. */
    this.startOffset = null;
    /** False once the server said events after the position were gone (`onReset` was called). */
    this.recovered = true;
    /** How many times `onReset` was called. */
    this.resets = 0;
    /** False after `unsubscribe()`, a revocation, a refusal, or the client's end. */
    this.active = true;
    /** The reason the server gave when it revoked the subscription, else null. */
    this.revokedReason = null;
    this._confirmed = false;
    /** Resolves with the first `subscription/add` result once the server accepted the subscription;
     *  rejects with a RealtimeError (400 bad params, 403 forbidden, client closed or stopped). */
    this.ready = new Promise((resolve, reject) => { this._resolve = resolve; this._reject = reject; });
    this.ready.catch(() => {});   // a caller that never awaits it must not see an unhandled rejection
    this.key = subscriptionKey(params.scope, params.scope_id, params.target, params.target_id);
  }

  /** Ends the subscription: no callback runs after this call. Resolves once the server removed it (while
   *  reconnecting: at once; the reconnect leaves it out, or removes it again before the client is "open"). */
  unsubscribe() {
    if (!this.active) return Promise.resolve();
    this._end(new RealtimeError("unsubscribed"));
    return this._client._remove(this);
  }

  /** The identity params of `subscription/add|remove`. */
  _identity() {
    const p = this.params;
    const params = { scope: p.scope };
    if (p.scope_id !== undefined && p.scope_id !== null && p.scope_id !== "") params.scope_id = p.scope_id;
    params.target = p.target;
    params.target_id = p.target_id;
    return params;
  }

  _offer(offset, event) {
    // Nothing before the server has answered our add: from its answer on, the server sends the replay
    // and the live events in offset order. Then drop what a replay overlaps with what we already saw.
    if (!this.active || !this._confirmed || this.position === null || offset <= this.position) return;
    this.position = offset;
    this._client._attempt = 0;   // progress: a drop before this connection is restored starts again from the shortest backoff
    const type = event && typeof event === "object" ? event.type : undefined;
    if (this._types && !this._types.has(type)) return;   // a shared subscription's other types
    this.lastOffset = offset;
    const p = this.params;
    const delivered = { offset, type, id: event?.id, event, subscription: this,
      scope: p.scope, scope_id: p.scope_id ?? null, target: p.target, target_id: p.target_id };
    try { this._onEvent(delivered); } catch (error) { this._client._report(error); }
  }

  _reset(head) {
    if (!this.active) return;
    this.recovered = false;
    this.resets += 1;
    if (typeof head === "number") this.position = head;   // continue with the events after the head
    for (const callback of [this._onReset, ...this._client._resetListeners]) {
      if (callback) try { callback(this); } catch (error) { this._client._report(error); }
    }
  }

  _end(error) {
    if (!this.active) return;
    this.active = false;
    this._reject(error);
  }
}

// --- client ---------------------------------------------------------------------------------------

/**
 * A connection to a BlobHub Realtime node that survives disconnects. See blobhub-realtime.d.ts for the
 * options and clients/js/README.md for the behaviour.
 */
export class RealtimeClient {
  constructor(options) {
    if (!options || typeof options.url !== "string") throw new TypeError("RealtimeClient: options.url is required");
    const url = new URL(options.url);
    if (url.protocol === "http:") url.protocol = "ws:";
    if (url.protocol === "https:") url.protocol = "wss:";
    if (url.protocol !== "ws:" && url.protocol !== "wss:") throw new TypeError(`RealtimeClient: not a WebSocket URL: ${options.url}`);
    if (url.pathname === "/" || url.pathname === "") url.pathname = "/v1";
    url.hash = "";
    if (options.apiKey !== undefined && (options.token !== undefined || options.getToken !== undefined)) {
      throw new TypeError("RealtimeClient: give apiKey, or token and/or getToken, not both");
    }
    if (options.apiKey === undefined && options.token === undefined && options.getToken === undefined) {
      throw new TypeError("RealtimeClient: a credential is required: token, apiKey or getToken");
    }
    const WebSocketClass = options.WebSocket ?? globalThis.WebSocket;
    if (typeof WebSocketClass !== "function") {
      throw new TypeError("RealtimeClient: no WebSocket: pass options.WebSocket (Node 20: run with --experimental-websocket)");
    }
    this.url = url.toString();
    this._WebSocket = WebSocketClass;
    this._apiKey = options.apiKey ?? null;
    this._getToken = options.getToken ?? null;
    this._token = options.token ?? null;
    this._tokenExpiry = this._token ? tokenExpiry(this._token) : null;
    this._tokenObtained = Date.now();
    this._needNewToken = false;
    this._clientInfo = options.clientInfo ?? { name: "blobhub-realtime.js", version: VERSION };
    this.requestTimeout = options.requestTimeout ?? 10000;
    this.connectTimeout = options.connectTimeout ?? 10000;
    this.heartbeatInterval = options.heartbeatInterval ?? 15000;
    this.heartbeatTimeout = options.heartbeatTimeout ?? 10000;
    this.initialBackoff = options.initialBackoff ?? 250;
    this.maxBackoff = options.maxBackoff ?? 30000;
    this.floodBackoff = options.floodBackoff ?? 5000;
    this.refreshBefore = options.refreshBefore ?? 60000;
    this.maxConnectFailures = options.maxConnectFailures ?? 10;
    this.reconnect = options.reconnect ?? true;

    /** @type {Map<string, Subscription[]>} several subscribe() calls may share one server subscription */
    this._subs = new Map();
    this._stateListeners = new Set();
    this._resetListeners = new Set();
    this._errorListeners = new Set();
    if (options.onState) this._stateListeners.add(options.onState);
    if (options.onReset) this._resetListeners.add(options.onReset);
    if (options.onError) this._errorListeners.add(options.onError);
    this._waiters = new Set();   // requests waiting for the connection to open
    this._nextId = 1;
    this._attempt = 0;           // reconnect attempts since the last good connection
    this._failures = 0;          // connection attempts that failed before `open`
    this._conn = null;
    this._closed = false;
    this._timers = new Set();
    this._everOpen = false;

    /** "connecting" | "open" | "reconnecting" | "closed" */
    this.state = "connecting";
    /** The epoch (log name) of the latest `status/initialize`, or null. */
    this.epoch = null;
    /** The server's id of the current connection, or null. */
    this.connectionId = null;
    /** The latest `status/initialize` result. */
    this.serverInfo = null;
    /** The error that stopped the client (state "closed" without close()), else null. */
    this.error = null;
    /** The last close seen: `{code, reason}` (1006: dropped without a close frame). */
    this.lastClose = null;
    /** Successful reconnects so far. */
    this.reconnects = 0;
    /** In-band token refreshes (`status/authenticate`) so far. */
    this.tokenRefreshes = 0;

    this._later(0, () => this._connect());
  }

  // --- public API -----------------------------------------------------------------------------------

  /** Calls `listener(state)` on every state change; returns a function that removes it. */
  onState(listener) { this._stateListeners.add(listener); return () => this._stateListeners.delete(listener); }
  /** Calls `listener(subscription)` whenever a subscription lost events (`recovered: false`); reload state over REST. */
  onReset(listener) { this._resetListeners.add(listener); return () => this._resetListeners.delete(listener); }
  /** Calls `listener(error)` for errors nobody awaits: reconnect failures, callback exceptions, the error that stops the client. */
  onError(listener) { this._errorListeners.add(listener); return () => this._errorListeners.delete(listener); }

  /** Resolves once the client is open (initialized and resubscribed); rejects if it closes first. */
  ready(timeout = this.connectTimeout + this.requestTimeout) {
    return this._whenOpen(timeout).then(() => undefined);
  }

  /**
   * Subscribes. `onEvent(e)` runs for every matching event, once, in offset order, across reconnects.
   * Without `options.since` the subscription starts at the log head when the server accepts it.
   */
  subscribe(params, onEvent, options = {}) {
    if (this._closed) throw this.error ?? new RealtimeError("the client is closed");
    if (!params || typeof params !== "object") throw new TypeError("subscribe: params must be an object");
    if (typeof onEvent !== "function") throw new TypeError("subscribe: onEvent must be a function");
    if (params.types !== undefined && params.types !== null && !Array.isArray(params.types)) throw new TypeError("subscribe: types must be an array");
    if (options.since !== undefined && options.since !== null && !(Number.isSafeInteger(options.since) && options.since >= 0)) {
      throw new TypeError("subscribe: since must be a non-negative integer");
    }
    const sub = new Subscription(this, params, onEvent, options);
    const list = this._subs.get(sub.key) ?? [];
    list.push(sub);
    this._subs.set(sub.key, list);
    if (this.state === "open") this._addNew(sub, this._conn);   // else the next open adds it
    return sub;
  }

  /** Sends a JSON-RPC request (waiting for the connection to open); resolves with its `result`. */
  async request(method, params, options = {}) {
    const timeout = options.timeout ?? this.requestTimeout;
    const started = Date.now();
    const conn = await this._whenOpen(timeout);
    return this._call(conn, method, params, Math.max(1, timeout - (Date.now() - started)));
  }

  /** `status/ping`: one round trip to the server. */
  async ping(options) { await this.request("status/ping", undefined, options); }

  /** `subscription/list`: what the server holds for this connection. */
  async listSubscriptions() { return (await this.request("subscription/list"))?.subscriptions ?? []; }

  /** Hands the open connection a fresh access token (`status/authenticate`); later reconnects use it too. */
  async authenticate(token) {
    const result = await this.request("status/authenticate", { token });
    this._setToken(token, result?.expires_at);
    this.tokenRefreshes += 1;
    return result;
  }

  /** Closes the connection (code 1000) for good; every subscription ends. */
  close() {
    if (this._closed) return Promise.resolve();
    this._closed = true;
    this._teardown(new RealtimeError("the client is closed"));
    const conn = this._conn;
    this._conn = null;
    this._setState("closed");
    if (!conn) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => { clearTimeout(timer); resolve(); };
      const timer = setTimeout(done, 2000);
      conn.socket.addEventListener?.("close", done);
      conn.dead = true;
      try { conn.socket.close(1000); } catch { done(); }
    });
  }

  // --- connecting -----------------------------------------------------------------------------------

  async _connect() {
    if (this._closed) return;
    let protocols;
    try {
      if (this._apiKey !== null) {
        protocols = [API_KEY_MARKER, subprotocolCredential(this._apiKey)];
      } else {
        const expiring = this._tokenExpiry !== null && this._tokenExpiry - Date.now() < 1000;
        if (this._getToken && (this._token === null || this._needNewToken || expiring)) {
          this._setToken(await this._fetchToken());
          this._needNewToken = false;
        }
        if (this._closed) return;
        protocols = [BEARER_MARKER, subprotocolCredential(this._token)];
      }
    } catch (error) {
      this._report(error);
      return this._afterFailure();
    }
    let socket;
    try {
      socket = new this._WebSocket(this.url, protocols);
    } catch (error) {
      return this._stop(new RealtimeError(`cannot open a WebSocket to ${this.url}: ${error?.message ?? error}`));
    }
    const conn = { socket, pending: new Map(), opened: false, ready: false, dead: false, epoch: null, maxMessageBytes: null,
      lastReceived: Date.now(), timers: new Set() };
    this._conn = conn;
    this._connTimer(conn, this.connectTimeout, () => { if (!conn.opened) this._drop(conn, 1006, "connect timeout"); });
    socket.onopen = () => { if (!conn.dead) this._opened(conn); };
    socket.onmessage = (message) => { if (!conn.dead) this._received(conn, message.data); };
    socket.onclose = (event) => { if (!conn.dead) this._drop(conn, event.code || 1006, event.reason || ""); };
    // A close should follow an error; some WebSocket implementations (Node 20's) skip it when the
    // upgrade fails, so an error before `open` counts as the failed attempt, and one after `open` is
    // given a moment for its close frame.
    socket.onerror = () => {
      if (conn.dead) return;
      if (!conn.opened) this._drop(conn, 1006, "connection failed");
      else this._connTimer(conn, 1000, () => this._drop(conn, 1006, "connection error"));
    };
  }

  async _opened(conn) {
    conn.opened = true;
    try {
      const result = await this._call(conn, "status/initialize", { client_info: this._clientInfo });
      if (conn.dead) return;
      this.serverInfo = result;
      this.connectionId = result?.connection_id ?? null;
      conn.epoch = typeof result?.epoch === "string" ? result.epoch : null;
      conn.maxMessageBytes = result?.limits?.max_message_bytes ?? null;
      await this._resubscribe(conn);
      if (conn.dead) return;
      this.epoch = conn.epoch;
      conn.ready = true;
      if (this._everOpen) this.reconnects += 1;
      this._everOpen = true;
      this._attempt = 0;
      this._failures = 0;
      this._setState("open");
      for (const waiter of [...this._waiters]) waiter.resolve(conn);
      // subscriptions made while we were connecting
      for (const list of this._subs.values()) for (const sub of list) if (sub.active && !sub._confirmed && !sub._adding) this._addNew(sub, conn);
      this._heartbeat(conn);
      this._scheduleRefresh(conn);
    } catch (error) {
      if (conn.dead) return;
      this._report(error);
      // 429 while resubscribing or a timeout: start over with backoff
      this._drop(conn, 1006, `setup failed: ${error.message}`);
    }
  }

  /** Adds every confirmed subscription again with `since` = its position and its epoch. */
  async _resubscribe(conn) {
    const groups = [];
    for (const list of this._subs.values()) {
      const confirmed = list.filter((s) => s.active && s._confirmed);
      if (confirmed.length) groups.push(confirmed);
    }
    const queue = groups.slice();
    const added = new Map();   // key -> identity params of each subscription added again
    const worker = async () => {
      while (queue.length && !conn.dead) {
        const subs = queue.shift();
        added.set(subs[0].key, subs[0]._identity());
        await this._resume(conn, subs);
      }
    };
    await Promise.all(Array.from({ length: Math.min(16, queue.length) }, worker));
    // Unsubscribed (or revoked) while this ran: unsubscribe() had no restored connection to tell, and the
    // server may hold it again. Remove it before the connection counts as open.
    for (;;) {
      const gone = [...added].find(([key]) => !this._subs.has(key));   // looked for again: one may go during an await
      if (!gone || conn.dead) break;
      added.delete(gone[0]);
      try { await this._call(conn, "subscription/remove", gone[1]); } catch (error) { if (conn.dead) throw error; }
    }
  }

  async _resume(conn, subs) {
    const base = subs.reduce((a, b) => ((b.position ?? 0) < (a.position ?? 0) ? b : a));
    const params = base._identity();
    if (subs.every((s) => s._types)) {
      const union = [...new Set(subs.flatMap((s) => [...s._types]))];
      if (union.length <= 64) params.types = union;   // more than the server takes: every type, filtered here
    }
    params.since = base.position ?? 0;
    if (base.epoch) params.epoch = base.epoch;
    for (let retry = 0; ; retry++) {
      try {
        await this._call(conn, "subscription/add", params, this.requestTimeout, (result) => {
          for (const sub of subs) {
            if (typeof result?.epoch === "string") sub.epoch = result.epoch;
            if (result?.recovered === false) sub._reset(result.offset);
          }
        });
        return;
      } catch (error) {
        if (conn.dead || !(error instanceof RealtimeError)) throw error;
        if (error.code === 429 && retry < 20) { await new Promise((r) => this._later(random(250, 750), r)); continue; }
        if (error.code === 403 || error.code === 400) {
          // access went away while we were disconnected (or a limit shrank): the subscription ends
          for (const sub of subs) {
            this._forget(sub);
            const ended = new RealtimeError(`subscription refused on resume: ${error.message}`, { code: error.code, data: error.data, method: "subscription/add" });
            if (error.code === 403) { sub.revokedReason = "access forbidden on resume"; this._callRevoked(sub, sub.revokedReason); }
            sub._end(ended);
            this._report(ended);
          }
          return;
        }
        throw error;
      }
    }
  }

  /** The first `subscription/add` of one subscribe() call. */
  async _addNew(sub, conn) {
    if (sub._adding) return;
    sub._adding = true;
    const params = sub._identity();
    if (sub.params.types && sub.params.types.length) params.types = [...sub.params.types];
    const anchored = sub._since === null;
    if (anchored) {
      params.since = ANCHOR_SINCE;
      if (conn.epoch) params.epoch = conn.epoch;
    } else {
      params.since = sub._since;
      if (sub.epoch) params.epoch = sub.epoch;
    }
    try {
      for (let retry = 0; ; retry++) {
        try {
          await this._call(conn, "subscription/add", params, this.requestTimeout, (result) => {
            if (!sub.active) return;
            sub.startOffset = typeof result?.offset === "number" ? result.offset : null;
            sub.epoch = typeof result?.epoch === "string" ? result.epoch : conn.epoch;
            sub._confirmed = true;
            if (anchored) sub.position = sub.startOffset ?? 0;
            sub._resolve(result);   // accepted: stays resolved even if a callback closes everything next
            if (!anchored && result?.recovered === false) sub._reset(result.offset);
          });
          return;
        } catch (error) {
          if (error instanceof RealtimeError && error.code === 429 && retry < 20 && !conn.dead) {
            await new Promise((r) => this._later(random(250, 750), r));
            continue;
          }
          throw error;
        }
      }
    } catch (error) {
      if (!sub.active) return;
      if (error instanceof RealtimeError && error.code !== undefined) {
        // the server refused it (400 bad params, 403 forbidden): a reconnect would not change that
        this._forget(sub);
        sub._end(error);
      }
      // else the connection went away: the next open adds it
    } finally {
      sub._adding = false;
    }
    // The connection went away during a 429 wait and its successor opened meanwhile, skipping this one as
    // being added: add it there.
    const current = this._conn;
    if (sub.active && !sub._confirmed && current && current !== conn && current.ready && !current.dead) this._addNew(sub, current);
  }

  async _remove(sub) {
    this._forget(sub);
    const conn = this._conn;
    if (this._subs.has(sub.key) || !conn || !conn.ready) return;   // still shared, or nothing to tell
    try { await this._call(conn, "subscription/remove", sub._identity()); } catch { /* gone with the connection */ }
  }

  _forget(sub) {
    const list = (this._subs.get(sub.key) ?? []).filter((s) => s !== sub);
    if (list.length) this._subs.set(sub.key, list); else this._subs.delete(sub.key);
  }

  // --- messages -------------------------------------------------------------------------------------

  /** One request on `conn`. `onResult(result)` runs in the message handler itself, before the next
   *  message is handled (a subscription's starting point is then in place before its replayed events). */
  _call(conn, method, params, timeout = this.requestTimeout, onResult) {
    return new Promise((resolve, reject) => {
      if (conn.dead || conn.socket.readyState !== OPEN) {
        return reject(new RealtimeError(`${method}: not connected`, { closeCode: this.lastClose?.code, method }));
      }
      const id = this._nextId++;
      const message = { jsonrpc: "2.0", id, method };
      if (params !== undefined) message.params = params;
      const text = JSON.stringify(message);
      if (conn.maxMessageBytes !== null && new TextEncoder().encode(text).length > conn.maxMessageBytes) {
        return reject(new RealtimeError(`${method}: the message is larger than the server's max_message_bytes (${conn.maxMessageBytes})`, { method }));
      }
      const timer = this._connTimer(conn, timeout, () => {
        conn.pending.delete(id);
        reject(new RealtimeError(`${method}: no answer within ${timeout} ms`, { method }));
      });
      conn.pending.set(id, { resolve, reject, timer, method, onResult });
      try {
        conn.socket.send(text);
      } catch (error) {
        conn.pending.delete(id);
        clearTimeout(timer);
        reject(new RealtimeError(`${method}: ${error?.message ?? error}`, { method }));
      }
    });
  }

  _received(conn, data) {
    conn.lastReceived = Date.now();
    if (typeof data !== "string") return;   // the server sends text frames only
    let message;
    try { message = JSON.parse(data); } catch { return; }
    for (const m of Array.isArray(message) ? message : [message]) {
      if (!m || typeof m !== "object") continue;
      if (typeof m.method === "string") this._notification(m.method, m.params);
      else if (conn.pending.has(m.id)) {
        const pending = conn.pending.get(m.id);
        conn.pending.delete(m.id);
        clearTimeout(pending.timer);
        conn.timers.delete(pending.timer);
        if (m.error) {
          pending.reject(new RealtimeError(`${pending.method}: ${m.error.code} ${m.error.message}${m.error.data?.reason ? ` (${m.error.data.field ? m.error.data.field + ": " : ""}${m.error.data.reason})` : ""}`,
            { code: m.error.code, data: m.error.data, method: pending.method }));
        } else {
          if (pending.onResult) try { pending.onResult(m.result); } catch (error) { this._report(error); }
          pending.resolve(m.result);
        }
      }
    }
  }

  _notification(method, params) {
    if (!params || typeof params !== "object") return;
    const subs = this._subs.get(subscriptionKey(params.scope, params.scope_id, params.target, params.target_id));
    if (!subs) return;
    if (method === "subscription/event") {
      if (!Number.isSafeInteger(params.offset)) return;
      for (const sub of [...subs]) sub._offer(params.offset, params.event);
    } else if (method === "subscription/revoked") {
      const reason = typeof params.reason === "string" ? params.reason : "access revoked";
      for (const sub of [...subs]) {
        this._forget(sub);
        sub.revokedReason = reason;
        if (!sub.active) continue;
        this._callRevoked(sub, reason);
        sub._end(new RealtimeError(`subscription revoked: ${reason}`, { code: 403 }));
      }
    }
  }

  _callRevoked(sub, reason) {
    if (sub._onRevoked) try { sub._onRevoked(reason, sub); } catch (error) { this._report(error); }
  }

  // --- per-connection tasks -------------------------------------------------------------------------

  /** `status/ping` when nothing arrived for a heartbeat interval; no answer in time drops the connection. */
  _heartbeat(conn) {
    if (!this.heartbeatInterval) return;
    const beat = async () => {
      if (conn.dead) return;
      if (Date.now() - conn.lastReceived >= this.heartbeatInterval * 0.9) {
        try {
          await this._call(conn, "status/ping", undefined, this.heartbeatTimeout);
        } catch (error) {
          if (conn.dead) return;
          if (error.code === undefined) return this._drop(conn, 1006, "no answer to status/ping");   // 429 is an answer too
        }
      }
      this._connTimer(conn, this.heartbeatInterval, beat);
    };
    this._connTimer(conn, this.heartbeatInterval, beat);
  }

  /** With getToken: a fresh token through `status/authenticate` before the current one expires. */
  _scheduleRefresh(conn) {
    if (!this._getToken || this._apiKey !== null || this._tokenExpiry === null) return;
    const lifetime = Math.max(0, this._tokenExpiry - this._tokenObtained);
    const margin = Math.min(this.refreshBefore, lifetime / 2);
    const delay = Math.max(500, this._tokenExpiry - margin - Date.now());
    this._connTimer(conn, delay, async () => {
      if (conn.dead) return;
      try {
        const token = await this._fetchToken();
        if (conn.dead) return;
        const result = await this._call(conn, "status/authenticate", { token });
        this._setToken(token, result?.expires_at);
        this.tokenRefreshes += 1;
        this._scheduleRefresh(conn);
      } catch (error) {
        if (conn.dead) return;
        this._report(error);
        // try again before the server gives up on us (it closes with 4001 at expiry + leeway)
        const left = (this._tokenExpiry ?? Date.now()) - Date.now();
        this._connTimer(conn, Math.min(5000, Math.max(500, left / 2)), () => this._scheduleRefresh(conn));
      }
    });
  }

  async _fetchToken() {
    const token = await this._getToken();
    if (typeof token !== "string" || !token) throw new RealtimeError("getToken returned no token");
    return token;
  }

  _setToken(token, expiresAtMs) {
    this._token = token;
    this._tokenObtained = Date.now();
    this._tokenExpiry = typeof expiresAtMs === "number" ? expiresAtMs : tokenExpiry(token);
  }

  // --- losing a connection --------------------------------------------------------------------------

  /** Forgets `conn` (its socket's later events are ignored) and decides what comes next. */
  _drop(conn, code, reason) {
    if (conn.dead) return;
    conn.dead = true;
    for (const timer of conn.timers) clearTimeout(timer);
    conn.timers.clear();
    const error = new RealtimeError(`connection closed (${code}${reason ? " " + reason : ""})`, { closeCode: code, closeReason: reason });
    for (const pending of conn.pending.values()) pending.reject(error);
    conn.pending.clear();
    try { conn.socket.close(); } catch { /* already closing */ }
    if (this._conn === conn) this._conn = null;
    if (this._closed) return;
    this.lastClose = { code, reason };
    if (!conn.opened) this._failures += 1;
    const delay = this._afterClose(code, reason, conn);
    if (delay instanceof RealtimeError) return this._stop(delay);
    this._setState(this._everOpen ? "reconnecting" : "connecting");
    this._later(delay, () => this._connect());
  }

  /** The delay before reconnecting after a close with `code`, or the error that stops the client. */
  _afterClose(code, reason, conn) {
    const details = { closeCode: code, closeReason: reason };
    if (FATAL_CLOSES.has(code)) return new RealtimeError(`closed by the server with ${code} ${reason}`.trim(), details);
    if (code === 4001) {
      if (!this._getToken || !this.reconnect) {
        const what = this._apiKey !== null ? "API key revoked or expired" : "access token expired or revoked";
        return new RealtimeError(`${what} (close 4001)`, details);
      }
      this._needNewToken = true;
      return random(0, 100);
    }
    if (!this.reconnect) return new RealtimeError(`connection closed (${code})`, details);
    if (!conn.opened) {
      // A refused upgrade (401, 403, 503) looks like 1006 before `open` to a page: count them and stop after a few.
      if (this._failures >= this.maxConnectFailures) {
        return new RealtimeError(`cannot connect to ${this.url} (${this._failures} attempts): check the credential and the URL`, details);
      }
      if (this._getToken && this._failures >= 2) this._needNewToken = true;   // maybe the token went stale
      return this._backoff();
    }
    if (IMMEDIATE_CLOSES.has(code)) return random(0, 1000);
    if (code === 4029) return random(this.floodBackoff, 2 * this.floodBackoff);
    return this._backoff();   // 1000 unasked, 1006, 1011, 4008, anything else
  }

  _afterFailure() {
    if (this._closed) return;
    this._failures += 1;
    if (this._failures >= this.maxConnectFailures) return this._stop(new RealtimeError(`cannot get a token (${this._failures} attempts)`));
    this._setState(this._everOpen ? "reconnecting" : "connecting");
    this._later(this._backoff(), () => this._connect());
  }

  _backoff() {
    const ceiling = Math.min(this.maxBackoff, this.initialBackoff * 2 ** Math.min(this._attempt, 20));
    this._attempt += 1;
    return random(0, ceiling);   // full jitter
  }

  /** Stops the client for good: every subscription and waiting request fails with `error`. */
  _stop(error) {
    if (this._closed) return;
    this._closed = true;
    this.error = error;
    this._report(error);
    this._teardown(error);
    this._setState("closed");
  }

  _teardown(error) {
    for (const timer of this._timers) clearTimeout(timer);
    this._timers.clear();
    for (const waiter of [...this._waiters]) waiter.reject(error);
    const conn = this._conn;
    if (conn) {
      for (const timer of conn.timers) clearTimeout(timer);
      for (const pending of conn.pending.values()) pending.reject(error);
      conn.pending.clear();
    }
    const subs = [...this._subs.values()].flat();
    this._subs.clear();
    for (const sub of subs) sub._end(error);
    if (conn && this.error) { conn.dead = true; try { conn.socket.close(1000); } catch { /* closed */ } this._conn = null; }
  }

  _whenOpen(timeout) {
    if (this._closed) return Promise.reject(this.error ?? new RealtimeError("the client is closed"));
    if (this._conn && this._conn.ready && !this._conn.dead) return Promise.resolve(this._conn);
    return new Promise((resolve, reject) => {
      const waiter = {
        resolve: (conn) => { clearTimeout(timer); this._waiters.delete(waiter); resolve(conn); },
        reject: (error) => { clearTimeout(timer); this._waiters.delete(waiter); reject(error); },
      };
      const timer = setTimeout(() => waiter.reject(new RealtimeError(`not connected within ${timeout} ms (${this.state})`)), timeout);
      this._waiters.add(waiter);
    });
  }

  _later(ms, fn) {
    const timer = setTimeout(() => { this._timers.delete(timer); fn(); }, ms);
    this._timers.add(timer);
    return timer;
  }

  _connTimer(conn, ms, fn) {
    const timer = setTimeout(() => { conn.timers.delete(timer); fn(); }, ms);
    conn.timers.add(timer);
    return timer;
  }

  _setState(state) {
    if (state === this.state) return;
    this.state = state;
    for (const listener of [...this._stateListeners]) try { listener(state); } catch (error) { this._report(error); }
  }

  _report(error) {
    for (const listener of [...this._errorListeners]) try { listener(error); } catch { /* a reporter must not throw into us */ }
  }
}
