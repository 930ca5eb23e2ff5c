#!/usr/bin/env python3
"""Writes bench/soak.md from a soak run (bench/soak) and splices it into BENCHMARKS.md between
<!-- soak:begin --> and <!-- soak:end --> (appended when the markers are missing; bench/report.py keeps it)."""
import csv, json, os, sys

out_dir, command = sys.argv[1], sys.argv[2]
here = os.path.dirname(os.path.abspath(__file__))
with open(os.path.join(out_dir, "verdict.json")) as fh:
    verdict = json.load(fh)
with open(os.path.join(out_dir, "samples.csv")) as fh:
    rows = list(csv.DictReader(fh))
rel = os.path.relpath(out_dir, os.path.dirname(here))

lines = [
    "## Soak: hours of traffic in minutes (`bench/soak`, issue 17)",
    "",
    f"Command: `{command}` — one node on SQLite (`--ping-interval 10s --ping-timeout 5s --send-queue-limit 512 "
    f"--retention-events 200000`), {verdict['minutes']:g} minutes: {verdict['subscribers']:,} steady subscribers (the Python "
    f"client: resume, in-band token refresh of tokens valid 90–150 s) in a process of their own, {verdict['churn_per_s']:.0f} "
    f"connects+disconnects per second (clean closes, TCP resets, half-open peers that never answer a ping), "
    f"{verdict['non_readers']} connections that stop reading, {verdict['rate']:,} events/s with 10x bursts for 5 s every "
    f"minute, and every 30 s a membership revoked and restored ({verdict['flappers']} subscribers of that user). "
    f"Samples every 10 s: `{rel}/samples.csv`; verdict: `{rel}/verdict.json`.",
    "",
    f"![soak charts]({rel}/soak.png)",
    "",
    "| check | verdict | figures |",
    "|---|---|---|",
]
for c in verdict["checks"]:
    lines.append(f"| {c['check']} | {'✅' if c['ok'] else '❌'} | {c['figures']} |")
lines += [
    "",
    f"Also: {verdict['published_events']:,} events published; {verdict['token_refreshes']:,} token refreshes in band; "
    f"{verdict['revocations_seen']} revocations seen by the revoked user's subscribers and {verdict['resubscribed']} "
    f"(re-)subscriptions. Verdict: **{'passed' if verdict['passed'] else 'failed'}**.",
    "",
    "| minute | RSS MiB | fds | connections | steady p99 ms | publish p99 ms | node p99 ms | node CPU % | busiest tool process CPU % |",
    "|---|---|---|---|---|---|---|---|---|",
]
for r in rows[::6] + ([rows[-1]] if len(rows) % 6 != 1 else []):
    lines.append(f"| {float(r['t_s']) / 60:.1f} | {int(r['rss_kib']) / 1024:.0f} | {r['fds']} | {float(r['connections']):.0f} | "
                 f"{r['latency_p99_ms']} | {r.get('publish_p99_ms', '–')} | {r['server_latency_p99_ms']} | {r['server_cpu']} | {r['tool_cpu_max']} |")
notes = os.path.join(here, "soak-notes.md")
if os.path.exists(notes):   # what the figures show, written by hand after a run
    with open(notes) as fh:
        lines += ["", fh.read().strip()]
text = "\n".join(lines) + "\n"
with open(os.path.join(here, "soak.md"), "w") as fh:
    fh.write(text)
bench = os.path.join(os.path.dirname(here), "BENCHMARKS.md")
with open(bench) as fh:
    doc = fh.read()
block = f"<!-- soak:begin -->\n{text.strip()}\n<!-- soak:end -->"
if "<!-- soak:begin -->" in doc:
    head, rest = doc.split("<!-- soak:begin -->", 1)
    doc = head + block + rest.split("<!-- soak:end -->", 1)[1]
else:
    doc = doc.rstrip() + "\n\n" + block + "\n"
with open(bench, "w") as fh:
    fh.write(doc)
print("wrote bench/soak.md and the Soak section of BENCHMARKS.md")
