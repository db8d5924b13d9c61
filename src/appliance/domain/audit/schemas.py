from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import msgspec


class AuditEntry(msgspec.Struct):
    id: uuid.UUID
    tenant_id: uuid.UUID
    actor: str
    actor_role: str
    action: str
    target_type: str
    target_id: str | None
    details: dict[str, Any]
    request_id: str | None
    created_at: datetime
