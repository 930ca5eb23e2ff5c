"""Authentication lifecycle and the server's close codes: 4001, 4013, 4029, 4008, 1009, 1007, 1002,
1011 (through a relay: the server never sends it), revocation, and the whole close-code table."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import os
from collections.abc import Collection
from types import TracebackType
from typing import Any

import pytest
from conftest import (
    ORG,
    PUBLISHER_KEY,
    REVISION,
    SESSION_SUBSCRIPTION,
    USER,
    Node,
    bounded,
    session_event,
    wait_connected,
)
from websockets.asyncio.client import ClientConnection, connect
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed

from blobhub_realtime import (
    AuthenticationError,
    ConnectionClosedError,
    ConnectionLostError,
    Event,
    MessageTooLargeError,
    Publisher,
    RealtimeClient,
    Subscription,
    SubscriptionRevokedError,
    TooManyRequestsError,
)

FAST = {"initial_backoff": 0.05, "max_backoff": 0.5, "open_timeout": 2.0, "request_timeout": 3.0}


async def collect_ids(sub: Subscription, ids: set[str], timeout: float = 10.0) -> list[Event]:
    received: list[Event] = []
    async with bounded(timeout):
        async for event in sub:
            received.append(event)
            if ids <= {e.id for e in received}:
                break
    offsets = [e.offset for e in received]
    assert offsets == sorted(set(offsets)), "duplicate or out of order"
    return received


async def test_token_refresh_in_band_keeps_the_stream(node_factory: Any) -> None:
    node: Node = node_factory("--jwt-leeway", "0s")
    async with bounded(25):
        minted: list[str] = []

        async def provider() -> str:
            minted.append(await node.amint_token(ttl=3))
            return minted[-1]

        publisher = Publisher(node.http, key=PUBLISHER_KEY)
        async with RealtimeClient(node.ws, token_provider=provider, **FAST) as client:
            sub = await client.subscribe(**SESSION_SUBSCRIPTION)
            acks = []
            for i in range(14):  # ~7 s: two tokens' lifetimes and more
                acks += await publisher.publish(session_event(i))
                await asyncio.sleep(0.5)
            received = await collect_ids(sub, {f"ev-{i}" for i in range(14)})
            assert [(e.id, e.offset) for e in received] == acks
            assert client.token_refreshes >= 2 and len(minted) >= 3
            assert client.reconnects == 0 and client.last_close is None  # never closed with 4001


async def test_expired_token_without_provider_raises_4001(node_factory: Any) -> None:
    node: Node = node_factory("--jwt-leeway", "0s")
    async with bounded(15):
        async with RealtimeClient(node.ws, token=node.mint_token(ttl=2), **FAST) as client:
            sub = await client.subscribe(**SESSION_SUBSCRIPTION)
            await Publisher(node.http, key=PUBLISHER_KEY).publish(session_event(1))
            assert (await sub.next(5)).id == "ev-1"  # events before the close are still delivered
            with pytest.raises(AuthenticationError) as expired:
                await sub.next(8)
            assert expired.value.close_code == 4001
            assert client.error is expired.value and not client.connected
            with pytest.raises(AuthenticationError):
                await client.ping()


async def test_4001_with_provider_reconnects_with_a_new_token(node_factory: Any) -> None:
    node: Node = node_factory("--jwt-leeway", "0s")
    async with bounded(20):
        async def provider() -> str:
            return await node.amint_token(ttl=2)

        publisher = Publisher(node.http, key=PUBLISHER_KEY)
        async with RealtimeClient(node.ws, token_provider=provider, auto_refresh=False, **FAST) as client:
            sub = await client.subscribe(**SESSION_SUBSCRIPTION)
            acks = []
            for i in range(10):  # ~4 s: the token expires (4001) at least once meanwhile
                acks += await publisher.publish(session_event(i))
                await asyncio.sleep(0.4)
            received = await collect_ids(sub, {f"ev-{i}" for i in range(10)})
            assert [(e.id, e.offset) for e in received] == acks
            await wait_connected(client)
            assert client.reconnects >= 1 and client.last_close is not None and client.last_close[0] == 4001


async def test_revoked_api_key_closes_with_4001(node: Node) -> None:
    async with bounded(15):
        created = node.api_key()
        async with RealtimeClient(node.ws, api_key=created["key"], **FAST) as client:
            sub = await client.subscribe(**SESSION_SUBSCRIPTION)
            await asyncio.to_thread(node.admin, "DELETE", f"/api-keys/{created['id']}")
            with pytest.raises(AuthenticationError) as revoked:
                await sub.next(8)
            assert revoked.value.close_code == 4001 and "API key" in str(revoked.value)


async def test_membership_removed_revokes_the_subscription(node: Node) -> None:
    async with bounded(15):
        async with RealtimeClient(node.ws, token=node.mint_token(), **FAST) as client:
            session = await client.subscribe(**SESSION_SUBSCRIPTION)
            own = await client.subscribe(scope="core", target="user", target_id=USER)
            await asyncio.to_thread(node.admin, "DELETE", f"/organizations/{ORG}/members/{USER}")
            with pytest.raises(SubscriptionRevokedError) as revoked:
                await session.next(8)
            assert revoked.value.reason and revoked.value.subscription is session and session.closed
            # The connection and the subscriptions still allowed carry on.
            assert not own.closed
            await client.ping()
            assert [s["target"] for s in await client.list_subscriptions()] == ["user"]


async def test_slow_consumer_4013_resumes_without_loss(node_factory: Any) -> None:
    node: Node = node_factory("--send-queue-limit", "4")
    async with bounded(20):
        async with RealtimeClient(node.ws, token=node.mint_token(), **FAST) as client:
            sub = await client.subscribe(**SESSION_SUBSCRIPTION)
            # One batch fans out more frames at once than the queue allows: the server closes with 4013.
            acks = await Publisher(node.http, key=PUBLISHER_KEY).publish([session_event(i) for i in range(20)])
            received = await collect_ids(sub, {f"ev-{i}" for i in range(20)})
            assert [(e.id, e.offset) for e in received] == acks
            await client.ping()
            assert client.last_close is not None and client.last_close[0] == 4013
            assert client.reconnects >= 1 and sub.resets == 0


async def test_request_flood_4029_backs_off_then_resumes(node_factory: Any) -> None:
    node: Node = node_factory("--rate-limit", "1")  # burst 2; more than 10 requests in a second: 4029
    async with bounded(20):
        async with RealtimeClient(node.ws, token=node.mint_token(), flood_backoff=1.0, **FAST) as client:
            sub = await client.subscribe(**SESSION_SUBSCRIPTION)
            await asyncio.sleep(1.1)  # let the bucket refill after initialize + add
            outcomes = await asyncio.gather(*(client.ping() for _ in range(15)), return_exceptions=True)
            assert any(isinstance(o, TooManyRequestsError) for o in outcomes)
            assert any(isinstance(o, ConnectionLostError) and o.code == 4029 for o in outcomes)
            closed_at = asyncio.get_running_loop().time()
            acks = await Publisher(node.http, key=PUBLISHER_KEY).publish([session_event(i) for i in range(3)])
            received = await collect_ids(sub, {f"ev-{i}" for i in range(3)})
            assert [(e.id, e.offset) for e in received] == acks
            assert asyncio.get_running_loop().time() - closed_at >= 0.9  # waited flood_backoff before reconnecting
            await wait_connected(client)  # no ping here: the new connection's bucket is spent on initialize + add
            assert client.last_close is not None and client.last_close[0] == 4029 and client.reconnects == 1


async def test_message_too_big(node_factory: Any) -> None:
    node: Node = node_factory("--max-message-bytes", "512")
    async with bounded(15):
        async with RealtimeClient(node.ws, token=node.mint_token(), **FAST) as client:
            sub = await client.subscribe(**SESSION_SUBSCRIPTION)
            # The client knows the limit from initialize and does not send it.
            with pytest.raises(MessageTooLargeError):
                await client.request("status/ping", {"padding": "x" * 600})
            await client.ping()
            # Sent anyway, the server closes with 1009: a client bug, so the client stops.
            assert client._conn is not None
            client._conn.max_message_bytes = None
            with pytest.raises((ConnectionLostError, ConnectionClosedError)):
                await client.request("status/ping", {"padding": "x" * 600})
            with pytest.raises(ConnectionClosedError) as closed:
                await sub.next(5)
            assert closed.value.code == 1009


# -- 4008: status/initialize too late ------------------------------------------------------------


def record_sockets(client: RealtimeClient, mute: Collection[int] | None = ()) -> list[ClientConnection]:
    """Records every socket the client opens; the ones numbered in `mute` (1 = the first; None = all)
    send nothing, so their status/initialize never reaches the server."""
    opened: list[ClientConnection] = []
    open_socket = client._open_socket

    async def recording(token: str | None) -> ClientConnection:
        ws = await open_socket(token)
        opened.append(ws)
        if mute is None or len(opened) in mute:
            async def muted(message: Any, text: bool | None = None) -> None:
                pass

            ws.send = muted  # type: ignore[method-assign]
        return ws

    client._open_socket = recording  # type: ignore[method-assign]
    return opened


async def test_4008_on_a_reconnect_backs_off_then_resumes(node_factory: Any) -> None:
    node: Node = node_factory("--init-timeout", "500ms")
    async with bounded(20):
        publisher = Publisher(node.http, key=PUBLISHER_KEY)
        client = RealtimeClient(node.ws, token=node.mint_token(), **FAST)
        opened = record_sockets(client, mute={2})  # the first reconnect never sends initialize
        async with client:
            sub = await client.subscribe(**SESSION_SUBSCRIPTION)
            acks = await publisher.publish(session_event(0))
            assert (await sub.next(5)).id == "ev-0"
            assert client._conn is not None
            client._conn.abort()  # dropped (1006): the reconnect is the muted socket
            acks += await publisher.publish([session_event(i) for i in range(1, 4)])
            received = await collect_ids(sub, {f"ev-{i}" for i in range(1, 4)})
            assert [(e.id, e.offset) for e in received] == acks[1:]  # no gap, no duplicate
            await wait_connected(client)
            assert [ws.close_code for ws in opened[:2]] == [1006, 4008] and len(opened) == 3
            assert client.last_close is not None and client.last_close[0] == 4008
            assert client.reconnects == 1 and client.error is None
            await client.ping()


async def test_4008_on_the_first_connection_connect_tries_again(node_factory: Any) -> None:
    node: Node = node_factory("--init-timeout", "500ms")
    async with bounded(20):
        client = RealtimeClient(node.ws, token=node.mint_token(), **FAST)
        opened = record_sockets(client, mute={1})
        async with client:  # connect() returns: the second socket initialized in time
            assert [ws.close_code for ws in opened] == [4008, None]
            assert client.last_close is not None and client.last_close[0] == 4008
            sub = await client.subscribe(**SESSION_SUBSCRIPTION)
            acks = await Publisher(node.http, key=PUBLISHER_KEY).publish(session_event(1))
            event = await sub.next(5)
            assert (event.id, event.offset) == acks[0]

        # Every time: connect() gives up after 3 connections and raises the 4008.
        client = RealtimeClient(node.ws, token=node.mint_token(), **FAST)
        opened = record_sockets(client, mute=None)
        with pytest.raises(ConnectionLostError) as lost:
            await client.connect()
        assert lost.value.code == 4008 and len(opened) == 3
        await client.close()

        # reconnect=False: no second try.
        client = RealtimeClient(node.ws, token=node.mint_token(), reconnect=False, **FAST)
        opened = record_sockets(client, mute=None)
        with pytest.raises(ConnectionLostError) as lost:
            await client.connect()
        assert lost.value.code == 4008 and len(opened) == 1
        await client.close()


# -- 1007 and 1002: bad frames from the client -----------------------------------------------------


def text_frame(payload: bytes, *, masked: bool = True) -> bytes:
    """One raw client-to-server text frame (RFC 6455 5.2); client frames must be masked."""
    assert len(payload) < 126
    if not masked:
        return bytes([0x81, len(payload)]) + payload
    key = os.urandom(4)
    return bytes([0x81, 0x80 | len(payload)]) + key + bytes(b ^ key[i % 4] for i, b in enumerate(payload))


@pytest.mark.parametrize(("frame", "code"), [
    pytest.param(text_frame(b"\x7b\xff\xfe\x7d"), 1007, id="1007-invalid-utf8"),
    pytest.param(text_frame(b"{}", masked=False), 1002, id="1002-unmasked-frame"),
])
async def test_bad_frames_stop_the_client(node: Node, frame: bytes, code: int) -> None:
    async with bounded(15):
        client = RealtimeClient(node.ws, token=node.mint_token(), **FAST)
        opened = record_sockets(client)
        async with client:
            sub = await client.subscribe(**SESSION_SUBSCRIPTION)
            await client.ping()
            assert client._conn is not None
            # Past the websockets library (which would mask and check the frame), straight onto the wire.
            client._conn.ws.transport.write(frame)
            with pytest.raises(ConnectionClosedError) as closed:
                await sub.next(5)
            assert closed.value.code == code and client.error is closed.value
            assert client.last_close is not None and client.last_close[0] == code
            with pytest.raises(ConnectionClosedError):
                await client.ping()
            with pytest.raises(ConnectionClosedError):
                await client.subscribe(**SESSION_SUBSCRIPTION)
            await asyncio.sleep(0.3)  # several backoff periods (FAST): no reconnect
            assert len(opened) == 1 and client.reconnects == 0 and not client.connected


# -- 1011: internal error --------------------------------------------------------------------------


class Relay:
    """A WebSocket relay in front of a node: passes frames both ways (one upstream connection per
    client connection) and records the requests each client connection sent. `close_clients(code)`
    closes the client side with `code`, as the server would; while `hold` is clear, new client
    connections wait before their upstream connection is opened. With `hold_adds` set to an unset
    event, a `subscription/add` waits for it before it is passed on (`add_held` tells it arrived);
    with `cut_after_events` = n, each connection is dropped (no close frame: 1006) instead of
    passing on its event n + 1."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream
        self.sent: list[list[dict[str, Any]]] = []
        self.clients: list[ServerConnection] = []
        self.hold = asyncio.Event()
        self.hold.set()
        self.hold_adds: asyncio.Event | None = None
        self.add_held = asyncio.Event()
        self.cut_after_events: int | None = None
        self._server: Server | None = None
        self.ws = ""

    async def __aenter__(self) -> Relay:
        self._server = await serve(self._relay, "127.0.0.1", 0, ping_interval=None, max_size=None)
        port = next(iter(self._server.sockets)).getsockname()[1]
        self.ws = f"ws://127.0.0.1:{port}/v1"
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()

    async def close_clients(self, code: int, reason: str) -> None:
        for downstream in self.clients:
            await downstream.close(code, reason)

    async def _relay(self, downstream: ServerConnection) -> None:
        sent: list[dict[str, Any]] = []
        self.sent.append(sent)
        self.clients.append(downstream)
        await self.hold.wait()
        headers = {"Authorization": downstream.request.headers["Authorization"]} if downstream.request else {}
        async with connect(self.upstream, additional_headers=headers, ping_interval=None, max_size=None) as upstream:

            async def up() -> None:
                async for message in downstream:
                    request = json.loads(message)
                    sent.append(request)
                    if self.hold_adds is not None and request.get("method") == "subscription/add":
                        self.add_held.set()
                        await self.hold_adds.wait()
                    await upstream.send(message)

            async def down() -> None:
                events = 0
                async for message in upstream:
                    if '"subscription/event"' in str(message):
                        events += 1
                        if self.cut_after_events is not None and events > self.cut_after_events:
                            downstream.transport.abort()
                            return
                    await downstream.send(message)

            tasks = [asyncio.create_task(up()), asyncio.create_task(down())]
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError, ConnectionClosed):
                    await task


