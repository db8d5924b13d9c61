"""Deny by default: a route is reachable only if it says who may call it.

Each handler carries ``opt={"roles": {...}}`` or ``opt={"public": True}``; anything else is 403.
"""

from __future__ import annotations

from typing import Any

from litestar.connection import ASGIConnection
from litestar.handlers.base import BaseRouteHandler

from appliance.domain.auth.principal import Principal, Role
from appliance.lib.errors import ForbiddenError, UnauthorizedError


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
    services = connection.app.state.services
    principal: Principal = services.issuer.verify(bearer_token(connection))
    if principal.role is Role.WORKER:
        key_id = principal.api_key_id
        if key_id is None or principal.tenant_id is None:
            raise UnauthorizedError("worker token without an API key")
        if not await services.auth.api_key_active(principal.tenant_id, key_id):
            raise UnauthorizedError("the API key behind this token has been revoked")
    elif not await services.auth.user_current(principal):
        raise UnauthorizedError("this token was revoked: the user was disabled or changed; log in again")
    connection.state.principal = principal
    roles: frozenset[Role] = handler.opt.get("roles", frozenset())
    if principal.role not in roles:
        raise ForbiddenError(f"role {principal.role.value} may not call this endpoint")
