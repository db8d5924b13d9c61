"""The audit row itself: one per admin action, written in the action's own transaction.

Here rather than in ``domain/audit`` so that the generic CRUD service (``lib/crud.py``) can
write it without importing an area."""

from __future__ import annotations

import uuid
from typing import Any, Protocol

from sqlalchemy.ext.asyncio import AsyncSession

from appliance.db.models import AuditLog
from appliance.lib.context import request_id_var


class Actor(Protocol):
    """Who acted: what an audit row names of the caller (a ``Principal`` is one)."""

    @property
    def sub(self) -> str: ...

    @property
    def role(self) -> str: ...


async def write_audit(
    session: AsyncSession,
    actor: Actor,
    *,
    tenant_id: uuid.UUID | None,
    action: str,
    target_type: str,
    target_id: str | None,
    details: dict[str, Any] | None = None,
) -> None:
    if tenant_id is None:
        return  # platform-level actions without a tenant go to the structured log only
    row = {"tenant_id": tenant_id, "actor": actor.sub, "actor_role": str(actor.role)}
    row |= {"action": action, "target_type": target_type, "target_id": target_id}
    session.add(AuditLog(**row, details=details or {}, request_id=request_id_var.get()))
    await session.flush()
