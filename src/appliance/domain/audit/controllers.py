from __future__ import annotations

from datetime import datetime
from typing import Annotated

from litestar.params import Parameter

from appliance.db.models import AuditLog
from appliance.domain.audit.reads import AuditService
from appliance.domain.audit.schemas import AuditEntry
from appliance.domain.auth.principal import ADMINS
from appliance.lib.crud_routes import Crud, CrudController, Filters, Ops


def audit_filters(
    action: Annotated[str | None, Parameter(max_length=64, description="e.g. user.create")] = None,
    target_type: Annotated[str | None, Parameter(max_length=64)] = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> Filters:
    filters: Filters = []
    if action:
        filters.append(AuditLog.action == action)
    if target_type:
        filters.append(AuditLog.target_type == target_type)
    if since:
        filters.append(AuditLog.created_at >= since)
    if until:
        filters.append(AuditLog.created_at < until)
    return filters


class AuditController(CrudController):
    path = "/v1/audit"
    tags = ["audit"]
    opt = {"roles": ADMINS}
    crud = Crud(AuditService, AuditEntry, filters=audit_filters)
    ops = Ops(list="The tenant's audit trail, newest first.", get=None)
