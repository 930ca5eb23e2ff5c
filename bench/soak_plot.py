#!/usr/bin/env python3
"""Charts of a soak run's samples (bench/soak): RSS, open fds, connections and subscriptions, delivery p99 (the steady
subscribers' and the node's own)."""
import csv, sys

import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt

source, target = sys.argv[1], sys.argv[2]
with open(source) as fh:
    rows = list(csv.DictReader(fh))
if not rows:
    sys.exit("no samples")
t = [float(r["t_s"]) / 60 for r in rows]
col = lambda k: [float(r[k]) for r in rows]

fig, axes = plt.subplots(2, 2, figsize=(11, 7), sharex=True)
charts = [
    (axes[0][0], "node RSS (MiB)", [("RSS", [v / 1024 for v in col("rss_kib")])]),
    (axes[0][1], "open file descriptors", [("fds", col("fds"))]),
    (axes[1][0], "connections / subscriptions", [("connections", col("connections")), ("subscriptions", col("subscriptions"))]),
    (axes[1][1], "delivery latency p99 per 10 s (ms)", [("steady subscribers (publish → received)", col("latency_p99_ms")),
                                                   ("node (commit → written)", col("server_latency_p99_ms"))]
                                                  + ([("publish (request → 202)", col("publish_p99_ms"))] if "publish_p99_ms" in rows[0] else [])),
]
bursts = [x for x, b in zip(t, col("burst")) if b]
for ax, title, series in charts:
    for label, values in series:
        ax.plot(t, values, label=label, linewidth=1.4)
    for x in bursts:
        ax.axvline(x, color="orange", alpha=0.25, linewidth=4)
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    ax.set_ylim(bottom=0)
    if len(series) > 1:
        ax.legend(fontsize=8)
for ax in axes[1]:
    ax.set_xlabel("minutes")
fig.suptitle("BlobHub Realtime soak (orange: samples taken during a 10x publish burst)", fontsize=11)
fig.tight_layout()
fig.savefig(target, dpi=90)
print(f"wrote {target}")
