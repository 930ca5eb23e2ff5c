// Node tests of blobhub-realtime.js against the real server binary ($BLOBHUB_REALTIME_BIN, default
// .build/debug/blobhub-realtime). Run: node --experimental-websocket --test clients/js/test/
// Node's own WebSocket (undici) is used when present, else the test-only MiniWebSocket; the tests that
// put raw frames on the wire always use MiniWebSocket.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { RealtimeClient, RealtimeError, subprotocolCredential } from "../blobhub-realtime.js";
import { MiniWebSocket } from "./mini-websocket.mjs";
import { Server, event, sleep, waitFor } from "./server.mjs";

const NativeWebSocket = process.env.BLOBHUB_TEST_WEBSOCKET === "mini" ? undefined : globalThis.WebSocket;
const BaseWebSocket = NativeWebSocket ?? MiniWebSocket;
const SESSION = (name) => ({ scope: "revision", scope_id: "rev-1", target: "session", target_id: name });
const FAST = { initialBackoff: 50, maxBackoff: 500, WebSocket: BaseWebSocket };

/** A WebSocket class that records its instances (to look at them or send raw messages), optionally
 *  dropping the first connection's outgoing messages. */
function recordingWebSocket(Base = BaseWebSocket, { muteFirst = false } = {}) {
  const sockets = [];
  class Recording extends Base {
    constructor(url, protocols) {
      super(url, protocols);
      this.closeCodes = [];
      this.addEventListener("close", (e) => this.closeCodes.push(e.code));
      this.muted = muteFirst && sockets.length === 0;
      sockets.push(this);
    }
    send(data) { if (!this.muted) super.send(data); }
  }
  return { Recording, sockets };
}

/** A WebSocket class that shows the test every connection's JSON-RPC traffic: `onSend(message, socket)` right
 *  after a message went out, `onReceive(message, socket)` before the client sees one; `socket.n` is the
 *  connection's number (0 = the first). `mute(message, socket)` returning true keeps a message off the wire. */
function watchingWebSocket({ onSend = () => {}, onReceive = () => {}, mute = () => false } = {}, Base = BaseWebSocket) {
  const sockets = [];
  class Watching extends Base {
    constructor(url, protocols) {
      super(url, protocols);
      this.n = sockets.length;
      this.liveBefore = sockets.filter((s) => s.readyState <= 1).length;   // earlier sockets still connecting or open
      this.createdAt = Date.now();
      this.closedAt = null;
      sockets.push(this);
      this.addEventListener("close", () => { this.closedAt = Date.now(); });
      this.addEventListener("message", (e) => { if (typeof e.data === "string") onReceive(JSON.parse(e.data), this); });
    }
    send(data) {
      const message = typeof data === "string" ? JSON.parse(data) : null;
      if (message && mute(message, this)) return;
      super.send(data);
      if (message) onSend(message, this);
    }
  }
  return { Watching, sockets };
}

/** Collects a client's states and errors and a subscription's events. */
function recorder(client) {
  const seen = [], states = [], errors = [];
  client.onState((s) => states.push(s));
  client.onError((e) => errors.push(e));
  return { seen, states, errors, onEvent: (e) => seen.push(e) };
}

function assertInOrderOnce(seen, expectedOffsets) {
  const offsets = seen.map((e) => e.offset);
  assert.deepEqual(offsets, [...expectedOffsets].sort((a, b) => a - b), "every event once, in offset order");
}

/** Runs `body(server)` with a fresh registered node started with `args`; always stops it. */
async function withServer(args, body) {
  const server = new Server(args);
  try {
    await server.start();
    await server.register();
    return await body(server);
  } finally {
    await server.close();
  }
}

