from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

import msgspec

Name = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
TimeZone = Annotated[str, msgspec.Meta(min_length=1, max_length=64, examples=["Europe/Berlin"])]
Address = Annotated[str, msgspec.Meta(max_length=500)]


class Site(msgspec.Struct):
    id: uuid.UUID
    tenant_id: uuid.UUID
    name: str
    timezone: str
    address: str | None
    created_at: datetime
    updated_at: datetime


class SiteCreate(msgspec.Struct, forbid_unknown_fields=True):
    name: Name
    timezone: TimeZone = "UTC"
    address: Address | None = None


class SiteUpdate(msgspec.Struct, forbid_unknown_fields=True):
    name: Name | msgspec.UnsetType = msgspec.UNSET
    timezone: TimeZone | msgspec.UnsetType = msgspec.UNSET
    address: Address | msgspec.UnsetType | None = msgspec.UNSET
