from __future__ import annotations

from appliance.db.models import AuditLog
from appliance.lib.crud import CrudService


class AuditService(CrudService[AuditLog]):
    """Read side of the audit trail, newest first (rows are never updated or deleted here)."""

    model = AuditLog
    target_type = "audit"
    order_desc = True
