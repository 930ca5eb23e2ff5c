#!/usr/bin/env python3
"""Turns bench/run results (one JSON line per run) into BENCHMARKS.md on stdout.

Runs marked `tool_bound` (the load tool's busiest loop thread at >= 90 % of a core, or all its loop threads
at >= 90 % on average) are shown as `tool-bound` and left out of every median; a verdict that would need
one of them says "no verdict (tool-bound)".
"""
import argparse, json, os, statistics, subprocess, datetime

p = argparse.ArgumentParser()
p.add_argument("--results", required=True)
p.add_argument("--runs", default="3")
p.add_argument("--quick", default="0")
p.add_argument("--server-version", default="unknown")
p.add_argument("--baseline-version", default="")
p.add_argument("--server-bin", default="")
p.add_argument("--baseline-bin", default="")
p.add_argument("--peers", default="nchan centrifuge")
a = p.parse_args()

BENCH = "blobhub-realtime-bench"
rows = []
with open(a.results) as fh:
    for line in fh:
        line = line.strip()
        if line:
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError:
                pass

for r in rows:   # derived figures
    r.setdefault("tool", BENCH)
    cpu = r.get("server_cpu_percent")
    for rate, key in (("deliveries_per_second", "server_us_per_delivery"), ("events_per_second", "server_us_per_event")):
        v = r.get(rate)
        if isinstance(cpu, (int, float)) and isinstance(v, (int, float)) and v > 0:
            r[key] = cpu / 100 / v * 1e6
    # A publish answered with an error is not a publish: rates compare answers 2xx per second (Nchan answers some of
    # wrk's requests with HTTP 500 under load, which its requests/s counted).
    eps, requests, failed = r.get("events_per_second"), r.get("publish_requests"), r.get("publish_failed_events")
    if r.get("scenario") == "publish-single" and isinstance(eps, (int, float)):
        r["accepted_per_second"] = eps * (requests - failed) / requests if requests and isinstance(failed, int) else eps


def col_of(r):
    t = r.get("target")
    if t == "blobhub":
        return "baseline" if r.get("variant") == "baseline" else "blobhub"
    return t


COL_NAMES = {"blobhub": "BlobHub", "baseline": "BlobHub baseline", "nchan": "Nchan", "centrifuge": "Centrifuge"}
STORE_NAMES = {"memory": "memory", "sqlite": "SQLite", "postgres": "PostgreSQL"}


def select(scenario, col, tool=BENCH, store=None):
    return [r for r in rows if r.get("scenario") == scenario and col_of(r) == col and r.get("tool") == tool
            and (store is None or col not in ("blobhub", "baseline") or r.get("store", "memory") == store)]


def bound(r):
    return bool(r.get("tool_bound"))


class M:
    """Median of the runs that are not tool-bound, and how many runs it left out."""
    def __init__(self, runs, key):
        have = [r for r in runs if isinstance(r.get(key), (int, float))]
        self.used = [r[key] for r in have if not bound(r)]
        self.excluded = sum(1 for r in have if bound(r))
        self.total = len(have)
        self.value = statistics.median(self.used) if self.used else None
        self.all_bound = self.total > 0 and not self.used
        self.values = [r[key] for r in have]


def med(scenario, col, key, tool=BENCH, store=None):
    return M(select(scenario, col, tool, store), key)


def sh(cmd):
    try:
        return subprocess.run(cmd, shell=True, capture_output=True, text=True, timeout=10).stdout.strip()
    except Exception:
        return "?"


def f(v, d=1):
    if v is None:
        return "–"
    if isinstance(v, bool):
        return str(v).lower()
    if isinstance(v, float) and abs(v) >= 1000:
        return f"{v:,.0f}"
    return f"{v:,.{d}f}" if isinstance(v, float) else f"{v:,}"


def ratio(b, n):
    if b is None or n is None or n == 0 or b == 0:
        return "–"
    return f"{b / n:.2f}×"


