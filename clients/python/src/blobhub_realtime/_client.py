"""The WebSocket client: JSON-RPC over one connection, subscriptions, reconnect and resume."""

from __future__ import annotations

import asyncio
import base64
import inspect
import itertools
import json
import logging
import random
import time
import urllib.parse
from collections.abc import Awaitable, Callable, Iterable, Sequence
from types import TracebackType
from typing import Any, Union

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus
from websockets.typing import Origin, Subprotocol

from . import __about__
from ._errors import (
    AccessForbiddenError,
    AuthenticationError,
    ClientClosedError,
    ConnectionClosedError,
    ConnectionLostError,
    HandshakeError,
    InvalidRequestError,
    MessageTooLargeError,
    RealtimeError,
    RequestTimeoutError,
    RpcError,
    SubscriptionRevokedError,
    TooManyRequestsError,
    rpc_error_from,
)
from ._types import Event, SubscriptionKey, jwt_claims, subscription_key

__all__ = ["RealtimeClient", "Subscription", "TokenProvider", "ResetCallback"]

logger = logging.getLogger("blobhub_realtime")

#: An (async or plain) callable that returns a fresh access token.
TokenProvider = Callable[[], Union[Awaitable[str], str]]
#: Called with the subscription when events may have been lost (``recovered: false``).
ResetCallback = Callable[["Subscription"], Union[Awaitable[None], None]]

# A `since` beyond any real offset: the server replays nothing and answers with the log head, which
# becomes the subscription's starting point (so a reconnect before its first event loses nothing).
_ANCHOR_SINCE = 2**53 - 1
# Close codes after which reconnecting with the same client cannot help (a client bug).
_FATAL_CLOSE_CODES = frozenset({1002, 1003, 1007, 1009})
# Close codes after which the client reconnects at once (0-1 s of jitter) and resumes.
_IMMEDIATE_CLOSE_CODES = frozenset({1001, 4013})
# Closes of the first connection (before connect() returns) after which connect() tries again with
# backoff rather than raising: 4008, initialize did not reach the server in time (the protocol says:
# send initialize right after open, then reconnect).
_CONNECT_RETRY_CLOSE_CODES = frozenset({4008})
_CONNECT_ATTEMPTS = 3
_RESUBSCRIBE_CONCURRENCY = 64


class _End:
    """Queue sentinel: the subscription was closed by the caller or the client."""


class _Reset:
    """Queue marker: events before this point may be missing (``recovered: false``)."""

    __slots__ = ("head",)

    def __init__(self, head: int | None) -> None:
        self.head = head


_QueueItem = Union[Event, _Reset, _End, BaseException]


