// Types of blobhub-realtime.js (hand-written; the module itself has no build step).

export declare const VERSION: string;

/** "connecting" (before the first open) | "open" (initialized and resubscribed) | "reconnecting" | "closed". */
export type ConnectionState = "connecting" | "open" | "reconnecting" | "closed";

export type Scope = "core" | "revision";
export type Target = "user" | "organization" | "blob" | "revision" | "session" | "execution";

/** What to watch (docs/protocol.md, "Subscriptions"). Ids are sent exactly as given. */
export interface SubscriptionParams {
  scope: Scope | string;
  /** The revision id for scope "revision"; omitted, null or "" for "core". */
  scope_id?: string | null;
  target: Target | string;
  target_id: string;
  /** Event types to receive; omitted or [] = every type. */
  types?: string[];
}

/** The event object as published (plus `id`/`created_at` when the server filled them in). */
export interface PublishedEvent {
  id?: string;
  type?: string;
  created_at?: number;
  revision_id?: string;
  session_id?: string;
  execution_id?: string;
  [field: string]: unknown;
}

/** One delivered event. */
export interface RealtimeEvent<E extends PublishedEvent = PublishedEvent> {
  /** The event's position in the log: strictly increasing per subscription. */
  offset: number;
  /** `event.type`. */
  type: string | undefined;
  /** `event.id`. */
  id: string | undefined;
  /** The event object as published. */
  event: E;
  subscription: Subscription;
  scope: string;
  scope_id: string | null;
  target: string;
  target_id: string;
}

/** The `subscription/add` result: `{}` without `since`; the client always sends one, so these are set. */
export interface SubscribeResult {
  /** The log head when the server added the subscription. */
  offset?: number;
  /** False when events after `since` are gone (pruned, too many to replay, another epoch). */
  recovered?: boolean;
  epoch?: string;
}

export interface SubscribeOptions {
  /** Replay the retained events after this offset first (a position you stored), then live events. */
  since?: number;
  /** The epoch `since` belongs to (Subscription.epoch when you stored the position). */
  epoch?: string;
  /** Events may be missing (`recovered: false`): reload the state over REST. Runs before the next event. */
  onReset?: (subscription: Subscription) => void;
  /** The server ended the subscription because access went away. */
  onRevoked?: (reason: string, subscription: Subscription) => void;
}

export declare class Subscription {
  /** The params as given to subscribe(). */
  readonly params: Readonly<SubscriptionParams>;
  /** Resolves once the server accepted the subscription; rejects with a RealtimeError
   *  (code 400 bad params, 403 forbidden or unknown object; or the client closed or stopped). */
  readonly ready: Promise<SubscribeResult>;
  /** Offset of the last event handed to the callback; null before the first one. */
  readonly lastOffset: number | null;
  /** The resume point (the highest offset seen for this subscription, or its start): store it with
   *  `epoch` to continue after a restart of the page or process with `subscribe(..., { since, epoch })`. */
  readonly position: number | null;
  /** The epoch `position` belongs to. */
  readonly epoch: string | null;
  /** The log head when the server first added the subscription. */
  readonly startOffset: number | null;
  /** False once onReset was called. */
  readonly recovered: boolean;
  /** How many times onReset was called. */
  readonly resets: number;
  /** False after unsubscribe(), a revocation, a refusal, or the end of the client. */
  readonly active: boolean;
  /** The reason the server gave when it revoked the subscription, else null. */
  readonly revokedReason: string | null;
  /** Ends the subscription: no callback runs after this call. Resolves once the server removed it (while
   *  reconnecting: at once; the reconnect leaves it out, or removes it again before the client is "open"). */
  unsubscribe(): Promise<void>;
}

/** A constructor with the browser WebSocket API (globalThis.WebSocket, or a compatible one in Node). */
export type WebSocketConstructor = new (url: string, protocols?: string | string[]) => WebSocket;