async def test_internal_error_1011_reconnects_and_resumes(node: Node) -> None:
    async with bounded(20), Relay(node.ws) as relay:
        publisher = Publisher(node.http, key=PUBLISHER_KEY)
        async with RealtimeClient(relay.ws, token=node.mint_token(), **FAST) as client:
            sub = await client.subscribe(**SESSION_SUBSCRIPTION)
            acks = await publisher.publish([session_event(i) for i in range(3)])
            received = await collect_ids(sub, {f"ev-{i}" for i in range(3)})
            relay.hold.clear()
            await relay.close_clients(1011, "internal error")
            # Published while the client is away: the resume replays them.
            acks += await publisher.publish([session_event(i) for i in range(3, 6)])
            relay.hold.set()
            received += await collect_ids(sub, {f"ev-{i}" for i in range(3, 6)})
            assert [(e.id, e.offset) for e in received] == acks  # no gap, no duplicate
            await wait_connected(client)
            assert client.last_close == (1011, "internal error") and client.reconnects == 1
            assert client.error is None and len(relay.sent) == 2
            adds = [m["params"] for m in relay.sent[1] if m.get("method") == "subscription/add"]
            assert [(a["since"], a.get("epoch")) for a in adds] == [(acks[2][1], sub.epoch)]


# -- reconnect races: requests, unsubscribes and progress while the client re-subscribes ------------