class Subscription:
    """One subscription: an async iterator of :class:`Event` in offset order, with no gap and no
    duplicate across reconnects.

    Created by :meth:`RealtimeClient.subscribe`. Iteration ends (``StopAsyncIteration``) after
    :meth:`close` or :meth:`RealtimeClient.close`; it raises :class:`SubscriptionRevokedError` when
    the server revokes the subscription, and the client's terminal error (for instance
    :class:`AuthenticationError` after 4001 without a token provider) when the client stops.
    Events received before such an end are still yielded first.
    """

    def __init__(self, client: RealtimeClient, scope: str, scope_id: str | None, target: str, target_id: str,
                 types: Sequence[str] | None, on_reset: ResetCallback | None) -> None:
        self._client = client
        self.scope = scope
        self.scope_id = scope_id
        self.target = target
        self.target_id = target_id
        #: The type filter (``None`` = every type).
        self.types: frozenset[str] | None = frozenset(types) if types else None
        self._requested_types = list(types) if types else None
        self.key: SubscriptionKey = subscription_key(scope, scope_id, target, target_id)
        self._on_reset = on_reset
        self._queue: asyncio.Queue[_QueueItem] = asyncio.Queue()
        # Highest offset received (queued) for this subscription, or its starting point: the `since`
        # of the next resume. None until the server has answered the first add.
        self._position: int | None = None
        self._epoch: str | None = None
        self._confirmed = False
        self._done = False
        self._terminal: BaseException | None = None
        #: Offset of the last event this iterator yielded (persist it to resume after a restart).
        self.last_offset: int | None = None
        #: The ``offset`` (log head) the server reported when the subscription was added.
        self.start_offset: int | None = None
        #: ``False`` once the server said events after our position were gone (reload state).
        self.recovered: bool = True
        #: How many times events may have been lost (``recovered: false``) so far.
        self.resets = 0

    # -- iteration -------------------------------------------------------------------------------

    def __aiter__(self) -> Subscription:
        return self

    async def __anext__(self) -> Event:
        while True:
            if self._terminal is not None and self._queue.empty():
                raise self._terminal
            item = await self._queue.get()
            if isinstance(item, Event):
                self.last_offset = item.offset
                return item
            if isinstance(item, _Reset):
                self.recovered = False
                self.resets += 1
                for callback in (self._client._on_reset, self._on_reset):
                    if callback is not None:
                        outcome = callback(self)
                        if inspect.isawaitable(outcome):
                            await outcome
                continue
            if isinstance(item, _End):
                self._terminal = StopAsyncIteration()
                raise StopAsyncIteration
            self._terminal = item
            raise item

    async def next(self, timeout: float | None = None) -> Event:
        """The next event, waiting at most ``timeout`` seconds (``TimeoutError`` after it)."""
        if timeout is None:
            return await self.__anext__()
        return await asyncio.wait_for(self.__anext__(), timeout)

    # -- lifecycle -------------------------------------------------------------------------------

    @property
    def closed(self) -> bool:
        """True once the subscription has ended (closed, revoked, or the client stopped)."""
        return self._done

    @property
    def epoch(self) -> str | None:
        """The epoch (log name) the offsets of this subscription belong to."""
        return self._epoch

    async def close(self) -> None:
        """Ends the subscription (``subscription/remove`` when no other subscription shares it)."""
        await self._client._unsubscribe(self)

    async def __aenter__(self) -> Subscription:
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.close()

    def __repr__(self) -> str:
        return (f"Subscription({self.scope}/{self.scope_id or ''} {self.target}/{self.target_id}, "
                f"types={sorted(self.types) if self.types else None}, position={self._position})")

    # -- called by the client (on its reader task) -----------------------------------------------

    def _identity(self) -> dict[str, Any]:
        params: dict[str, Any] = {"scope": self.scope}
        if self.scope_id:
            params["scope_id"] = self.scope_id
        params["target"] = self.target
        params["target_id"] = self.target_id
        return params

    def _offer(self, offset: int, event: dict[str, Any], echo: dict[str, Any]) -> None:
        # Nothing before the server has answered our add: from the answer on, the server sends the
        # replay and the live events in offset order (earlier events of a shared subscription are
        # part of that replay). Then drop what a replay overlaps with what we already received.
        if self._done or not self._confirmed or self._position is None or offset <= self._position:
            return
        self._position = offset
        self._client._received += 1
        if self.types is not None and event.get("type") not in self.types:
            return
        self._queue.put_nowait(Event(offset=offset, data=event, scope=self.scope,
                                     scope_id=echo.get("scope_id"), target=self.target,
                                     target_id=echo.get("target_id", self.target_id)))

    def _reset(self, new_position: int | None) -> None:
        # `new_position` is the log head when the epoch changed (our offsets mean nothing in the new
        # log); otherwise (pruned, too much to replay) the position stays and whatever the server
        # still replays after it is delivered.
        if self._done:
            return
        if new_position is not None:
            self._position = new_position
        self._queue.put_nowait(_Reset(new_position))

    def _finish(self, item: _End | BaseException) -> None:
        if self._done:
            return
        self._done = True
        self._queue.put_nowait(item)


class _Pending:
    __slots__ = ("future", "method", "on_result")

    def __init__(self, future: asyncio.Future[Any], method: str,
                 on_result: Callable[[Any], None] | None) -> None:
        self.future = future
        self.method = method
        self.on_result = on_result


