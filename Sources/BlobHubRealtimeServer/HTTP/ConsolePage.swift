import Hummingbird
import NIOCore

/// `GET /console`: a static page (no build step, no external assets) that connects with the
/// subprotocol credential (unpadded URL-safe base64), subscribes, shows events live and resumes
/// with `since` after a disconnect. Deep link: `/console#token=…&scope=…&scope_id=…&target=…&target_id=…&types=a,b`.
enum ConsolePage {
    static func add(to router: Router<BasicRequestContext>) {
        router.get("/console") { _, _ in
            Response(
                status: .ok,
                headers: [.contentType: "text/html; charset=utf-8", .cacheControl: "no-store"],
                body: .init(byteBuffer: ByteBuffer(string: html))
            )
        }
    }

    static let html = #"""
<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>BlobHub Realtime console</title>
<style>
  body { font: 14px/1.4 system-ui, sans-serif; margin: 0; background: #f6f7f9; color: #1d2330; }
  header { background: #1d2330; color: #fff; padding: 10px 16px; display: flex; gap: 16px; align-items: center; }
  header h1 { font-size: 16px; margin: 0; }
  #state { padding: 2px 8px; border-radius: 10px; background: #666; font-size: 12px; }
  #state.open { background: #1f8f4e; } #state.connecting { background: #b7791f; } #state.error { background: #c53030; }
  form { display: grid; grid-template-columns: repeat(auto-fit, minmax(180px, 1fr)); gap: 8px; padding: 12px 16px; background: #fff; border-bottom: 1px solid #dde; }
  label { display: flex; flex-direction: column; font-size: 12px; color: #556; }
  input, select, button { font: inherit; padding: 5px 6px; }
  button { cursor: pointer; }
  #error { color: #c53030; padding: 4px 16px; min-height: 1.2em; }
  table { width: 100%; border-collapse: collapse; background: #fff; }
  th, td { text-align: left; padding: 4px 8px; border-bottom: 1px solid #eef; vertical-align: top; font-size: 13px; }
  td.json pre { margin: 0; white-space: pre-wrap; word-break: break-all; }
  details summary { cursor: pointer; color: #335; }
</style>
</head>
<body>
<header><h1>BlobHub Realtime</h1><span id="state">disconnected</span><span id="stats"></span></header>
<form id="form">
  <label>Bearer token<input id="token" autocomplete="off"></label>
  <label>or API key<input id="api_key" autocomplete="off"></label>
  <label>Scope<select id="scope"><option>revision</option><option>core</option></select></label>
  <label>Scope id (revision)<input id="scope_id"></label>
  <label>Target<select id="target"><option>session</option><option>execution</option><option>user</option><option>organization</option><option>blob</option><option>revision</option></select></label>
  <label>Target id<input id="target_id"></label>
  <label>Types (comma separated, empty = all)<input id="types"></label>
  <label>&nbsp;<span><button type="submit" id="connect">Connect</button> <button type="button" id="disconnect">Disconnect</button> <button type="button" id="clear">Clear</button></span></label>
</form>
<div id="error"></div>
<table><thead><tr><th>Offset</th><th>Time</th><th>Type</th><th>Target</th><th>Event</th></tr></thead><tbody id="events"></tbody></table>
<script>
"use strict";
const $ = (id) => document.getElementById(id);
const fields = ["token", "api_key", "scope", "scope_id", "target", "target_id", "types"];
let socket = null, wanted = false, attempt = 0, lastOffset = null, epoch = null, nextId = 1, received = 0;

function base64url(text) {
  const bytes = new TextEncoder().encode(text);
  let binary = ""; for (const b of bytes) binary += String.fromCharCode(b);
  return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}
function setState(text, cls) { const s = $("state"); s.textContent = text; s.className = cls || ""; }
function showError(text) { $("error").textContent = text || ""; }
function send(method, params) { const id = nextId++; socket.send(JSON.stringify({ jsonrpc: "2.0", id, method, params })); return id; }

function subscriptionParams() {
  const p = { scope: $("scope").value, target: $("target").value, target_id: $("target_id").value.trim() };
  if (p.scope === "revision") p.scope_id = $("scope_id").value.trim();
  const types = $("types").value.split(",").map((t) => t.trim()).filter(Boolean);
  if (types.length) p.types = types;
  if (lastOffset !== null) { p.since = lastOffset; if (epoch) p.epoch = epoch; }
  return p;
}

function connect() {
  const token = $("token").value.trim(), key = $("api_key").value.trim();
  if (!token && !key) { showError("Enter a bearer token or an API key."); return; }
  wanted = true; showError("");
  const protocols = token ? ["authorization.bearer.base64", base64url(token)] : ["x-api-key.base64", base64url(key)];
  const url = (location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/v1";
  setState("connecting", "connecting");
  const ws = new WebSocket(url, protocols);
  socket = ws;
  let initId = null, addId = null;
  ws.onopen = () => { initId = send("status/initialize", { client_info: { name: "BlobHub Realtime console", version: "1" } }); };
  ws.onmessage = (message) => {
    const data = JSON.parse(message.data);
    if (data.id === initId) {
      if (data.error) { showError("initialize: " + data.error.message); return; }
      if (epoch && data.result.epoch !== epoch) lastOffset = null;  // another log: offsets mean nothing
      epoch = data.result.epoch;
      addId = send("subscription/add", subscriptionParams());
    } else if (data.id === addId) {
      if (data.error) { wanted = false; showError("subscribe: " + data.error.code + " " + data.error.message + (data.error.data ? " (" + JSON.stringify(data.error.data) + ")" : "")); ws.close(); return; }
      attempt = 0; setState("live", "open");
      if (data.result && data.result.recovered === false) showError("Some events could not be recovered; reload state.");
    } else if (data.method === "subscription/event") {
      showEvent(data.params);
    } else if (data.method === "subscription/revoked") {
      wanted = false; showError("Subscription revoked: " + data.params.reason); ws.close();
    }
  };
  ws.onclose = (event) => {
    if (socket !== ws) return;
    socket = null;
    if (event.code === 4001) { wanted = false; showError("Authentication expired or revoked (4001)."); }
    if (!wanted) { setState("disconnected"); return; }
    const delay = Math.min(30000, 500 * 2 ** attempt) * (0.5 + Math.random() / 2);
    attempt++;
    setState("reconnecting in " + Math.round(delay / 100) / 10 + " s (close " + event.code + ")", "error");
    setTimeout(() => { if (wanted && !socket) connect(); }, delay);
  };
  ws.onerror = () => { if (attempt === 0) showError("Connection failed: check the credential and the server."); };
}

function showEvent(params) {
  if (lastOffset !== null && params.offset <= lastOffset) return;
  lastOffset = params.offset; received++;
  const e = params.event || {};
  const row = document.createElement("tr");
  row.className = "event";
  const cells = [String(params.offset), e.created_at ? new Date(e.created_at).toISOString().replace("T", " ").replace("Z", "") : "", e.type || "", params.target + "/" + params.target_id];
  for (const text of cells) { const td = document.createElement("td"); td.textContent = text; row.appendChild(td); }
  const td = document.createElement("td"); td.className = "json";
  const details = document.createElement("details"); const summary = document.createElement("summary");
  summary.textContent = e.message || e.id || "event"; const pre = document.createElement("pre");
  pre.textContent = JSON.stringify(e, null, 2); details.append(summary, pre); td.appendChild(details); row.appendChild(td);
  $("events").prepend(row);
  while ($("events").rows.length > 500) $("events").deleteRow(-1);
  $("stats").textContent = received + " events, last offset " + lastOffset;
}

$("form").addEventListener("submit", (event) => { event.preventDefault(); if (socket) socket.close(); lastOffset = null; connect(); });
$("disconnect").addEventListener("click", () => { wanted = false; if (socket) socket.close(); });
$("clear").addEventListener("click", () => { $("events").innerHTML = ""; received = 0; $("stats").textContent = ""; });

// Deep link: the hash never reaches the server.
const hash = new URLSearchParams(location.hash.slice(1));
for (const name of fields) if (hash.has(name)) $(name).value = hash.get(name);
if (hash.has("token") || hash.has("api_key")) connect();
</script>
</body>
</html>
"""#
}
