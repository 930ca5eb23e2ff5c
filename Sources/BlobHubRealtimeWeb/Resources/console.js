import { RealtimeClient } from "/client/blobhub-realtime.js";

const $ = (id) => document.getElementById(id);
const fields = ["token", "api_key", "scope", "scope_id", "target", "target_id", "types", "since"];
const MAX_ROWS = 500, MAX_EXECUTIONS = 200, MAX_ACTIVITY = 30;

// ---- The session model: executions built from the execution events and their derived summaries.

/** One execution as far as its events tell: status from execution_ended (or flow.exited / flow.error). */
function newExecution(id, at) {
  return { id, started: at, ended: null, status: "running", message: "", steps: [], lastOffset: 0 };
}

class SessionModel {
  constructor() { this.executions = new Map(); this.activity = []; }

  apply(offset, e) {
    const at = typeof e.created_at === "number" ? e.created_at : Date.now();
    if (!e.execution_id) {
      if (e.type) this.activity.unshift({ offset, at, type: e.type, detail: activityDetail(e) });
      this.activity.length = Math.min(this.activity.length, MAX_ACTIVITY);
      return;
    }
    let x = this.executions.get(e.execution_id);
    if (!x) {
      x = newExecution(e.execution_id, at);
      this.executions.set(x.id, x);
      if (this.executions.size > MAX_EXECUTIONS) this.executions.delete(this.executions.keys().next().value);
    }
    x.lastOffset = offset;
    const processor = e.attributes && typeof e.attributes.processor === "string" ? e.attributes.processor : "(processor)";
    switch (e.type) {
      case "execution_started": case "flow.entered":
        x.started = Math.min(x.started, at);
        if (e.message) x.message = e.message;
        break;
      case "execution_ended":
        x.ended = at;
        x.status = e.status === "failed" ? "failed" : "completed";
        break;
      case "flow.exited": case "flow.error":
        if (e.message) x.message = e.message;
        if (x.status === "running") { x.status = e.type === "flow.error" ? "failed" : "completed"; x.ended = at; }
        break;
      case "processor.entered":
        x.steps.push({ processor, started: at, ended: null, status: "running", outputs: [], errors: [] });
        break;
      case "processor.output": case "processor.exited": case "processor.error": {
        const step = openStep(x, processor, at);
        if (e.type === "processor.output") step.outputs.push(e.data !== undefined ? e.data : e);
        if (e.type === "processor.error") { step.errors.push(e.message || "error"); step.status = "error"; step.ended = at; }
        if (e.type === "processor.exited") { step.ended = at; if (step.status === "running") step.status = "done"; }
        break;
      }
    }
  }
}

/** The latest step of `processor` still running; one is made when its processor.entered was not seen. */
function openStep(x, processor, at) {
  for (let i = x.steps.length - 1; i >= 0; i--) if (x.steps[i].processor === processor && x.steps[i].ended === null) return x.steps[i];
  const step = { processor, started: at, ended: null, status: "running", outputs: [], errors: [] };
  x.steps.push(step);
  return step;
}

function activityDetail(e) {
  if (e.session_object && e.session_object.alias) return "object " + e.session_object.alias;
  if (e.item_id) return "thread " + (e.alias || "") + " item " + e.item_id;
  if (Array.isArray(e.changes)) return e.changes.map((c) => c && c.element_id).filter(Boolean).join(", ");
  return e.message || "";
}

// ---- Rendering (text only: event content is never parsed as HTML).

function el(tag, attributes, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes || {})) {
    if (name === "className") node.className = value; else if (name === "style") node.style.cssText = value; else node.setAttribute(name, value);
  }
  for (const child of children) if (child !== null && child !== undefined) node.append(child instanceof Node ? child : String(child));
  return node;
}
const clock = (ms) => new Date(ms).toISOString().slice(11, 23);
function duration(ms) {
  if (ms < 1000) return Math.max(0, Math.round(ms)) + " ms";
  if (ms < 60000) return (ms / 1000).toFixed(1) + " s";
  return Math.floor(ms / 60000) + " min " + Math.round((ms % 60000) / 1000) + " s";
}

const model = new SessionModel();
const expanded = new Set(), collapsed = new Set();
const selectedStep = new Map();  // execution id -> step index
let renderQueued = false;

function scheduleRender() {
  if (renderQueued) return;
  renderQueued = true;
  requestAnimationFrame(() => { renderQueued = false; render(); });
}

