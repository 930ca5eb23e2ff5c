"""BlobHub Realtime client for asyncio.

* :class:`RealtimeClient` subscribes over the WebSocket API (JSON-RPC 2.0): reconnects with
  jittered backoff, resumes every subscription with ``since``/``epoch`` (no gap, no duplicate),
  refreshes its token in band, and handles the server's close codes.
* :class:`Publisher` posts events to ``/v1/events`` and returns their ``(id, offset)``.
"""

from .__about__ import __version__
from ._client import RealtimeClient, ResetCallback, Subscription, TokenProvider
from ._errors import (
    AccessForbiddenError,
    AuthenticationError,
    ClientClosedError,
    ConnectionClosedError,
    ConnectionLostError,
    HandshakeError,
    InvalidRequestError,
    MessageTooLargeError,
    MethodNotSupportedError,
    PublishError,
    RealtimeError,
    RequestTimeoutError,
    RpcError,
    ServerError,
    SubscriptionRevokedError,
    TooManyRequestsError,
)
from ._publisher import Publisher
from ._types import Event, PublishAck

__all__ = [
    "__version__",
    "RealtimeClient",
    "Subscription",
    "Publisher",
    "Event",
    "PublishAck",
    "TokenProvider",
    "ResetCallback",
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
]
