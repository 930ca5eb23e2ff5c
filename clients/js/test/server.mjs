// Test fixture: a real blobhub-realtime server as a child process on a free loopback port, with the
// registry objects the tests subscribe to. Binary: $BLOBHUB_REALTIME_BIN or .build/debug/blobhub-realtime.
import { spawn } from "node:child_process";
import { request as httpRequest } from "node:http";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";

export const ADMIN = "js-test-admin-key";
export const PUBLISHER = "js-test-publisher-key";
export const SECRET = "js-test-jwt-secret-0123456789abcdef0123456789";
const ROOT = resolve(new URL("../../..", import.meta.url).pathname);
export const BIN = process.env.BLOBHUB_REALTIME_BIN ?? join(ROOT, ".build/debug/blobhub-realtime");

// Every server this process started, killed when it exits, so that an interrupted run leaves none behind.
const running = new Set();
process.on("exit", () => { for (const child of running) try { child.kill("SIGKILL"); } catch { /* gone */ } });

export function sleep(ms) { return new Promise((r) => setTimeout(r, ms)); }

export async function waitFor(what, predicate, timeoutMs = 15000) {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (await predicate()) return;
    await sleep(25);
  }
  throw new Error(`timed out waiting for ${what}`);
}

/**
 * One HTTP request on its own connection (no keep-alive): Node's fetch pools connections per origin, and
 * Node's WebSocket (undici) would then send its upgrade on a connection that already served a request.
 * @returns {Promise<{status: number, headers: object, text: string}>}
 */
export function http(method, url, { headers = {}, body } = {}) {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { method, agent: false, headers: { Connection: "close", ...headers }, timeout: 10000 }, (res) => {
      const chunks = [];
      res.on("data", (c) => chunks.push(c));
      res.on("end", () => resolve({ status: res.statusCode, headers: res.headers, text: Buffer.concat(chunks).toString("utf8") }));
    });
    req.on("timeout", () => req.destroy(new Error(`${method} ${url}: timeout`)));
    req.on("error", reject);
    req.end(body);
  });
}

export function freePort() {
  return new Promise((res, rej) => {
    const s = createServer();
    s.listen(0, "127.0.0.1", () => { const { port } = s.address(); s.close(() => res(port)); });
    s.on("error", rej);
  });
}

export class Server {
  constructor(extraArgs = []) {
    this.dir = mkdtempSync(join(tmpdir(), "blobhub-js-"));
    this.store = `sqlite:${join(this.dir, "log.sqlite")}`;
    this.extraArgs = extraArgs;
    this.child = null;
  }

  get base() { return `http://127.0.0.1:${this.port}`; }
  get wsURL() { return `ws://127.0.0.1:${this.port}/v1`; }

  async start() {
    this.port ??= await freePort();
    this.child = spawn(BIN, ["serve", "--host", "127.0.0.1", "--port", String(this.port), "--store", this.store,
      "--jwt-secret", SECRET, "--admin-key", ADMIN, "--publisher-key", PUBLISHER, "--event-loops", "1",
      "--log-level", "warning", ...this.extraArgs], { stdio: ["ignore", "ignore", "inherit"] });
    const child = this.child;
    running.add(child);
    child.once("exit", () => running.delete(child));
    await waitFor("the server to listen", async () => {
      if (child.exitCode !== null) throw new Error(`server exited ${child.exitCode}`);
      try { return (await http("GET", `${this.base}/readyz`)).status === 200; } catch { return false; }
    });
  }

  /** Stops the process with `signal` (SIGKILL: no close frames; SIGTERM: drain, 1001). */
  async stop(signal = "SIGTERM") {
    const child = this.child;
    if (!child || child.exitCode !== null) return;
    const exited = new Promise((r) => child.once("exit", r));
    child.kill(signal);
    const timer = setTimeout(() => child.kill("SIGKILL"), 10000);
    await exited;
    clearTimeout(timer);
    this.child = null;
  }

  async close() { await this.stop("SIGKILL"); rmSync(this.dir, { recursive: true, force: true }); }

  async admin(method, path, body) {
    const r = await http(method, `${this.base}/v1/admin${path}`, { headers: { Authorization: `Bearer ${ADMIN}` },
      body: body === undefined ? undefined : JSON.stringify(body) });
    const text = r.text;
    if (r.status < 200 || r.status > 299) throw new Error(`${method} ${path}: ${r.status} ${text}`);
    return text ? JSON.parse(text) : null;
  }

  async register() {
    await this.admin("PUT", "/organizations/org-1", { name: "JS tests" });
    await this.admin("PUT", "/organizations/org-1/members/user-1", { role: "read" });
    await this.admin("PUT", "/blobs/blob-1", { organization_id: "org-1", type: "workflow", visibility: "private" });
    await this.admin("PUT", "/revisions/rev-1", { blob_id: "blob-1", phase: "draft" });
  }

  async token(ttlSeconds = 3600) {
    return (await this.admin("POST", "/tokens", { user_id: "user-1", ttl_seconds: ttlSeconds })).access_token;
  }

  async apiKey() {
    return this.admin("POST", "/api-keys", { user_id: "user-1", target: "orgs", target_id: "org-1", role: "read" });
  }

  /** Publishes events (objects) with the publisher key; returns the 202's events ([{id, offset}]). */
  async publish(events) {
    const r = await http("POST", `${this.base}/v1/events`, { headers: { Authorization: `Bearer ${PUBLISHER}` },
      body: JSON.stringify(events) });
    const text = r.text;
    if (r.status !== 202) throw new Error(`publish: ${r.status} ${text}`);
    return JSON.parse(text).events;
  }
}

export function event(session, n, extra = {}) {
  return { id: `${session}-ev-${n}`, type: "processor.output", revision_id: "rev-1", session_id: session,
    execution_id: "e-1", message: `event ${n}`, ...extra };
}
