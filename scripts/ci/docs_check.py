"""Runs the documentation checks of scripts/ci/docs.sh against a real server (see that script).

Steps, each fatal on failure:
  examples  - every `example:` block of docs/clients.md against the server, then a server restart
              the Python, browser and Swift examples must resume across (no gap, no duplicate);
  asyncapi  - a scripted WebSocket session; every message sent and received validates against
              the asyncapi.yaml message it should be;
  openapi   - schemathesis against openapi.yaml with the admin key.
"""

import argparse
import base64
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request

import warnings

import jsonschema
import yaml
from referencing import Registry
from referencing.jsonschema import DRAFT7
from websockets.sync.client import connect as ws_connect
from websockets.exceptions import InvalidStatus

# websockets 17 prefers `with connect(...)`; these sessions are closed explicitly.
warnings.filterwarnings("ignore", category=DeprecationWarning, module="websockets")
warnings.filterwarnings("ignore", message="connect\\(\\) must be used as a context manager")

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
JWT_SECRET = "docs-secret-0123456789abcdef0123456789abcdef"
ADMIN_KEY = "docs-admin-key"
PUBLISHER_KEY = "docs-publisher-key"
CHROMIUM = next((p for p in ("/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome") if os.path.exists(p)), None)


def log(text):
    print(f"[docs] {text}", flush=True)


def fail(text):
    raise SystemExit(f"[docs] FAILED: {text}")