def run_values(runs, key, d):
    out = []
    for r in runs:
        v = r.get(key)
        if not isinstance(v, (int, float)):
            continue
        out.append(f(v, d) + (" [tool-bound]" if bound(r) else ""))
    return ", ".join(out)


def shown(m, d):
    """A median for the tables: from the runs that are not tool-bound, else (marked) from all of them."""
    if m.value is not None:
        return f(m.value, d)
    if m.values:
        return f(statistics.median(m.values), d) + " (tool-bound)"
    return "–"


def busiest(r):
    t = r.get("tool_cpu_threads")
    return max(t) if isinstance(t, list) and t else r.get("tool_cpu_busiest")


for r in rows:
    b = busiest(r)
    if b is not None:
        r["tool_cpu_busiest"] = b

present_cols = [c for c in ("blobhub", "baseline", "nchan", "centrifuge") if any(col_of(r) == c for r in rows)]

# rows whose ratio to Nchan means nothing (counts, the tool's own CPU)
NO_RATIO = {"lost", "duplicated", "tool_cpu_busiest", "tool_cpu", "window_held_seconds", "multi_event_frames",
            "unexpected_closes", "connected", "publish_failed_events"}
FLOWROWS = [("publisher held by the --window bound (s)", "window_held_seconds", 2),
            ("frames carrying several events (centrifuge; every line counted)", "multi_event_frames", 0)]
TOOLROWS = [("tool CPU, busiest loop thread (% of a core)", "tool_cpu_busiest", 0), ("tool CPU, total (% of a core)", "tool_cpu", 0)]
SCEN = [
    ("fanout-closed", "memory", "Closed-loop fan-out: 1 publisher, 1 event per request, the next after the 2xx; 1 session × 1,000 subscribers", [
        ("deliveries/s", "deliveries_per_second", 0), ("events/s published", "events_per_second", 0),
        ("publish request p50 (ms)", "publish_request_p50_ms", 2), ("publish request p99 (ms)", "publish_request_p99_ms", 2),
        ("delivery latency p50 (ms)", "latency_p50_ms", 2), ("delivery latency p99 (ms)", "latency_p99_ms", 2),
        ("lost", "lost", 0), ("duplicated", "duplicated", 0),
        ("server CPU (% of a core)", "server_cpu_percent", 0), ("server CPU per delivery (µs)", "server_us_per_delivery", 2),
        ("server RSS (KiB)", "server_rss_kib", 0)] + FLOWROWS + TOOLROWS),
    ("fanout", "memory", "Fan-out: 1 session × 1,000 subscribers, 8 publishers flat out (batched by the server)", [
        ("deliveries/s", "deliveries_per_second", 0), ("events/s published", "events_per_second", 0),
        ("publish request p50 (ms)", "publish_request_p50_ms", 2),
        ("latency p50 (ms)", "latency_p50_ms", 2), ("latency p99 (ms)", "latency_p99_ms", 2),
        ("lost", "lost", 0), ("duplicated", "duplicated", 0),
        ("server CPU (% of a core)", "server_cpu_percent", 0), ("server CPU per delivery (µs)", "server_us_per_delivery", 2),
        ("server RSS (KiB)", "server_rss_kib", 0), ("connect, all (s)", "connect_seconds", 2)] + FLOWROWS + TOOLROWS),
    ("latency", "sqlite", "Latency: 1,000 subscribers over 10 sessions, 100 events/s (BlobHub on the SQLite store)", [
        ("latency p50 (ms)", "latency_p50_ms", 2), ("latency p90 (ms)", "latency_p90_ms", 2),
        ("latency p99 (ms)", "latency_p99_ms", 2), ("latency p99.9 (ms)", "latency_p999_ms", 2),
        ("latency max (ms)", "latency_max_ms", 2), ("deliveries/s", "deliveries_per_second", 0),
        ("publish request p50 (ms)", "publish_request_p50_ms", 2),
        ("lost", "lost", 0), ("duplicated", "duplicated", 0),
        ("server CPU (% of a core)", "server_cpu_percent", 0), FLOWROWS[1]] + TOOLROWS),
    ("idle", "memory", "Idle: 10,000 initialized connections, one subscription each", [
        ("server RSS per connection (KiB)", "server_rss_per_conn_kib", 2), ("server RSS before (KiB)", "server_rss_before_kib", 0),
        ("server RSS after (KiB)", "server_rss_after_kib", 0), ("connected", "connected", 0),
        ("connect, all (s)", "connect_seconds", 2), ("handshake p50 (ms)", "connect_p50_ms", 2),
        ("handshake p99 (ms)", "connect_p99_ms", 2), ("unexpected closes", "unexpected_closes", 0)]),
    ("streams", "memory", "Many streams: 10,000 connections, each on its own session, events round-robin (flat out)", [
        ("deliveries/s", "deliveries_per_second", 0), ("latency p50 (ms)", "latency_p50_ms", 2),
        ("latency p99 (ms)", "latency_p99_ms", 2), ("lost", "lost", 0), ("duplicated", "duplicated", 0),
        ("connected", "connected", 0), ("connect, all (s)", "connect_seconds", 2),
        ("server CPU (% of a core)", "server_cpu_percent", 0), ("server RSS (KiB)", "server_rss_kib", 0)] + TOOLROWS),
    ("publish", "sqlite", "Durable publish: batched POST /v1/events on SQLite (500 events per request, 4 publishers)", [
        ("events/s accepted", "events_per_second", 0), ("request p50 (ms)", "publish_request_p50_ms", 2),
        ("request p99 (ms)", "publish_request_p99_ms", 2), ("failed events", "publish_failed_events", 0),
        ("server CPU (% of a core)", "server_cpu_percent", 0), ("server CPU per event (µs)", "server_us_per_event", 2)] + TOOLROWS),
]

