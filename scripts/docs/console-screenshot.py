#!/usr/bin/env python3
"""Makes docs/console-session.png: `serve --demo` on a free port, its console link in headless Chromium
(DevTools protocol), a few executions later the step of the newest execution clicked, then a screenshot.

    scripts/docs/console-screenshot.py [--bin .build/debug/blobhub-realtime] [--out docs/console-session.png]

Needs chromium and the `websockets` package (scripts/ci/docs.sh's venv has it: .build-docs-venv/bin/python).
"""

import argparse
import base64
import contextlib
import json
import os
import re
import socket
import subprocess
import tempfile
import time
import urllib.request

from websockets.sync.client import connect


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(what, probe, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = probe()
        if value:
            return value
        time.sleep(0.2)
    raise SystemExit(f"timed out waiting for {what}")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--bin", default=".build/debug/blobhub-realtime")
    parser.add_argument("--out", default="docs/console-session.png")
    parser.add_argument("--chromium", default=os.environ.get("CHROMIUM", "/usr/bin/chromium"))
    parser.add_argument("--seconds", type=float, default=32,
                        help="how long the demo runs before the screenshot (every fifth execution fails: 32 s shows one)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as directory, contextlib.ExitStack() as stack:
        server = subprocess.Popen([args.bin, "serve", "--demo", "--port", str(free_port()), "--store", "memory"],
                                  stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        chromium = None
        try:
            link = None
            for line in server.stdout:
                match = re.search(r"Console:\s+(\S+)", line)
                if match:
                    link = match.group(1)
                    break
            if not link:
                raise SystemExit("the demo printed no console link")
            devtools_port = free_port()
            chromium = subprocess.Popen(
                [args.chromium, "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
                 "--hide-scrollbars", "--window-size=1280,900", f"--user-data-dir={directory}/chromium",
                 "--remote-debugging-address=127.0.0.1", f"--remote-debugging-port={devtools_port}", link],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

            def page():
                try:
                    targets = json.load(urllib.request.urlopen(f"http://127.0.0.1:{devtools_port}/json/list", timeout=2))
                except OSError:
                    return None
                return next((t["webSocketDebuggerUrl"] for t in targets if t.get("type") == "page"), None)

            devtools = stack.enter_context(connect(wait_until("Chromium's DevTools endpoint", page), max_size=None))
            next_id = iter(range(1, 1_000_000))

            def command(method, params=None):
                message_id = next(next_id)
                devtools.send(json.dumps({"id": message_id, "method": method, "params": params or {}}))
                while True:
                    message = json.loads(devtools.recv(timeout=30))
                    if message.get("id") == message_id:
                        return message.get("result", {})

            def evaluate(expression):
                return command("Runtime.evaluate", {"expression": expression, "returnByValue": True})["result"].get("value")

            wait_until("the console to go live", lambda: evaluate("document.getElementById('state')?.dataset.state") == "open")
            time.sleep(args.seconds)
            # Work in progress: the newest execution running, a few steps in.
            wait_until("an execution in progress", lambda: evaluate(
                "(() => { const x = document.querySelector('tr.execution'); return !!x && x.dataset.status === 'running' && "
                "document.querySelectorAll('tr.timeline .step').length >= 3; })()"), timeout=20)
            # Show one step's outputs: the first step of the newest execution.
            evaluate("document.querySelector('tr.timeline .step')?.click(); true")
            time.sleep(0.5)
            shot = command("Page.captureScreenshot", {"format": "png"})
            with open(args.out, "wb") as f:
                f.write(base64.b64decode(shot["data"]))
            print(f"wrote {args.out}")
        finally:
            if chromium:
                chromium.terminate()
                chromium.wait(timeout=10)
            server.terminate()
            server.wait(timeout=15)


if __name__ == "__main__":
    main()
