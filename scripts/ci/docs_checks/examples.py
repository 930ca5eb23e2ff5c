"""Step 1: every `example:` block of docs/clients.md against the server, resuming across a restart."""

import json
import os
import re
import shutil
import subprocess
import time

from websockets.sync.client import connect as ws_connect

from .support import (ADMIN_KEY, CHROMIUM, JWT_SECRET, PUBLISHER_KEY, LineReader, Server, admin, fail, free_port, http, log, publish,
                      spawn, token, wait_until)

# ---------------------------------------------------------------------------------------------
# docs/clients.md blocks (same rule as DocumentationTests.exampleBlock in Swift)

def example_blocks(markdown):
    """{name: text} for every fenced block whose first line ends with `example: <name>`."""
    blocks, in_fence, first, name, lines = {}, False, False, None, []
    for line in markdown.split("\n"):
        if not in_fence:
            if line.startswith("```"):
                in_fence, first, name, lines = True, True, None, []
        elif line.startswith("```"):
            if name:
                blocks[name] = "\n".join(lines) + "\n"
            in_fence = False
        elif first:
            first = False
            match = re.search(r"example: ([a-z0-9-]+)$", line)
            if match:
                name, lines = match.group(1), [line]
        elif name:
            lines.append(line)
    return blocks


# ---------------------------------------------------------------------------------------------
# Headless Chromium through the DevTools protocol

class Browser:
    def __init__(self, url, directory):
        port = free_port()
        self.process = subprocess.Popen(
            [CHROMIUM, "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
             f"--user-data-dir={os.path.join(directory, 'chromium')}", "--remote-debugging-address=127.0.0.1",
             f"--remote-debugging-port={port}", url],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

        def page():
            try:
                targets = json.loads(http("GET", f"http://127.0.0.1:{port}/json/list")[1])
            except (OSError, ValueError):
                return None
            return next((t["webSocketDebuggerUrl"] for t in targets if t.get("type") == "page" and t.get("url", "").startswith(url)), None)

        self.devtools = ws_connect(wait_until("Chromium's DevTools endpoint", page, timeout=30), max_size=None)
        self.next_id = 0
        # Until the navigation commits, scripts would run in the initial about:blank document and be lost.
        wait_until("the page to load", lambda: self.evaluate("location.href + ' ' + document.readyState") == url + " complete")

    def evaluate(self, expression):
        self.next_id += 1
        self.devtools.send(json.dumps({"id": self.next_id, "method": "Runtime.evaluate",
                                       "params": {"expression": expression, "returnByValue": True, "awaitPromise": True}}))
        while True:
            message = json.loads(self.devtools.recv(timeout=30))
            if message.get("id") == self.next_id:
                result = message["result"]
                if "exceptionDetails" in result:
                    fail(f"browser exception: {json.dumps(result['exceptionDetails'])[:500]}")
                return result["result"].get("value")

    def close(self):
        self.devtools.close()
        self.process.terminate()
        self.process.wait(timeout=10)


# ---------------------------------------------------------------------------------------------
# 1. docs/clients.md examples

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))  # scripts/ci/docs_checks/ -> repository


def node_major():
    """Node 20 has a global WebSocket only with --experimental-websocket; 22 has it by default."""
    version = subprocess.run(["node", "-p", "process.versions.node"], capture_output=True, text=True, check=True).stdout
    return int(version.split(".")[0])


def run_bash_example(name, text, server, directory, bin_path):
    env = dict(os.environ, BASE=server.base, ADMIN_KEY=ADMIN_KEY, PUBLISHER_KEY=PUBLISHER_KEY, JWT_SECRET=JWT_SECRET,
               PATH=bin_path + os.pathsep + os.environ["PATH"])
    result = subprocess.run(["bash", "-euo", "pipefail", "-c", text], env=env, capture_output=True, text=True, timeout=60, cwd=directory)
    if result.returncode != 0:
        fail(f"example {name} exited {result.returncode}:\n{result.stdout}\n{result.stderr}")
    return [json.loads(line) for line in result.stdout.splitlines() if line.strip()]