out = []
w = out.append
now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
peers = [x for x in a.peers.split() if x in ("nchan", "centrifuge")]
peer_text = " and ".join({"nchan": "nginx+Nchan (`../shared/peers/nchan.sh`, 1 worker, no message buffer)",
                          "centrifuge": "the centrifuge-library peer (`../shared/peers/centrifuge/`, Centrifugo's engine, memory broker)"}[x] for x in peers)
w("# BlobHub Realtime benchmarks\n")
w("Generated by `bench/run`" + (" --quick" if a.quick == "1" else "") + f" on {now}; medians of {a.runs} run(s) per scenario and target, "
  f"BlobHub Realtime{' (and a baseline binary)' if 'baseline' in present_cols else ''} and {peer_text or 'no peer'} measured alternately in the same run. "
  "Ratio = BlobHub ÷ Nchan. Runs in which the load tool itself was saturated are marked `tool-bound` and left out of the medians "
  "and verdicts. Raw results (one JSON line per run): `bench/last-run.jsonl`.\n")
if a.quick == "1":
    w("**Quick run** (1 short run per scenario and target): a smoke test of the tooling, not figures to quote.\n")

# --- issue 13 verdicts -------------------------------------------------------------------------------------
def excl_note(*ms):
    n = sum(m.excluded for m in ms)
    used = sum(len(m.used) for m in ms)
    s = f"{used} run(s)"
    if n:
        s += f"; {n} tool-bound excluded"
    return s


def verdict(ms, ok):
    """ms: the medians the verdict needs; ok: callable giving True/False from their values."""
    if any(m.all_bound for m in ms):
        return "no verdict (tool-bound)"
    if any(m.value is None for m in ms):
        return "not measured in this run"
    return "✅" if ok() else "❌"


