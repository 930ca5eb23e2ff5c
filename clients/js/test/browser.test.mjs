// blobhub-realtime.js in a real headless Chromium, driven through the DevTools protocol: the page (an
// origin of the server) imports /client/blobhub-realtime.js from the server itself, subscribes with the
// subprotocol credential, and the test publishes over HTTP and reads what the page received with
// Runtime.evaluate. Chromium: $CHROMIUM, else /usr/bin/chromium (skipped when there is none).
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { MiniWebSocket } from "./mini-websocket.mjs";
import { Server, event, freePort, http, sleep, waitFor } from "./server.mjs";

const CHROMIUM = [process.env.CHROMIUM, "/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome"]
  .find((path) => path && existsSync(path));
const DevToolsWebSocket = globalThis.WebSocket ?? MiniWebSocket;
const SOURCE = readFileSync(new URL("../blobhub-realtime.js", import.meta.url), "utf8");

/** Headless Chromium with one page, and a DevTools session on it. */
class Browser {
  static async launch(url) {
    const port = await freePort();
    const profile = mkdtempSync(join(tmpdir(), "blobhub-js-chromium-"));
    const args = ["--headless=new", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run", "--no-default-browser-check",
      `--user-data-dir=${profile}`, "--remote-debugging-address=127.0.0.1", `--remote-debugging-port=${port}`, url];
    if (process.getuid?.() === 0) args.unshift("--no-sandbox");
    // Its own process group, so that close() and exit reach the renderer and helper processes too (they
    // write into the profile until they are gone).
    // TMPDIR inside the profile: a killed Chromium leaves no temporary files of its own behind.
    const child = spawn(CHROMIUM, args, { stdio: ["ignore", "ignore", "ignore"], detached: true, env: { ...process.env, TMPDIR: profile } });
    process.on("exit", () => Browser._killGroup(child));
    const browser = new Browser(child, profile);
    let target;
    await waitFor("the DevTools endpoint", async () => {
      if (child.exitCode !== null) throw new Error(`chromium exited with ${child.exitCode}`);
      try {
        const list = JSON.parse((await http("GET", `http://127.0.0.1:${port}/json/list`)).text);
        target = list.find((t) => t.type === "page" && t.url.startsWith(url.split("#")[0]));
        return !!target;
      } catch { return false; }
    }, 30000);
    await browser._attach(target.webSocketDebuggerUrl);
    return browser;
  }

  constructor(child, profile) {
    this.child = child;
    this.profile = profile;
    this.nextId = 1;
    this.pending = new Map();
    this.console = [];
  }

  _attach(url) {
    return new Promise((resolve, reject) => {
      const ws = new DevToolsWebSocket(url);
      this.ws = ws;
      ws.onopen = () => resolve();
      ws.onerror = () => reject(new Error("cannot reach the DevTools WebSocket"));
      ws.onmessage = (message) => {
        const data = JSON.parse(message.data);
        if (data.id !== undefined && this.pending.has(data.id)) {
          const { resolve, reject } = this.pending.get(data.id);
          this.pending.delete(data.id);
          if (data.error) reject(new Error(data.error.message)); else resolve(data.result);
        } else if (data.method === "Runtime.consoleAPICalled") {
          this.console.push(data.params.args.map((a) => a.value ?? a.description).join(" "));
        }
      };
    });
  }

  send(method, params = {}, timeoutMs = 15000) {
    return new Promise((resolve, reject) => {
      const id = this.nextId++;
      const timer = setTimeout(() => { this.pending.delete(id); reject(new Error(`${method}: no answer`)); }, timeoutMs);
      this.pending.set(id, { resolve: (r) => { clearTimeout(timer); resolve(r); }, reject: (e) => { clearTimeout(timer); reject(e); } });
      this.ws.send(JSON.stringify({ id, method, params }));
    });
  }

  /** Evaluates `expression` in the page (promises awaited) and returns its value. */
  async evaluate(expression) {
    const { result, exceptionDetails } = await this.send("Runtime.evaluate", { expression, awaitPromise: true, returnByValue: true });
    if (exceptionDetails) throw new Error(`in the page: ${exceptionDetails.exception?.description ?? exceptionDetails.text}`);
    return result.value;
  }

  async waitFor(what, expression, timeoutMs = 15000) {
    await waitFor(what, async () => {
      try { return (await this.evaluate(expression)) === true; } catch { return false; }   // e.g. while navigating
    }, timeoutMs);
  }

  static _killGroup(child) {
    try { process.kill(-child.pid, "SIGKILL"); } catch { /* gone */ }
  }

  async close() {
    try { this.ws?.close(); } catch { /* closed */ }
    const exited = this.child.exitCode === null && this.child.signalCode === null
      ? new Promise((r) => this.child.once("exit", r)) : Promise.resolve();
    Browser._killGroup(this.child);
    await exited;
    // Helpers of the group may still be exiting: removing the profile is best effort and never fails a test.
    try {
      rmSync(this.profile, { recursive: true, force: true, maxRetries: 10, retryDelay: 100 });
    } catch (error) {
      console.error(`could not remove the Chromium profile ${this.profile}: ${error.message}`);
    }
  }
}

