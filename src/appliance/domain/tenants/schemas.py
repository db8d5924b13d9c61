from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

import msgspec

Name = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
GapMinutes = Annotated[
    int, msgspec.Meta(ge=1, le=24 * 60, description="sightings closer than this fold into one visit")
]


class Tenant(msgspec.Struct):
    id: uuid.UUID
    name: str
    visit_gap_minutes: int
    created_at: datetime
    updated_at: datetime


class TenantCreate(msgspec.Struct, forbid_unknown_fields=True):
    name: Name
    visit_gap_minutes: GapMinutes = 30


class TenantUpdate(msgspec.Struct, forbid_unknown_fields=True):
    name: Name | msgspec.UnsetType = msgspec.UNSET
    visit_gap_minutes: GapMinutes | msgspec.UnsetType = msgspec.UNSET