w("## Issue 13 targets\n")
w("Medians of the runs that were not tool-bound, all from this run. \"runs\" counts the runs behind the figures.\n")
w("| target | BlobHub | reference | verdict | runs |")
w("|---|---|---|---|---|")
fb, fn = med("fanout-closed", "blobhub", "deliveries_per_second"), med("fanout-closed", "nchan", "deliveries_per_second")
w(f"| closed-loop fan-out (1 publisher, 1 session × 1,000) ≥ Nchan | {shown(fb, 0)} deliveries/s | Nchan {shown(fn, 0)} ({ratio(fb.value, fn.value)}) | "
  f"{verdict([fb, fn], lambda: fb.value >= fn.value)} | {excl_note(fb, fn)} |")
pb = med("fanout-closed", "blobhub", "publish_request_p50_ms")
w(f"| publish request p50 under that load ≤ 2 ms | {shown(pb, 2)} ms | Nchan {shown(med('fanout-closed', 'nchan', 'publish_request_p50_ms'), 2)} ms | "
  f"{verdict([pb], lambda: pb.value <= 2)} | {excl_note(pb)} |")
lb = med("latency", "blobhub", "latency_p99_ms", store="sqlite")
ln = med("latency", "nchan", "latency_p99_ms")
w(f"| latency p99, 1,000 subs / 10 sessions / 100 ev/s, SQLite ≤ Nchan p99 + 0.5 ms | {shown(lb, 2)} ms | Nchan {shown(ln, 2)} ms "
  f"(bar {f(ln.value + 0.5, 2) if ln.value is not None else '–'} ms) | {verdict([lb, ln], lambda: lb.value <= ln.value + 0.5)} | {excl_note(lb, ln)} |")
wn = med("publish-single", "nchan", "accepted_per_second", tool="wrk")
for store, factor in (("memory", 0.6), ("sqlite", 0.5), ("postgres", 0.25)):
    wb = med("publish-single", "blobhub", "accepted_per_second", tool="wrk", store=store)
    if wb.total == 0 and store == "postgres":
        w(f"| single-event publish (wrk, 32 connections), PostgreSQL ≥ 0.25× Nchan | – | – | not measured (no `--postgres-url`) | – |")
        continue
    w(f"| single-event publish (wrk, 32 connections), {STORE_NAMES[store]} ≥ {factor}× Nchan | {shown(wb, 0)} events/s ({ratio(wb.value, wn.value)}) | "
      f"Nchan {shown(wn, 0)} answered 2xx/s (bar {f(wn.value * factor, 0) if wn.value else '–'}) | "
      f"{verdict([wb, wn], lambda: wb.value >= factor * wn.value)} | {excl_note(wb, wn)} |")
ob = med("fanout", "blobhub", "deliveries_per_second")
obase = med("fanout", "baseline", "deliveries_per_second")
onc = med("fanout", "nchan", "deliveries_per_second")
if obase.total:
    low = min(obase.used) if obase.used else None
    w(f"| batched fan-out (8 publishers) does not regress beyond run-to-run noise (≥ the baseline's slowest run) | {shown(ob, 0)} deliveries/s | "
      f"baseline {shown(obase, 0)} (runs {run_values(select('fanout', 'baseline'), 'deliveries_per_second', 0)}) | "
      f"{verdict([ob, obase], lambda: ob.value >= low)} | {excl_note(ob, obase)} |")
else:
    w(f"| batched fan-out (8 publishers) ≥ Nchan (no baseline binary in this run — `--baseline-bin` — so the SPEC §14 bar stands in for \"no regression\") | "
      f"{shown(ob, 0)} deliveries/s | Nchan {shown(onc, 0)} ({ratio(ob.value, onc.value)}) | {verdict([ob, onc], lambda: ob.value >= onc.value)} | {excl_note(ob, onc)} |")
