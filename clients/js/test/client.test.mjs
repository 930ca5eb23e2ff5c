// Node 20 tests of blobhub-realtime.js against the real server (node --experimental-websocket --test).
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { RealtimeClient, RealtimeError, subprotocolCredential } from "../blobhub-realtime.js";
import { Server, event, sleep, waitFor } from "./server.mjs";

const SESSION = (name) => ({ scope: "revision", scope_id: "rev-1", target: "session", target_id: name });

/** Collects a subscription's callbacks and the client's states. */
function recorder(client) {
  const seen = [];
  const states = [];
  client.onState((s) => states.push(s));
  return { seen, states, onEvent: (e) => seen.push(e) };
}

describe("RealtimeClient against a real server", () => {
  let server;
  before(async () => {
    server = new Server();
    await server.start();
    await server.register();
  });
  after(async () => { await server?.close(); });

  test("subprotocol credential: unpadded URL-safe base64", () => {
    assert.equal(subprotocolCredential("a?b>"), "YT9iPg");
    assert.equal(subprotocolCredential("\u00ff\u00fe"), "w7_Dvg");
  });

  test("subscribe, then every event once, in offset order, with its fields", async () => {
    const client = new RealtimeClient({ url: server.wsURL, token: await server.token() });
    const r = recorder(client);
    const sub = client.subscribe(SESSION("s-basic"), r.onEvent);
    await sub.ready;
    assert.equal(client.state, "open");
    const acks = await server.publish([1, 2, 3].map((n) => event("s-basic", n)));
    await waitFor("3 events", () => r.seen.length === 3);
    assert.deepEqual(r.seen.map((e) => e.offset), acks.map((a) => a.offset));
    assert.equal(r.seen[0].type, "processor.output");
    assert.equal(r.seen[0].event.message, "event 1");
    assert.equal(r.seen[0].event.id, "s-basic-ev-1");
    sub.unsubscribe();
    await sleep(100);
    await server.publish([event("s-basic", 4)]);
    await sleep(300);
    assert.equal(r.seen.length, 3, "no callback after unsubscribe");
    client.close();
    assert.equal(client.state, "closed");
  });

  test("type filters and an API key credential", async () => {
    const key = await server.apiKey();
    const client = new RealtimeClient({ url: server.wsURL, apiKey: key.key });
    const all = [], entered = [];
    const a = client.subscribe(SESSION("s-types"), (e) => all.push(e.type));
    const b = client.subscribe({ ...SESSION("s-types"), types: ["flow.entered"] }, (e) => entered.push(e.type));
    await Promise.all([a.ready, b.ready]);
    await server.publish([event("s-types", 1), event("s-types", 2, { type: "flow.entered" })]);
    await waitFor("events", () => all.length >= 3 && entered.length === 1);   // flow.entered also derives execution_started
    assert.deepEqual(entered, ["flow.entered"]);
    assert.ok(all.includes("processor.output") && all.includes("flow.entered"));
    client.close();
  });

  test("bad params and forbidden subscriptions reject ready with the server's error", async () => {
    const client = new RealtimeClient({ url: server.wsURL, token: await server.token() });
    const bad = client.subscribe({ scope: "revision", scope_id: "rev-1", target: "session" }, () => {});
    await assert.rejects(bad.ready, (e) => e instanceof RealtimeError && e.code === 400 && e.data?.field === "target_id");
    const forbidden = client.subscribe({ scope: "core", target: "organization", target_id: "org-unknown" }, () => {});
    await assert.rejects(forbidden.ready, (e) => e instanceof RealtimeError && e.code === 403);
    await assert.rejects(client.request("no/such"), (e) => e.code === 405);
    client.close();
  });

  test("since + a different epoch: recovered false reaches onReset", async () => {
    const client = new RealtimeClient({ url: server.wsURL, token: await server.token() });
    let resets = 0;
    const sub = client.subscribe(SESSION("s-reset"), () => {}, { since: 1, epoch: "not-this-log", onReset: () => { resets += 1; } });
    await sub.ready;
    assert.equal(resets, 1);
    assert.equal(sub.recovered, false);
    client.close();
  });
});