async def test_requests_during_a_reconnect_wait_until_the_subscriptions_are_back(
        node_factory: Any, caplog: pytest.LogCaptureFixture) -> None:
    """Asked every millisecond through a 4013 reconnect, subscription/list always lists the subscription:
    a request made while the client reconnects waits until every subscription is added back, and is
    never answered by the new connection between its initialize and its re-subscriptions. A request sent
    on the closing socket raises ConnectionLostError and leaves nothing behind for asyncio to log."""
    node: Node = node_factory("--send-queue-limit", "4")
    async with bounded(25):
        async with RealtimeClient(node.ws, token=node.mint_token(), **FAST) as client:
            sub = await client.subscribe(**SESSION_SUBSCRIPTION)
            answers: list[tuple[int, list[Any]]] = []  # (reconnects when answered, target ids listed)
            asked_while_away = 0

            async def ask() -> None:
                nonlocal asked_while_away
                while not answers or answers[-1][0] < 1:
                    away = not client.connected
                    try:
                        listed = await client.list_subscriptions()
                    except ConnectionLostError:
                        pass  # in flight when the connection dropped: documented, ask again
                    else:
                        asked_while_away += away
                        answers.append((client.reconnects, [s.get("target_id") for s in listed]))
                    await asyncio.sleep(0.001)

            asking = asyncio.create_task(ask())
            await asyncio.sleep(0.05)
            # More frames at once than the send queue takes: 4013, then a reconnect that resumes.
            acks = await Publisher(node.http, key=PUBLISHER_KEY).publish([session_event(i) for i in range(20)])
            received = await collect_ids(sub, {f"ev-{i}" for i in range(20)})
            await asyncio.wait_for(asking, 10)
            assert [(e.id, e.offset) for e in received] == acks
            assert client.last_close is not None and client.last_close[0] == 4013 and client.reconnects >= 1
            assert asked_while_away >= 1, "no request was made during the reconnect"
            wrong = [answer for answer in answers if answer[1] != [SESSION_SUBSCRIPTION["target_id"]]]
            assert not wrong, f"{len(wrong)} of {len(answers)} answers lacked the subscription: {wrong[:3]}"
        gc.collect()
        unretrieved = [r.getMessage() for r in caplog.records if "never retrieved" in r.getMessage()]
        assert not unretrieved, unretrieved


