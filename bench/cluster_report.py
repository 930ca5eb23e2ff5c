#!/usr/bin/env python3
"""Turns bench/cluster results (one JSON line per run) into the "Cluster" section of BENCHMARKS.md.

    bench/cluster_report.py --results bench/cluster-last-run.jsonl --runs 3 > bench/cluster.md
    bench/cluster_report.py --splice BENCHMARKS.md bench/cluster.md   # replace (or insert) the section

Figures are medians over the runs of a scenario; lost and duplicated are sums. A run whose load tool was
saturated (tool_bound) is shown but kept out of the verdicts, as in bench/report.py.
"""
import argparse, json, os, statistics, sys

BEGIN, END = "<!-- cluster:begin -->", "<!-- cluster:end -->"

p = argparse.ArgumentParser()
p.add_argument("--results")
p.add_argument("--runs", type=int, default=3)
p.add_argument("--quick", type=int, default=0)
p.add_argument("--server-version", default="unknown")
p.add_argument("--node-loops", default="", help="the --event-loops flag of each node of a 3-node run")
p.add_argument("--baseline-version", default="", help="the commit of the --baseline-bin binary, when one ran")
p.add_argument("--splice", nargs=2, metavar=("BENCHMARKS_MD", "SECTION_MD"))
a = p.parse_args()

if a.splice:
    target, section_path = a.splice
    section = open(section_path).read().strip("\n")
    text = open(target).read()
    block = f"{BEGIN}\n{section}\n{END}"
    if BEGIN in text and END in text:
        head, rest = text.split(BEGIN, 1)
        text = head + block + rest.split(END, 1)[1]
    else:
        marker = "\n## Cost of one published event"
        i = text.find(marker)
        text = text[:i] + "\n" + block + "\n" + text[i:] if i >= 0 else text.rstrip("\n") + "\n\n" + block + "\n"
    open(target, "w").write(text)
    sys.exit(0)

runs = [json.loads(l) for l in open(a.results) if l.strip()]
by = {}
for r in runs:
    by.setdefault(r.get("cluster_scenario"), []).append(r)


def med(rs, key, usable=True):
    vals = [r[key] for r in rs if isinstance(r.get(key), (int, float)) and (not usable or not r.get("tool_bound"))]
    return statistics.median(vals) if vals else None


def fmt(v, d=0):
    if v is None:
        return "–"
    return f"{v:,.{d}f}"


def total(rs, key):
    return sum(int(r.get(key) or 0) for r in rs)


def per_node(rs, key, d=0):
    lists = [r.get(key) for r in rs if isinstance(r.get(key), list)]
    if not lists:
        return "–"
    n = max(len(x) for x in lists)
    cols = [statistics.median([x[i] for x in lists if i < len(x)]) for i in range(n)]
    return " / ".join(fmt(c, d) for c in cols)


out = []
w = out.append
w("## Cluster: 3 nodes on one PostgreSQL (`bench/cluster`)")
w("")
w(f"Command: `bench/cluster{' --quick' if a.quick else ''}"
  f"{' --baseline-bin <build of ' + a.baseline_version + '>' if a.baseline_version else ''}` ({a.runs} run(s) per scenario, medians; "
  f"server {a.server_version}). One fresh database per run; nodes on ports 18181–18183 of 127.0.0.1; "
  f"{('each node of a 3-node run has `' + a.node_loops + '`, its share of the machine' + chr(39) + 's cores; one node keeps the default (one loop per core). ') if a.node_loops else ''}"
  "PostgreSQL is `scripts/ci/postgres.sh`'s (fsync on). CPU is % of one core over the run; PostgreSQL CPU is its "
  "postmaster and backends. The load tool is `blobhub-realtime-bench` with `--ports`/`--publish-ports`; "
  "`tool-bound` runs are kept out of the medians. Raw lines: `bench/cluster-last-run.jsonl`.")
