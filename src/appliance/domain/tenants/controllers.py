from __future__ import annotations

import uuid
from typing import Annotated

from litestar import delete
from litestar.params import Parameter

from appliance.db.models import Tenant as TenantRow
from appliance.domain.auth.principal import Principal, Role
from appliance.domain.tenants.deletion import DELETION_DESCRIPTION, DELETION_RESPONSES, TenantDeletion
from appliance.domain.tenants.schemas import Tenant, TenantCreate, TenantUpdate
from appliance.domain.tenants.services import TenantService
from appliance.lib.crud_routes import Crud, CrudController, Filters, Ops
from appliance.lib.di import Injected
from appliance.recognition.runtime import RecognitionRuntime


def tenant_filters(
    q: Annotated[str | None, Parameter(description="name contains", max_length=200)] = None,
) -> Filters:
    return [TenantRow.name.ilike(f"%{q}%")] if q else []


class TenantController(CrudController):
    path = "/v1/tenants"
    tags = ["tenants"]
    opt = {"roles": frozenset({Role.SYSTEM_ADMIN})}
    crud = Crud(TenantService, Tenant, TenantCreate, TenantUpdate, filters=tenant_filters, platform=True)
    ops = Ops(
        list="List every tenant on this installation.",
        create="Create a tenant (audited).",
        update="Rename a tenant or change its visit gap (audited).",
    )

    @delete(
        "/{tenant_id:uuid}",
        operation_id="deleteTenant",
        description=DELETION_DESCRIPTION,
        responses=DELETION_RESPONSES,
    )
    async def delete_tenant(
        self, recognition: Injected[RecognitionRuntime], principal: Principal, tenant_id: uuid.UUID
    ) -> None:
        """Delete a tenant: its objects, vectors and rows, verified and audited (audit rows remain)."""
        await TenantDeletion(recognition.db, recognition).request(principal, tenant_id)