async def test_subscription_closed_while_it_is_re_added_is_removed_from_the_server(node: Node) -> None:
    """close() during a reconnect sends nothing; when its subscription was already being added again, the
    client removes it before the new connection is used, so the server does not keep it."""
    async with bounded(20), Relay(node.ws) as relay:
        async with RealtimeClient(relay.ws, token=node.mint_token(), **FAST) as client:
            await client.subscribe(scope="core", target="user", target_id=USER)
            closing = await client.subscribe(**SESSION_SUBSCRIPTION)
            relay.hold_adds = asyncio.Event()
            await relay.close_clients(1011, "internal error")
            async with bounded(5):
                await relay.add_held.wait()  # the reconnect is re-adding both subscriptions
            assert not client.connected
            await closing.close()
            relay.hold_adds.set()
            await wait_connected(client)
            assert client.reconnects == 1
            assert [s["target"] for s in await client.list_subscriptions()] == ["user"]


async def test_a_reconnect_attempt_that_delivered_events_resets_the_backoff(node: Node) -> None:
    """Each connection drops (1006) after passing on two replayed events, before the second subscription is
    added back: every attempt fails but makes progress, so each waits the shortest backoff (0.1 s) instead of
    doubling towards max_backoff (5 s: about 20 s for these 12 attempts)."""
    async with bounded(25), Relay(node.ws) as relay:
        publisher = Publisher(node.http, key=PUBLISHER_KEY)
        options: dict[str, Any] = {**FAST, "initial_backoff": 0.1, "max_backoff": 5.0}
        async with RealtimeClient(relay.ws, token=node.mint_token(), **options) as client:
            sub = await client.subscribe(**SESSION_SUBSCRIPTION)
            # Added after the first: on a reconnect, its add waits behind the first one's replay.
            await client.subscribe(scope="revision", scope_id=REVISION, target="session", target_id="s-2")
            relay.hold.clear()
            await relay.close_clients(1011, "internal error")
            acks = await publisher.publish([session_event(i) for i in range(24)])
            relay.cut_after_events = 2
            relay.hold.set()
            received = await collect_ids(sub, {f"ev-{i}" for i in range(24)}, timeout=10)
            assert [(e.id, e.offset) for e in received] == acks  # no gap, no duplicate across 13 connections
            await wait_connected(client)
            assert client.reconnects == 1 and len(relay.sent) >= 13