def step_examples(args, server, directory, blocks):
    expected = {"curl-registry", "curl-publish", "browser-subscribe", "js-client", "python-subscribe", "python-client",
                "python-publish", "swift-client", "cli"}
    if set(blocks) != expected:
        fail(f"docs/clients.md examples are {sorted(blocks)}, the harness runs {sorted(expected)}")

    registry = run_bash_example("curl-registry", blocks["curl-registry"], server, directory, args.bin)
    if [sorted(r) for r in registry[:4]] != [["created_at", "id", "name", "updated_at"],
                                             ["created_at", "organization_id", "role", "updated_at", "user_id"],
                                             ["created_at", "id", "organization_id", "type", "updated_at", "visibility"],
                                             ["blob_id", "created_at", "id", "phase", "updated_at"]]:
        fail(f"curl-registry: unexpected objects {registry[:4]}")
    if not registry[4].get("key") or registry[5]["api_keys"][0]["id"] != registry[4]["id"] or "key" in registry[5]["api_keys"][0]:
        fail(f"curl-registry: API key create/list {registry[4:6]}")
    if not registry[6].get("access_token"):
        fail("curl-registry: no access token")

    published = run_bash_example("curl-publish", blocks["curl-publish"], server, directory, args.bin)
    if len(published) != 3 or len(published[0]["events"]) != 1 or len(published[1]["events"]) != 2:
        fail(f"curl-publish: {published}")
    if published[2]["error"]["code"] != 400 or published[2]["error"]["index"] != 0:
        fail(f"curl-publish: the invalid batch was not rejected with its index: {published[2]}")
    # flow.entered, its execution_started, processor.output, flow.exited, its execution_ended.
    history = 5
    log("curl examples ran")

    bearer = token(server)
    ws_url = f"ws://127.0.0.1:{server.port}/v1"
    env = dict(os.environ, BLOBHUB_URL=ws_url, BLOBHUB_TOKEN=bearer, REVISION_ID="rev-1", SESSION_ID="s-1")

    python_file = os.path.join(directory, "python_example.py")
    with open(python_file, "w") as f:
        f.write(blocks["python-subscribe"])
    python = spawn([os.path.join(args.venv, "bin", "python"), python_file], env=dict(env, STOP_AFTER="2"),
                              stdout=subprocess.PIPE, text=True)
    swift = spawn([os.path.join(args.bin, "blobhub-realtime-example")], env=dict(env, STOP_AFTER=str(history + 2)),
                             stdout=subprocess.PIPE, text=True)
    # The client package (clients/python, installed into the venv by docs.sh): same events, same resume.
    package_file = os.path.join(directory, "python_client_example.py")
    with open(package_file, "w") as f:
        f.write(blocks["python-client"])
    package = spawn([os.path.join(args.venv, "bin", "python"), package_file], env=dict(env, STOP_AFTER="2"),
                    stdout=subprocess.PIPE, text=True)
    # The JavaScript client module in Node, next to a copy of the module it imports ("./blobhub-realtime.js").
    js_directory = os.path.join(directory, "js-client")
    os.makedirs(js_directory, exist_ok=True)
    shutil.copy(os.path.join(ROOT, "clients", "js", "blobhub-realtime.js"), js_directory)
    js_file = os.path.join(js_directory, "watch.mjs")
    with open(js_file, "w") as f:
        f.write(blocks["js-client"])
    node_flags = ["--experimental-websocket"] if node_major() < 22 else []
    js = spawn(["node", *node_flags, js_file], env=dict(env, STOP_AFTER=str(history + 2)), stdout=subprocess.PIPE, text=True)
    python_out, swift_out, package_out, js_out = LineReader(python), LineReader(swift), LineReader(package), LineReader(js)

    if not CHROMIUM:
        fail("chromium is not installed (the browser example must run)")
    browser = Browser(server.base + "/healthz", directory)
    try:
        # One script: the block's declarations are visible to the code after it, not to later evaluations.
        browser.evaluate(blocks["browser-subscribe"] + "\n"
                         "window.seen = []; window.notices = []; window.watcher = watch({url: %s, token: %s, "
                         "subscription: {scope: 'revision', scope_id: 'rev-1', target: 'session', target_id: 's-1'}, "
                         "onEvent: (event, offset) => seen.push([offset, event.type]), onNotice: (text) => notices.push(text)}); true"
                         % (json.dumps(ws_url), json.dumps(bearer)))
        try:
            wait_until("five subscriptions (Python, Python client, Swift, JavaScript client, browser)",
                       lambda: admin(server, "GET", "/stats")["subscriptions"] == 5, timeout=90)
        except SystemExit:
            log(f"stats {admin(server, 'GET', '/stats')}; python {python.poll()} {python_out.lines}; python client {package.poll()} {package_out.lines}; swift {swift.poll()} {swift_out.lines}; "
                f"js client {js.poll()} {js_out.lines}; "
                f"browser notices {browser.evaluate('notices')}")
            raise

        live_a = publish(server, {"id": "docs-live-a", "type": "processor.output", "revision_id": "rev-1", "session_id": "s-1", "execution_id": "e-2"})[0]
        wait_until("Python to see the live event", lambda: (live_a, "processor.output") in python_out.events())
        wait_until("the browser to see the live event", lambda: browser.evaluate("seen.length") == 1)

        log("restarting the server: the examples must resume")
        server.stop()
        # While the clients' port is closed, another node on the same SQLite file (another port) takes
        # the next event: no client can see it live, so it must come through `since` replay.
        side = Server(os.path.join(args.bin, "blobhub-realtime"), directory)
        side.start()
        live_b = publish(side, {"id": "docs-live-b", "type": "processor.output", "revision_id": "rev-1", "session_id": "s-1", "execution_id": "e-2"})[0]
        side.stop()
        server.start()

        want = [[live_a, "processor.output"], [live_b, "processor.output"]]
        wait_until("the browser to resume", lambda: browser.evaluate("seen.length") >= 2, timeout=40)
        seen = browser.evaluate("seen")
        if seen != want:
            fail(f"browser example saw {seen}, want {want} (notices: {browser.evaluate('notices')})")
        browser.evaluate("watcher.stop(); true")
    finally:
        browser.close()

    for name, process, reader, count in (("python-subscribe", python, python_out, 2), ("python-client", package, package_out, 2),
                                         ("swift-client", swift, swift_out, history + 2), ("js-client", js, js_out, history + 2)):
        try:
            code = process.wait(timeout=40)
        except subprocess.TimeoutExpired:
            process.kill()
            fail(f"{name} did not finish; output: {reader.lines}")
        time.sleep(0.1)
        events = reader.events()
        offsets = [o for o, _ in events]
        if code != 0 or len(events) != count or offsets != sorted(set(offsets)) or offsets[-2:] != [live_a, live_b]:
            fail(f"{name} exited {code} with {reader.lines}; want {count} events ending at offsets {live_a}, {live_b}, no duplicate")
        log(f"{name}: {reader.lines}")
    for name, reader in (("swift-client", swift_out), ("js-client", js_out)):
        replayed = [t for _, t in reader.events()][:history]
        if replayed != ["flow.entered", "execution_started", "processor.output", "flow.exited", "execution_ended"]:
            fail(f"{name} replayed {replayed}")
    log(f"browser-subscribe: {want}")
    log("client examples ran and resumed across a restart")

    # The command-line clients: publish one event, then listen replays the whole session (--since 0).
    cli = run_bash_example("cli", blocks["cli"], server, directory, args.bin)
    published_offset = cli[0]["events"][0]["offset"]
    offsets = [line["offset"] for line in cli[1:]]
    if len(offsets) != history + 3 or offsets != sorted(set(offsets)) or offsets[-1] != published_offset \
            or cli[-1]["event"].get("message") != "from the CLI":
        fail(f"cli: listen printed {cli[1:]}, want the {history + 3} events of s-1 ending at offset {published_offset}")
    log(f"cli: published offset {published_offset}; listen printed offsets {offsets}")

    # Publishing with the Python package, last (it adds to s-1's history): two acknowledged, one rejected.
    publish_file = os.path.join(directory, "python_publish_example.py")
    with open(publish_file, "w") as f:
        f.write(blocks["python-publish"])
    result = subprocess.run([os.path.join(args.venv, "bin", "python"), publish_file], capture_output=True, text=True, timeout=60,
                            env=dict(os.environ, BASE=server.base, PUBLISHER_KEY=PUBLISHER_KEY))
    lines = result.stdout.splitlines()
    acked = [l.split() for l in lines if l.startswith("py-example-")]
    if result.returncode != 0 or len(acked) != 2 or int(acked[1][1]) != int(acked[0][1]) + 1 or offsets[-1] >= int(acked[0][1]) \
            or not any(l.startswith("rejected: 400") for l in lines):
        fail(f"python-publish exited {result.returncode}: {result.stdout} {result.stderr}")
    log(f"python-publish: {lines}")
