"""Subscribe, receive, publish, errors: one node per test, everything over loopback."""

from __future__ import annotations

import asyncio

import pytest
from conftest import (
    ADMIN_KEY,
    ORG,
    PUBLISHER_KEY,
    REVISION,
    SESSION,
    SESSION_SUBSCRIPTION,
    USER,
    Node,
    bounded,
    session_event,
)

from blobhub_realtime import (
    AccessForbiddenError,
    AuthenticationError,
    ClientClosedError,
    ConnectionClosedError,
    Event,
    InvalidRequestError,
    MethodNotSupportedError,
    PublishAck,
    PublishError,
    Publisher,
    RealtimeClient,
    Subscription,
)


async def collect(sub: Subscription, count: int, timeout: float = 10.0) -> list[Event]:
    events: list[Event] = []
    async with bounded(timeout):
        async for event in sub:
            events.append(event)
            if len(events) == count:
                break
    return events


async def test_subscribe_and_receive_in_order(node: Node) -> None:
    async with bounded(25):
        async with RealtimeClient(node.ws, token=node.mint_token()) as client, \
                Publisher(node.http, key=PUBLISHER_KEY) as publisher:
            assert client.connected and client.epoch and client.connection_id
            sub = await client.subscribe(**SESSION_SUBSCRIPTION)
            acks = await publisher.publish([session_event(i) for i in range(5)])
            acks += await publisher.publish(session_event(5))
            events = await collect(sub, 6)
            assert [e.offset for e in events] == [a.offset for a in acks]
            assert [e.id for e in events] == [f"ev-{i}" for i in range(6)]
            assert all(e.type == "processor.output" for e in events)
            assert events[0].data["message"] == "event 0"
            assert (events[0].scope, events[0].scope_id, events[0].target, events[0].target_id) == \
                ("revision", REVISION, "session", SESSION)
            assert sub.last_offset == acks[-1].offset
            assert sub.recovered is True


async def test_publish_acks_and_idempotent_retry(node: Node) -> None:
    async with bounded(20):
        async with Publisher(node.http, key=PUBLISHER_KEY) as publisher:
            acks = await publisher.publish([session_event(1), {"type": "processor.output", "revision_id": REVISION,
                                                               "session_id": SESSION}])
            assert len(acks) == 2 and all(isinstance(a, PublishAck) for a in acks)
            (first_id, first_offset), (second_id, second_offset) = acks
            assert first_id == "ev-1" and second_id and second_offset > first_offset
            # The same id again: nothing stored twice, the original offset comes back.
            assert await publisher.publish(session_event(1)) == [PublishAck("ev-1", first_offset)]
            # The admin key may publish too.
            assert len(await Publisher(node.http + "/", key=ADMIN_KEY).publish(session_event(2))) == 1


async def test_publish_errors_are_typed(node: Node) -> None:
    async with bounded(20):
        with pytest.raises(PublishError) as rejected:
            await Publisher(node.http, key=PUBLISHER_KEY).publish([session_event(1), {"type": "flow.entered"}])
        assert rejected.value.status == 400 and rejected.value.code == 400
        assert rejected.value.index == 1 and rejected.value.field
        assert isinstance(rejected.value.body, dict) and "error" in rejected.value.body
        assert not rejected.value.retryable

        with pytest.raises(PublishError) as unauthorized:
            await Publisher(node.http, key="wrong").publish(session_event(1))
        assert unauthorized.value.status == 401

        with pytest.raises(PublishError) as derived:
            await Publisher(node.http, key=PUBLISHER_KEY).publish(session_event(1, type="execution_started"))
        assert derived.value.status == 400

        closed_port = Publisher("http://127.0.0.1:9", key=PUBLISHER_KEY, timeout=2)
        with pytest.raises(PublishError) as unreachable:
            await closed_port.publish(session_event(1))
        assert unreachable.value.status is None and unreachable.value.retryable