export interface RealtimeClientOptions {
  /** ws:// or wss:// URL of the endpoint, e.g. "wss://realtime.example.com/v1" (http(s):// is mapped; "/" becomes "/v1"). */
  url: string;
  /** An access token (JWT). With getToken too, getToken provides the next ones. */
  token?: string;
  /** An API key (not with token/getToken). Keep long-lived keys out of browsers. */
  apiKey?: string;
  /** Returns a fresh access token: called to connect (when there is no token), before the current one
   *  expires (then sent with status/authenticate), and after a 4001 close. */
  getToken?: () => string | Promise<string>;
  /** The WebSocket constructor (default globalThis.WebSocket; Node 20 needs --experimental-websocket or this option). */
  WebSocket?: WebSocketConstructor;
  /** Sent in status/initialize (default { name: "blobhub-realtime.js", version: VERSION }). */
  clientInfo?: { name?: string; version?: string };
  /** Milliseconds to wait for a response (default 10000). */
  requestTimeout?: number;
  /** Milliseconds to wait for the WebSocket to open (default 10000). */
  connectTimeout?: number;
  /** Milliseconds of silence before a status/ping (default 15000; 0 = no heartbeat). */
  heartbeatInterval?: number;
  /** Milliseconds to wait for the ping's answer before dropping the connection (default 10000). */
  heartbeatTimeout?: number;
  /** Backoff: full jitter, from initialBackoff doubling up to maxBackoff (defaults 250 and 30000 ms); back to
   *  initialBackoff once a connection is open and resubscribed, or an attempt delivered an event. */
  initialBackoff?: number;
  maxBackoff?: number;
  /** After 4029: wait between floodBackoff and twice that before reconnecting (default 5000 ms). */
  floodBackoff?: number;
  /** Refresh the token this long before it expires, at most half its lifetime (default 60000 ms). */
  refreshBefore?: number;
  /** Stop after this many connection attempts in a row that fail before open (a refused upgrade looks
   *  like that in a browser: 1006 before open). Default 10. */
  maxConnectFailures?: number;
  /** Reconnect after a close (default true). */
  reconnect?: boolean;
  onState?: (state: ConnectionState) => void;
  onReset?: (subscription: Subscription) => void;
  onError?: (error: RealtimeError | Error) => void;
}

export declare class RealtimeClient {
  constructor(options: RealtimeClientOptions);
  /** The normalized endpoint URL. */
  readonly url: string;
  readonly state: ConnectionState;
  /** The epoch (log name) of the latest status/initialize, or null. */
  readonly epoch: string | null;
  /** The server's id of the current connection, or null. */
  readonly connectionId: string | null;
  /** The latest status/initialize result. */
  readonly serverInfo: Record<string, unknown> | null;
  /** The error that stopped the client (state "closed" without close()), else null. */
  readonly error: RealtimeError | null;
  /** The last close seen (1006: dropped without a close frame, or a failed attempt). */
  readonly lastClose: { code: number; reason: string } | null;
  /** Successful reconnects so far. */
  readonly reconnects: number;
  /** In-band token refreshes (status/authenticate) so far. */
  readonly tokenRefreshes: number;

  /** Each returns a function that removes the listener. */
  onState(listener: (state: ConnectionState) => void): () => void;
  onReset(listener: (subscription: Subscription) => void): () => void;
  onError(listener: (error: RealtimeError | Error) => void): () => void;

  /** Resolves once the client is open; rejects if it closes first or after `timeout` ms. */
  ready(timeout?: number): Promise<void>;
  /** Every matching event once, in offset order, across reconnects. */
  subscribe<E extends PublishedEvent = PublishedEvent>(
    params: SubscriptionParams, onEvent: (event: RealtimeEvent<E>) => void, options?: SubscribeOptions): Subscription;
  /** Any JSON-RPC request (waits until the client is open: connected and every subscription added back);
   *  resolves with its result. */
  request<R = any>(method: string, params?: Record<string, unknown>, options?: { timeout?: number }): Promise<R>;
  ping(options?: { timeout?: number }): Promise<void>;
  listSubscriptions(): Promise<Array<{ scope: string; scope_id: string | null; target: string; target_id: string; types: string[] }>>;
  /** Hands the open connection a fresh token (status/authenticate); later reconnects use it too. */
  authenticate(token: string): Promise<{ expires_at: number }>;
  /** Closes the connection (1000) for good; every subscription ends. */
  close(): Promise<void>;
}

export declare class RealtimeError extends Error {
  /** JSON-RPC error code (400, 403, 405, 429, 500) when the server answered with an error. */
  readonly code: number | undefined;
  /** The error's data ({ field, reason }) when it had one. */
  readonly data: { field?: string; reason?: string; [key: string]: unknown } | undefined;
  readonly field: string | undefined;
  readonly reason: string | undefined;
  /** The WebSocket close code when a close caused this error (4001, 1009, …). */
  readonly closeCode: number | undefined;
  readonly closeReason: string | undefined;
  /** The method of the request that failed, if any. */
  readonly method: string | undefined;
}

/** Unpadded URL-safe base64 of a UTF-8 string: the form browsers accept as a subprotocol value. */
export declare function subprotocolCredential(text: string): string;