def wait_until(what, predicate, timeout=30.0, interval=0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    fail(f"timed out after {timeout:.0f} s waiting for {what}")


CHILDREN = []  # example processes, killed on the way out whatever happens


def spawn(command, **kwargs):
    process = subprocess.Popen(command, **kwargs)
    CHILDREN.append(process)
    return process


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


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
# The server under test

class Server:
    def __init__(self, binary, directory):
        # Run a copy outside the checkout, as an installed binary would: the API documents it serves
        # must come from the binary itself.
        self.binary, self.directory, self.port = os.path.join(directory, "blobhub-realtime"), directory, free_port()
        shutil.copy2(binary, self.binary)
        self.store = "sqlite:" + os.path.join(directory, "docs.sqlite")
        self.log = open(os.path.join(directory, "server.log"), "ab")
        self.process = None

    @property
    def base(self):
        return f"http://127.0.0.1:{self.port}"

    def start(self):
        self.process = subprocess.Popen(
            [self.binary, "serve", "--host", "127.0.0.1", "--port", str(self.port), "--store", self.store,
             "--jwt-secret", JWT_SECRET, "--admin-key", ADMIN_KEY, "--publisher-key", PUBLISHER_KEY,
             "--drain-timeout", "3s", "--log-level", "warning"],
            stdout=self.log, stderr=self.log, cwd=self.directory)
        wait_until("the server to be ready", lambda: self.ready(), timeout=30)

    def ready(self):
        if self.process.poll() is not None:
            fail(f"server exited with {self.process.returncode}")
        try:
            return http("GET", self.base + "/readyz")[0] == 200
        except OSError:
            return False

    def stop(self):
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                code = self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                fail("server did not exit within 15 s of SIGTERM")
            if code != 0:
                fail(f"server exited with {code} after SIGTERM (expected 0)")


def http(method, url, body=None, key=None):
    data = None if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
    request = urllib.request.Request(url, data=data, method=method)
    if key:
        request.add_header("Authorization", f"Bearer {key}")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read(), dict(response.headers)
    except urllib.error.HTTPError as error:
        return error.code, error.read(), dict(error.headers)


def admin(server, method, path, body=None):
    status, raw, _ = http(method, server.base + "/v1/admin" + path, body, ADMIN_KEY)
    if status >= 300:
        fail(f"{method} {path}: HTTP {status} {raw[:200]!r}")
    return json.loads(raw) if raw else None


def publish(server, events):
    status, raw, _ = http("POST", server.base + "/v1/events", events, PUBLISHER_KEY)
    if status != 202:
        fail(f"publish: HTTP {status} {raw[:200]!r}")
    return [e["offset"] for e in json.loads(raw)["events"]]


def token(server, user="user-1"):
    return admin(server, "POST", "/tokens", {"user_id": user})["access_token"]


class LineReader:
    """Collects a child process's stdout lines on a thread."""

    def __init__(self, process):
        self.process, self.lines = process, []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.process.stdout:
            self.lines.append(line.rstrip("\n"))

    def events(self):
        return [(int(m.group(1)), m.group(2)) for m in (re.fullmatch(r"(\d+) (\S+)", l) for l in list(self.lines)) if m]


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

def run_bash_example(name, text, server):
    env = dict(os.environ, BASE=server.base, ADMIN_KEY=ADMIN_KEY, PUBLISHER_KEY=PUBLISHER_KEY)
    result = subprocess.run(["bash", "-euo", "pipefail", "-c", text], env=env, capture_output=True, text=True, timeout=60)
    if result.returncode != 0:
        fail(f"example {name} exited {result.returncode}:\n{result.stdout}\n{result.stderr}")
    return [json.loads(line) for line in result.stdout.splitlines() if line.strip()]


def step_examples(args, server, directory, blocks):
    expected = {"curl-registry", "curl-publish", "browser-subscribe", "python-subscribe", "swift-client"}
    if set(blocks) != expected:
        fail(f"docs/clients.md examples are {sorted(blocks)}, the harness runs {sorted(expected)}")

    registry = run_bash_example("curl-registry", blocks["curl-registry"], server)
    if [sorted(r) for r in registry[:4]] != [["created_at", "id", "name", "updated_at"],
                                             ["created_at", "organization_id", "role", "updated_at", "user_id"],
                                             ["created_at", "id", "organization_id", "type", "updated_at", "visibility"],
                                             ["blob_id", "created_at", "id", "phase", "updated_at"]]:
        fail(f"curl-registry: unexpected objects {registry[:4]}")
    if not registry[4].get("key") or registry[5]["api_keys"][0]["id"] != registry[4]["id"] or "key" in registry[5]["api_keys"][0]:
        fail(f"curl-registry: API key create/list {registry[4:6]}")
    if not registry[6].get("access_token"):
        fail("curl-registry: no access token")

    published = run_bash_example("curl-publish", blocks["curl-publish"], server)
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
    python_out, swift_out = LineReader(python), LineReader(swift)

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
            wait_until("three subscriptions (Python, Swift, browser)", lambda: admin(server, "GET", "/stats")["subscriptions"] == 3, timeout=90)
        except SystemExit:
            log(f"stats {admin(server, 'GET', '/stats')}; python {python.poll()} {python_out.lines}; swift {swift.poll()} {swift_out.lines}; "
                f"browser notices {browser.evaluate('notices')}")
            raise

        live_a = publish(server, {"id": "docs-live-a", "type": "processor.output", "revision_id": "rev-1", "session_id": "s-1", "execution_id": "e-2"})[0]
        wait_until("Python to see the live event", lambda: (live_a, "processor.output") in python_out.events())
        wait_until("the browser to see the live event", lambda: browser.evaluate("seen.length") == 1)

        log("restarting the server: the examples must resume")
        server.stop()
        server.start()
        # Usually published before the clients are back, so it must come through `since` replay.
        resubscribed = admin(server, "GET", "/stats")["subscriptions"]
        log(f"after the restart {resubscribed} of 3 clients had resubscribed before the next publish")
        live_b = publish(server, {"id": "docs-live-b", "type": "processor.output", "revision_id": "rev-1", "session_id": "s-1", "execution_id": "e-2"})[0]

        want = [[live_a, "processor.output"], [live_b, "processor.output"]]
        wait_until("the browser to resume", lambda: browser.evaluate("seen.length") >= 2, timeout=40)
        seen = browser.evaluate("seen")
        if seen != want:
            fail(f"browser example saw {seen}, want {want} (notices: {browser.evaluate('notices')})")
        browser.evaluate("watcher.stop(); true")
    finally:
        browser.close()

    for name, process, reader, count in (("python-subscribe", python, python_out, 2), ("swift-client", swift, swift_out, history + 2)):
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
    swift_types = [t for _, t in swift_out.events()][:history]
    if swift_types != ["flow.entered", "execution_started", "processor.output", "flow.exited", "execution_ended"]:
        fail(f"swift-client replayed {swift_types}")
    log(f"browser-subscribe: {want}")
    log("client examples ran and resumed across a restart")


# ---------------------------------------------------------------------------------------------
# 2. asyncapi.yaml against a captured session

class AsyncAPI:
    def __init__(self, path):
        with open(path) as f:
            self.document = yaml.safe_load(f)
        self.registry = Registry().with_resource("urn:asyncapi", DRAFT7.create_resource(self.document))
        self.check_references(self.document)
        self.check_operations()
        self.server_messages = [m for m in self.document["components"]["messages"] if not m.endswith("Request")]
        self.validated = set()

    def check_references(self, node):
        resolver = self.registry.resolver()
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "$ref":
                    resolver.lookup("urn:asyncapi" + value)  # raises when a reference is dangling
                else:
                    self.check_references(value)
        elif isinstance(node, list):
            for value in node:
                self.check_references(value)

    def check_operations(self):
        """AsyncAPI 3.0 rules no JSON Schema here checks: an operation's (and its reply's) messages are
        messages of its channel, actions are send/receive, every message has a payload."""
        if self.document.get("asyncapi") != "3.0.0":
            fail("asyncapi.yaml: asyncapi must be 3.0.0")
        for name, operation in self.document["operations"].items():
            if operation.get("action") not in ("send", "receive"):
                fail(f"asyncapi.yaml: operation {name} has action {operation.get('action')!r}")
            for part in (operation, operation.get("reply") or {}):
                if not part:
                    continue
                channel = part["channel"]["$ref"]
                for message in part.get("messages", []):
                    if not message["$ref"].startswith(channel + "/messages/"):
                        fail(f"asyncapi.yaml: operation {name} uses {message['$ref']}, not a message of {channel}")
        for name, message in self.document["components"]["messages"].items():
            if "payload" not in message:
                fail(f"asyncapi.yaml: message {name} has no payload")

    def errors(self, message_name, payload):
        validator = jsonschema.Draft7Validator({"$ref": f"urn:asyncapi#/components/messages/{message_name}/payload"},
                                               registry=self.registry, format_checker=jsonschema.Draft7Validator.FORMAT_CHECKER)
        return [e.message for e in validator.iter_errors(payload)]

    def expect(self, message_name, payload):
        errors = self.errors(message_name, payload)
        if errors:
            fail(f"asyncapi {message_name} rejects a real message {json.dumps(payload)[:400]}: {errors[:3]}")
        self.validated.add(message_name)
        return payload

    def check_received(self, payload):
        if not any(not self.errors(name, payload) for name in self.server_messages):
            fail(f"no asyncapi server message matches {json.dumps(payload)[:400]}")


class Session:
    """A WebSocket that validates what it sends and what it receives."""

    def __init__(self, api, url, **kwargs):
        self.api, self.ws, self.next_id = api, ws_connect(url, **kwargs), 100

    def send(self, message_name, payload):
        """Sends payload, validated as message_name first (None: deliberately invalid, not validated)."""
        self.ws.send(json.dumps(self.api.expect(message_name, payload) if message_name else payload))

    def call(self, message_name, method, params=None, reply="emptyResponse"):
        self.next_id += 1
        request = {"jsonrpc": "2.0", "id": self.next_id, "method": method}
        if params is not None:
            request["params"] = params
        self.send(message_name, request)
        response = self.receive()
        if response.get("id") != self.next_id:
            fail(f"{method}: expected the response to id {self.next_id}, got {response}")
        return self.api.expect(reply, response)

    def receive(self, timeout=10):
        payload = json.loads(self.ws.recv(timeout=timeout))
        self.api.check_received(payload)
        return payload

    def drain(self, quiet=0.5):
        messages = []
        while True:
            try:
                messages.append(self.receive(timeout=quiet))
            except TimeoutError:
                return messages


def step_asyncapi(server):
    api = AsyncAPI(os.path.join(ROOT, "asyncapi.yaml"))
    url = f"ws://127.0.0.1:{server.port}/v1"

    try:
        ws_connect(url).close()
        fail("an upgrade without credentials was accepted")
    except InvalidStatus as refused:
        if refused.response.status_code != 401 or refused.response.headers.get("WWW-Authenticate") != "Bearer":
            fail(f"an upgrade without credentials got {refused.response.status_code}")

    s = Session(api, url, additional_headers={"Authorization": f"Bearer {token(server)}"})
    s.call("pingRequest", "status/ping", {})
    not_initialized = s.call("subscriptionListRequest", "subscription/list", reply="errorResponse")
    if not_initialized["error"]["data"]["reason"] != "connection not initialized":
        fail(f"before initialize: {not_initialized}")
    init = s.call("initializeRequest", "status/initialize", {"client_info": {"name": "docs-check", "version": "1"}}, reply="initializeResponse")
    epoch = init["result"]["epoch"]
    s.call("initializeRequest", "status/initialize", {}, reply="errorResponse")  # already initialized
    if s.call(None, "nope/unknown", reply="errorResponse")["error"]["code"] != 405:
        fail("unknown method is not 405")
    s.ws.send("{not json")
    parse_error = api.expect("errorResponse", s.receive())
    if parse_error["id"] is not None or parse_error["error"]["code"] != 400:
        fail(f"parse error: {parse_error}")
    session = {"scope": "revision", "scope_id": "rev-1", "target": "session", "target_id": "s-1"}
    invalid = s.call(None, "subscription/add", {"scope": "revision", "scope_id": "rev-1", "target": "session"}, reply="errorResponse")
    if invalid["error"]["data"].get("field") != "target_id":
        fail(f"invalid params: {invalid}")
    if s.call("subscriptionAddRequest", "subscription/add", dict(session, scope_id="rev-unknown"), reply="errorResponse")["error"]["code"] != 403:
        fail("an unknown revision is not 403")
    s.call("subscriptionAddRequest", "subscription/add", dict(session, types=["flow.entered", "execution_started"]), reply="subscriptionAddResponse")

    organization = {"scope": "core", "target": "organization", "target_id": "org-1"}
    s.call("subscriptionAddRequest", "subscription/add", dict(organization, since=0, epoch=epoch), reply="subscriptionAddResponse")
    replayed = [api.expect("subscriptionEvent", m) for m in s.drain()]
    if not replayed or any(m["params"]["scope_id"] is not None for m in replayed):
        fail(f"core replay: {replayed}")
    listed = s.call("subscriptionListRequest", "subscription/list", reply="subscriptionListResponse")
    if len(listed["result"]["subscriptions"]) != 2:
        fail(f"subscription/list: {listed}")
    s.call("authenticateRequest", "status/authenticate", {"token": token(server)}, reply="authenticateResponse")

    s.send("batchRequest", [{"jsonrpc": "2.0", "id": "b1", "method": "status/ping"},
                            {"jsonrpc": "2.0", "id": "b2", "method": "subscription/list"},
                            {"jsonrpc": "2.0", "method": "status/ping"}])
    batch = api.expect("batchResponse", s.receive())
    if [r["id"] for r in batch] != ["b1", "b2"]:
        fail(f"batch reply: {batch}")

    publish(server, {"type": "flow.entered", "revision_id": "rev-1", "session_id": "s-1", "execution_id": "e-9"})
    live = [api.expect("subscriptionEvent", m) for m in s.drain()]
    if [m["params"]["event"]["type"] for m in live] != ["flow.entered", "execution_started"]:
        fail(f"live session events: {live}")
    s.call("subscriptionRemoveRequest", "subscription/remove", dict(session, types=["flow.entered"]))

    admin(server, "PUT", "/organizations/org-1", {"name": "Renamed Org"})
    updated = [api.expect("subscriptionEvent", m) for m in s.drain()]
    if [m["params"]["event"]["type"] for m in updated] != ["organization_updated"]:
        fail(f"core event: {updated}")

    # A burst over the rate limit: some entries of one batch are answered 429.
    s.send("batchRequest", [{"jsonrpc": "2.0", "id": i, "method": "status/ping"} for i in range(450)])
    flood = api.expect("batchResponse", s.receive())
    if not any(r.get("error", {}).get("code") == 429 for r in flood):
        fail("no 429 in a batch of 450 requests")
    time.sleep(2.5)  # let the bucket refill

    admin(server, "DELETE", "/organizations/org-1/members/user-1")
    # The organization subscription first sees the member_removed event, then both subscriptions end.
    after_removal = s.drain(quiet=1.5)
    events = [api.expect("subscriptionEvent", m) for m in after_removal if m.get("method") == "subscription/event"]
    revoked = [api.expect("subscriptionRevoked", m) for m in after_removal if m.get("method") != "subscription/event"]
    if [m["params"]["event"]["type"] for m in events] != ["member_removed"]:
        fail(f"events around the revocation: {events}")
    if sorted(m["params"]["target"] for m in revoked) != ["organization", "session"]:
        fail(f"revocation: {revoked}")
    admin(server, "PUT", "/organizations/org-1/members/user-1", {"role": "read"})
    s.ws.close()

    # The browser variant: an API key in the subprotocol list, unpadded URL-safe base64.
    key = admin(server, "POST", "/api-keys", {"user_id": "user-1", "target": "orgs", "target_id": "org-1", "role": "read"})["key"]
    encoded = base64.urlsafe_b64encode(key.encode()).decode().rstrip("=")
    k = Session(api, url, subprotocols=["x-api-key.base64", encoded])
    if k.ws.subprotocol != "x-api-key.base64":
        fail(f"the server selected subprotocol {k.ws.subprotocol!r}")
    k.call("initializeRequest", "status/initialize", reply="initializeResponse")
    k.ws.close()

    unused = set(api.document["components"]["messages"]) - api.validated
    if unused:
        fail(f"asyncapi messages never exercised by the session: {sorted(unused)}")
    log(f"asyncapi: {len(api.validated)} message kinds validated against real traffic")


# ---------------------------------------------------------------------------------------------
# 3. openapi.yaml with schemathesis

def step_openapi(args, server, directory):
    # The document itself first: OpenAPI 3.1 structure and references.
    from openapi_spec_validator import validate
    from openapi_spec_validator.readers import read_from_filename
    validate(read_from_filename(os.path.join(ROOT, "openapi.yaml"))[0])
    log("openapi.yaml is a valid OpenAPI 3.1 document")
    for name in ("openapi.yaml", "asyncapi.yaml"):
        status, served, headers = http("GET", f"{server.base}/{name}")
        with open(os.path.join(ROOT, name), "rb") as f:
            if status != 200 or served != f.read() or headers.get("Content-Type") != "application/yaml":
                fail(f"GET /{name} from a copied binary is not the repository's {name} (run scripts/generate-api-documents.sh)")
    log("a copied binary serves openapi.yaml and asyncapi.yaml byte for byte")
    checks = ",".join([
        "not_a_server_error", "status_code_conformance", "content_type_conformance",
        "response_headers_conformance", "response_schema_conformance", "ignored_auth",
        "unsupported_method", "negative_data_rejection",
    ])
    command = [
        os.path.join(args.venv, "bin", "schemathesis"), "--config-file", os.path.join(ROOT, "scripts", "ci", "schemathesis.toml"),
        "run", os.path.join(ROOT, "openapi.yaml"),
        "--url", server.base, "--header", f"Authorization: Bearer {ADMIN_KEY}",
        "--checks", checks, "--max-examples", str(args.max_examples), "--seed", "8",
        "--request-timeout", "10", "--no-color",
    ]
    # /metrics is documented from SPEC §11; until the metrics work is merged a node answers 404 there.
    if http("GET", server.base + "/metrics")[0] == 404:
        log("WARNING: this build has no /metrics yet; schemathesis skips GET /metrics")
        command += ["--exclude-path", "/metrics"]
    log("schemathesis: " + " ".join(command))
    # Run in the temporary directory: schemathesis keeps a cache of past failures in its working directory.
    result = subprocess.run(command, timeout=300, cwd=directory)
    if result.returncode != 0:
        fail(f"schemathesis found failures (exit {result.returncode})")
    log("openapi: schemathesis found no failure")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--bin", required=True, help="SwiftPM bin path (blobhub-realtime, blobhub-realtime-example)")
    parser.add_argument("--venv", required=True)
    parser.add_argument("--max-examples", type=int, default=20)
    parser.add_argument("--only", choices=["examples", "asyncapi", "openapi"],
                        help="run one step (asyncapi needs the objects the examples create, so it runs them first)")
    args = parser.parse_args()
    args.venv = os.path.abspath(args.venv)

    with open(os.path.join(ROOT, "docs", "clients.md")) as f:
        blocks = example_blocks(f.read())
    with tempfile.TemporaryDirectory(prefix="blobhub-docs-") as directory:
        server = Server(os.path.join(args.bin, "blobhub-realtime"), directory)
        try:
            server.start()
            if args.only in (None, "examples", "asyncapi"):
                step_examples(args, server, directory, blocks)
            if args.only in (None, "asyncapi"):
                step_asyncapi(server)
            if args.only in (None, "openapi"):
                step_openapi(args, server, directory)
        except BaseException:
            with open(os.path.join(directory, "server.log"), "rb") as f:
                sys.stderr.write("---- server log (tail) ----\n" + f.read()[-4000:].decode(errors="replace") + "\n")
            raise
        finally:
            for child in CHILDREN:
                if child.poll() is None:
                    child.kill()
            server.stop()
    log("all documentation checks passed")


if __name__ == "__main__":
    main()
