"""Reconnect and resume: server crash (kill -9), drain (1001), dead connection (no answer to pings)."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from conftest import PUBLISHER_KEY, SESSION_SUBSCRIPTION, Node, bounded, session_event, wait_connected

from blobhub_realtime import Event, PublishAck, PublishError, Publisher, RealtimeClient, Subscription

FAST = {"initial_backoff": 0.05, "max_backoff": 0.5, "open_timeout": 2.0, "request_timeout": 3.0}


async def publish_with_retry(publisher: Publisher, events: list[dict[str, Any]], deadline: float) -> list[PublishAck]:
    """Publishes until a 202: the events carry ids, so a retry after a lost answer stores nothing twice."""
    loop = asyncio.get_running_loop()
    while True:
        try:
            return await publisher.publish(events)
        except PublishError as error:
            if not error.retryable or loop.time() > deadline:
                raise
            await asyncio.sleep(0.05)


async def publish_stream(publisher: Publisher, count: int, batch: int, pause: float) -> list[PublishAck]:
    deadline = asyncio.get_running_loop().time() + 20
    acks: list[PublishAck] = []
    for start in range(0, count, batch):
        acks += await publish_with_retry(publisher, [session_event(i) for i in range(start, start + batch)], deadline)
        await asyncio.sleep(pause)
    return acks


async def consume(sub: Subscription, ids: set[str], into: list[Event]) -> None:
    async for event in sub:
        into.append(event)
        if ids <= {e.id for e in into}:
            return


def assert_exactly_once_in_order(events: list[Event], acks: list[PublishAck]) -> None:
    offsets = [e.offset for e in events]
    assert offsets == sorted(offsets) and len(set(offsets)) == len(offsets), "not strictly increasing"
    assert [e.id for e in events] == [a.id for a in sorted(acks, key=lambda a: a.offset)]
    assert {(e.id, e.offset) for e in events} == set(acks)


async def test_resume_across_kill_9_while_publishing(node: Node) -> None:
    async with bounded(28):
        publisher = Publisher(node.http, key=PUBLISHER_KEY, timeout=2)
        async with RealtimeClient(node.ws, token=node.mint_token(), **FAST) as client:
            sub = await client.subscribe(**SESSION_SUBSCRIPTION)
            epoch = client.epoch
            received: list[Event] = []
            count = 90
            consumer = asyncio.create_task(consume(sub, {f"ev-{i}" for i in range(count)}, received))
            producer = asyncio.create_task(publish_stream(publisher, count, batch=3, pause=0.04))
            for crash in range(1, 3):  # crash twice, at different points of the stream
                await asyncio.sleep(0.4)
                node.kill()
                await asyncio.sleep(0.3)  # publishes fail meanwhile and are retried
                await asyncio.to_thread(node.start)
                # Back before the next crash: two crashes, two resumes (a slow backoff could span both: seen in CI).
                async with bounded(10):
                    while client.reconnects < crash:
                        await asyncio.sleep(0.01)
            acks = await producer
            await asyncio.wait_for(consumer, 15)
            assert_exactly_once_in_order(received, acks)
            assert len(received) == count
            await wait_connected(client)
            assert client.reconnects >= 2 and client.epoch == epoch and sub.recovered and sub.resets == 0
            assert client.last_close is not None and client.last_close[0] == 1006


async def test_drain_1001_resumes_at_once(node: Node) -> None:
    async with bounded(25):
        publisher = Publisher(node.http, key=PUBLISHER_KEY)
        async with RealtimeClient(node.ws, token=node.mint_token(), **FAST) as client:
            sub = await client.subscribe(**SESSION_SUBSCRIPTION)
            before = await publisher.publish([session_event(i) for i in range(3)])
            await asyncio.to_thread(node.terminate)  # SIGTERM: every WebSocket closed with 1001
            await asyncio.to_thread(node.start)
            # Published before the client is back: it gets them from the replay.
            after = await publish_with_retry(publisher, [session_event(i) for i in range(3, 6)],
                                             asyncio.get_running_loop().time() + 10)
            received: list[Event] = []
            await asyncio.wait_for(consume(sub, {f"ev-{i}" for i in range(6)}, received), 10)
            assert_exactly_once_in_order(received, before + after)
            await wait_connected(client)  # the replay can finish before the reconnect is counted
            assert client.last_close is not None and client.last_close[0] == 1001
            assert client.reconnects == 1


async def test_dead_connection_is_detected_by_the_heartbeat(node: Node) -> None:
    async with bounded(25):
        publisher = Publisher(node.http, key=PUBLISHER_KEY)
        settings = {**FAST, "open_timeout": 1.0, "heartbeat_interval": 0.3, "heartbeat_timeout": 0.5}
        async with RealtimeClient(node.ws, token=node.mint_token(), **settings) as client:
            sub = await client.subscribe(**SESSION_SUBSCRIPTION)
            before = await publisher.publish([session_event(i) for i in range(2)])
            node.pause()  # SIGSTOP: the TCP connection stays up, nothing answers
            try:
                loop = asyncio.get_running_loop()
                deadline = loop.time() + 5
                while client.connected and loop.time() < deadline:
                    await asyncio.sleep(0.05)
                assert not client.connected, "status/ping timeout not detected"
                assert client.last_close is not None and client.last_close[0] == 1006
                await asyncio.sleep(1.5)  # a few reconnect attempts time out against the stopped node
            finally:
                node.resume()
            after = await publisher.publish([session_event(i) for i in range(2, 4)])
            received: list[Event] = []
            await asyncio.wait_for(consume(sub, {f"ev-{i}" for i in range(4)}, received), 10)
            assert_exactly_once_in_order(received, before + after)
            await wait_connected(client)  # the replay can finish before the reconnect is counted
            assert client.reconnects >= 1


async def test_subscribe_while_reconnecting_waits_for_the_connection(node: Node) -> None:
    async with bounded(25):
        publisher = Publisher(node.http, key=PUBLISHER_KEY)
        async with RealtimeClient(node.ws, token=node.mint_token(), **FAST) as client:
            first = await client.subscribe(**SESSION_SUBSCRIPTION)
            node.kill()
            await asyncio.sleep(0.2)
            restart = asyncio.create_task(asyncio.to_thread(node.start))
            second = await client.subscribe(**SESSION_SUBSCRIPTION, types=["processor.output"])
            await restart
            acks = await publisher.publish([session_event(i) for i in range(3)])
            for sub in (first, second):
                received: list[Event] = []
                await asyncio.wait_for(consume(sub, {f"ev-{i}" for i in range(3)}, received), 10)
                assert_exactly_once_in_order(received, acks)
            with contextlib.suppress(Exception):
                await first.close()
