"""Request id + access log, NUL-free URLs and bodies, and the rate-limit groups (Litestar's limiter)."""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Literal

from litestar import Request
from litestar.datastructures import MutableScopeHeaders
from litestar.enums import ScopeType
from litestar.exceptions import TooManyRequestsException
from litestar.middleware import AbstractMiddleware
from litestar.middleware.rate_limit import RateLimitConfig, RateLimitMiddleware
from litestar.stores.memory import MemoryStore
from litestar.types import HTTPResponseStartEvent, Message, Receive, Scope, Send

from appliance.lib.context import request_id_var
from appliance.lib.inputs import MalformedBodyError, refuse_nul
from appliance.server.problems import too_many_requests

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


RATE_LIMIT_OPT = "rate_limit"
"""Routes opt in with ``opt={"rate_limit": "auth" | "ingest"}``."""


def rate_limit_configs(
    auth_per_minute: int, ingest_per_second: int, proxies: Proxies
) -> list[RateLimitConfig]:
    """Litestar's rate limiter, once per group, each counting per client (``client_address``).

    The stores are in memory (``rate_limit_stores``), so a limit holds per API process: a
    shared store is neither atomic across processes nor cheap (ADR 0015). Over the limit: a
    429 problem whose ``Retry-After`` is the limiter's ``RateLimit-Reset``."""

    def group(name: str) -> Callable[[Request[Any, Any, Any]], Awaitable[bool]]:
        async def in_group(request: Request[Any, Any, Any]) -> bool:  # async: a sync one runs in a thread
            handler = request.scope.get("route_handler")
            return handler is not None and handler.opt.get(RATE_LIMIT_OPT) == name

        return in_group

    def client(request: Request[Any, Any, Any]) -> str:
        return client_address(request.scope, proxies)

    groups: list[tuple[str, Literal["second", "minute"], int]] = [
        ("auth", "minute", auth_per_minute),
        ("ingest", "second", ingest_per_second),
    ]
    return [
        RateLimitConfig(
            rate_limit=(unit, limit),
            check_throttle_handler=group(name),
            identifier_for_request=client,
            store=f"rate_limit_{name}",
            middleware_class=AnsweringRateLimitMiddleware,
        )
        for name, unit, limit in groups
        if limit > 0  # 0: the group is not limited here (a proxy in front limits, or a benchmark)
    ]


class AnsweringRateLimitMiddleware(RateLimitMiddleware):
    """Litestar's limiter, answering its own 429 problem where it refuses: its exception would
    otherwise leave the route's middleware unanswered, and the request metrics (inside) would
    count the 429 as a 200."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        except TooManyRequestsException as exc:  # the route's own exceptions are answered further in
            request: Request[Any, Any, Any] = scope["litestar_app"].request_class(scope)
            await too_many_requests(request, exc).to_asgi_response(None, request)(scope, receive, send)


def rate_limit_stores(configs: list[RateLimitConfig]) -> Mapping[str, MemoryStore]:
    """One in-memory store per group (``Litestar(stores=...)``)."""
    return {config.store: MemoryStore() for config in configs}


async def forget_idle_clients(stores: Mapping[str, MemoryStore]) -> None:
    """Drops the counts of clients whose window ended: the in-memory store only forgets a key
    when it is read again, so a spray of client addresses would otherwise grow it for good."""
    while True:
        await asyncio.sleep(60)
        for store in stores.values():
            await store.delete_expired()
