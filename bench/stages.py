#!/usr/bin/env python3
"""Splits a perf profile of the server into the stages of one published event (the cost breakdown in
BENCHMARKS.md).

    perf script -i perf.data -F comm,tid,ip,sym | bench/stages.py [--us-per-request 42.1]

Each sample is charged to one stage. A sample in the kernel: the first kernel rule whose pattern occurs in
its call stack. Otherwise the innermost frame (leaf first) that matches a rule decides; among the rules
that match that frame, the first in the order below. With --us-per-request (server CPU per request, from a wrk run of the
same build) the shares are also printed as microseconds per request.
"""
import argparse, collections, re, sys

# (stage, regex over the whole stack text); order matters: the first match wins.
RULES = [
    ("kernel: socket write (write/writev, loopback delivery, wake-up of the reader)", r"writev|tcp_sendmsg|sock_write_iter|__libc_write|ksys_write"),
    ("kernel: socket read", r"\bread\b.*readFromSocket|ksys_read|__GI___libc_read"),
    ("kernel: epoll, scheduling, other", r""),
    ("response: HTTP encoding and the write path above the socket", r"writeReply"),
    ("store: fan-out hand-off (commit observer, hub dispatch)", r"CommitObserverSlot|BlobHubRealtimeServer0B0C8dispatch|DispatchEvent"),
    ("store: append", r"appendNow|06MemoryD0C|06SQLiteD0C|08PostgresD0C|GroupCommit|MemoryStore|SQLiteStore|PostgresStore"),
    ("intake: validation, ids, routing keys, event JSON", r"EventIntake"),
    ("JSON parse of the body", r"JSONParser"),
    ("publish: endpoint and service (metrics, answers)", r"PublishEndpoint|PublishService|MeasuredStore"),
    ("HTTP request head: NIOHTTP1 head, HTTPTypes conversion, handlers", r"didFinishHead|didReceiveHeaderField|didReceiveURL"),
    ("HTTP body and message end", r"didReceiveBody|didFinishMessage"),
    ("HTTP parser (llhttp) and decoder", r"llhttp|HTTPDecoder|ByteToMessage"),
    ("NIO read path (buffers, pipeline)", r"readFromSocket|BaseStreamSocketChannel|RecvBufferAllocator|fireChannelRead"),
    ("fan-out rounds and WebSocket writes", r"FanoutShard|3HubC|WebSocketConnection"),
    ("router (Hummingbird, async channel)", r"Hummingbird|NIOAsyncChannel|Router"),
    ("NIO event loop (tasks, selector)", r"SelectableEventLoop|Selector"),
]


def samples(stream):
    stack = []
    for line in stream:
        line = line.rstrip("\n")
        if not line.strip():
            if stack:
                yield stack
            stack = []
            continue
        if line[0] not in " \t":  # the sample's header line (comm tid)
            if stack:
                yield stack
            stack = []
            continue
        parts = line.split(None, 1)
        # Kernel frames are marked so the rules can tell them apart (their addresses are ffffffff…).
        symbol = parts[1] if len(parts) > 1 else "?"
        stack.append(("[k] " if parts[0].startswith("ffffffff") else "") + symbol)
    if stack:
        yield stack


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--us-per-request", type=float, default=0)
    a = p.parse_args()
    compiled = [(name, re.compile(rx)) for name, rx in RULES]
    counts = collections.Counter()
    total = 0
    for stack in samples(sys.stdin):
        total += 1
        leaf = stack[0]
        text = "\n".join(stack)
        kernel_leaf = leaf.startswith("[k] ")
        stage = None
        if kernel_leaf:
            for name, rx in compiled:
                if name.startswith("kernel") and (name.startswith("kernel: epoll") or rx.search(text)):
                    stage = name
                    break
        else:
            # The innermost frame that belongs to a stage decides (a store's completion that writes the
            # answer is the response's cost, not the store's).
            for frame in stack:
                for name, rx in compiled:
                    if not name.startswith("kernel") and rx.search(frame):
                        stage = name
                        break
                if stage:
                    break
        counts[stage or "other (runtime, allocator, not attributed)"] += 1
    if total == 0:
        sys.exit("no samples on stdin (perf script -F comm,tid,ip,sym)")
    print("| stage | share of server CPU |" + (" µs per request |" if a.us_per_request else ""))
    print("|---|---|" + ("---|" if a.us_per_request else ""))
    for name, _ in RULES + [("other (runtime, allocator, not attributed)", "")]:
        n = counts.get(name, 0)
        if n == 0:
            continue
        share = 100.0 * n / total
        row = f"| {name} | {share:.1f} % |"
        if a.us_per_request:
            row += f" {a.us_per_request * share / 100:.1f} |"
        print(row)
    print(f"\n{total} samples")


if __name__ == "__main__":
    main()