function render() {
  const now = Date.now();
  const list = [...model.executions.values()].reverse();  // newest first
  // The newest execution shows its timeline unless the user folded it.
  const isOpen = (x, index) => expanded.has(x.id) || (index === 0 && !collapsed.has(x.id));
  const rows = [];
  list.forEach((x, index) => {
    const end = x.ended ?? now, open = isOpen(x, index);
    rows.push(el("tr", { className: "execution", "data-execution": x.id, "data-status": x.status },
      el("td", { className: "toggle" }, open ? "▾" : "▸"),
      el("td", {}, el("code", { className: "id", title: x.id }, x.id.slice(0, 8))),
      el("td", {}, el("span", { className: "badge " + x.status }, x.status)),
      el("td", { className: "num" }, clock(x.started)),
      el("td", { className: "num" }, x.ended === null ? "" : clock(x.ended)),
      el("td", { className: "num duration" }, duration(end - x.started)),
      el("td", { className: "num" }, String(x.steps.length)),
      el("td", {}, x.message)));
    if (open) rows.push(el("tr", { className: "timeline", "data-execution": x.id }, el("td", { colspan: "8" }, timeline(x, now))));
  });
  $("executions").replaceChildren(...rows);
  $("session-empty").hidden = list.length > 0;
  $("activity").replaceChildren(...model.activity.map((a) =>
    el("li", {}, el("span", { className: "time" }, clock(a.at)), el("b", {}, a.type), " ", a.detail)));
}

function timeline(x, now) {
  const start = x.started, span = Math.max(1, (x.ended ?? now) - start);
  const nodes = [];
  if (x.steps.length === 0) nodes.push(el("div", { className: "hint" }, "No processor steps yet."));
  x.steps.forEach((step, index) => {
    const stepEnd = step.ended ?? (x.ended ?? now);
    const left = ((step.started - start) / span) * 100, width = ((stepEnd - step.started) / span) * 100;
    const selected = selectedStep.get(x.id) === index;
    nodes.push(el("div", { className: "step" + (selected ? " selected" : ""), "data-step": String(index), "data-status": step.status, "data-execution": x.id },
      el("span", { className: "name", title: step.processor }, step.processor),
      el("div", { className: "track" }, el("div", { className: "bar", style: `left:${left.toFixed(2)}%;width:${Math.max(0.3, width).toFixed(2)}%` })),
      el("span", { className: "dur" }, duration(stepEnd - step.started)),
      el("span", {}, el("span", { className: "badge " + step.status }, step.status))));
    if (selected) {
      const detail = { outputs: step.outputs };
      if (step.errors.length) detail.errors = step.errors;
      nodes.push(el("pre", { className: "detail" }, JSON.stringify(detail, null, 2)));
    }
  });
  return el("div", { className: "steps" }, ...nodes);
}

$("executions").addEventListener("click", (event) => {
  const step = event.target.closest(".step");
  if (step) {
    const id = step.dataset.execution, index = Number(step.dataset.step);
    if (selectedStep.get(id) === index) selectedStep.delete(id); else selectedStep.set(id, index);
    render();
    return;
  }
  const row = event.target.closest("tr.execution");
  if (!row) return;
  const id = row.dataset.execution;
  const open = row.querySelector(".toggle").textContent === "▾";
  if (open) { expanded.delete(id); collapsed.add(id); } else { collapsed.delete(id); expanded.add(id); }
  render();
});

function addRawRow(e) {
  const ev = e.event || {};
  const row = el("tr", { className: "event" },
    el("td", {}, String(e.offset)),
    el("td", {}, ev.created_at ? new Date(ev.created_at).toISOString().replace("T", " ").replace("Z", "") : ""),
    el("td", {}, ev.type || ""),
    el("td", {}, e.target + "/" + e.target_id),
    el("td", { className: "json" }, el("details", {}, el("summary", {}, ev.message || ev.id || "event"), el("pre", {}, JSON.stringify(ev, null, 2)))));
  $("events").prepend(row);
  while ($("events").rows.length > MAX_ROWS) $("events").deleteRow(-1);
}

// ---- Tabs, header figures.