db = med("publish", "blobhub", "events_per_second", store="sqlite")
w(f"| durable batched publish (SQLite, 500 per request) ≥ 20,000 events/s | {shown(db, 0)} events/s | absolute | {verdict([db], lambda: db.value >= 20000)} | {excl_note(db)} |")
ib = med("idle", "blobhub", "server_rss_per_conn_kib")
w(f"| idle ≤ 12 KiB per subscribed connection (10,000) | {shown(ib, 2)} KiB | Nchan {shown(med('idle', 'nchan', 'server_rss_per_conn_kib'), 2)} KiB | "
  f"{verdict([ib], lambda: ib.value <= 12)} | {excl_note(ib)} |")
delivery_runs = [r for r in rows if col_of(r) == "blobhub" and "lost" in r]
if delivery_runs:
    tl = sum(r.get("lost") or 0 for r in delivery_runs)
    td = sum(r.get("duplicated") or 0 for r in delivery_runs)
    w(f"| 0 lost and 0 duplicated events in every delivery run | {tl} lost, {td} duplicated | – | {'✅' if tl == 0 and td == 0 else '❌'} | {len(delivery_runs)} run(s) |")
tb = [r for r in rows if bound(r)]
w(f"| no run used for a verdict is tool-bound | {len(tb)} tool-bound run(s) in all: "
  + (", ".join(f"{r.get('scenario')}/{COL_NAMES.get(col_of(r), col_of(r))}/{r.get('tool')}/run{r.get('run')}" for r in tb) or "none")
  + " | – | ✅ (tool-bound runs are excluded) | – |")
w("")

# --- machine ---------------------------------------------------------------------------------------------
w("## Machine\n")
CPU_MODEL = sh("grep -m1 'model name' /proc/cpuinfo | cut -d: -f2").strip()
MEM = sh("free -m | awk '/Mem:/ {print $2}'")
WRK_VERSION = sh("wrk --version 2>&1 | head -1 | cut -d' ' -f1-2")
LOADAVG = sh("cut -d' ' -f1-3 /proc/loadavg")
NGINX = sh("/usr/sbin/nginx -v 2>&1")
NCHAN_PKG = sh("dpkg-query -W -f='${Version}' libnginx-mod-nchan 2>/dev/null")
CENTRIFUGE_PKG = sh("dpkg-query -W -f='${Version}' golang-github-centrifugal-centrifuge-dev 2>/dev/null")
GO = sh("go version 2>/dev/null")
w(f"* `nproc`: {sh('nproc')}")
w(f"* CPU: {CPU_MODEL}")
w(f"* memory: {MEM} MiB total (`free -m`)")
w(f"* `uname -srm`: {sh('uname -srm')}")
w(f"* server: `{a.server_version}`, release build" + (f" (`{a.server_bin}`)" if a.server_bin else "") + f"; Swift: {sh('swift --version 2>&1 | head -1')}")
if "baseline" in present_cols:
    w(f"* baseline: `{a.baseline_version or 'unknown'}` (`{a.baseline_bin}`)")
if "nchan" in peers:
    w(f"* peer: {NGINX}, Nchan module from Debian (`libnginx-mod-nchan` {NCHAN_PKG})")
if "centrifuge" in peers:
    w(f"* peer: centrifuge {CENTRIFUGE_PKG} (Debian `golang-github-centrifugal-centrifuge-dev`), {GO}, GOMAXPROCS = all cores")
w(f"* wrk: {WRK_VERSION} (Debian), 2 threads, 32 connections, `bench/wrk/publish.lua`")
w(f"* load average when the report was written: {LOADAVG} (the machine is shared with other builds; "
  "figures are only comparable within one run)")
w("* server, peers and load tool share the same cores over loopback; nothing is pinned. The load tool runs one subscriber "
  "event loop per core (`--threads`, default `System.coreCount`) and one publisher loop (publish scenarios without "
  "subscribers: one per core).\n")

# --- SPEC §14 bars ---------------------------------------------------------------------------------------
def bar(ms, ok):
    v = verdict(ms, ok)
    return {"✅": "✅ met", "❌": "❌ not met"}.get(v, v)


