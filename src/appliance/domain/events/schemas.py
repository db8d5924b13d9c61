from __future__ import annotations

import uuid

import msgspec


class FaceMatch(msgspec.Struct, kw_only=True):
    """The answer to one face event (returned again, unchanged, for a retried event_id)."""

    event_id: uuid.UUID
    customer_id: uuid.UUID | None
    visit_id: uuid.UUID | None
    is_new_customer: bool
    is_staff: bool
    staff_id: uuid.UUID | None = None
    similarity: float | None
    uncertain: bool


class SnapshotUploadRequest(msgspec.Struct, forbid_unknown_fields=True):
    event_id: uuid.UUID
    camera_id: uuid.UUID
    content_type: str = "image/jpeg"


class SnapshotUpload(msgspec.Struct):
    snapshot_key: str
    upload_url: str
    method: str
    expires_in: int
    headers: dict[str, str]
