"""Deny by default: a route is reachable only if it says who may call it.

Each handler carries ``opt={"roles": {...}}`` or ``opt={"public": True}``; anything else is 403.

Litestar hands guards no dependencies, so the guard asks the app's ``authenticator`` dependency
(a provider of the app's state, ``server/deps.py``) for the service that checks tokens.
"""

from __future__ import annotations

import uuid
from typing import Any, Protocol

from litestar.connection import ASGIConnection
from litestar.handlers.base import BaseRouteHandler

from appliance.domain.auth.principal import Principal, Role
from appliance.lib.errors import ForbiddenError, UnauthorizedError

AUTHENTICATOR = "authenticator"
"""The dependency the guard resolves: ``Provide`` of a function of ``state`` alone."""


class Authenticator(Protocol):
    def verify(self, token: str) -> Principal:
        """The principal of a valid token; ``UnauthorizedError`` otherwise."""
        ...

    async def api_key_active(self, tenant_id: uuid.UUID, key_id: uuid.UUID) -> bool: ...

    async def user_current(self, principal: Principal) -> bool: ...


async def authenticator(
    connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler
) -> Authenticator:
    provider = handler.resolve_dependencies().get(AUTHENTICATOR)
    if provider is None:
        raise RuntimeError(f"the app provides no {AUTHENTICATOR!r} dependency: every route is closed")
    found: Authenticator = await provider(state=connection.app.state)
    return found


def bearer_token(connection: ASGIConnection[Any, Any, Any, Any]) -> str:
    header = connection.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    # Browsers' EventSource cannot send headers: the live stream accepts ?access_token=.
    query_token = connection.query_params.get("access_token")
    if query_token and connection.scope["route_handler"].opt.get("query_token"):
        return str(query_token)
    raise UnauthorizedError("missing bearer token")


async def authorize(connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler) -> None:
    # CORS preflights (OPTIONS) carry no credentials by design and return no data.
    if handler.opt.get("public") or connection.scope.get("method") == "OPTIONS":
        return
    auth = await authenticator(connection, handler)
    principal = auth.verify(bearer_token(connection))
    if principal.role is Role.WORKER:
        key_id = principal.api_key_id
        if key_id is None or principal.tenant_id is None:
            raise UnauthorizedError("worker token without an API key")
        if not await auth.api_key_active(principal.tenant_id, key_id):
            raise UnauthorizedError("the API key behind this token has been revoked")
    elif not await auth.user_current(principal):
        raise UnauthorizedError("this token was revoked: the user was disabled or changed; log in again")
    connection.state.principal = principal
    roles: frozenset[Role] = handler.opt.get("roles", frozenset())
    if principal.role not in roles:
        raise ForbiddenError(f"role {principal.role.value} may not call this endpoint")
