"""The audit trail: one row per admin action, written in the action's own transaction."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from appliance.db.models import AuditLog
from appliance.domain.auth.principal import Principal
from appliance.lib.context import request_id_var


async def record_audit(
    session: AsyncSession,
    principal: Principal,
    *,
    tenant_id: uuid.UUID | None,
    action: str,
    target_type: str,
    target_id: str | None,
    details: dict[str, Any] | None = None,
) -> None:
    if tenant_id is None:
        return  # platform-level actions without a tenant go to the structured log only
    session.add(
        AuditLog(
            tenant_id=tenant_id,
            actor=principal.sub,
            actor_role=principal.role.value,
            action=action,
            target_type=target_type,
            target_id=target_id,
            details=details or {},
            request_id=request_id_var.get(),
        )
    )
    await session.flush()