w("## Quality bars (SPEC §14)\n")
w("| bar | BlobHub | Nchan | verdict |")
w("|---|---|---|---|")
if ob.total:
    w(f"| fan-out ≥ 300,000 deliveries/s and ≥ Nchan (8 publishers) | {shown(ob, 0)} | {shown(onc, 0)} | "
      f"{bar([ob], lambda: ob.value >= 300000 and (onc.value is None or ob.value >= onc.value))} |")
if lb.total:
    w(f"| latency p99 ≤ 5 ms and ≤ Nchan (1,000 subs / 10 sessions / 100 ev/s; BlobHub on SQLite) | {shown(lb, 2)} ms | {shown(ln, 2)} ms | "
      f"{bar([lb], lambda: lb.value <= 5 and (ln.value is None or lb.value <= ln.value))} |")
if ib.total:
    okc = (med("idle", "blobhub", "connected").value or 0) >= 10000
    w(f"| ≤ 12 KiB RSS per idle subscribed connection at 10k | {shown(ib, 2)} KiB | {shown(med('idle', 'nchan', 'server_rss_per_conn_kib'), 2)} KiB | "
      f"{bar([ib], lambda: ib.value <= 12 and okc)} |")
if db.total:
    w(f"| ≥ 20,000 events/s durable publish (SQLite, batched) | {shown(db, 0)} | n/a | {bar([db], lambda: db.value >= 20000)} |")
if delivery_runs:
    nl = sum(r.get("lost") or 0 for r in rows if col_of(r) == "nchan")
    nd = sum(r.get("duplicated") or 0 for r in rows if col_of(r) == "nchan")
    w(f"| zero lost / duplicated events (all delivery runs) | {tl} lost, {td} dup | {nl} lost, {nd} dup | {'✅ met' if tl == 0 and td == 0 else '❌ not met'} |")


def run_ok(r):
    if "ok" in r:
        return r["ok"]
    return "error" not in r and r.get("connect_failed", 1) == 0 and r.get("unexpected_closes", 0) == 0


failed = [r for r in rows if not run_ok(r)]
w("")
if failed:
    w(f"**{len(failed)} run(s) reported problems** (`ok: false`): " + "; ".join(
        f"{r.get('scenario')}/{COL_NAMES.get(col_of(r), col_of(r))}{'/' + r['store'] if r.get('store') else ''}/{r.get('tool')}/run{r.get('run')}: "
        + (r.get("error") or r.get("connect_error") or r.get("publish_error") or
           f"lost {r.get('lost')}, dup {r.get('duplicated')}, closes {r.get('unexpected_closes')}, connect failed {r.get('connect_failed')}")
        for r in failed) + "\n")


def commands(key, tool=None):
    cmds = sorted({r.get("command", "") for r in rows if r.get("scenario") == key and (tool is None or r.get("tool") == tool)})
    w("Commands (the tool's plus `--server-pid <pids> --label runN`):\n")
    for c in cmds:
        w(f"    {c}")
    w("")


# --- per-scenario tables (metrics × targets) --------------------------------------------------------------
n = 0
for key, store, title, metrics in SCEN:
    if not any(r.get("scenario") == key for r in rows):
        continue
    n += 1
    w(f"## {n}. {title}\n")
    commands(key)
    cols = [c for c in present_cols if select(key, c, store=store)]
    has_n = "nchan" in cols
    ratio_cols = [c for c in cols if c != "nchan"] if has_n else []
    head = "| metric | " + " | ".join(f"{COL_NAMES[c]} (median)" for c in cols)
    head += "".join(f" | {COL_NAMES[c]} ÷ Nchan" for c in ratio_cols)
    head += "".join(f" | {COL_NAMES[c]} runs" for c in cols) + " |"
    w(head)
    w("|" + "---|" * (1 + 2 * len(cols) + len(ratio_cols)))
    for label, m, d in metrics:
        ms = {c: med(key, c, m, store=store) for c in cols}
        if not any(x.total for x in ms.values()):
            continue
        line = f"| {label} | " + " | ".join(shown(ms[c], d) for c in cols)
        line += "".join(f" | {'–' if m in NO_RATIO else ratio(ms[c].value, ms['nchan'].value)}" for c in ratio_cols)
        line += "".join(f" | {run_values(select(key, c, store=store), m, d)}" for c in cols) + " |"
        w(line)
    tbs = {c: [r for r in select(key, c, store=store) if bound(r)] for c in cols}
    line = "| tool-bound runs (excluded from medians) | " + " | ".join(f"{len(tbs[c])} of {len(select(key, c, store=store))}" for c in cols)
    line += " | –" * len(ratio_cols) + "".join(f" | {', '.join('run' + str(r.get('run')) for r in tbs[c]) or 'none'}" for c in cols) + " |"
    w(line)
    w("")

