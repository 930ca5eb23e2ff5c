"""Shared pieces: settings, failing and waiting, child processes, the server under test, HTTP helpers."""

import json
import os
import signal
import socket
import subprocess
import shutil
import threading
import re
import time
import urllib.error
import urllib.request

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))
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
