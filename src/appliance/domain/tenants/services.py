from __future__ import annotations

import builtins
import uuid
from typing import Any

from sqlalchemy import func, select

from appliance.db.models import Tenant
from appliance.domain.audit.services import record_audit
from appliance.lib.crud import CrudService


class TenantService(CrudService[Tenant]):
    """The tenant registry (system_admin only). Audit rows are written inside the tenant
    they concern: the transaction names that tenant for RLS just for the audit insert."""

    model = Tenant
    target_type = "tenant"

    async def _audit(
        self, verb: str, obj: Tenant, fields: builtins.list[str] | None = None, force: bool = False
    ) -> None:
        await act_in_tenant(self.session, obj.id)
        details: dict[str, Any] = {"name": obj.name}
        if fields is not None:
            details["fields"] = fields
        await record_audit(
            self.session,
            self.principal,
            tenant_id=obj.id,
            action=f"tenant.{verb}",
            target_type="tenant",
            target_id=str(obj.id),
            details=details,
        )


async def act_in_tenant(session: Any, tenant_id: uuid.UUID) -> None:
    """Name the tenant this transaction acts in (transaction-local, like the per-request context)."""
    await session.execute(select(func.set_config("app.tenant_id", str(tenant_id), True)))
