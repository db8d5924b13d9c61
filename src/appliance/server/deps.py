"""Request dependencies: the caller, the tenant it acts in, and an RLS-scoped transaction."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

from litestar import Request
from litestar.di import Provide
from sqlalchemy.ext.asyncio import AsyncSession

from appliance.domain.auth.principal import Principal, Role
from appliance.lib.errors import DomainError, UnauthorizedError

TENANT_HEADER = "X-Tenant-ID"


def provide_principal(request: Request[Any, Any, Any]) -> Principal:
    principal = getattr(request.state, "principal", None)
    if not isinstance(principal, Principal):
        raise UnauthorizedError("not authenticated")
    return principal


def provide_tenant(request: Request[Any, Any, Any], principal: Principal) -> uuid.UUID:
    """Everyone but system_admin acts in the tenant of its token; system_admin names one."""
    if principal.role is not Role.SYSTEM_ADMIN:
        if principal.tenant_id is None:
            raise UnauthorizedError("token carries no tenant")
        return principal.tenant_id
    raw = request.headers.get(TENANT_HEADER)
    if not raw:
        raise DomainError(f"system_admin must name the tenant to act in with the {TENANT_HEADER} header")
    try:
        return uuid.UUID(raw)
    except ValueError as exc:
        raise DomainError(f"{TENANT_HEADER} is not a UUID") from exc


async def provide_session(request: Request[Any, Any, Any], tenant: uuid.UUID) -> AsyncIterator[AsyncSession]:
    async with request.app.state.services.db.transaction(tenant) as session:
        yield session


async def provide_platform_session(
    request: Request[Any, Any, Any], principal: Principal
) -> AsyncIterator[AsyncSession]:
    """For the tenant registry: system_admin sees every tenant, others only their own."""
    async with request.app.state.services.db.transaction(
        principal.tenant_id, platform_admin=principal.role is Role.SYSTEM_ADMIN
    ) as session:
        yield session


DEPENDENCIES = {
    "principal": Provide(provide_principal, sync_to_thread=False),
    "tenant": Provide(provide_tenant, sync_to_thread=False),
    "session": Provide(provide_session),
    "platform_session": Provide(provide_platform_session),
}
