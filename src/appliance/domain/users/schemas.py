from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

import msgspec

Username = Annotated[str, msgspec.Meta(min_length=3, max_length=150, pattern=r"^[A-Za-z0-9_.@+-]+$")]
Password = Annotated[str, msgspec.Meta(min_length=8, max_length=1024)]
TenantRole = Literal["tenant_admin", "site_manager"]


class User(msgspec.Struct):
    id: uuid.UUID
    tenant_id: uuid.UUID | None
    username: str
    role: str
    site_ids: list[uuid.UUID]
    disabled: bool
    created_at: datetime
    updated_at: datetime


class UserCreate(msgspec.Struct, forbid_unknown_fields=True):
    username: Username
    password: Password
    role: TenantRole
    site_ids: list[uuid.UUID] = msgspec.field(default_factory=list)


class UserUpdate(msgspec.Struct, forbid_unknown_fields=True):
    password: Password | msgspec.UnsetType = msgspec.UNSET
    role: TenantRole | msgspec.UnsetType = msgspec.UNSET
    site_ids: list[uuid.UUID] | msgspec.UnsetType = msgspec.UNSET
    disabled: bool | msgspec.UnsetType = msgspec.UNSET