for (const tab of document.querySelectorAll(".tab")) tab.addEventListener("click", () => showView(tab.dataset.view));
function showView(view) {
  for (const tab of document.querySelectorAll(".tab")) tab.classList.toggle("selected", tab.dataset.view === view);
  for (const section of document.querySelectorAll(".view")) section.hidden = section.id !== view;
}

const STATE_TEXT = { connecting: "connecting", open: "live", reconnecting: "reconnecting", closed: "disconnected" };
function setState(state) { const badge = $("state"); badge.dataset.state = state; badge.textContent = STATE_TEXT[state] || state; }
function showError(text) { $("error").textContent = text || ""; }
function showNote(text) { $("note").textContent = text || ""; }

let received = 0, lastOffset = null;
const arrivals = [];  // arrival times (ms) in the last 10 seconds
function updateFigures() {
  const now = Date.now();
  while (arrivals.length && arrivals[0] < now - 10000) arrivals.shift();
  $("rate").textContent = (arrivals.length / 10).toFixed(1) + " events/s";
  $("stats").textContent = received ? received + " events, last offset " + lastOffset : "";
}
setInterval(() => { updateFigures(); if ([...model.executions.values()].some((x) => x.ended === null)) scheduleRender(); }, 1000);

// ---- The connection: the served client does reconnects, since/epoch resume and the close codes.

let client = null, subscription = null, resumeFrom = null;

function describe(error) {
  if (!error) return "";
  let text = error.message || String(error);
  if (error.closeCode) text += " (close " + error.closeCode + ")";
  if (error.field) text += " [field " + error.field + "]";
  return text;
}

function connect() {
  disconnect();
  const token = $("token").value.trim(), apiKey = $("api_key").value.trim();
  if (!token && !apiKey) { showError("Enter a bearer token or an API key."); return; }
  const sinceText = $("since").value.trim();
  if (sinceText && !/^\d+$/.test(sinceText)) { showError("Since is an offset: a non-negative integer, or empty for live only."); return; }
  showError(""); showNote("");
  const params = { scope: $("scope").value, target: $("target").value, target_id: $("target_id").value.trim() };
  if (params.scope === "revision") params.scope_id = $("scope_id").value.trim();
  const types = $("types").value.split(",").map((t) => t.trim()).filter(Boolean);
  if (types.length) params.types = types;
  showView(params.target === "session" || params.target === "execution" ? "session-view" : "events-view");

  const options = { url: location.origin.replace(/^http/, "ws") + "/v1", clientInfo: { name: "BlobHub Realtime console", version: "2" } };
  if (token) options.token = token; else options.apiKey = apiKey;
  const current = client = new RealtimeClient(options);
  current.onState((state) => {
    if (current !== client) return;
    if (state === "reconnecting") resumeFrom = subscription ? subscription.position : null;
    if (state === "open" && current.reconnects > 0 && resumeFrom !== null) showNote("resumed from offset " + resumeFrom);
    setState(state);
    if (state === "closed" && current.error) showError("Stopped: " + describe(current.error));
  });
  const sub = subscription = current.subscribe(params, (e) => {
    received++; lastOffset = e.offset; arrivals.push(Date.now());
    addRawRow(e);
    model.apply(e.offset, e.event || {});
    scheduleRender(); updateFigures();
  }, {
    since: sinceText ? Number(sinceText) : undefined,
    onReset: () => showNote("some events could not be replayed (recovered: false): older executions may be incomplete"),
    onRevoked: (reason) => showError("Subscription revoked: " + reason),
  });
  sub.ready.catch((error) => { if (sub === subscription) showError("subscribe: " + (error.code ? error.code + " " : "") + describe(error)); });
}

function disconnect() {
  const old = client;
  client = null; subscription = null; resumeFrom = null;
  if (old) old.close();
  setState("closed");
}

function clearView() {
  model.executions.clear(); model.activity = []; expanded.clear(); collapsed.clear(); selectedStep.clear();
  $("events").replaceChildren(); received = 0; lastOffset = null; arrivals.length = 0;
  updateFigures(); render();
}

$("form").addEventListener("submit", (event) => { event.preventDefault(); clearView(); connect(); });
$("disconnect").addEventListener("click", disconnect);
$("clear").addEventListener("click", clearView);

// Deep link: the hash never reaches the server.
const hash = new URLSearchParams(location.hash.slice(1));
for (const name of fields) if (hash.has(name)) $(name).value = hash.get(name);
if (hash.has("token") || hash.has("api_key")) connect();