async def test_types_filter_and_shared_subscriptions(node: Node) -> None:
    async with bounded(25):
        async with RealtimeClient(node.ws, token=node.mint_token()) as client:
            publisher = Publisher(node.http, key=PUBLISHER_KEY)
            entered = await client.subscribe(**SESSION_SUBSCRIPTION, types=["flow.entered"])
            everything = await client.subscribe(**SESSION_SUBSCRIPTION)
            started = await client.subscribe(**SESSION_SUBSCRIPTION, types=["execution_started"])
            # flow.entered also produces the derived execution_started.
            await publisher.publish([session_event(1, type="flow.entered"), session_event(2)])
            assert [e.type for e in await collect(entered, 1)] == ["flow.entered"]
            assert [e.type for e in await collect(started, 1)] == ["execution_started"]
            assert sorted(e.type for e in await collect(everything, 3)) == \
                ["execution_started", "flow.entered", "processor.output"]
            # Closing one of the subscriptions sharing the server-side one keeps the others going.
            await entered.close()
            assert entered.closed
            with pytest.raises(StopAsyncIteration):
                await entered.__anext__()
            await publisher.publish(session_event(3, type="flow.entered"))
            assert [e.id for e in await collect(everything, 1)] == ["ev-3"]
            assert [e.data["source_event_id"] for e in await collect(started, 1)] == ["ev-3"]
            listed = await client.list_subscriptions()
            assert len(listed) == 1 and listed[0]["target_id"] == SESSION and listed[0]["types"] == []
            await everything.close()
            await started.close()
            assert await client.list_subscriptions() == []


async def test_since_replays_then_continues_live(node: Node) -> None:
    async with bounded(20):
        publisher = Publisher(node.http, key=PUBLISHER_KEY)
        acks = await publisher.publish([session_event(i) for i in range(4)])
        async with RealtimeClient(node.ws, token=node.mint_token()) as client:
            sub = await client.subscribe(**SESSION_SUBSCRIPTION, since=acks[1].offset, epoch=client.epoch)
            await publisher.publish(session_event(4))
            assert [e.id for e in await collect(sub, 3)] == ["ev-2", "ev-3", "ev-4"]
            assert sub.recovered and sub.epoch == client.epoch
            # since 0 replays everything retained.
            replay = await client.subscribe(**SESSION_SUBSCRIPTION, types=["processor.output"], since=0)
            assert [e.id for e in await collect(replay, 5)] == [f"ev-{i}" for i in range(5)]


async def test_reset_when_the_server_cannot_recover(node_factory: object) -> None:
    node: Node = node_factory("--max-replay-events", "3")  # type: ignore[operator]
    async with bounded(20):
        publisher = Publisher(node.http, key=PUBLISHER_KEY)
        await publisher.publish([session_event(i) for i in range(10)])
        resets: list[str] = []
        async with RealtimeClient(node.ws, token=node.mint_token(),
                                  on_reset=lambda s: resets.append(f"client:{s.target_id}")) as client:
            # More than --max-replay-events to replay: recovered false, no replay, live events follow.
            sub = await client.subscribe(**SESSION_SUBSCRIPTION, since=0,
                                         on_reset=lambda s: resets.append("sub"))
            await publisher.publish(session_event(10))
            assert [e.id for e in await collect(sub, 1)] == ["ev-10"]
            assert resets == [f"client:{SESSION}", "sub"] and sub.recovered is False and sub.resets == 1

            # Another epoch: our offsets belong to another log; only live events after the head.
            other = await client.subscribe(**SESSION_SUBSCRIPTION, types=["processor.output"], since=2,
                                           epoch="not-this-log")
            await publisher.publish(session_event(11))
            assert [e.id for e in await collect(other, 1)] == ["ev-11"]
            assert other.recovered is False and other.epoch == client.epoch


async def test_bad_params_and_unknown_objects_are_typed_errors(node: Node) -> None:
    async with bounded(20):
        async with RealtimeClient(node.ws, token=node.mint_token()) as client:
            with pytest.raises(InvalidRequestError) as missing:
                await client.subscribe(scope="revision", scope_id=REVISION, target="session", target_id="")
            assert missing.value.code == 400 and missing.value.field == "target_id"
            with pytest.raises(InvalidRequestError) as bad_scope:
                await client.subscribe(scope="galaxy", target="session", target_id=SESSION)
            assert bad_scope.value.field == "scope"
            with pytest.raises(InvalidRequestError) as bad_type:
                await client.subscribe(**SESSION_SUBSCRIPTION, types=["Not A Type"])
            assert bad_type.value.field == "types"
            with pytest.raises(AccessForbiddenError):
                await client.subscribe(scope="revision", scope_id="rev-unknown", target="session", target_id=SESSION)
            with pytest.raises(AccessForbiddenError):
                await client.subscribe(scope="core", target="user", target_id="someone-else")
            with pytest.raises(MethodNotSupportedError):
                await client.request("status/teleport")
            with pytest.raises(InvalidRequestError) as again:
                await client.request("status/initialize")
            assert again.value.reason == "already initialized"
            # The connection survives all of that.
            await client.ping()
            own = await client.subscribe(scope="core", target="user", target_id=USER)
            assert not own.closed and await client.list_subscriptions()
        with pytest.raises(ClientClosedError):
            await client.ping()