describe("basics", () => {
  let server;
  before(async () => { server = new Server(); await server.start(); await server.register(); });
  after(async () => { await server?.close(); });

  test("subprotocol credential: unpadded URL-safe base64 of UTF-8", () => {
    assert.equal(subprotocolCredential("a?b>"), "YT9iPg");
    assert.equal(subprotocolCredential("\u00ff\u00fe"), "w7_Dvg");
    assert.equal(subprotocolCredential("~~~"), "fn5-");
  });

  test("options are checked", () => {
    assert.throws(() => new RealtimeClient({ url: server.wsURL }), TypeError);
    assert.throws(() => new RealtimeClient({ url: server.wsURL, apiKey: "k", token: "t", WebSocket: BaseWebSocket }), TypeError);
    assert.throws(() => new RealtimeClient({ url: "ftp://x/v1", token: "t", WebSocket: BaseWebSocket }), TypeError);
  });

  test("subscribe: every event once, in offset order, with its fields; unsubscribe stops callbacks", async () => {
    const { Recording, sockets } = recordingWebSocket();
    const client = new RealtimeClient({ ...FAST, WebSocket: Recording, url: server.wsURL, token: await server.token() });
    const r = recorder(client);
    const sub = client.subscribe(SESSION("s-basic"), r.onEvent);
    const result = await sub.ready;
    assert.equal(typeof result.offset, "number");
    assert.equal(client.state, "open");
    assert.deepEqual(r.states, ["open"]);
    assert.equal(sockets[0].protocol, "authorization.bearer.base64", "the server selects the marker only");
    assert.equal(typeof client.epoch, "string");
    const acks = await server.publish([1, 2, 3, 4, 5].map((n) => event("s-basic", n)));
    await waitFor("5 events", () => r.seen.length === 5);
    assertInOrderOnce(r.seen, acks.map((a) => a.offset));
    const first = r.seen[0];
    assert.equal(first.type, "processor.output");
    assert.equal(first.id, "s-basic-ev-1");
    assert.equal(first.event.message, "event 1");
    assert.equal(first.event.session_id, "s-basic");
    assert.equal(first.target_id, "s-basic");
    assert.equal(first.subscription, sub);
    assert.equal(sub.lastOffset, acks[4].offset);
    assert.deepEqual(await client.listSubscriptions(), [{ scope: "revision", scope_id: "rev-1", target: "session", target_id: "s-basic", types: [] }]);
    await sub.unsubscribe();
    assert.deepEqual(await client.listSubscriptions(), []);
    await server.publish([event("s-basic", 6)]);
    await sleep(200);
    assert.equal(r.seen.length, 5, "no callback after unsubscribe");
    await client.ping();
    await client.close();
    assert.equal(client.state, "closed");
    assert.deepEqual(sockets[0].closeCodes, [1000], "the server answers our close with 1000");
    assert.deepEqual(r.errors, []);
  });

  test("since replays what the log holds, then live events", async () => {
    const acks = await server.publish([1, 2, 3].map((n) => event("s-since", n)));
    const client = new RealtimeClient({ ...FAST, url: server.wsURL, token: await server.token() });
    const seen = [];
    const sub = client.subscribe(SESSION("s-since"), (e) => seen.push(e), { since: acks[0].offset });
    const result = await sub.ready;
    assert.equal(result.recovered, true);
    const live = await server.publish([event("s-since", 4)]);
    await waitFor("3 events", () => seen.length === 3);
    assertInOrderOnce(seen, [acks[1].offset, acks[2].offset, live[0].offset]);
    await client.close();
  });

  test("close() from a callback during the replay: ready stays resolved, no callback after close", async () => {
    await server.publish([1, 2, 3].map((n) => event("s-close-cb", n)));
    const client = new RealtimeClient({ ...FAST, url: server.wsURL, token: await server.token() });
    const seen = [];
    const sub = client.subscribe(SESSION("s-close-cb"), (e) => { seen.push(e.offset); client.close(); }, { since: 0 });
    const result = await sub.ready;   // the replayed events may be handled before this continuation runs
    assert.equal(result.recovered, true);
    await sleep(100);
    assert.equal(seen.length, 1);
    assert.equal(client.state, "closed");
  });

  test("type filters, an API key, and two subscriptions sharing one identity", async () => {
    const key = await server.apiKey();
    const { Recording, sockets } = recordingWebSocket();
    const client = new RealtimeClient({ ...FAST, WebSocket: Recording, url: server.wsURL, apiKey: key.key });
    const all = [], entered = [];
    const a = client.subscribe(SESSION("s-types"), (e) => all.push(e.type));
    const b = client.subscribe({ ...SESSION("s-types"), types: ["flow.entered"] }, (e) => entered.push(e.type));
    await Promise.all([a.ready, b.ready]);
    assert.equal(sockets[0].protocol, "x-api-key.base64");
    await server.publish([event("s-types", 1), event("s-types", 2, { type: "flow.entered" })]);
    await waitFor("events", () => all.length === 3 && entered.length === 1);   // flow.entered also derives execution_started
    assert.deepEqual(entered, ["flow.entered"]);
    assert.deepEqual(all, ["processor.output", "flow.entered", "execution_started"]);
    await a.unsubscribe();   // b still needs the server's subscription
    await server.publish([event("s-types", 3, { type: "flow.entered" })]);
    await waitFor("b's second event", () => entered.length === 2);
    assert.equal(all.length, 3);
    await client.close();
  });

  test("bad params, forbidden and unknown methods reject with the server's error", async () => {
    const client = new RealtimeClient({ ...FAST, url: server.wsURL, token: await server.token() });
    const bad = client.subscribe({ scope: "revision", scope_id: "rev-1", target: "session" }, () => {});
    await assert.rejects(bad.ready, (e) => e instanceof RealtimeError && e.code === 400 && e.field === "target_id" && e.reason === "required");
    assert.equal(bad.active, false);
    const badType = client.subscribe({ ...SESSION("s-1"), types: ["Not A Type"] }, () => {});
    await assert.rejects(badType.ready, (e) => e.code === 400 && e.field === "types");
    const forbidden = client.subscribe({ scope: "core", target: "organization", target_id: "org-unknown" }, () => {});
    await assert.rejects(forbidden.ready, (e) => e instanceof RealtimeError && e.code === 403);
    const notMine = client.subscribe({ scope: "core", target: "user", target_id: "someone-else" }, () => {});
    await assert.rejects(notMine.ready, (e) => e.code === 403);
    await assert.rejects(client.request("no/such"), (e) => e.code === 405);
    await assert.rejects(client.request("subscription/add", { scope: "nope" }), (e) => e.code === 400 && e.field === "scope");
    assert.throws(() => client.subscribe(SESSION("s-1"), () => {}, { since: -1 }), TypeError);
    assert.throws(() => client.subscribe(SESSION("s-1")), TypeError);
    // The client knows max_message_bytes from initialize and does not send what is too big.
    await assert.rejects(client.request("status/ping", { padding: "x".repeat(70000) }), /max_message_bytes/);
    assert.equal(client.state, "open");
    await client.ping();
    await client.close();
  });

  test("since with another log's epoch: recovered false reaches onReset, then live events", async () => {
    const client = new RealtimeClient({ ...FAST, url: server.wsURL, token: await server.token() });
    const resets = [], clientResets = [], seen = [];
    client.onReset((s) => clientResets.push(s));
    const sub = client.subscribe(SESSION("s-reset"), (e) => seen.push(e), { since: 1, epoch: "not-this-log", onReset: (s) => resets.push(s) });
    const result = await sub.ready;
    assert.equal(result.recovered, false);
    assert.deepEqual(resets, [sub]);
    assert.deepEqual(clientResets, [sub]);
    assert.equal(sub.recovered, false);
    assert.equal(sub.epoch, client.epoch);
    const acks = await server.publish([event("s-reset", 1)]);
    await waitFor("the live event", () => seen.length === 1);
    assert.equal(seen[0].offset, acks[0].offset);
    await client.close();
  });

  test("access removed: onRevoked, the subscription ends, the connection carries on", async () => {
    await server.admin("PUT", "/blobs/blob-2", { organization_id: "org-1", type: "workflow", visibility: "private" });
    await server.admin("PUT", "/revisions/rev-2", { blob_id: "blob-2", phase: "draft" });
    const client = new RealtimeClient({ ...FAST, url: server.wsURL, token: await server.token() });
    const revoked = [];
    const sub = client.subscribe({ scope: "revision", scope_id: "rev-2", target: "session", target_id: "s-x" }, () => {}, { onRevoked: (reason) => revoked.push(reason) });
    await sub.ready;
    await server.admin("DELETE", "/blobs/blob-2");
    await waitFor("revoked", () => revoked.length === 1);
    assert.equal(sub.active, false);
    assert.equal(typeof sub.revokedReason, "string");
    await client.ping();
    assert.deepEqual(await client.listSubscriptions(), []);
    await client.close();
  });

  test("a refused credential (401, seen as 1006 before open) stops after maxConnectFailures", async () => {
    const client = new RealtimeClient({ ...FAST, url: server.wsURL, token: "not-a-token", maxConnectFailures: 3 });
    const r = recorder(client);
    await waitFor("closed", () => client.state === "closed", 10000);
    assert.match(client.error.message, /cannot connect/);
    assert.ok(!r.states.includes("open"));
    assert.throws(() => client.subscribe(SESSION("s-1"), () => {}), RealtimeError);
  });
});

