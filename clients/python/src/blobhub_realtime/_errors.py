"""Exceptions raised by the client and the publisher."""

from __future__ import annotations

from typing import Any

__all__ = [
    "RealtimeError",
    "RpcError",
    "InvalidRequestError",
    "AccessForbiddenError",
    "MethodNotSupportedError",
    "TooManyRequestsError",
    "ServerError",
    "AuthenticationError",
    "HandshakeError",
    "ConnectionLostError",
    "ConnectionClosedError",
    "RequestTimeoutError",
    "MessageTooLargeError",
    "SubscriptionRevokedError",
    "ClientClosedError",
    "PublishError",
    "rpc_error_from",
]


class RealtimeError(Exception):
    """Base class of every exception of this package."""


# --------------------------------------------------------------------------------------------
# JSON-RPC errors: the server answered a request with an error object.


class RpcError(RealtimeError):
    """The server answered a JSON-RPC request with an error.

    ``code`` is HTTP-style (400, 403, 405, 429, 500); ``data`` is the error's ``data`` member when
    present, with ``reason`` and ``field`` extracted for convenience.
    """

    def __init__(self, code: int, message: str, data: Any = None, *, method: str | None = None) -> None:
        self.code = code
        self.message = message
        self.data = data
        self.method = method
        self.reason: str | None = None
        self.field: str | None = None
        if isinstance(data, dict):
            reason = data.get("reason")
            field = data.get("field")
            self.reason = reason if isinstance(reason, str) else None
            self.field = field if isinstance(field, str) else None
        text = f"{method + ': ' if method else ''}{code} {message}"
        details = [part for part in (f"field={self.field}" if self.field else None,
                                     f"reason={self.reason}" if self.reason else None) if part]
        if details:
            text += " (" + ", ".join(details) + ")"
        super().__init__(text)


class InvalidRequestError(RpcError):
    """400 ``Invalid syntax``: invalid params (see ``field``/``reason``), wrong state, or a limit."""


class AccessForbiddenError(RpcError):
    """403 ``Access forbidden``: not allowed, or the object does not exist."""


class MethodNotSupportedError(RpcError):
    """405 ``Method not supported``: unknown method, or ``status/authenticate`` on an API-key connection."""


class TooManyRequestsError(RpcError):
    """429 ``Too many requests``: over the per-connection rate limit."""


class ServerError(RpcError):
    """500 ``Unexpected failure``: a server fault."""


_RPC_CLASSES: dict[int, type[RpcError]] = {
    400: InvalidRequestError,
    403: AccessForbiddenError,
    405: MethodNotSupportedError,
    429: TooManyRequestsError,
    500: ServerError,
}


def rpc_error_from(error: Any, method: str | None = None) -> RpcError:
    """Builds the typed exception for a JSON-RPC ``error`` object."""
    if not isinstance(error, dict):
        return ServerError(500, "malformed error object", error, method=method)
    code = error.get("code")
    code = code if isinstance(code, int) else 500
    message = error.get("message")
    message = message if isinstance(message, str) else ""
    return _RPC_CLASSES.get(code, RpcError)(code, message, error.get("data"), method=method)


# --------------------------------------------------------------------------------------------
# Connection-level errors.


class AuthenticationError(RealtimeError):
    """The credential was refused or has expired/been revoked, and no new one could be obtained.

    ``status`` is 401 when the upgrade was refused; ``close_code`` is 4001 when an open connection
    was closed because its token expired or its credential was revoked.
    """

    def __init__(self, message: str, *, status: int | None = None, close_code: int | None = None,
                 body: Any = None) -> None:
        self.status = status
        self.close_code = close_code
        self.body = body
        super().__init__(message)


class HandshakeError(RealtimeError):
    """The WebSocket upgrade was answered with an HTTP error other than 401.

    403 (origin not allowed) and other 4xx statuses are configuration problems and are not retried
    by the client; 503 (node full or draining) is retried with backoff.
    """

    def __init__(self, status: int, message: str, *, body: Any = None, retry_after: float | None = None) -> None:
        self.status = status
        self.message = message
        self.body = body
        self.retry_after = retry_after
        super().__init__(f"upgrade refused: HTTP {status} {message}".rstrip())


class ConnectionLostError(RealtimeError):
    """The connection ended while a request was waiting for its answer.

    Transient: the client reconnects by itself; retry the request. ``code`` is the close code
    (1006 when the connection dropped without a close frame).
    """

    def __init__(self, code: int | None, reason: str = "") -> None:
        self.code = code
        self.reason = reason
        super().__init__(f"connection lost (close code {code}{', ' + reason if reason else ''})")


class ConnectionClosedError(RealtimeError):
    """The server closed the connection with a code that reconnecting cannot fix.

    1002 protocol error, 1003 binary frame, 1007 invalid UTF-8, 1009 message too big: a client bug.
    The client stops; subscriptions raise this error.
    """

    def __init__(self, code: int, reason: str = "") -> None:
        self.code = code
        self.reason = reason
        super().__init__(f"connection closed by the server with {code}{' ' + reason if reason else ''}")


class RequestTimeoutError(RealtimeError, TimeoutError):
    """No answer to a request within its timeout (or no connection became ready in time)."""


class MessageTooLargeError(RealtimeError, ValueError):
    """A request is larger than the server's ``max_message_bytes``; it was not sent."""


class SubscriptionRevokedError(RealtimeError):
    """The server ended the subscription because access went away (``subscription/revoked``),
    or refused it with 403 when the client resubscribed after a reconnect."""

    def __init__(self, reason: str, subscription: Any = None) -> None:
        self.reason = reason
        self.subscription = subscription
        super().__init__(f"subscription revoked: {reason}")


class ClientClosedError(RealtimeError):
    """The client was closed (or has not been connected yet)."""


# --------------------------------------------------------------------------------------------
# Publishing.


class PublishError(RealtimeError):
    """``POST /v1/events`` was not accepted with 202.

    ``status`` is the HTTP status (``None`` when the node could not be reached); ``body`` the parsed
    JSON error body (or its text); ``code``/``message``/``field``/``index`` come from
    ``{"error":{...}}``. Nothing of a rejected batch is stored (batches are all-or-nothing); a
    publish that failed with ``retryable`` true may be sent again: events with an ``id`` are
    never stored twice.
    """

    def __init__(self, status: int | None, message: str, *, body: Any = None) -> None:
        self.status = status
        self.body = body
        self.code: int | None = None
        self.message = message
        self.field: str | None = None
        self.index: int | None = None
        error = body.get("error") if isinstance(body, dict) else None
        if isinstance(error, dict):
            code = error.get("code")
            self.code = code if isinstance(code, int) else None
            if isinstance(error.get("message"), str):
                self.message = error["message"]
            if isinstance(error.get("field"), str):
                self.field = error["field"]
            if isinstance(error.get("index"), int):
                self.index = error["index"]
        prefix = f"HTTP {status}" if status is not None else "publish failed"
        super().__init__(f"{prefix}: {self.message}")

    @property
    def retryable(self) -> bool:
        """True for failures that may succeed when sent again (unreachable node, 429, 5xx)."""
        return self.status is None or self.status == 429 or self.status >= 500
