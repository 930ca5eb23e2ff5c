"""The publisher: ``POST /v1/events`` with the standard library (urllib in a worker thread)."""

from __future__ import annotations

import asyncio
import json
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping, Sequence
from types import TracebackType
from typing import Any, Union

from . import __about__
from ._errors import PublishError
from ._types import PublishAck

__all__ = ["Publisher"]

EventObject = Mapping[str, Any]


class Publisher:
    """Publishes events to a node's HTTP API with the publisher (or admin) key.

    ``base_url`` is the node's HTTP address (``http://127.0.0.1:8080``); the events go to
    ``<base_url>/v1/events``. :meth:`publish` returns after the node's 202, which comes once the
    events are durable, with one :class:`PublishAck` ``(id, offset)`` per event in order. Give
    events your own ``id`` to make retries safe: an id already accepted is not stored twice and
    answers with its original offset.
    """

    def __init__(self, base_url: str, key: str, *, timeout: float = 10.0) -> None:
        parts = urllib.parse.urlsplit(base_url)
        if parts.scheme not in ("http", "https"):
            raise ValueError(f"not an HTTP URL: {base_url!r}")
        path = parts.path.rstrip("/")
        if not path.endswith("/v1/events"):
            path += "/v1/events"
        self.url = urllib.parse.urlunsplit((parts.scheme, parts.netloc, path, "", ""))
        self._key = key
        self.timeout = timeout

    async def __aenter__(self) -> Publisher:
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.close()

    async def close(self) -> None:
        """Nothing to release (one HTTP connection per request); kept for ``async with``."""

    async def publish(self, events: Union[EventObject, Sequence[EventObject]]) -> list[PublishAck]:
        """Publishes one event or a batch (up to 1,000; all-or-nothing).

        Raises :class:`PublishError` for any answer but 202 (``status``, the server's error
        ``body``, ``field``/``index`` of a rejected event) and, with ``status`` ``None``, when the
        node cannot be reached.
        """
        if isinstance(events, Mapping):
            body: Any = dict(events)
        else:
            body = [dict(event) for event in events]
        payload = json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()
        status, answer = await asyncio.to_thread(self._post, payload)
        if status != 202:
            message = ""
            if isinstance(answer, dict) and isinstance(answer.get("error"), dict):
                message = str(answer["error"].get("message", ""))
            raise PublishError(status, message or f"unexpected answer {status}", body=answer)
        acks = answer.get("events") if isinstance(answer, dict) else None
        if not isinstance(acks, list):
            raise PublishError(status, "202 without an events list", body=answer)
        return [PublishAck(str(ack["id"]), int(ack["offset"])) for ack in acks]

    def _post(self, payload: bytes) -> tuple[int, Any]:
        request = urllib.request.Request(self.url, data=payload, method="POST", headers={
            "Authorization": f"Bearer {self._key}",
            "Content-Type": "application/json",
            "Accept": "application/json",
            "User-Agent": f"blobhub-realtime-python/{__about__.__version__}",
        })
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                return response.status, _decode(response.read())
        except urllib.error.HTTPError as error:
            with error:
                return error.code, _decode(error.read())
        except (urllib.error.URLError, OSError) as error:
            reason = getattr(error, "reason", error)
            raise PublishError(None, f"cannot reach {self.url}: {reason}") from error


def _decode(raw: bytes) -> Any:
    text = raw.decode("utf-8", "replace")
    try:
        return json.loads(text)
    except ValueError:
        return text
