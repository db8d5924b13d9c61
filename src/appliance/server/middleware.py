"""Request id + access log, and a token-bucket rate limit for auth and ingest routes."""

from __future__ import annotations

import ipaddress
import logging
import math
import time
import uuid
from typing import Any

from litestar import Request
from litestar.datastructures import MutableScopeHeaders
from litestar.enums import ScopeType
from litestar.middleware import AbstractMiddleware
from litestar.types import HTTPResponseStartEvent, Message, Receive, Scope, Send

from appliance.lib.context import request_id_var
from appliance.lib.inputs import MalformedBodyError, refuse_nul

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
            if _has_nul(scope):
                await send_problem(
                    scope, send_wrapper, 400, "Bad request", "the URL may not contain NUL (%00) characters"
                )
            else:
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


class CheckedRequest(Request[Any, Any, Any]):
    """Every JSON body a handler reads is bounded here, once for all fields: nesting past the
    decoder's depth is a 400 (not a RecursionError), a NUL character in any string a 422."""

    async def json(self) -> Any:
        try:
            value = await super().json()
        except RecursionError as exc:
            raise MalformedBodyError("the JSON body is nested too deeply") from exc
        refuse_nul(await self.body(), value)
        return value


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
        key = (str(group), client_address(scope, scope["app"].state.trusted_proxies))
        wait = bucket.take(key)
        if wait <= 0:
            await self.app(scope, receive, send)
            return
        retry_after = math.ceil(wait)
        await send_problem(
            scope,
            send,
            429,
            "Too many requests",
            f"rate limit exceeded; retry in {retry_after} s",
            {"retry-after": str(retry_after)},
        )


Proxies = tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]


def trusted_proxies(setting: str) -> Proxies:
    """``APPLIANCE_TRUSTED_PROXIES``: comma-separated addresses or CIDRs (empty: none)."""
    networks = []
    for part in setting.split(","):
        if part.strip():
            try:
                networks.append(ipaddress.ip_network(part.strip(), strict=False))
            except ValueError as exc:
                raise ValueError(
                    f"APPLIANCE_TRUSTED_PROXIES: {part.strip()!r} is not an address or CIDR"
                ) from exc
    return tuple(networks)


def _is_trusted(address: str, proxies: Proxies) -> bool:
    try:
        ip = ipaddress.ip_address(address.strip())
    except ValueError:
        return False
    return any(ip in network for network in proxies)


def client_address(scope: Scope, proxies: Proxies) -> str:
    """The client a rate limit counts: the peer, unless the peer is a configured proxy; then
    the nearest address in ``X-Forwarded-For`` that is not one (a client cannot pick its own
    address by sending the header, it only appends to what it sent)."""
    client = scope.get("client")
    peer = client[0] if client else "unknown"
    if not proxies or not _is_trusted(peer, proxies):
        return peer
    forwarded = [
        value.decode("latin-1") for name, value in scope.get("headers") or [] if name == b"x-forwarded-for"
    ]
    hops = [hop.strip() for line in forwarded for hop in line.split(",") if hop.strip()]
    for hop in reversed(hops):
        if not _is_trusted(hop, proxies):
            return hop
    return hops[0] if hops else peer


def _has_nul(scope: Scope) -> bool:
    """A NUL in the path or query: no route or database value can hold it (issue 18)."""
    query: bytes = scope.get("query_string") or b""
    return "\x00" in scope.get("path", "") or b"%00" in query or b"\x00" in query


async def send_problem(
    scope: Scope, send: Send, status: int, title: str, detail: str, extra: dict[str, str] | None = None
) -> None:
    """An RFC 9457 problem, sent from middleware (before any route handler ran)."""
    import json

    body = json.dumps(
        {
            "type": "about:blank",
            "title": title,
            "status": status,
            "detail": detail,
            "instance": scope.get("path", ""),
            "request_id": request_id_var.get(),
        }
    ).encode()
    headers: list[tuple[bytes, bytes]] = [
        (b"content-type", b"application/problem+json"),
        (b"content-length", str(len(body)).encode()),
        *((name.encode(), value.encode()) for name, value in (extra or {}).items()),
    ]
    start: HTTPResponseStartEvent = {"type": "http.response.start", "status": status, "headers": headers}
    await send(start)
    await send({"type": "http.response.body", "body": body, "more_body": False})


def rate_limits(auth_per_minute: int, ingest_per_second: int) -> dict[str, Any]:
    return {
        "auth": TokenBucket(rate=auth_per_minute / 60.0, capacity=max(1, auth_per_minute // 6)),
        "ingest": TokenBucket(rate=float(ingest_per_second), capacity=float(ingest_per_second * 2)),
    }