describe("reconnects and resume", () => {
  test("kill -9 and restart on the same SQLite file while publishing: every event once, in order", async () => {
    await withServer([], async (server) => {
      const client = new RealtimeClient({ ...FAST, url: server.wsURL, token: await server.token() });
      const r = recorder(client);
      const sub = client.subscribe(SESSION("s-kill"), r.onEvent);
      await sub.ready;
      const acked = [];
      const publishRange = async (from, to) => {
        for (let n = from; n <= to; n++) {
          for (let tries = 0; ; tries++) {   // the same id again after a failure: idempotent
            try { acked.push((await server.publish([event("s-kill", n)]))[0].offset); break; } catch (error) {
              if (tries > 400) throw error;
              await sleep(25);
            }
          }
        }
      };
      await publishRange(1, 20);
      const publishing = publishRange(21, 60);   // keeps going through both restarts
      await sleep(100);
      await server.stop("SIGKILL");
      await sleep(300);
      await server.start();
      await sleep(300);
      await server.stop("SIGKILL");               // a second time, soon after
      await server.start();
      await publishing;
      await publishRange(61, 70);
      await waitFor("all 70 events", () => r.seen.length >= 70, 20000);
      await sleep(200);
      assertInOrderOnce(r.seen, [...new Set(acked)]);
      assert.deepEqual(r.seen.map((e) => e.event.message), Array.from({ length: 70 }, (_, i) => `event ${i + 1}`));
      assert.ok(r.states.includes("reconnecting"));
      assert.ok(client.reconnects >= 1);
      assert.equal(client.state, "open");
      assert.equal(sub.recovered, true);
      await client.close();
    });
  });

  test("1001 on a graceful restart: resumes at once, nothing missed", async () => {
    await withServer(["--drain-timeout", "2s"], async (server) => {
      const client = new RealtimeClient({ ...FAST, url: server.wsURL, token: await server.token() });
      const r = recorder(client);
      // Every close as it happens: the client reconnects within a second of the 1001 and, while the node still
      // drains, that attempt is refused (1006), which replaces lastClose before a poll might see the 1001.
      const closes = [];
      client.onState((s) => { if (s === "reconnecting") closes.push(client.lastClose?.code); });
      await client.subscribe(SESSION("s-drain"), r.onEvent).ready;
      await server.publish([event("s-drain", 1)]);
      await waitFor("event 1", () => r.seen.length === 1);
      await server.stop("SIGTERM");
      await waitFor("the 1001", () => closes[0] === 1001);
      await server.start();
      await server.publish([event("s-drain", 2)]);
      await waitFor("event 2 after the restart", () => r.seen.length === 2, 15000);
      assert.deepEqual(r.seen.map((e) => e.event.message), ["event 1", "event 2"]);
      await client.close();
    });
  });

  test("4013 slow consumer: resumes with since, nothing lost or doubled", async () => {
    await withServer(["--send-queue-limit", "4"], async (server) => {
      const client = new RealtimeClient({ ...FAST, url: server.wsURL, token: await server.token() });
      const r = recorder(client);
      const sub = client.subscribe(SESSION("s-slow"), r.onEvent);
      await sub.ready;
      const acks = await server.publish(Array.from({ length: 30 }, (_, i) => event("s-slow", i + 1)));
      await waitFor("30 events", () => r.seen.length >= 30, 20000);
      await sleep(200);
      assertInOrderOnce(r.seen, acks.map((a) => a.offset));
      assert.equal(client.lastClose?.code, 4013);
      assert.equal(sub.resets, 0);
      await client.close();
    });
  });

  test("more to replay than --max-replay-events after a drop: onReset, then live events", async () => {
    await withServer(["--send-queue-limit", "4", "--max-replay-events", "3"], async (server) => {
      const client = new RealtimeClient({ ...FAST, url: server.wsURL, token: await server.token() });
      const r = recorder(client);
      const resets = [];
      const sub = client.subscribe(SESSION("s-gap"), r.onEvent, { onReset: (s) => resets.push(s.position) });
      await sub.ready;
      await server.publish(Array.from({ length: 40 }, (_, i) => event("s-gap", i + 1)));   // overflows: 4013
      await waitFor("a reset", () => resets.length >= 1, 15000);
      await waitFor("open", () => client.state === "open");
      const live = await server.publish([event("s-gap", 41)]);
      await waitFor("the live event", () => r.seen.at(-1)?.offset === live[0].offset, 10000);
      const offsets = r.seen.map((e) => e.offset);
      assert.deepEqual(offsets, [...new Set(offsets)].sort((a, b) => a - b), "in order, no duplicate");
      assert.equal(sub.recovered, false);
      await client.close();
    });
  });

  test("4001 when an API key is revoked: the client stops with the close code", async () => {
    await withServer([], async (server) => {
      const key = await server.apiKey();
      const client = new RealtimeClient({ ...FAST, url: server.wsURL, apiKey: key.key });
      const r = recorder(client);
      const sub = client.subscribe(SESSION("s-revoke"), () => {});
      await sub.ready;
      await server.admin("DELETE", `/api-keys/${key.id}`);
      await waitFor("closed", () => client.state === "closed");
      assert.equal(client.error.closeCode, 4001);
      assert.match(client.error.message, /API key/);
      assert.ok(r.errors.includes(client.error));
      assert.equal(sub.active, false);
      await assert.rejects(client.ping(), (e) => e.closeCode === 4001);
    });
  });

  test("4001 at token expiry without getToken: the client stops", async () => {
    await withServer(["--jwt-leeway", "0s"], async (server) => {
      const client = new RealtimeClient({ ...FAST, url: server.wsURL, token: await server.token(2) });
      await client.subscribe(SESSION("s-expire"), () => {}).ready;
      await waitFor("closed", () => client.state === "closed", 10000);
      assert.equal(client.error.closeCode, 4001);
      assert.match(client.error.message, /access token expired/);
    });
  });

  test("4001 with getToken (no refresh in time): a new token, and the subscription resumes without loss", async () => {
    await withServer(["--jwt-leeway", "0s"], async (server) => {
      let issued = 0;
      const client = new RealtimeClient({ ...FAST, url: server.wsURL, getToken: () => { issued += 1; return server.token(2); } });
      client._scheduleRefresh = () => {};   // no in-band refresh: let the server close with 4001
      const r = recorder(client);
      await client.subscribe(SESSION("s-4001"), r.onEvent).ready;
      const acks = [];
      for (let n = 1; n <= 10; n++) {       // ~4 s: the token expires at least once meanwhile
        acks.push(...await server.publish([event("s-4001", n)]));
        await sleep(400);
      }
      await waitFor("10 events", () => r.seen.length >= 10, 10000);
      assertInOrderOnce(r.seen, acks.map((a) => a.offset));
      assert.ok(issued >= 2, `tokens issued: ${issued}`);
      assert.ok(client.reconnects >= 1);
      assert.equal(client.lastClose.code, 4001);
      await client.close();
    });
  });

  test("token refresh before expiry with getToken and status/authenticate: no reconnect", async () => {
    await withServer(["--jwt-leeway", "0s"], async (server) => {
      let issued = 0;
      const client = new RealtimeClient({ ...FAST, url: server.wsURL, getToken: async () => { issued += 1; return server.token(3); } });
      const r = recorder(client);
      await client.subscribe(SESSION("s-refresh"), r.onEvent).ready;
      const acks = [];
      for (let n = 1; n <= 14; n++) {       // ~7 s: more than two tokens' lifetimes
        acks.push(...await server.publish([event("s-refresh", n)]));
        await sleep(500);
      }
      await waitFor("14 events", () => r.seen.length >= 14, 10000);
      assertInOrderOnce(r.seen, acks.map((a) => a.offset));
      assert.ok(client.tokenRefreshes >= 2, `refreshes: ${client.tokenRefreshes}`);
      assert.ok(issued >= 3, `tokens issued: ${issued}`);
      assert.equal(client.reconnects, 0);
      assert.equal(client.lastClose, null, "never closed");
      assert.deepEqual(r.states, ["open"]);
      await client.close();
    });
  });

  test("4029 request flood: backs off for seconds, then resumes", async () => {
    await withServer(["--rate-limit", "1"], async (server) => {
      const client = new RealtimeClient({ ...FAST, url: server.wsURL, token: await server.token(), floodBackoff: 1500 });
      const r = recorder(client);
      const sub = client.subscribe(SESSION("s-flood"), r.onEvent);
      await sub.ready;
      await sleep(1100);   // let the bucket refill after initialize + add
      const outcomes = await Promise.allSettled(Array.from({ length: 15 }, () => client.ping()));
      assert.ok(outcomes.some((o) => o.status === "rejected" && o.reason.code === 429));
      assert.ok(outcomes.some((o) => o.status === "rejected" && o.reason.closeCode === 4029));
      const closedAt = Date.now();
      const acks = await server.publish([1, 2, 3].map((n) => event("s-flood", n)));
      await waitFor("open again", () => client.state === "open", 10000);
      assert.ok(Date.now() - closedAt >= 1400, "waited floodBackoff before reconnecting");
      await waitFor("3 events", () => r.seen.length === 3, 10000);
      assertInOrderOnce(r.seen, acks.map((a) => a.offset));
      assert.equal(client.lastClose.code, 4029);
      assert.equal(client.reconnects, 1);
      await client.close();
    });
  });

  test("4008 when initialize does not come in time: reconnects with backoff", async () => {
    await withServer(["--init-timeout", "500ms"], async (server) => {
      const { Recording, sockets } = recordingWebSocket(BaseWebSocket, { muteFirst: true });
      const client = new RealtimeClient({ ...FAST, WebSocket: Recording, url: server.wsURL, token: await server.token(), requestTimeout: 3000 });
      const seen = [];
      const sub = client.subscribe(SESSION("s-4008"), (e) => seen.push(e));
      await sub.ready;
      assert.deepEqual(sockets[0].closeCodes, [4008]);
      assert.equal(client.lastClose.code, 4008);
      await server.publish([event("s-4008", 1)]);
      await waitFor("the event", () => seen.length === 1);
      await client.close();
    });
  });

  test("a dead connection (server stopped with SIGSTOP): the status/ping heartbeat notices and reconnects", async () => {
    await withServer([], async (server) => {
      const client = new RealtimeClient({ ...FAST, url: server.wsURL, token: await server.token(), heartbeatInterval: 300, heartbeatTimeout: 500 });
      await client.subscribe(SESSION("s-dead"), () => {}).ready;
      server.child.kill("SIGSTOP");
      try {
        await waitFor("reconnecting", () => client.state !== "open", 5000);
      } finally {
        server.child.kill("SIGCONT");
      }
      await waitFor("open again", () => client.state === "open", 10000);
      assert.equal(client.lastClose.code, 1006);
      await client.close();
    });
  });
});

