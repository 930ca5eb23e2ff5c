"""Test fixtures: a real `blobhub-realtime` node as a child process on a free loopback port."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[3]
JWT_SECRET = "0123456789abcdef0123456789abcdef"
ADMIN_KEY = "test-admin-key"
PUBLISHER_KEY = "test-publisher-key"

ORG, USER, BLOB, REVISION, SESSION = "org-1", "user-1", "blob-1", "rev-1", "s-1"


def server_binary() -> str:
    configured = os.environ.get("BLOBHUB_REALTIME_BIN")
    if configured:
        return configured
    for flavour in ("release", "debug"):
        candidate = REPO / ".build" / flavour / "blobhub-realtime"
        if candidate.exists():
            return str(candidate)
    pytest.skip("no blobhub-realtime binary: set BLOBHUB_REALTIME_BIN or run swift build")
    raise AssertionError  # unreachable


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Node:
    """One server process; `restart()` keeps the port and the SQLite file."""

    def __init__(self, directory: Path, extra: list[str], store: str = "sqlite") -> None:
        self.directory = directory
        self.port = free_port()
        self.extra = extra
        self.store = f"sqlite:{directory / 'node.sqlite'}" if store == "sqlite" else store
        self.log_path = directory / "node.log"
        self.process: subprocess.Popen[bytes] | None = None
        self.http = f"http://127.0.0.1:{self.port}"
        self.ws = f"ws://127.0.0.1:{self.port}/v1"

    # -- process -------------------------------------------------------------------------------

    def start(self) -> None:
        assert self.process is None
        log = open(self.log_path, "ab")
        self.process = subprocess.Popen(
            [server_binary(), "serve", "--host", "127.0.0.1", "--port", str(self.port), "--store", self.store,
             "--jwt-secret", JWT_SECRET, "--admin-key", ADMIN_KEY, "--publisher-key", PUBLISHER_KEY,
             "--event-loops", "1", "--drain-timeout", "3s", *self.extra],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        )
        log.close()
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited with {self.process.returncode}:\n{self.log_tail()}")
            try:
                with urllib.request.urlopen(f"{self.http}/readyz", timeout=1) as answer:
                    if answer.status == 200:
                        return
            except OSError:
                pass
            time.sleep(0.05)
        raise RuntimeError(f"server not ready within 15 s:\n{self.log_tail()}")

    def kill(self) -> None:
        """`kill -9`: no drain, no close frames."""
        assert self.process is not None
        self.process.kill()
        self.process.wait(10)
        self.process = None

    def terminate(self) -> None:
        """SIGTERM: drain (every WebSocket closed with 1001), then exit."""
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        self.process.wait(15)
        self.process = None

    def pause(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGCONT)

    def stop(self) -> None:
        if self.process is not None:
            self.process.send_signal(signal.SIGCONT)
            self.process.kill()
            self.process.wait(10)
            self.process = None

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    # -- HTTP ----------------------------------------------------------------------------------

    def call(self, method: str, path: str, body: Any = None, key: str = ADMIN_KEY) -> tuple[int, Any]:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(f"{self.http}{path}", data=data, method=method,
                                         headers={"Authorization": f"Bearer {key}"})
        try:
            with urllib.request.urlopen(request, timeout=5) as answer:
                raw = answer.read()
                return answer.status, json.loads(raw) if raw else None
        except urllib.error.HTTPError as error:
            raw = error.read()
            return error.code, json.loads(raw) if raw else None

    def admin(self, method: str, path: str, body: Any = None) -> Any:
        status, answer = self.call(method, f"/v1/admin{path}", body)
        assert 200 <= status < 300, (method, path, status, answer)
        return answer

    def register(self) -> None:
        self.admin("PUT", f"/organizations/{ORG}", {"name": "Test Org"})
        self.admin("PUT", f"/organizations/{ORG}/members/{USER}", {"role": "read"})
        self.admin("PUT", f"/blobs/{BLOB}", {"organization_id": ORG, "type": "workflow", "visibility": "private"})
        self.admin("PUT", f"/revisions/{REVISION}", {"blob_id": BLOB, "phase": "draft"})

    def mint_token(self, user: str = USER, ttl: int = 3600) -> str:
        return str(self.admin("POST", "/tokens", {"user_id": user, "ttl_seconds": ttl})["access_token"])

    async def amint_token(self, user: str = USER, ttl: int = 3600) -> str:
        return await asyncio.to_thread(self.mint_token, user, ttl)

    def api_key(self, target: str = "orgs", target_id: str = ORG) -> dict[str, Any]:
        answer = self.admin("POST", "/api-keys", {"user_id": USER, "target": target, "target_id": target_id,
                                                  "role": "read", "description": "python client tests"})
        assert isinstance(answer, dict)
        return answer


@pytest.fixture
def node_factory(tmp_path: Path) -> Iterator[Any]:
    """`node_factory(*extra_flags, store="sqlite")` starts a registered node; all are stopped after."""
    nodes: list[Node] = []

    def make(*extra: str, store: str = "sqlite") -> Node:
        directory = tmp_path / f"node{len(nodes)}"
        directory.mkdir()
        node = Node(directory, list(extra), store)
        nodes.append(node)
        node.start()
        node.register()
        return node

    yield make
    for node in nodes:
        node.stop()


@pytest.fixture
def node(node_factory: Any) -> Node:
    return node_factory()  # type: ignore[no-any-return]


def session_event(index: int, prefix: str = "ev", type: str = "processor.output", **extra: Any) -> dict[str, Any]:
    """A session event with a fixed id (so a retried publish is idempotent)."""
    return {"id": f"{prefix}-{index}", "type": type, "revision_id": REVISION, "session_id": SESSION,
            "execution_id": "e-1", "message": f"event {index}", **extra}


SESSION_SUBSCRIPTION: dict[str, Any] = {"scope": "revision", "scope_id": REVISION, "target": "session",
                                        "target_id": SESSION}


if sys.version_info >= (3, 11):
    bounded = asyncio.timeout
else:  # Python 3.10: a minimal asyncio.timeout

    @contextlib.asynccontextmanager
    async def bounded(seconds: float) -> AsyncIterator[None]:
        task = asyncio.current_task()
        assert task is not None
        expired = False

        def expire() -> None:
            nonlocal expired
            expired = True
            task.cancel()

        handle = asyncio.get_running_loop().call_later(seconds, expire)
        try:
            yield
        except asyncio.CancelledError:
            if expired:
                raise TimeoutError(f"test step took more than {seconds} s") from None
            raise
        finally:
            handle.cancel()


async def wait_connected(client: Any, timeout: float = 10.0) -> None:
    """Waits until the client is connected and resubscribed (its counters are then up to date)."""
    async with bounded(timeout):
        while not client.connected:
            await asyncio.sleep(0.01)