class _Connection:
    """One WebSocket connection and its per-connection tasks."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.pending: dict[int, _Pending] = {}
        self.reader: asyncio.Task[tuple[int, str]] | None = None
        self.tasks: list[asyncio.Task[None]] = []
        self.closed = False
        self.epoch: str | None = None
        self.connection_id: str | None = None
        self.max_message_bytes: int | None = None
        self.heartbeat_interval_ms: int | None = None

    def abort(self) -> None:
        transport = getattr(self.ws, "transport", None)
        if transport is not None:
            transport.abort()

    def fail_pending(self, error: BaseException) -> None:
        waiting, self.pending = self.pending, {}
        for pending in waiting.values():
            if not pending.future.done():
                pending.future.set_exception(error)


class RealtimeClient:
    """A BlobHub Realtime client.

    ``url`` is the WebSocket endpoint (``ws://host:port/v1``; ``http(s)://`` is accepted and a
    missing path becomes ``/v1``). Authenticate with exactly one of ``token`` (an access token),
    ``api_key``, or ``token_provider`` (an async or plain callable returning a fresh access token;
    it may be combined with ``token`` as the first one). With a provider the client refreshes the
    token in band (``status/authenticate``) before it expires and fetches a new one after a 4001
    close or a 401 upgrade; without one, 4001 and 401 stop the client with
    :class:`AuthenticationError`.

    Use it as an async context manager (or call :meth:`connect` and :meth:`close`). The first
    connection's failure is raised by :meth:`connect` (which only tries again after a 4008 close);
    after that the client reconnects by itself with jittered exponential backoff (1001 and 4013: at
    once, 4029: after ``flood_backoff``) and resubscribes every subscription with ``since`` and
    ``epoch``. Closes for a client bug (1002, 1003, 1007, 1009) stop it with
    :class:`ConnectionClosedError`.
    """

    def __init__(
        self,
        url: str,
        *,
        token: str | None = None,
        api_key: str | None = None,
        token_provider: TokenProvider | None = None,
        via_subprotocol: bool = False,
        client_name: str = "blobhub-realtime-python",
        client_version: str = __about__.__version__,
        request_timeout: float = 10.0,
        open_timeout: float = 10.0,
        heartbeat_interval: float | None = 15.0,
        heartbeat_timeout: float = 10.0,
        reconnect: bool = True,
        initial_backoff: float = 0.25,
        max_backoff: float = 30.0,
        flood_backoff: float = 5.0,
        refresh_before: float = 60.0,
        auto_refresh: bool = True,
        on_reset: ResetCallback | None = None,
        max_message_bytes: int = 16 * 1024 * 1024,
        origin: str | None = None,
    ) -> None:
        if api_key is not None and (token is not None or token_provider is not None):
            raise ValueError("pass either api_key or token/token_provider, not both")
        if api_key is None and token is None and token_provider is None:
            raise ValueError("a credential is required: token, api_key or token_provider")
        self.url = _websocket_url(url)
        self._token = token
        self._api_key = api_key
        self._token_provider = token_provider
        self._token_exp: float | None = None
        self._token_obtained = time.time()
        if token is not None:
            self._set_token(token, None)
        self._via_subprotocol = via_subprotocol
        self._client_info = {"name": client_name, "version": client_version}
        self.request_timeout = request_timeout
        self.open_timeout = open_timeout
        self.heartbeat_interval = heartbeat_interval
        self.heartbeat_timeout = heartbeat_timeout
        self.reconnect = reconnect
        self.initial_backoff = initial_backoff
        self.max_backoff = max_backoff
        self.flood_backoff = flood_backoff
        self.refresh_before = refresh_before
        self.auto_refresh = auto_refresh
        self._on_reset = on_reset
        self._max_size = max_message_bytes
        self._origin = origin

        self._ids = itertools.count(1)
        self._subs: dict[SubscriptionKey, list[Subscription]] = {}
        self._conn: _Connection | None = None
        self._ready = asyncio.Event()
        self._supervisor: asyncio.Task[None] | None = None
        self._terminal: BaseException | None = None
        self._closing = False
        self._started = False
        # Events received (positions advanced) so far: a reconnect attempt that received some made
        # progress, and the next one waits the shortest backoff again.
        self._received = 0

        #: The epoch (log name) from the latest ``status/initialize``.
        self.epoch: str | None = None
        #: The server's id of the current connection.
        self.connection_id: str | None = None
        #: The initialize result of the current connection.
        self.server_info: dict[str, Any] = {}
        #: Successful reconnects so far.
        self.reconnects = 0
        #: In-band token refreshes (``status/authenticate``) so far.
        self.token_refreshes = 0
        #: (code, reason) of the last close seen (1006: dropped without a close frame).
        self.last_close: tuple[int, str] | None = None

    # ------------------------------------------------------------------------------------------
    # Public API

    async def __aenter__(self) -> RealtimeClient:
        await self.connect()
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.close()

    async def connect(self) -> None:
        """Opens the first connection and initializes it; raises its failure (no retry):
        :class:`AuthenticationError` (401), :class:`HandshakeError`, ``OSError``, ``TimeoutError``,
        :class:`ConnectionLostError` (closed before it was initialized). Only after a 4008 close
        (initialize too late) it tries again with backoff, up to 3 connections in all."""
        if self._started:
            raise RealtimeError("connect() was already called")
        self._started = True
        try:
            for attempt in itertools.count():
                try:
                    conn = await self._establish()
                    break
                except ConnectionLostError as lost:
                    if lost.code is not None:
                        self.last_close = (lost.code, lost.reason)
                    if (lost.code not in _CONNECT_RETRY_CLOSE_CODES or not self.reconnect
                            or attempt + 1 >= _CONNECT_ATTEMPTS):
                        raise
                    delay = self._backoff(attempt)
                    logger.info("first connection closed with %s %s; trying again in %.2f s",
                                lost.code, lost.reason, delay)
                    await asyncio.sleep(delay)
                    if self._closing:
                        raise ClientClosedError("the client was closed while connecting") from None
        except BaseException:
            self._started = False  # connect() may be called again
            raise
        self._supervisor = asyncio.create_task(self._supervise(conn), name="blobhub-realtime-supervisor")

    async def close(self) -> None:
        """Closes the connection (code 1000) and ends every subscription's iteration."""
        if self._closing and self._supervisor is None:
            return
        self._closing = True
        supervisor, self._supervisor = self._supervisor, None
        if supervisor is not None:
            supervisor.cancel()
            await asyncio.gather(supervisor, return_exceptions=True)
        conn, self._conn = self._conn, None
        if conn is not None:
            await self._close_connection(conn, graceful=True)
        self._end_all(_End())
        self._ready.set()

    @property
    def connected(self) -> bool:
        """True while a connection is open, initialized and resubscribed."""
        return self._ready.is_set() and self._conn is not None and not self._conn.closed

    @property
    def error(self) -> BaseException | None:
        """The error that stopped the client, if any."""
        return self._terminal

    async def subscribe(
        self,
        *,
        scope: str,
        target: str,
        target_id: str,
        scope_id: str | None = None,
        types: Sequence[str] | None = None,
        since: int | None = None,
        epoch: str | None = None,
        on_reset: ResetCallback | None = None,
    ) -> Subscription:
        """Adds a subscription and returns its event iterator.

        Without ``since`` the subscription starts at the current log head: it yields every
        matching event committed after this call, across reconnects. With ``since`` (an offset you
        persisted, and ideally the ``epoch`` it belongs to) it first replays the retained events
        after it. ``types`` filters by event type (``None`` = every type). When the server cannot
        replay everything (``recovered: false``), ``on_reset`` (and the client's ``on_reset``) is
        called in stream order before the next event, and :attr:`Subscription.recovered` turns
        ``False``.

        Raises :class:`InvalidRequestError` (bad params: see ``field``/``reason``),
        :class:`AccessForbiddenError` (no access or unknown object), :class:`RequestTimeoutError`.
        """
        if types is not None and (isinstance(types, str) or not all(isinstance(t, str) for t in types)):
            raise TypeError("types must be a sequence of strings")
        if since is not None and (not isinstance(since, int) or isinstance(since, bool) or since < 0):
            raise ValueError("since must be a non-negative integer")
        sub = Subscription(self, scope, scope_id, target, target_id, types, on_reset)
        if since is not None:
            sub._position = since
            sub._epoch = epoch
        self._check_usable()
        self._subs.setdefault(sub.key, []).append(sub)
        try:
            while True:
                conn = await self._wait_ready()
                params = sub._identity()
                if sub._requested_types:
                    params["types"] = sub._requested_types
                if since is not None:
                    params["since"] = sub._position if sub._position is not None else since
                    if epoch is not None:
                        params["epoch"] = epoch
                else:
                    params["since"] = _ANCHOR_SINCE
                    if conn.epoch is not None:
                        params["epoch"] = conn.epoch

                def on_result(result: Any, anchored: bool = since is None) -> None:
                    if not isinstance(result, dict):
                        return
                    head = result.get("offset")
                    head = head if isinstance(head, int) else None
                    sub.start_offset = head
                    if isinstance(result.get("epoch"), str):
                        sub._epoch = result["epoch"]
                    sub._confirmed = True
                    if anchored:
                        sub._position = head if head is not None else 0
                    elif result.get("recovered") is False:
                        sub._reset(head if _epoch_changed(epoch, result) else None)

                try:
                    await self._call("subscription/add", params, conn=conn, on_result=on_result)
                except ConnectionLostError:
                    continue  # the client reconnects; add it on the next connection
                return sub
        except BaseException as error:
            self._remove_sub(sub)
            sub._finish(error if isinstance(error, Exception) else _End())
            raise

    async def unsubscribe(self, subscription: Subscription) -> None:
        """Same as :meth:`Subscription.close`."""
        await self._unsubscribe(subscription)

    async def request(self, method: str, params: dict[str, Any] | None = None, *,
                      timeout: float | None = None) -> Any:
        """Sends any JSON-RPC request and returns its ``result`` (raises :class:`RpcError`)."""
        conn = await self._wait_ready(timeout)
        return await self._call(method, params, conn=conn, timeout=timeout)

    async def ping(self, timeout: float | None = None) -> None:
        """``status/ping``: a round trip to the server."""
        await self.request("status/ping", timeout=timeout)

    async def list_subscriptions(self) -> list[dict[str, Any]]:
        """``subscription/list``: the subscriptions the server holds for this connection."""
        result = await self.request("subscription/list")
        subscriptions = result.get("subscriptions", []) if isinstance(result, dict) else []
        return list(subscriptions)

    async def authenticate(self, token: str) -> int | None:
        """Hands the open connection a fresh access token (``status/authenticate``) and uses it for
        later reconnects; returns the new expiry in epoch milliseconds. 403 when the token is
        invalid or for another user (the old one stays in force), 405 on an API-key connection."""
        result = await self.request("status/authenticate", {"token": token})
        expires_at = result.get("expires_at") if isinstance(result, dict) else None
        self._set_token(token, expires_at / 1000 if isinstance(expires_at, (int, float)) else None)
        self.token_refreshes += 1
        return expires_at if isinstance(expires_at, int) else None

    # ------------------------------------------------------------------------------------------
    # Credentials

    def _set_token(self, token: str, expires_at: float | None) -> None:
        self._token = token
        self._token_obtained = time.time()
        if expires_at is None:
            claims = jwt_claims(token)
            exp = claims.get("exp") if claims else None
            expires_at = float(exp) if isinstance(exp, (int, float)) else None
        self._token_exp = expires_at

    async def _fetch_token(self) -> str:
        assert self._token_provider is not None
        outcome = self._token_provider()
        token = await outcome if inspect.isawaitable(outcome) else outcome
        if not isinstance(token, str) or not token:
            raise AuthenticationError("token_provider returned no token")
        return token

    async def _connect_token(self, force_new: bool) -> str | None:
        """The token for a new connection: the current one unless it is missing, expiring, or
        known bad (``force_new``) and a provider can give another."""
        if self._api_key is not None:
            return None
        if self._token_provider is not None:
            expiring = self._token_exp is not None and self._token_exp - time.time() < 1.0
            if force_new or self._token is None or expiring:
                self._set_token(await self._fetch_token(), None)
        return self._token

    # ------------------------------------------------------------------------------------------
    # Connecting

    async def _open_socket(self, token: str | None) -> ClientConnection:
        headers: dict[str, str] = {}
        subprotocols: list[Subprotocol] | None = None
        if self._via_subprotocol:
            secret = token if token is not None else self._api_key
            assert secret is not None
            marker = "authorization.bearer.base64" if token is not None else "x-api-key.base64"
            encoded = base64.urlsafe_b64encode(secret.encode()).decode().rstrip("=")
            subprotocols = [Subprotocol(marker), Subprotocol(encoded)]
        elif token is not None:
            headers["Authorization"] = f"Bearer {token}"
        else:
            assert self._api_key is not None
            headers["X-API-Key"] = self._api_key
        try:
            return await connect(
                self.url,
                additional_headers=headers,
                subprotocols=subprotocols,
                origin=Origin(self._origin) if self._origin else None,
                open_timeout=self.open_timeout,
                ping_interval=None,  # the client's own status/ping heartbeat detects dead connections
                close_timeout=2.0,
                max_size=self._max_size,
                user_agent_header=f"blobhub-realtime-python/{__about__.__version__}",
            )
        except InvalidStatus as refused:
            response = refused.response
            body: Any = response.body.decode("utf-8", "replace") if response.body else ""
            message = response.reason_phrase
            try:
                body = json.loads(body)
                if isinstance(body, dict) and isinstance(body.get("error"), dict):
                    message = str(body["error"].get("message", message))
            except ValueError:
                pass
            if response.status_code == 401:
                raise AuthenticationError(f"credential refused (HTTP 401): {message}", status=401,
                                          body=body) from None
            retry_after: float | None = None
            try:
                retry_after = float(response.headers.get("Retry-After", ""))
            except ValueError:
                pass
            raise HandshakeError(response.status_code, message, body=body, retry_after=retry_after) from None

    async def _establish(self) -> _Connection:
        """Connects, initializes and resubscribes; the connection is ready when this returns."""
        ws: ClientConnection | None = None
        for attempt in range(2):
            token = await self._connect_token(force_new=attempt > 0)
            try:
                ws = await self._open_socket(token)
                break
            except AuthenticationError:
                # One more try with a fresh token, when someone can give us one.
                if self._token_provider is None or attempt > 0:
                    raise
        assert ws is not None
        conn = _Connection(ws)
        conn.reader = asyncio.create_task(self._read(conn), name="blobhub-realtime-reader")
        try:
            result = await self._call("status/initialize", {"client_info": self._client_info}, conn=conn)
            if isinstance(result, dict):
                conn.epoch = result.get("epoch") if isinstance(result.get("epoch"), str) else None
                conn.connection_id = result.get("connection_id")
                limits = result.get("limits")
                if isinstance(limits, dict) and isinstance(limits.get("max_message_bytes"), int):
                    conn.max_message_bytes = limits["max_message_bytes"]
                if isinstance(result.get("heartbeat_interval_ms"), int):
                    conn.heartbeat_interval_ms = result["heartbeat_interval_ms"]
                self.server_info = result
            await self._resubscribe(conn)
        except BaseException:
            await self._close_connection(conn, graceful=False)
            raise
        self._conn = conn
        self.epoch = conn.epoch
        self.connection_id = conn.connection_id
        if self.heartbeat_interval:
            conn.tasks.append(asyncio.create_task(self._heartbeat(conn), name="blobhub-realtime-heartbeat"))
        if self._token_provider is not None and self.auto_refresh:
            conn.tasks.append(asyncio.create_task(self._refresher(conn), name="blobhub-realtime-refresh"))
        self._ready.set()
        logger.debug("connected %s (epoch %s)", conn.connection_id, conn.epoch)
        return conn

    async def _resubscribe(self, conn: _Connection) -> None:
        """Adds every confirmed subscription again with `since` = its position and its epoch."""
        groups = [(key, [s for s in subs if s._confirmed and not s._done]) for key, subs in self._subs.items()]
        groups = [(key, subs) for key, subs in groups if subs]
        semaphore = asyncio.Semaphore(_RESUBSCRIBE_CONCURRENCY)

        async def add(subs: list[Subscription]) -> None:
            base = min(subs, key=lambda s: s._position if s._position is not None else 0)
            params = base._identity()
            if all(s.types is not None for s in subs):
                union = sorted(set().union(*(s.types or () for s in subs)))
                if len(union) <= 64:
                    params["types"] = union  # more than the server takes: every type, filtered here
            params["since"] = base._position if base._position is not None else 0
            if base._epoch is not None:
                params["epoch"] = base._epoch

            def on_result(result: Any) -> None:
                if not isinstance(result, dict):
                    return
                head = result.get("offset")
                head = head if isinstance(head, int) else None
                moved = _epoch_changed(params.get("epoch"), result)
                for sub in subs:
                    if isinstance(result.get("epoch"), str):
                        sub._epoch = result["epoch"]
                    if result.get("recovered") is False:
                        sub._reset(head if moved else None)

            async with semaphore:
                for retry in itertools.count():
                    try:
                        await self._call("subscription/add", params, conn=conn, on_result=on_result)
                        added.append((base.key, base._identity()))
                        return
                    except TooManyRequestsError:
                        if retry >= 20:
                            raise
                        await asyncio.sleep(0.25 + random.random() * 0.5)
                    except (AccessForbiddenError, InvalidRequestError) as refused:
                        # Access went away while we were disconnected (or a limit shrank).
                        error: Exception = (SubscriptionRevokedError("access forbidden on resubscribe")
                                            if isinstance(refused, AccessForbiddenError) else refused)
                        for sub in subs:
                            if isinstance(error, SubscriptionRevokedError):
                                error = SubscriptionRevokedError(error.reason, sub)
                            self._remove_sub(sub)
                            sub._finish(error)
                        return

        added: list[tuple[SubscriptionKey, dict[str, Any]]] = []
        results = await asyncio.gather(*(add(subs) for _, subs in groups), return_exceptions=True)
        for outcome in results:
            if isinstance(outcome, BaseException):
                raise outcome
        # A subscription closed while it was being added again (close() sends nothing while the client
        # reconnects): the server holds it again. Remove it before the connection is handed out.
        removed: set[SubscriptionKey] = set()
        while stale := [(key, identity) for key, identity in added
                        if key not in self._subs and key not in removed]:
            for key, identity in stale:
                removed.add(key)
                try:
                    await self._call("subscription/remove", identity, conn=conn)
                except RpcError as error:
                    logger.debug("subscription/remove failed: %s", error)

    async def _close_connection(self, conn: _Connection, *, graceful: bool) -> None:
        for task in conn.tasks:
            task.cancel()
        if conn.tasks:
            await asyncio.gather(*conn.tasks, return_exceptions=True)
        if graceful and not conn.closed:
            try:
                await asyncio.wait_for(conn.ws.close(1000), 3.0)
            except (asyncio.TimeoutError, OSError, ConnectionClosed):
                conn.abort()
        else:
            conn.abort()
        if conn.reader is not None:
            try:
                await asyncio.wait_for(asyncio.shield(conn.reader), 3.0)
            except (asyncio.TimeoutError, asyncio.CancelledError):
                conn.reader.cancel()
        conn.closed = True
        conn.fail_pending(ClientClosedError("client closed") if self._closing else ConnectionLostError(1006))

    # ------------------------------------------------------------------------------------------
    # Supervision: reconnect after a close, classify close codes

    async def _supervise(self, conn: _Connection) -> None:
        try:
            await self._supervise_connections(conn)
        except asyncio.CancelledError:
            raise
        except BaseException as error:  # noqa: BLE001 - a bug here must not leave iterators hanging
            logger.exception("supervisor failed")
            self._fail(error)

    async def _supervise_connections(self, conn: _Connection) -> None:
        attempt = 0
        while True:
            assert conn.reader is not None
            code, reason = await asyncio.shield(conn.reader)
            self._ready.clear()
            await self._close_connection(conn, graceful=False)
            if self._conn is conn:
                self._conn = None
            if self._closing:
                return
            logger.info("connection closed with %s %s", code, reason)
            decision = self._after_close(code, reason, attempt)
            while True:
                if isinstance(decision, BaseException):
                    self._fail(decision)
                    return
                await asyncio.sleep(decision)
                if self._closing:
                    return
                received = self._received
                try:
                    conn = await self._establish()
                except asyncio.CancelledError:
                    raise
                except BaseException as error:  # noqa: BLE001 - classified below
                    # An attempt that received events (a replay cut short) made progress: start the
                    # backoff again from its shortest delay rather than doubling it.
                    attempt = 0 if self._received != received else attempt + 1
                    logger.info("reconnect failed (%s); attempt %d", error, attempt)
                    decision = self._after_failure(error, attempt)
                    continue
                attempt = 0
                self.reconnects += 1
                logger.info("reconnected (%s)", conn.connection_id)
                break

    def _backoff(self, attempt: int) -> float:
        cap = min(self.max_backoff, self.initial_backoff * (2 ** min(attempt, 20)))
        return random.uniform(0, cap)  # full jitter

    def _after_close(self, code: int, reason: str, attempt: int) -> float | BaseException:
        """The delay before reconnecting after a close with `code`, or the error that stops us."""
        self.last_close = (code, reason)
        if code in _FATAL_CLOSE_CODES:
            return ConnectionClosedError(code, reason)
        if code == 4001 and (self._token_provider is None or not self.reconnect):
            kind = "API key revoked or expired" if self._api_key is not None else "access token expired or revoked"
            return AuthenticationError(f"{kind} (close 4001{': ' + reason if reason else ''})", close_code=4001)
        if not self.reconnect:
            return ConnectionClosedError(code, reason)
        if code == 4001:
            self._token = None  # fetch a new one before reconnecting
            return random.uniform(0, 0.1)
        if code in _IMMEDIATE_CLOSE_CODES:
            return random.uniform(0, 1.0)
        if code == 4029:
            return random.uniform(self.flood_backoff, 2 * self.flood_backoff)
        return self._backoff(attempt)  # 1000 unasked, 1006, 1011, 4008, anything else

    def _after_failure(self, error: BaseException, attempt: int) -> float | BaseException:
        """The delay before the next attempt after a failed reconnect, or the error that stops us."""
        if isinstance(error, ConnectionLostError):  # closed during initialize/resubscribe
            return self._after_close(error.code or 1006, error.reason, attempt)
        if isinstance(error, AuthenticationError):
            return error
        if isinstance(error, HandshakeError):
            if error.status in (429, 503) or error.status >= 500:
                return max(error.retry_after or 0.0, self._backoff(attempt))
            return error
        if isinstance(error, (OSError, asyncio.TimeoutError, InvalidHandshake, RpcError, RealtimeError)):
            return self._backoff(attempt)
        if isinstance(error, Exception):
            logger.warning("unexpected error while reconnecting: %r", error)
            return self._backoff(attempt)
        return error

    def _fail(self, error: BaseException) -> None:
        """Stops the client: every subscription raises `error` after its queued events."""
        logger.warning("client stopped: %s", error)
        self._terminal = error
        self._closing = True
        self._end_all(error)
        self._ready.set()

    def _end_all(self, item: _End | BaseException) -> None:
        subs = [sub for group in self._subs.values() for sub in group]
        self._subs.clear()
        for sub in subs:
            sub._finish(item)

    def _check_usable(self) -> None:
        if self._terminal is not None:
            raise self._terminal
        if self._closing or not self._started:
            raise ClientClosedError("the client is closed" if self._started else "call connect() first")

    async def _wait_ready(self, timeout: float | None = None) -> _Connection:
        deadline = time.monotonic() + (self.request_timeout if timeout is None else timeout)
        while True:
            self._check_usable()
            conn = self._conn
            if self._ready.is_set() and conn is not None and not conn.closed:
                return conn
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise RequestTimeoutError("not connected (reconnecting)")
            try:
                await asyncio.wait_for(self._ready.wait(), remaining)
            except asyncio.TimeoutError:
                pass
            if self._ready.is_set() and (self._conn is None or self._conn.closed):
                await asyncio.sleep(0.01)

    # ------------------------------------------------------------------------------------------
    # Per-connection tasks

    async def _heartbeat(self, conn: _Connection) -> None:
        assert self.heartbeat_interval
        while not conn.closed:
            await asyncio.sleep(self.heartbeat_interval)
            try:
                await self._call("status/ping", None, conn=conn, timeout=self.heartbeat_timeout)
            except RequestTimeoutError:
                logger.info("no answer to status/ping within %.1f s: dropping the connection", self.heartbeat_timeout)
                conn.abort()
                return
            except TooManyRequestsError:
                continue
            except RealtimeError:
                return

    async def _refresher(self, conn: _Connection) -> None:
        """Refreshes the bearer token in band before it expires (status/authenticate)."""
        while not conn.closed:
            exp = self._token_exp
            if exp is None:
                return  # not a JWT with exp: rely on 4001 + provider
            lifetime = max(0.0, exp - self._token_obtained)
            margin = min(self.refresh_before, lifetime / 2)
            await asyncio.sleep(max(0.5, exp - margin - time.time()))
            if conn.closed:
                return
            try:
                token = await self._fetch_token()
                result = await self._call("status/authenticate", {"token": token}, conn=conn)
            except (ConnectionLostError, ClientClosedError):
                return
            except Exception as error:  # noqa: BLE001 - keep trying until the server gives up on us
                logger.warning("token refresh failed: %s", error)
                await asyncio.sleep(min(5.0, max(0.5, (exp - time.time()) / 2)))
                continue
            expires_at = result.get("expires_at") if isinstance(result, dict) else None
            self._set_token(token, expires_at / 1000 if isinstance(expires_at, (int, float)) else None)
            self.token_refreshes += 1
            logger.debug("token refreshed; expires at %s", self._token_exp)

    # ------------------------------------------------------------------------------------------
    # Messages

    async def _call(self, method: str, params: dict[str, Any] | None, *, conn: _Connection,
                    timeout: float | None = None, on_result: Callable[[Any], None] | None = None) -> Any:
        if conn.closed:
            raise ConnectionLostError(1006)
        request_id = next(self._ids)
        message: dict[str, Any] = {"jsonrpc": "2.0", "id": request_id, "method": method}
        if params is not None:
            message["params"] = params
        payload = json.dumps(message, separators=(",", ":"), ensure_ascii=False)
        if conn.max_message_bytes is not None and len(payload.encode()) > conn.max_message_bytes:
            raise MessageTooLargeError(
                f"{method}: {len(payload.encode())} bytes is more than the server's max_message_bytes "
                f"({conn.max_message_bytes})")
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        conn.pending[request_id] = _Pending(future, method, on_result)
        try:
            try:
                await conn.ws.send(payload)
            except ConnectionClosed as closed:
                rcvd = closed.rcvd
                raise ConnectionLostError(rcvd.code if rcvd else 1006, rcvd.reason if rcvd else "") from None
            try:
                return await asyncio.wait_for(future, self.request_timeout if timeout is None else timeout)
            except asyncio.TimeoutError:
                raise RequestTimeoutError(f"{method}: no answer within "
                                          f"{self.request_timeout if timeout is None else timeout} s") from None
        finally:
            conn.pending.pop(request_id, None)
            if future.done() and not future.cancelled():
                # The reader failed it while send() waited for a closing socket, which then raised: the
                # caller has its ConnectionLostError; retrieve this one so asyncio does not log it as
                # "Future exception was never retrieved".
                future.exception()

    async def _read(self, conn: _Connection) -> tuple[int, str]:
        code, reason = 1006, ""
        try:
            while True:
                raw = await conn.ws.recv()
                if isinstance(raw, bytes):
                    continue
                try:
                    message = json.loads(raw)
                except ValueError:
                    logger.warning("unparsable message from the server")
                    continue
                for item in message if isinstance(message, list) else (message,):
                    if isinstance(item, dict):
                        try:
                            self._handle(conn, item)
                        except Exception:  # noqa: BLE001 - one bad message must not kill the reader
                            logger.exception("failed to handle a server message")
        except ConnectionClosed as closed:
            if closed.rcvd is not None:
                code, reason = closed.rcvd.code, closed.rcvd.reason
        except asyncio.CancelledError:
            raise
        except Exception as error:  # noqa: BLE001
            logger.warning("connection failed: %r", error)
        finally:
            conn.closed = True
            conn.fail_pending(ClientClosedError("client closed") if self._closing
                              else ConnectionLostError(code, reason))
        return code, reason

    def _handle(self, conn: _Connection, message: dict[str, Any]) -> None:
        if "method" not in message:
            request_id = message.get("id")
            pending = conn.pending.pop(request_id, None) if isinstance(request_id, int) else None
            if pending is None or pending.future.done():
                return
            if "error" in message:
                pending.future.set_exception(rpc_error_from(message["error"], pending.method))
                return
            result = message.get("result")
            if pending.on_result is not None:
                # Runs before the next message is handled: a subscription's starting point and
                # reset marker are in place before its replayed events arrive.
                pending.on_result(result)
            pending.future.set_result(result)
            return
        method = message.get("method")
        params = message.get("params")
        if not isinstance(params, dict):
            return
        scope, target, target_id = params.get("scope"), params.get("target"), params.get("target_id")
        if not (isinstance(scope, str) and isinstance(target, str) and isinstance(target_id, str)):
            return
        scope_id = params.get("scope_id")
        key = subscription_key(scope, scope_id if isinstance(scope_id, str) else None, target, target_id)
        subs = self._subs.get(key)
        if not subs:
            return
        if method == "subscription/event":
            offset, event = params.get("offset"), params.get("event")
            if isinstance(offset, int) and isinstance(event, dict):
                for sub in subs:
                    sub._offer(offset, event, params)
        elif method == "subscription/revoked":
            reason = params.get("reason")
            reason = reason if isinstance(reason, str) else "access revoked"
            for sub in list(subs):
                self._remove_sub(sub)
                sub._finish(SubscriptionRevokedError(reason, sub))

    # ------------------------------------------------------------------------------------------
    # Subscription bookkeeping

    def _remove_sub(self, sub: Subscription) -> bool:
        """Forgets `sub`; True when it was the last one of its key."""
        subs = self._subs.get(sub.key)
        if subs is None:
            return False
        if sub in subs:
            subs.remove(sub)
        if subs:
            return False
        del self._subs[sub.key]
        return True

    async def _unsubscribe(self, sub: Subscription) -> None:
        if sub._done:
            return
        last = self._remove_sub(sub)
        sub._finish(_End())
        conn = self._conn
        if last and conn is not None and not conn.closed and self._ready.is_set():
            try:
                await self._call("subscription/remove", sub._identity(), conn=conn)
            except RealtimeError as error:
                logger.debug("subscription/remove failed: %s", error)


def _websocket_url(url: str) -> str:
    parts = urllib.parse.urlsplit(url)
    scheme = {"http": "ws", "https": "wss"}.get(parts.scheme, parts.scheme)
    if scheme not in ("ws", "wss"):
        raise ValueError(f"not a WebSocket URL: {url!r}")
    path = parts.path or "/v1"
    if path == "/":
        path = "/v1"
    return urllib.parse.urlunsplit((scheme, parts.netloc, path, parts.query, ""))



def _epoch_changed(sent: Any, result: dict[str, Any]) -> bool:
    """True when the add result names another log than the epoch we sent with `since`."""
    return isinstance(sent, str) and isinstance(result.get("epoch"), str) and result["epoch"] != sent
