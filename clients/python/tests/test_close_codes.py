"""Authentication lifecycle and the server's close codes: 4001, 4013, 4029, 1009, revocation."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from conftest import ORG, PUBLISHER_KEY, SESSION_SUBSCRIPTION, USER, Node, bounded, session_event, wait_connected

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
