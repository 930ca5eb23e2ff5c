#!/usr/bin/env python3
"""Runs wrk once (bench/wrk/publish.lua) and prints one JSON line in the shape of blobhub-realtime-bench's.

    bench/wrk/run.py --url http://127.0.0.1:18080/v1/events --key K --server-pid 123 --duration 10 \
        --target blobhub [--threads 2 --connections 32 --sessions 32 --label run1]

Besides wrk's own figures (Requests/sec and latency parsed from its output, percentiles from the script's
done() line) it measures, from /proc, the server's CPU (utime+stime of --server-pid, summed) and RSS, and the
CPU of each wrk thread, over the same window: from 0.5 s after wrk started to 0.5 s before its end (wrk's
/proc entry is gone once it exits). `tool_bound` is true when a wrk thread used >= 90 % of a core or all of
them >= 90 % on average. Loopback only; wrk ends by itself (-d), and is killed after duration + 30 s.
"""
import argparse, json, os, re, subprocess, sys, time

p = argparse.ArgumentParser()
p.add_argument("--url", required=True)
p.add_argument("--key", default="-")
p.add_argument("--server-pid", default="")
p.add_argument("--duration", type=float, default=10)
p.add_argument("--threads", type=int, default=2)
p.add_argument("--connections", type=int, default=32)
p.add_argument("--sessions", type=int, default=32)
p.add_argument("--target", default="blobhub")
p.add_argument("--path-prefix", default="",
               help="publish to <prefix><session> instead of the URL's path (Nchan: /pub/s-, a channel per session)")
p.add_argument("--label", default="")
p.add_argument("--ports", default="", help="comma-separated ports: wrk thread i publishes to port i (round-robin) on the URL's host")
p.add_argument("--script", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "publish.lua"))
p.add_argument("--scenario", default="publish-single", help="the scenario name in the JSON line")
p.add_argument("--expect-status", type=int, default=0,
               help="every answer must have this status (e.g. 503 from a full node); default: 2xx")
a = p.parse_args()
if not re.match(r"^http://(127\.0\.0\.1|localhost)[:/]", a.url):
    sys.exit("--url must be a loopback http:// URL")

HZ = os.sysconf("SC_CLK_TCK")
pids = [x for x in re.split(r"[ ,]+", a.server_pid) if x]


def ticks(path):
    try:
        with open(path) as fh:
            stat = fh.read()
        fields = stat[stat.rindex(")") + 2:].split()
        return int(fields[11]) + int(fields[12])
    except (OSError, ValueError, IndexError):
        return None


def rss(pid):
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def sample(wrk_pid):
    server = sum(ticks(f"/proc/{pid}/stat") or 0 for pid in pids)
    threads = {}
    try:
        for tid in os.listdir(f"/proc/{wrk_pid}/task"):
            if tid != str(wrk_pid):          # the main thread only waits for the duration
                t = ticks(f"/proc/{wrk_pid}/task/{tid}/stat")
                if t is not None:
                    threads[tid] = t
    except OSError:
        pass
    return time.monotonic(), server, threads


nonce = f"{os.getpid()}{int(time.time())}"
cmd = ["wrk", f"-t{a.threads}", f"-c{a.connections}", f"-d{a.duration:g}s", "--latency", "-s", a.script, a.url,
       "--", a.key, nonce, str(a.sessions)] + ([a.path_prefix] if a.path_prefix else [])
out = {"tool": "wrk", "scenario": a.scenario, "target": a.target}
if a.label:
    out["label"] = a.label
out.update({"publishers": a.connections, "batch": 1, "threads": a.threads, "sessions": a.sessions,
            "duration_seconds": a.duration, "wrk_command": " ".join(cmd[:cmd.index("--") + 1]) + " <key> <nonce> " + str(a.sessions)
            + (" " + a.path_prefix if a.path_prefix else "")})

env = dict(os.environ, WRK_PORTS=a.ports) if a.ports else None
if a.ports:
    out["ports"] = a.ports
proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
margin = 0.5 if a.duration >= 2 else 0.1
time.sleep(margin)
t0, s0, w0 = sample(proc.pid)
time.sleep(max(0.1, a.duration - 2 * margin))
t1, s1, w1 = sample(proc.pid)
rss_kib = sum(rss(pid) for pid in pids)
try:
    text, _ = proc.communicate(timeout=a.duration + 30)
except subprocess.TimeoutExpired:
    proc.kill()
    text, _ = proc.communicate()
    out.update({"ok": False, "error": "wrk did not finish"})
sys.stderr.write("".join("   " + line + "\n" for line in text.splitlines()))


def to_ms(value, unit):
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}[unit]


m = re.search(r"Requests/sec:\s+([\d.]+)", text)
rps = float(m.group(1)) if m else None
m = re.search(r"WRK_JSON (\{.*\})", text)
wrk_json = json.loads(m.group(1)) if m else {}
dist = {pct: to_ms(v, u) for pct, v, u in re.findall(r"^\s+(50|75|90|99)%\s+([\d.]+)(us|ms|s|m)\s*$", text, re.M)}
m = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", text)
non2xx = int(m.group(1)) if m else 0
m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
socket_errors = sum(int(x) for x in m.groups()) if m else 0

seconds = t1 - t0
per_thread = [round((w1[t] - w0[t]) / HZ / seconds * 100, 1) for t in sorted(w0, key=int) if t in w1] if seconds > 0 else []
server_cpu = (s1 - s0) / HZ / seconds * 100 if seconds > 0 and pids else None
bound = bool(per_thread) and (max(per_thread) >= 90 or sum(per_thread) >= 90 * len(per_thread))

out.update({
    "published_events": wrk_json.get("requests"),
    "publish_requests": wrk_json.get("requests"),
    "events_per_second": rps,
    "publish_request_p50_ms": wrk_json.get("latency_p50_ms", dist.get("50")),
    "publish_request_p90_ms": wrk_json.get("latency_p90_ms", dist.get("90")),
    "publish_request_p99_ms": wrk_json.get("latency_p99_ms", dist.get("99")),
    "publish_request_max_ms": wrk_json.get("latency_max_ms"),
    "non_2xx": non2xx,
    "socket_errors": socket_errors,
    "publish_failed_events": non2xx,
    "server_cpu_percent": round(server_cpu, 3) if server_cpu is not None else None,
    "server_rss_kib": rss_kib,
    "tool_cpu_thread_names": [f"wrk{i}" for i in range(len(per_thread))],
    "tool_cpu_threads": per_thread,
    "tool_cpu": round(sum(per_thread), 1),
    "tool_cpu_busiest": max(per_thread) if per_thread else None,
    "tool_bound": bound,
    "cpu_window_seconds": round(seconds, 3),
})
if "ok" not in out:
    problems = []
    if rps is None:
        problems.append("no Requests/sec in wrk's output")
    requests = wrk_json.get("requests") or 0
    if a.expect_status:
        # wrk counts statuses only as 2xx/3xx or not: every answer must be non-2xx, and the caller checks
        # which status with one request of its own.
        if non2xx != requests:
            problems.append(f"{requests - non2xx} of {requests} answers were 2xx/3xx (expected {a.expect_status})")
    elif non2xx:
        problems.append(f"{non2xx} non-2xx responses")
    if socket_errors:
        problems.append(f"{socket_errors} socket errors")
    if proc.returncode != 0:
        problems.append(f"wrk exited with {proc.returncode}")
    out["ok"] = not problems
    if problems:
        out["error"] = "; ".join(problems)
sys.stderr.write(f"   wrk {a.target}: {rps} requests/s, p50 {out['publish_request_p50_ms']} ms, p99 {out['publish_request_p99_ms']} ms, "
                 f"server CPU {out['server_cpu_percent']}%, wrk threads {per_thread}%{' TOOL-BOUND' if bound else ''}\n")
print(json.dumps(out))