describe("reconnects", () => {
  test("kill -9 and restart on the same SQLite file while publishing: every event once, in order", async () => {
    const server = new Server();
    try {
      await server.start();
      await server.register();
      const client = new RealtimeClient({ url: server.wsURL, token: await server.token(), backoffMs: [50, 500] });
      const r = recorder(client);
      const sub = client.subscribe(SESSION("s-kill"), r.onEvent);
      await sub.ready;
      const acked = [];
      const publishSome = async (from, to) => {
        for (let n = from; n <= to; n++) {
          for (;;) {   // the same id again after a failure: idempotent
            try { acked.push((await server.publish([event("s-kill", n)]))[0].offset); break; } catch { await sleep(50); }
          }
        }
      };
      await publishSome(1, 20);
      await server.stop("SIGKILL");
      const publishing = publishSome(21, 40);   // retries until the node is back
      await sleep(300);
      await server.start();
      await publishing;
      await server.stop("SIGKILL");             // a second time, right after
      await server.start();
      await publishSome(41, 60);
      await waitFor("all 60 events", () => r.seen.length >= 60, 20000);
      await sleep(300);
      const offsets = r.seen.map((e) => e.offset);
      assert.deepEqual(offsets, [...new Set(acked)].sort((a, b) => a - b));
      assert.deepEqual(r.seen.map((e) => e.event.message), Array.from({ length: 60 }, (_, i) => `event ${i + 1}`));
      assert.ok(r.states.includes("reconnecting"));
      assert.equal(client.state, "open");
      client.close();
    } finally {
      await server.close();
    }
  });

  test("1001 on a graceful restart: resumes at once, nothing missed", async () => {
    const server = new Server(["--drain-timeout", "1s"]);
    try {
      await server.start();
      await server.register();
      const client = new RealtimeClient({ url: server.wsURL, token: await server.token() });
      const r = recorder(client);
      const closes = [];
      client._options.onError = (e) => { if (e.closeCode) closes.push(e.closeCode); };
      await client.subscribe(SESSION("s-drain"), r.onEvent).ready;
      await server.publish([event("s-drain", 1)]);
      await waitFor("event 1", () => r.seen.length === 1);
      await server.stop("SIGTERM");
      await server.start();
      await server.publish([event("s-drain", 2)]);
      await waitFor("event 2 after the restart", () => r.seen.length === 2, 15000);
      assert.deepEqual(r.seen.map((e) => e.event.message), ["event 1", "event 2"]);
      client.close();
    } finally {
      await server.close();
    }
  });

  test("4013 slow consumer: resumes with since and replays what overflowed", async () => {
    const server = new Server(["--send-queue-limit", "4"]);
    try {
      await server.start();
      await server.register();
      const client = new RealtimeClient({ url: server.wsURL, token: await server.token(), backoffMs: [50, 500] });
      const r = recorder(client);
      await client.subscribe(SESSION("s-slow"), r.onEvent).ready;
      const batch = Array.from({ length: 200 }, (_, i) => event("s-slow", i + 1));
      await server.publish(batch);
      await waitFor("200 events", () => r.seen.length >= 200, 20000);
      const messages = r.seen.map((e) => e.event.message);
      assert.deepEqual(messages, batch.map((e) => e.message));
      client.close();
    } finally {
      await server.close();
    }
  });

  test("4001 when an API key is revoked, without getToken: the client stops", async () => {
    const server = new Server();
    try {
      await server.start();
      await server.register();
      const key = await server.apiKey();
      const errors = [];
      const client = new RealtimeClient({ url: server.wsURL, apiKey: key.key, onError: (e) => errors.push(e) });
      await client.subscribe(SESSION("s-revoke"), () => {}).ready;
      await server.admin("DELETE", `/api-keys/${key.id}`);
      await waitFor("closed", () => client.state === "closed");
      assert.ok(errors.some((e) => e.closeCode === 4001), JSON.stringify(errors.map((e) => e.message)));
    } finally {
      await server.close();
    }
  });

  test("4001 with getToken: a new token and the subscription resumes", async () => {
    const server = new Server(["--jwt-leeway", "0s"]);
    try {
      await server.start();
      await server.register();
      let issued = 0;
      // The first token expires in 2 s and refresh is off (a huge left/2 never comes): 4001, then a fresh one.
      const client = new RealtimeClient({ url: server.wsURL, getToken: async () => (issued++ === 0 ? server.token(2) : server.token(3600)) });
      client._scheduleRefresh = () => {};
      const r = recorder(client);
      await client.subscribe(SESSION("s-4001"), r.onEvent).ready;
      await waitFor("a second token after 4001", () => issued >= 2 && client.state === "open", 15000);
      await server.publish([event("s-4001", 1)]);
      await waitFor("the event", () => r.seen.length === 1);
      assert.ok(r.states.includes("reconnecting"));
      client.close();
    } finally {
      await server.close();
    }
  });

  test("token refresh with getToken and status/authenticate, no reconnect", async () => {
    const server = new Server(["--jwt-leeway", "0s"]);
    try {
      await server.start();
      await server.register();
      let issued = 0;
      const client = new RealtimeClient({ url: server.wsURL, getToken: async () => { issued += 1; return server.token(3); } });
      const r = recorder(client);
      await client.subscribe(SESSION("s-refresh"), r.onEvent).ready;
      await sleep(5000);   // beyond the first token's expiry
      await server.publish([event("s-refresh", 1)]);
      await waitFor("the event", () => r.seen.length === 1);
      assert.ok(issued >= 3, `tokens issued: ${issued}`);
      assert.ok(!r.states.includes("reconnecting"), `states: ${r.states}`);
      client.close();
    } finally {
      await server.close();
    }
  });

  test("4029 request flood: backs off for seconds, then resumes", async () => {
    const server = new Server(["--rate-limit", "1"]);
    try {
      await server.start();
      await server.register();
      const errors = [];
      const client = new RealtimeClient({ url: server.wsURL, token: await server.token(), onError: (e) => errors.push(e) });
      const r = recorder(client);
      await client.subscribe(SESSION("s-flood"), r.onEvent).ready;
      const flood = Array.from({ length: 40 }, () => client.request("status/ping").catch(() => {}));
      await Promise.all(flood);
      await waitFor("reconnecting", () => client.state === "reconnecting", 5000);
      const since = Date.now();
      await waitFor("open again", () => client.state === "open", 20000);
      assert.ok(Date.now() - since >= 4000, "backed off for seconds");
      await server.publish([event("s-flood", 1)]);
      await waitFor("the event", () => r.seen.length === 1);
      client.close();
    } finally {
      await server.close();
    }
  });
});