# -- the close-code table (protocol.md, "Close codes"): what the client does after each ------------


async def test_close_code_table() -> None:
    client = RealtimeClient("ws://127.0.0.1:9/v1", token="not-a-jwt", initial_backoff=0.01, max_backoff=0.5,
                            flood_backoff=2.0)

    def delays(code: int, attempt: int = 0, samples: int = 200) -> list[float]:
        decisions = [client._after_close(code, "", attempt) for _ in range(samples)]
        assert all(isinstance(d, float) for d in decisions), (code, decisions[0])
        assert client.last_close == (code, "")
        return [float(d) for d in decisions]  # type: ignore[arg-type]

    for code in (1002, 1003, 1007, 1009):  # client bugs: stop
        decision = client._after_close(code, "why", 0)
        assert isinstance(decision, ConnectionClosedError) and decision.code == code, code
    decision = client._after_close(4001, "", 0)  # no token provider: stop
    assert isinstance(decision, AuthenticationError) and decision.close_code == 4001
    for code in (1001, 4013):  # at once, 0-1 s of jitter
        waits = delays(code)
        assert all(0 <= d <= 1.0 for d in waits) and max(waits) > 0.5, code
    assert all(2.0 <= d <= 4.0 for d in delays(4029))  # flood_backoff to twice that
    for code in (1006, 1011, 4008, 1000):  # full-jitter exponential backoff: 0.01 s doubling up to 0.5 s
        for attempt in range(8):
            cap = min(0.5, 0.01 * 2 ** attempt)
            waits = delays(code, attempt)
            assert all(0 <= d <= cap for d in waits) and max(waits) > cap / 2, (code, attempt)

    client.reconnect = False  # reconnect=False: every close stops the client
    for code in (1001, 1011, 4008, 4013, 4029):
        decision = client._after_close(code, "", 0)
        assert isinstance(decision, ConnectionClosedError) and decision.code == code, code
