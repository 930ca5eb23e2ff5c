"""Value types shared by the client and the publisher."""

from __future__ import annotations

import base64
import json
import re
from dataclasses import dataclass, field
from typing import Any, NamedTuple

__all__ = ["Event", "PublishAck", "SubscriptionKey", "subscription_key", "jwt_claims"]


@dataclass(frozen=True)
class Event:
    """One event delivered to a subscription.

    ``offset`` is the event's position in the server's log (strictly increasing per subscription);
    ``data`` is the event object as published (plus ``id``/``created_at`` when the server filled
    them in); ``scope``/``scope_id``/``target``/``target_id`` name the subscription it arrived on.
    """

    offset: int
    data: dict[str, Any] = field(repr=False)
    scope: str
    scope_id: str | None
    target: str
    target_id: str

    @property
    def type(self) -> str:
        """The event's ``type`` (``""`` if absent)."""
        value = self.data.get("type")
        return value if isinstance(value, str) else ""

    @property
    def id(self) -> str | None:
        """The event's ``id``."""
        value = self.data.get("id")
        return value if isinstance(value, str) else None

    def __repr__(self) -> str:
        return f"Event(offset={self.offset}, type={self.type!r}, id={self.id!r}, target={self.target}/{self.target_id})"


class PublishAck(NamedTuple):
    """The 202 answer for one published event: its ``id`` and its log ``offset``."""

    id: str
    offset: int


_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")

SubscriptionKey = tuple[str, "str | None", str, str]


def _normalize_id(value: str) -> str:
    # The server compares UUID-form ids case-insensitively and every other id exactly.
    return value.lower() if _UUID.match(value) else value


def subscription_key(scope: str, scope_id: str | None, target: str, target_id: str) -> SubscriptionKey:
    """The identity the server uses for a subscription: (scope, scope_id, target, target_id)."""
    return (scope, _normalize_id(scope_id) if scope_id else None, target, _normalize_id(target_id))


def jwt_claims(token: str) -> dict[str, Any] | None:
    """The (unverified) payload of a JWT, or ``None`` when ``token`` is not one.

    Used only to read ``exp``/``iat`` and schedule a refresh; the server verifies the token.
    """
    parts = token.split(".")
    if len(parts) != 3:
        return None
    payload = parts[1]
    try:
        decoded = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
        claims = json.loads(decoded)
    except (ValueError, UnicodeDecodeError):
        return None
    return claims if isinstance(claims, dict) else None