describe("reconnect races", () => {
  const isAdd = (m, target) => m.method === "subscription/add" && m.params?.target_id === target;
  const targets = (list) => list.map((s) => s.target_id).sort();

  test("4013 while asking subscription/list every millisecond: no answer comes from a half-restored connection", async () => {
    await withServer(["--send-queue-limit", "4", "--rate-limit", "100000"], async (server) => {
      let client;
      const midResume = [];   // asked right after the reconnect put a re-subscription on the wire
      const { Watching, sockets } = watchingWebSocket({
        onSend: (m, socket) => {
          if (socket.n >= 1 && isAdd(m, "s-race-list") && midResume.length < 10) {
            queueMicrotask(() => midResume.push(client.listSubscriptions().then((list) => ({ list }), (error) => ({ error }))));
          }
        },
      });
      client = new RealtimeClient({ ...FAST, WebSocket: Watching, url: server.wsURL, token: await server.token() });
      try {
        const r = recorder(client);
        await client.subscribe(SESSION("s-race-list"), r.onEvent).ready;
        const acks = await server.publish(Array.from({ length: 30 }, (_, i) => event("s-race-list", i + 1)));   // overflows: 4013
        const answers = [];
        const end = Date.now() + 20000;
        while (Date.now() < end && !(r.seen.length >= 30 && client.state === "open" && answers.filter((a) => a.reconnects >= 1).length >= 3)) {
          const asked = { state: client.state, reconnects: client.reconnects };
          try {
            answers.push({ ...asked, list: await client.listSubscriptions(), reconnects: client.reconnects });
          } catch (error) {
            assert.ok(error instanceof RealtimeError && error.closeCode !== undefined, `a request fails only with the client's closed error: ${error}`);
          }
          await sleep(1);
        }
        assert.ok(sockets.length >= 2 && client.reconnects >= 1, "reconnected");
        assert.ok(answers.some((a) => a.state !== "open"), "asked while reconnecting");
        for (const a of answers) assert.deepEqual(targets(a.list), ["s-race-list"], `answer to a request made while ${a.state}`);
        assert.ok(midResume.length >= 1, "asked mid-resubscribe");
        const settled = await Promise.all(midResume);
        assert.ok(settled.some((s) => s.list), "a request made mid-resubscribe was answered");
        for (const s of settled) {
          if (s.list) assert.deepEqual(targets(s.list), ["s-race-list"], "asked mid-resubscribe");
          else assert.ok(s.error instanceof RealtimeError && s.error.closeCode !== undefined, String(s.error));
        }
        assertInOrderOnce(r.seen, acks.map((a) => a.offset));
        assert.equal(client.lastClose?.code, 4013);
      } finally {
        await client.close();
      }
    });
  });

  test("unsubscribe() while the reconnect re-subscribes: the server does not keep the subscription", async () => {
    await withServer([], async (server) => {
      let y;
      let unsubscribed = null;
      const { Watching, sockets } = watchingWebSocket({
        onSend: (m, socket) => {
          // its re-subscription is on the wire, unanswered: unsubscribe now
          if (socket.n >= 1 && isAdd(m, "s-unsub-y") && !unsubscribed) unsubscribed = new Promise((done) => queueMicrotask(() => y.unsubscribe().then(done)));
        },
      });
      const client = new RealtimeClient({ ...FAST, WebSocket: Watching, url: server.wsURL, token: await server.token() });
      try {
        const xs = [], ys = [];
        const x = client.subscribe(SESSION("s-unsub-x"), (e) => xs.push(e));
        y = client.subscribe(SESSION("s-unsub-y"), (e) => ys.push(e));
        await Promise.all([x.ready, y.ready]);
        sockets[0].close(3000);   // as a dropped network would
        await waitFor("the reconnect", () => client.reconnects === 1 && client.state === "open");
        assert.ok(unsubscribed, "unsubscribed mid-resubscribe");
        await unsubscribed;
        assert.equal(y.active, false);
        assert.deepEqual(targets(await client.listSubscriptions()), ["s-unsub-x"], "the server holds only what the client does");
        await server.publish([event("s-unsub-y", 1), event("s-unsub-x", 1)]);
        await waitFor("x's event", () => xs.length === 1);
        assert.equal(ys.length, 0);
        assert.equal(sockets.length, 2);
      } finally {
        await client.close();
      }
    });
  });

  test("a subscribe waiting out a 429 when its connection drops is added on the next connection", async () => {
    // rate 1/s, burst 2: initialize and the first add use the bucket, so the second add gets 429 and waits
    // 250-750 ms to retry; the connection drops meanwhile and the next one is open long before that wait ends.
    await withServer(["--rate-limit", "1"], async (server) => {
      let dropped = false;
      const { Watching, sockets } = watchingWebSocket({
        onReceive: (m, socket) => {
          if (socket.n === 0 && m.error?.code === 429 && !dropped) { dropped = true; socket.close(3000); }
        },
      });
      const client = new RealtimeClient({ ...FAST, WebSocket: Watching, url: server.wsURL, token: await server.token() });
      try {
        const as = [], bs = [];
        await client.subscribe(SESSION("s-429-a"), (e) => as.push(e)).ready;
        const b = client.subscribe(SESSION("s-429-b"), (e) => bs.push(e));
        await waitFor("b's 429 and the drop", () => dropped);
        await waitFor("the next connection", () => client.reconnects === 1 && client.state === "open");
        await Promise.race([b.ready, sleep(6000).then(() => { throw new Error("b was never added"); })]);
        const acks = await server.publish([event("s-429-b", 1), event("s-429-a", 1)]);
        await waitFor("both events", () => as.length === 1 && bs.length === 1);
        assert.equal(bs[0].offset, acks[0].offset);
        assert.equal(sockets.length, 2);
      } finally {
        await client.close();
      }
    });
  });

  test("a drop while re-subscribing: one connection at a time, nothing lost or doubled; a request on a closing socket fails with a RealtimeError", async () => {
    await withServer([], async (server) => {
      let dropsLeft = 2;   // the second and third connections drop as soon as their first re-subscription is out
      const { Watching, sockets } = watchingWebSocket({
        onSend: (m, socket) => {
          if (socket.n >= 1 && m.method === "subscription/add" && dropsLeft > 0 && socket.readyState === 1) { dropsLeft -= 1; socket.close(3000); }
        },
      });
      const client = new RealtimeClient({ ...FAST, WebSocket: Watching, url: server.wsURL, token: await server.token() });
      try {
        const r = recorder(client);
        const subs = Array.from({ length: 20 }, (_, i) => client.subscribe(SESSION(`s-one-${i}`), r.onEvent));
        await Promise.all(subs.map((s) => s.ready));
        const before = await server.publish(subs.map((_, i) => event(`s-one-${i}`, 1)));
        await waitFor("20 events", () => r.seen.length === 20);
        sockets[0].close(3000);
        await assert.rejects(client.ping(), (e) => e instanceof RealtimeError && /not connected/.test(e.message));
        const during = await server.publish(subs.map((_, i) => event(`s-one-${i}`, 2)));
        await waitFor("open again", () => dropsLeft === 0 && client.state === "open", 15000);
        const later = await server.publish(subs.map((_, i) => event(`s-one-${i}`, 3)));
        await waitFor("60 events", () => r.seen.length >= 60);
        await sleep(100);
        assert.equal(sockets.length, 4);
        for (const s of sockets) assert.equal(s.liveBefore, 0, `connection ${s.n} opened beside another`);
        for (let i = 0; i < 20; i++) {
          const offsets = [before, during, later].map((acks) => acks[i].offset);
          assert.deepEqual(r.seen.filter((e) => e.target_id === `s-one-${i}`).map((e) => e.offset), offsets, `s-one-${i}`);
        }
        assert.equal(client.reconnects, 1);
      } finally {
        await client.close();
      }
    });
  });

  test("an attempt that delivers events before its re-subscriptions finish resets the backoff", async () => {
    await withServer([], async (server) => {
      // The first connection drops after A's first replayed event; every later one re-adds A and B, B's add
      // never leaves (so the connection is never restored) and it drops after the one event of A it delivered.
      // Each attempt made progress: each waits at most initialBackoff (20 ms), not 20, 40, 80, ... 20480 ms.
      const acks = await server.publish(Array.from({ length: 12 }, (_, i) => event("s-progress-a", i + 1)));
      const last = acks.at(-1).offset;
      let done = false;
      const { Watching, sockets } = watchingWebSocket({
        mute: (m, socket) => socket.n >= 1 && !done && isAdd(m, "s-progress-b"),
        onReceive: (m, socket) => {
          if (done || m.method !== "subscription/event" || socket.readyState !== 1) return;
          if (m.params.offset === last) done = true;
          socket.close(3000);
        },
      });
      const client = new RealtimeClient({ ...FAST, initialBackoff: 20, maxBackoff: 60000, WebSocket: Watching, url: server.wsURL, token: await server.token() });
      try {
        const seen = [];
        await client.subscribe(SESSION("s-progress-b"), () => {}).ready;
        client.subscribe(SESSION("s-progress-a"), (e) => seen.push(e.offset), { since: 0 });
        await waitFor("A's 12 events", () => seen.length === 12, 8000).catch(() => {});
        const delays = [];
        for (let i = 1; i < sockets.length; i++) delays.push(sockets[i].createdAt - sockets[i - 1].closedAt);
        assert.ok(Math.max(...delays) < 1000, `reconnect delays: ${delays.join(", ")} ms`);
        assert.deepEqual(seen, acks.map((a) => a.offset), "every event once, in order");
        assert.ok(sockets.length >= 12, `one event per attempt: ${sockets.length} connections`);
        await waitFor("restored", () => client.state === "open");
      } finally {
        await client.close();
      }
    });
  });
});

