"""Request id + access log, and a token-bucket rate limit for auth and ingest routes."""

from __future__ import annotations

import logging
import math
import time
import uuid
from typing import Any

from litestar.datastructures import MutableScopeHeaders
from litestar.enums import ScopeType
from litestar.middleware import AbstractMiddleware
from litestar.types import HTTPResponseStartEvent, Message, Receive, Scope, Send

from appliance.lib.context import request_id_var

access_log = logging.getLogger("appliance.access")


class RequestContextMiddleware(AbstractMiddleware):
    """Takes X-Request-ID from the caller (or makes one), echoes it, logs one JSON line per request."""

    scopes = {ScopeType.HTTP}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = dict(scope.get("headers") or [])
        incoming = headers.get(b"x-request-id", b"").decode("latin-1")[:64]
        request_id = incoming if incoming.replace("-", "").isalnum() else uuid.uuid4().hex
        token = request_id_var.set(request_id)
        started = time.perf_counter()
        status = 500

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                MutableScopeHeaders.from_message(message)["X-Request-ID"] = request_id
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            route = scope.get("path_template") or scope.get("path", "")
            access_log.info(
                "request",
                extra={
                    "method": scope.get("method"),
                    "path": scope.get("path"),
                    "route": route,
                    "status": status,
                    "duration_ms": round((time.perf_counter() - started) * 1000, 2),
                },
            )
            request_id_var.reset(token)


class TokenBucket:
    """capacity tokens, refilled at rate per second; one bucket per (group, client)."""

    def __init__(self, rate: float, capacity: float) -> None:
        self.rate = rate
        self.capacity = capacity
        self._buckets: dict[tuple[str, str], tuple[float, float]] = {}

    def take(self, key: tuple[str, str], now: float | None = None) -> float:
        """0 when allowed, else the seconds to wait."""
        now = time.monotonic() if now is None else now
        tokens, last = self._buckets.get(key, (self.capacity, now))
        tokens = min(self.capacity, tokens + (now - last) * self.rate)
        if tokens >= 1:
            self._buckets[key] = (tokens - 1, now)
            if len(self._buckets) > 100_000:  # bound memory under a spray of client addresses
                self._buckets.clear()
            return 0.0
        self._buckets[key] = (tokens, now)
        return (1 - tokens) / self.rate


class RateLimitMiddleware(AbstractMiddleware):
    """Routes opt in with ``opt={"rate_limit": "auth" | "ingest"}``; over the limit → 429 + Retry-After."""

    scopes = {ScopeType.HTTP}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        handler = scope.get("route_handler")
        group = handler.opt.get("rate_limit") if handler is not None else None
        buckets: dict[str, TokenBucket] = scope["app"].state.rate_limits
        bucket = buckets.get(group) if group else None
        if bucket is None:
            await self.app(scope, receive, send)
            return
        client = scope.get("client")
        key = (str(group), client[0] if client else "unknown")
        wait = bucket.take(key)
        if wait <= 0:
            await self.app(scope, receive, send)
            return
        await _too_many(scope, send, math.ceil(wait))


async def _too_many(scope: Scope, send: Send, retry_after: int) -> None:
    import json

    body = json.dumps(
        {
            "type": "about:blank",
            "title": "Too many requests",
            "status": 429,
            "detail": f"rate limit exceeded; retry in {retry_after} s",
            "instance": scope.get("path", ""),
            "request_id": request_id_var.get(),
        }
    ).encode()
    headers: list[tuple[bytes, bytes]] = [
        (b"content-type", b"application/problem+json"),
        (b"content-length", str(len(body)).encode()),
        (b"retry-after", str(retry_after).encode()),
    ]
    start: HTTPResponseStartEvent = {"type": "http.response.start", "status": 429, "headers": headers}
    await send(start)
    await send({"type": "http.response.body", "body": body, "more_body": False})


def rate_limits(auth_per_minute: int, ingest_per_second: int) -> dict[str, Any]:
    return {
        "auth": TokenBucket(rate=auth_per_minute / 60.0, capacity=max(1, auth_per_minute // 6)),
        "ingest": TokenBucket(rate=float(ingest_per_second), capacity=float(ingest_per_second * 2)),
    }