w("")
w("| scenario | nodes / store | events/s accepted | publish p50 / p99 ms | deliveries/s | delivery latency p50 / p99 / max ms | lost | dup | resumes | server CPU % per node | RSS MiB per node | PostgreSQL CPU % | tool busiest / total CPU % | tool-bound | runs |")
w("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
NAMES = {
    "single": "single-event publish, 32 connections over 3 nodes",
    "single-wrk": "same over 3 nodes, measured by wrk (33 connections, 11 per node)",
    "single-1node": "single-event publish, 32 connections, 1 node (baseline)",
    "single-1node-wrk": "same, measured by wrk (independent check of the tool)",
    "single-1node-baseline": f"single-event publish, 32 connections, 1 node, the code of the issue's day ({a.baseline_version or 'baseline'})",
    "single-1node-baseline-wrk": "same baseline code, measured by wrk",
    "batched": "batched publish (500/request, 6 connections over 3 nodes)",
    "fanout": "fan-out 1 session × 1,000 subscribers over 3 nodes, 8 publishers",
    "fanout-sqlite": "fan-out, same, 1 node on SQLite (baseline)",
    "latency": "cross-node latency: publish on A, 1,000 subs on B and C, 10 sessions, 100 ev/s",
    "kill": "node C killed with kill -9 mid-run; its subscribers resume on A and B",
}
order = ["single", "single-wrk", "single-1node", "single-1node-wrk", "single-1node-baseline", "single-1node-baseline-wrk", "batched", "fanout", "fanout-sqlite", "latency", "kill"]
for s in order + sorted(k for k in by if k not in order):
    rs = by.get(s)
    if not rs:
        continue
    subs = any((r.get("subscribers") or 0) > 0 for r in rs)
    lat = f"{fmt(med(rs, 'latency_p50_ms'), 2)} / {fmt(med(rs, 'latency_p99_ms'), 2)} / {fmt(med(rs, 'latency_max_ms'), 1)}" if subs else "–"
    rss = [[v / 1024 for v in r["server_rss_kib_by_pid"]] for r in rs if isinstance(r.get("server_rss_kib_by_pid"), list)]
    for r, v in zip([r for r in rs if isinstance(r.get("server_rss_kib_by_pid"), list)], rss):
        r["_rss_mib"] = v
    cpu_nodes = per_node(rs, "server_cpu_percent_by_pid") if rs[0].get("nodes", 1) > 1 else fmt(med(rs, "server_cpu_percent"))
    rss_nodes = per_node(rs, "_rss_mib") if rs[0].get("nodes", 1) > 1 else fmt((med(rs, "server_rss_kib") or 0) / 1024)
    w(f"| {NAMES.get(s, s)} | {rs[0].get('nodes')} / {rs[0].get('store')} | {fmt(med(rs, 'events_per_second'))} | "
      f"{fmt(med(rs, 'publish_request_p50_ms'), 2)} / {fmt(med(rs, 'publish_request_p99_ms'), 2)} | "
      f"{fmt(med(rs, 'deliveries_per_second')) if subs else '–'} | {lat} | "
      f"{total(rs, 'lost') if subs else '–'} | {total(rs, 'duplicated') if subs else '–'} | "
      f"{total(rs, 'resumes') if s == 'kill' else '–'} | {cpu_nodes} | {rss_nodes} | {fmt(med(rs, 'postgres_cpu_percent'))} | "
      f"{fmt(med(rs, 'tool_cpu_busiest', False))} / {fmt(med(rs, 'tool_cpu', False))} | "
      f"{sum(1 for r in rs if r.get('tool_bound'))} of {len(rs)} | "
      f"{', '.join(fmt(r.get('events_per_second' if not subs or s in ('latency', 'kill') else 'deliveries_per_second')) for r in rs)} |")
w("")

# the write path as PostgreSQL saw it: the append statement and where the nodes' backends waited
w("PostgreSQL during each scenario (medians over the runs): the append statement (one per group commit: "
  "`blobhub_append_v1` under the head row lock before schema version 3, a call of `blobhub_append_v3` since) from "
  "`pg_stat_statements`, its mean execution time, events per statement, and the wait events of the nodes' active "
  "backends sampled every 50 ms (`CPU:-` = running; `Lock:transactionid`/`Lock:tuple` = queued behind a lock "
  "(version 2: the head row; version 3: an insert of an id another node is inserting); `IO:WALSync` = the "
  "commit's WAL flush).")
w("")
w("| scenario | append statements/s | mean ms per statement | events per statement | other statements/s | active-backend wait samples (share) |")
w("|---|---|---|---|---|---|")
for s in order:
    rs = [r for r in by.get(s, []) if r.get("store") == "pg" and isinstance(r.get("pg_statements"), list)]
    if not rs:
        continue
    calls, means, per, others = [], [], [], []
    waits = {}
    for r in rs:
        secs = r.get("duration_seconds") or 1
        is_append = lambda q: q.get("query", "").startswith("WITH input") or "event_offset, stored" in q.get("query", "")
        app = [q for q in r["pg_statements"] if is_append(q)]
        rest = [q for q in r["pg_statements"] if not is_append(q)]
        if app:
            calls.append(app[0]["calls"] / secs)
            means.append(app[0]["mean_ms"])
            if app[0]["calls"]:
                per.append((r.get("published_events") or 0) / app[0]["calls"])
        others.append(sum(q.get("calls", 0) for q in rest) / secs)
        for k, c in (r.get("pg_wait_samples") or {}).items():
            waits[k] = waits.get(k, 0) + c
    total_w = sum(waits.values()) or 1
    wait_text = ", ".join(f"{k} {100 * c / total_w:.0f} %" for k, c in sorted(waits.items(), key=lambda kv: -kv[1])[:5])
    w(f"| {s} | {fmt(statistics.median(calls) if calls else None)} | {fmt(statistics.median(means) if means else None, 2)} | "
      f"{fmt(statistics.median(per) if per else None, 1)} | {fmt(statistics.median(others) if others else None)} | {wait_text or '–'} |")
w("")

# verdicts against issue 14's "done when"
def v(name, ok, detail):
    w(f"| {name} | {'met' if ok else ('not met' if ok is False else 'not measured')} | {detail} |")

w("Issue 14 targets, from the medians above:")
w("")
w("| target | verdict | figures |")
w("|---|---|---|")
single, one = med(by.get("single", []), "events_per_second"), med(by.get("single-1node", []), "events_per_second")
p50 = med(by.get("single", []), "publish_request_p50_ms")
v("single-event publish over 3 nodes ≥ 10,000 events/s with publish p50 ≤ 3 ms",
  None if single is None else (single >= 10000 and (p50 or 99) <= 3), f"{fmt(single)} events/s, p50 {fmt(p50, 2)} ms")
# "≥ 3× today's single-node figure measured in the same run": the issue's own baseline is the code of the day it
# was filed, run as one node in the same run; the same bar against this build's one node is linear scaling, which
# three nodes sharing one machine's cores cannot show (both are reported, each with its own verdict).
base, base_wrk = med(by.get("single-1node-baseline", []), "events_per_second"), med(by.get("single-1node-baseline-wrk", []), "events_per_second")
wrk3 = med(by.get("single-wrk", []), "events_per_second")
v(f"… ≥ 3× today's single-node figure: the code of the issue's day ({a.baseline_version or 'not run'}), one node, same run",
  None if single is None or base is None else (single >= 3 * base and (wrk3 is None or base_wrk is None or wrk3 >= 3 * base_wrk)),
  f"tool: {fmt(single)} vs {fmt(base)} events/s → {fmt(single / base if single and base else None, 2)}×; "
  f"wrk: {fmt(wrk3)} vs {fmt(base_wrk)} → {fmt(wrk3 / base_wrk if wrk3 and base_wrk else None, 2)}×")
v("… ≥ 3× this build's one node, same run (linear scaling: needs the nodes on machines of their own)",
  None if single is None or one is None else single >= 3 * one,
  f"{fmt(single)} vs {fmt(one)} events/s → {fmt(single / one if single and one else None, 2)}×")
batched = med(by.get("batched", []), "events_per_second")
v("batched publish over 3 nodes ≥ 40,000 events/s", None if batched is None else batched >= 40000, f"{fmt(batched)} events/s")
lp99, lmax = med(by.get("latency", []), "latency_p99_ms"), med(by.get("latency", []), "latency_max_ms")
v("cross-node latency p99 ≤ 10 ms, max ≤ 50 ms (1,000 subs / 10 sessions / 100 ev/s)",
  None if lp99 is None else (lp99 <= 10 and (lmax or 0) <= 50), f"p99 {fmt(lp99, 2)} ms, max {fmt(lmax, 1)} ms")
fo, fs = med(by.get("fanout", []), "deliveries_per_second"), med(by.get("fanout-sqlite", []), "deliveries_per_second")
v("cross-node fan-out ≥ 0.7× one node on SQLite (same run)", None if fo is None or fs is None else fo >= 0.7 * fs,
  f"{fmt(fo)} vs {fmt(fs)} deliveries/s → {fmt(fo / fs if fo and fs else None, 2)}×")
lost = sum(total(rs, "lost") + total(rs, "duplicated") for rs in by.values())
killed = by.get("kill", [])
v("0 lost and 0 duplicated everywhere, including the node killed mid-run", None if not runs else lost == 0 and bool(killed),
  f"lost + duplicated over all runs: {lost}; kill runs: {len(killed)}, subscribers resumed: {total(killed, 'resumes')}")
w("")
notes = os.path.join(os.path.dirname(os.path.abspath(__file__)), "cluster-notes.md")
if os.path.exists(notes):
    w(open(notes).read().strip())
    w("")
print("\n".join(out))
