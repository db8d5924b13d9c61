from __future__ import annotations

import uuid
from datetime import datetime

import msgspec


class VisitView(msgspec.Struct):
    """The API shape of ``VisitRecord.v1``."""

    visit_id: uuid.UUID
    tenant_id: uuid.UUID
    site_id: uuid.UUID
    customer_id: uuid.UUID
    first_seen: datetime
    last_seen: datetime
    sightings: int
    is_new_customer: bool
    best_snapshot_key: str | None
    gender: str | None
    age: float | None


class VisitPage(msgspec.Struct):
    items: list[VisitView]
    next_cursor: str | None
    """Pass as ``cursor`` to get the next (older) page; null on the last page."""


class SnapshotLink(msgspec.Struct):
    url: str
    """Presigned GET URL of the visit's best raw snapshot."""
    expires_in: int