describe("close codes for client faults: the client stops", () => {
  let server;
  before(async () => { server = new Server(["--max-message-bytes", "512"]); await server.start(); await server.register(); });
  after(async () => { await server?.close(); });

  async function stoppedBy(send, Base = BaseWebSocket) {
    const { Recording, sockets } = recordingWebSocket(Base);
    const client = new RealtimeClient({ ...FAST, WebSocket: Recording, url: server.wsURL, token: await server.token() });
    const sub = client.subscribe(SESSION("s-faults"), () => {});
    await sub.ready;
    send(sockets[0]);
    await waitFor("closed", () => client.state === "closed");
    assert.equal(sub.active, false);
    await assert.rejects(sub.ready.then(() => client.ping()));
    return client.error.closeCode;
  }

  test("1009: a message larger than max_message_bytes", async () => {
    assert.equal(await stoppedBy((ws) => ws.send(JSON.stringify({ jsonrpc: "2.0", id: 99, method: "status/ping", params: { p: "x".repeat(600) } }))), 1009);
  });

  test("1003: a binary frame", async () => {
    assert.equal(await stoppedBy((ws) => ws.send(new Uint8Array([1, 2, 3]))), 1003);
  });

  test("1007: invalid UTF-8 in a text frame", async () => {
    assert.equal(await stoppedBy((ws) => ws.sendFrame(1, Buffer.from([0x7b, 0xff, 0xfe, 0x7d])), MiniWebSocket), 1007);
  });

  test("1002: a malformed frame (unmasked)", async () => {
    assert.equal(await stoppedBy((ws) => ws.sendFrame(1, Buffer.from("{}"), { mask: false }), MiniWebSocket), 1002);
  });

  test("the test-only MiniWebSocket works as the client's WebSocket", async () => {
    const client = new RealtimeClient({ ...FAST, WebSocket: MiniWebSocket, url: server.wsURL, token: await server.token() });
    const seen = [];
    await client.subscribe(SESSION("s-mini"), (e) => seen.push(e)).ready;
    const acks = await server.publish([event("s-mini", 1), event("s-mini", 2)]);
    await waitFor("2 events", () => seen.length === 2);
    assertInOrderOnce(seen, acks.map((a) => a.offset));
    await client.close();
  });
});