async def test_refused_credentials_raise_at_connect(node: Node) -> None:
    async with bounded(20):
        with pytest.raises(AuthenticationError) as refused:
            await RealtimeClient(node.ws, token="not-a-token").connect()
        assert refused.value.status == 401
        with pytest.raises(AuthenticationError):
            await RealtimeClient(node.ws, api_key="bhk_unknown").connect()
        with pytest.raises(ValueError):
            RealtimeClient(node.ws, token="t", api_key="k")


async def test_api_key_and_subprotocol_variants(node: Node) -> None:
    async with bounded(25):
        key = node.api_key()["key"]
        publisher = Publisher(node.http, key=PUBLISHER_KEY)
        for client in (RealtimeClient(node.ws, api_key=key),
                       RealtimeClient(node.ws, api_key=key, via_subprotocol=True),
                       RealtimeClient(node.ws, token=node.mint_token(), via_subprotocol=True),
                       RealtimeClient(node.http, token=node.mint_token())):  # http:// and no path: ws://…/v1
            async with client:
                sub = await client.subscribe(**SESSION_SUBSCRIPTION)
                org = await client.subscribe(scope="core", target="organization", target_id=ORG)
                ack, = await publisher.publish(session_event(0, prefix=f"v{id(client)}"))
                assert [e.offset for e in await collect(sub, 1)] == [ack.offset]
                assert not org.closed
                if client._api_key is not None:
                    with pytest.raises(MethodNotSupportedError):
                        await client.authenticate(node.mint_token())
                    with pytest.raises(AccessForbiddenError):  # keys never read core/user
                        await client.subscribe(scope="core", target="user", target_id=USER)


async def test_close_ends_iteration_and_binary_frames_stop_the_client(node: Node) -> None:
    async with bounded(20):
        client = RealtimeClient(node.ws, token=node.mint_token())
        await client.connect()
        sub = await client.subscribe(**SESSION_SUBSCRIPTION)

        async def drain() -> list[Event]:
            return [event async for event in sub]

        reading = asyncio.create_task(drain())
        await asyncio.sleep(0.1)
        await client.close()  # 1000: iteration simply ends
        assert await asyncio.wait_for(reading, 5) == []
        assert sub.closed and not client.connected

        # 1003 (a binary frame) is a client bug: reconnecting cannot help, so the client stops.
        async with RealtimeClient(node.ws, token=node.mint_token()) as broken:
            sub = await broken.subscribe(**SESSION_SUBSCRIPTION)
            assert broken._conn is not None
            await broken._conn.ws.send(b"\x00binary")
            with pytest.raises(ConnectionClosedError) as closed:
                await sub.next(5)
            assert closed.value.code == 1003 and broken.error is closed.value


async def test_since_on_a_shared_subscription_while_events_flow(node: Node) -> None:
    async with bounded(20):
        publisher = Publisher(node.http, key=PUBLISHER_KEY)
        async with RealtimeClient(node.ws, token=node.mint_token()) as client:
            live = await client.subscribe(**SESSION_SUBSCRIPTION)
            first = await publisher.publish([session_event(i) for i in range(5)])

            async def keep_publishing() -> list[PublishAck]:
                acks: list[PublishAck] = []
                for i in range(5, 25):
                    acks += await publisher.publish(session_event(i))
                return acks

            producer = asyncio.create_task(keep_publishing())
            await asyncio.sleep(0.05)
            # Joins the server-side subscription `live` already has, replaying from the start.
            late = await client.subscribe(**SESSION_SUBSCRIPTION, since=0)
            acks = first + await producer
            for sub in (live, late):
                events = await collect(sub, 25)
                assert [(e.id, e.offset) for e in events] == acks
