from __future__ import annotations

import uuid
from typing import Annotated, Any

from litestar import Controller, Request, delete, get, patch, post
from litestar.params import Parameter
from sqlalchemy.ext.asyncio import AsyncSession

from appliance.db.models import Tenant as TenantRow
from appliance.domain.auth.principal import Principal, Role
from appliance.domain.tenants.deletion import DELETION_DESCRIPTION, DELETION_RESPONSES, TenantDeletion
from appliance.domain.tenants.schemas import Tenant, TenantCreate, TenantUpdate
from appliance.domain.tenants.services import TenantService
from appliance.lib.crud import Page, changes_of, to_schema
from appliance.lib.http import Limit, Offset


class TenantController(Controller):
    path = "/v1/tenants"
    tags = ["tenants"]
    opt = {"roles": frozenset({Role.SYSTEM_ADMIN})}

    @get(operation_id="listTenants")
    async def list_tenants(
        self,
        platform_session: AsyncSession,
        principal: Principal,
        limit: Limit = 50,
        offset: Offset = 0,
        q: Annotated[str | None, Parameter(description="name contains", max_length=200)] = None,
    ) -> Page[Tenant]:
        """List every tenant on this installation."""
        filters = [TenantRow.name.ilike(f"%{q}%")] if q else []
        rows, total = await TenantService(platform_session, principal, None).list(filters, limit, offset)
        return Page([to_schema(r, Tenant) for r in rows], total, limit, offset)

    @get("/{tenant_id:uuid}", operation_id="getTenant")
    async def get_tenant(
        self, platform_session: AsyncSession, principal: Principal, tenant_id: uuid.UUID
    ) -> Tenant:
        """One tenant."""
        return to_schema(await TenantService(platform_session, principal, None).get(tenant_id), Tenant)

    @post(operation_id="createTenant")
    async def create_tenant(
        self, platform_session: AsyncSession, principal: Principal, data: TenantCreate
    ) -> Tenant:
        """Create a tenant (audited)."""
        service = TenantService(platform_session, principal, None)
        return to_schema(await service.create(changes_of(data)), Tenant)

    @patch("/{tenant_id:uuid}", operation_id="updateTenant")
    async def update_tenant(
        self, platform_session: AsyncSession, principal: Principal, tenant_id: uuid.UUID, data: TenantUpdate
    ) -> Tenant:
        """Rename a tenant or change its visit gap (audited)."""
        row = await TenantService(platform_session, principal, None).update(tenant_id, changes_of(data))
        return to_schema(row, Tenant)

    @delete(
        "/{tenant_id:uuid}",
        operation_id="deleteTenant",
        description=DELETION_DESCRIPTION,
        responses=DELETION_RESPONSES,
    )
    async def delete_tenant(
        self, request: Request[Any, Any, Any], principal: Principal, tenant_id: uuid.UUID
    ) -> None:
        """Delete a tenant: its objects, vectors and rows, verified and audited (audit rows remain)."""
        services = request.app.state.services
        await TenantDeletion(services.db, services.recognition).request(principal, tenant_id)
