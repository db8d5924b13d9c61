from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

import msgspec

Name = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]


class ApiKey(msgspec.Struct):
    id: uuid.UUID
    tenant_id: uuid.UUID
    site_id: uuid.UUID
    camera_id: uuid.UUID | None
    name: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


class ApiKeyCreated(ApiKey):
    """Returned once, at creation: ``api_key`` is the only copy of the secret."""

    api_key: str


class ApiKeyCreate(msgspec.Struct, forbid_unknown_fields=True):
    site_id: uuid.UUID
    name: Name = "edge worker"
    camera_id: uuid.UUID | None = None


class ApiKeyUpdate(msgspec.Struct, forbid_unknown_fields=True):
    name: Name | msgspec.UnsetType = msgspec.UNSET
    revoked: bool | msgspec.UnsetType = msgspec.UNSET