describe("in headless Chromium", { skip: CHROMIUM ? false : "no Chromium (apt-get install chromium)" }, () => {
  let server, browser;
  before(async () => {
    server = new Server();
    await server.start();
    await server.register();
    // A page of the server's origin, so that the module import is same-origin.
    browser = await Browser.launch(`${server.base}/healthz`);
    await browser.send("Runtime.enable");
    // The target may be listed before its document has loaded: imports resolve against that document.
    await browser.waitFor("the page to load", `location.origin === ${JSON.stringify(server.base)} && document.readyState === "complete"`);
  });
  after(async () => {
    try { await browser?.close(); } finally { await server?.close(); }
  });

  test("the served module is the file, and imports as an ES module", async () => {
    const served = await http("GET", `${server.base}/client/blobhub-realtime.js`);
    assert.equal(served.status, 200);
    assert.match(served.headers["content-type"], /^text\/javascript/);
    assert.equal(served.text, SOURCE, "the server serves clients/js/blobhub-realtime.js as it is (rebuild the server after editing it)");
    const exported = await browser.evaluate(`import("/client/blobhub-realtime.js").then((m) => Object.keys(m).sort().join(","))`);
    assert.equal(exported, "RealtimeClient,RealtimeError,Subscription,VERSION,subprotocolCredential");
  });

  test("subscribe with the subprotocol credential; events arrive in order; the resume after a kill -9 misses nothing", async () => {
    const token = await server.token();
    const setup = `(async () => {
      const { RealtimeClient } = await import("/client/blobhub-realtime.js");
      window.sockets = [];
      class Recording extends WebSocket { constructor(u, p) { super(u, p); window.sockets.push(this); } }
      window.states = [];
      window.got = [];
      window.client = new RealtimeClient({ url: ${JSON.stringify(server.wsURL)}, token: ${JSON.stringify(token)},
        WebSocket: Recording, initialBackoff: 50, maxBackoff: 500, onState: (s) => window.states.push(s) });
      window.sub = client.subscribe({ scope: "revision", scope_id: "rev-1", target: "session", target_id: "s-browser" },
        (e) => window.got.push([e.offset, e.type, e.event.message]));
      await sub.ready;
      return [client.state, sockets[0].protocol];
    })()`;
    assert.deepEqual(await browser.evaluate(setup), ["open", "authorization.bearer.base64"]);

    const acked = [];
    const publishRange = async (from, to) => {
      for (let n = from; n <= to; n++) {
        for (let tries = 0; ; tries++) {
          try { acked.push((await server.publish([event("s-browser", n)]))[0].offset); break; } catch (error) {
            if (tries > 400) throw error;
            await sleep(25);
          }
        }
      }
    };
    await publishRange(1, 10);
    await browser.waitFor("10 events in the page", "window.got.length === 10");
    const publishing = publishRange(11, 30);
    await sleep(100);
    await server.stop("SIGKILL");
    await sleep(300);
    await server.start();
    await publishing;
    await publishRange(31, 35);
    await browser.waitFor("35 events in the page", "window.got.length >= 35", 30000);
    await sleep(200);
    const got = await browser.evaluate("window.got");
    assert.deepEqual(got.map((g) => g[0]), [...new Set(acked)].sort((a, b) => a - b), "every event once, in offset order");
    assert.deepEqual(got.map((g) => g[2]), Array.from({ length: 35 }, (_, i) => `event ${i + 1}`));
    const states = await browser.evaluate("window.states");
    assert.ok(states.includes("reconnecting"), `states: ${states}`);
    assert.equal(await browser.evaluate("client.state"), "open");
    assert.equal(await browser.evaluate("client.reconnects >= 1"), true);
    await browser.evaluate("client.close()");
    assert.equal(await browser.evaluate("client.state"), "closed");
  });

  test("an API key via the subprotocol variant; type filters", async () => {
    const key = await server.apiKey();
    const setup = `(async () => {
      const { RealtimeClient } = await import("/client/blobhub-realtime.js");
      window.keyGot = [];
      window.keyClient = new RealtimeClient({ url: ${JSON.stringify(server.wsURL)}, apiKey: ${JSON.stringify(key.key)} });
      const sub = keyClient.subscribe({ scope: "revision", scope_id: "rev-1", target: "session", target_id: "s-browser-key",
        types: ["execution_started", "execution_ended"] }, (e) => window.keyGot.push(e.type));
      await sub.ready;
      return keyClient.state;
    })()`;
    assert.equal(await browser.evaluate(setup), "open");
    await server.publish([event("s-browser-key", 1, { type: "flow.entered" }), event("s-browser-key", 2), event("s-browser-key", 3, { type: "flow.exited" })]);
    await browser.waitFor("2 lifecycle events", "window.keyGot.length === 2");
    assert.deepEqual(await browser.evaluate("window.keyGot"), ["execution_started", "execution_ended"]);
    await browser.evaluate("keyClient.close()");
  });

  test("a refused credential stops the client after a few attempts (the page sees 1006 before open)", async () => {
    const outcome = await browser.evaluate(`(async () => {
      const { RealtimeClient } = await import("/client/blobhub-realtime.js");
      const client = new RealtimeClient({ url: ${JSON.stringify(server.wsURL)}, token: "bad.token.value", initialBackoff: 20, maxBackoff: 100, maxConnectFailures: 3 });
      await new Promise((resolve) => client.onState((s) => { if (s === "closed") resolve(); }));
      return [client.lastClose.code, /cannot connect/.test(client.error.message)];
    })()`);
    assert.deepEqual(outcome, [1006, true]);
  });
});
