from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from litestar import Controller, get
from litestar.params import Parameter
from sqlalchemy import ColumnElement
from sqlalchemy.ext.asyncio import AsyncSession

from appliance.db.models import AuditLog
from appliance.domain.audit.reads import AuditService
from appliance.domain.audit.schemas import AuditEntry
from appliance.domain.auth.principal import ADMINS, Principal
from appliance.lib.crud import Page, to_schema
from appliance.lib.http import Limit, Offset


class AuditController(Controller):
    path = "/v1/audit"
    tags = ["audit"]
    opt = {"roles": ADMINS}

    @get(operation_id="listAudit")
    async def list_audit(
        self,
        session: AsyncSession,
        principal: Principal,
        tenant: uuid.UUID,
        limit: Limit = 50,
        offset: Offset = 0,
        action: Annotated[str | None, Parameter(max_length=64, description="e.g. user.create")] = None,
        target_type: Annotated[str | None, Parameter(max_length=64)] = None,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> Page[AuditEntry]:
        """The tenant's audit trail, newest first."""
        filters: list[ColumnElement[bool]] = []
        if action:
            filters.append(AuditLog.action == action)
        if target_type:
            filters.append(AuditLog.target_type == target_type)
        if since:
            filters.append(AuditLog.created_at >= since)
        if until:
            filters.append(AuditLog.created_at < until)
        rows, total = await AuditService(session, principal, tenant).list(filters, limit, offset)
        return Page([to_schema(r, AuditEntry) for r in rows], total, limit, offset)
