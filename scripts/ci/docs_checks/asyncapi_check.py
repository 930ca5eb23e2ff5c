"""Step 2: a scripted WebSocket session; every message sent and received must validate against
the asyncapi.yaml message it should be."""

import base64
import json
import os
import re
import time

import jsonschema
import yaml
from referencing import Registry
from referencing.jsonschema import DRAFT7
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect as ws_connect

from .support import ROOT, admin, fail, log, publish, token

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
            for example in message.get("examples", []):
                errors = self.errors(name, example["payload"])
                if errors:
                    fail(f"asyncapi.yaml: the example of {name} does not match its payload: {errors[:3]}")

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


def check_protocol_examples(api):
    """Every JSON block of docs/protocol.md is a message asyncapi.yaml accepts (request or reply)."""
    with open(os.path.join(ROOT, "docs", "protocol.md")) as f:
        blocks = re.findall(r"^```json\n(.*?)^```", f.read(), flags=re.S | re.M)
    if len(blocks) < 7:
        fail(f"docs/protocol.md: found only {len(blocks)} JSON examples")
    for block in blocks:
        try:
            message = json.loads(block)
        except ValueError as error:
            fail(f"docs/protocol.md: a JSON example does not parse ({error}): {block[:200]}")
        if not any(not api.errors(name, message) for name in api.document["components"]["messages"]):
            fail(f"docs/protocol.md: no asyncapi message accepts the example {block[:200]}")
    log(f"docs/protocol.md: {len(blocks)} JSON examples match asyncapi.yaml messages")


def step_asyncapi(server):
    api = AsyncAPI(os.path.join(ROOT, "asyncapi.yaml"))
    check_protocol_examples(api)
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