# --- single-event publishing (targets × stores × tools) ---------------------------------------------------
if any(r.get("scenario") == "publish-single" for r in rows):
    n += 1
    w(f"## {n}. Single-event publish: 1 event per POST, 32 keep-alive connections with one request in flight each, no subscribers\n")
    w("Measured with `wrk` (C; 2 threads, `bench/wrk/publish.lua`: a unique event id per request) and with "
      "`blobhub-realtime-bench publish-single` (one publisher loop per core). Server CPU over the same window "
      "(wrk: from 0.5 s after its start to 0.5 s before its end). events/s = requests answered 2xx per second (Nchan "
      "answers some requests with HTTP 500 under this load — the `failed` column — and those are not counted); "
      "ratio = events/s ÷ Nchan's events/s with the same tool.\n")
    commands("publish-single")
    w("| tool | target | store | events/s (median) | ÷ Nchan | request p50 (ms) | request p99 (ms) | server CPU (%) | "
      "server CPU per event (µs) | tool CPU busiest thread / total (%) | tool-bound | failed | events/s runs |")
    w("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for tool in ("wrk", BENCH):
        nchan_eps = med("publish-single", "nchan", "accepted_per_second", tool=tool)
        for c in present_cols:
            stores = ["memory", "sqlite", "postgres"] if c in ("blobhub", "baseline") else [None]
            for st in stores:
                runs = select("publish-single", c, tool=tool, store=st)
                if not runs:
                    continue
                eps = M(runs, "accepted_per_second")
                failed_ev = sum((r.get("publish_failed_events") or 0) for r in runs)
                w(f"| {tool} | {COL_NAMES[c]} | {STORE_NAMES.get(st, '–') if st else '–'} | {shown(eps, 0)} | "
                  f"{ratio(eps.value, nchan_eps.value) if c != 'nchan' else '–'} | {shown(M(runs, 'publish_request_p50_ms'), 2)} | "
                  f"{shown(M(runs, 'publish_request_p99_ms'), 2)} | {shown(M(runs, 'server_cpu_percent'), 0)} | "
                  f"{shown(M(runs, 'server_us_per_event'), 1)} | {shown(M(runs, 'tool_cpu_busiest'), 0)} / {shown(M(runs, 'tool_cpu'), 0)} | "
                  f"{sum(1 for r in runs if bound(r))} of {len(runs)} | {failed_ev} | {run_values(runs, 'accepted_per_second', 0)} |")
    w("")

for extra in ("cluster.md", "soak.md", "analysis.md", "methodology.md", "notes.md"):
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), extra)
    if os.path.exists(path):
        with open(path) as fh:
            text = fh.read()
        # bench/cluster writes cluster.md and splices it between these markers; keep them for the next splice
        # bench/soak writes soak.md and splices it the same way
        marker = {"cluster.md": "cluster", "soak.md": "soak"}.get(extra)
        w(f"<!-- {marker}:begin -->\n{text.strip()}\n<!-- {marker}:end -->\n" if marker else text)
print("\n".join(out))
