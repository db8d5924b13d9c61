from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

import msgspec

Name = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
SiteIds = Annotated[list[uuid.UUID], msgspec.Meta(max_length=1000)]


class StaffMember(msgspec.Struct):
    id: uuid.UUID
    tenant_id: uuid.UUID
    name: str
    site_ids: list[uuid.UUID]
    created_at: datetime
    updated_at: datetime
    photo_count: int = 0
    """Enrolled photos (face embeddings): 0 means this person is still counted as a visitor."""
    latest_photo_id: uuid.UUID | None = None
    """The newest enrolled photo whose image is stored: its link is
    ``GET /v1/staff/{staff_id}/photos/{photo_id}/snapshot``."""


class StaffCreate(msgspec.Struct, forbid_unknown_fields=True):
    name: Name
    site_ids: SiteIds = msgspec.field(default_factory=list)


class StaffUpdate(msgspec.Struct, forbid_unknown_fields=True):
    name: Name | msgspec.UnsetType = msgspec.UNSET
    site_ids: SiteIds | msgspec.UnsetType = msgspec.UNSET


class StaffPhoto(msgspec.Struct):
    id: uuid.UUID
    staff_id: uuid.UUID
    photo_key: str | None
    det_score: float
    created_at: datetime


class StaffPhotoLink(msgspec.Struct):
    url: str
    """Presigned GET URL of the enrolled photo."""
    expires_in: int
