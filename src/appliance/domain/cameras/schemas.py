from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

import msgspec

Name = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
Source = Annotated[
    str,
    msgspec.Meta(
        min_length=1,
        max_length=1024,
        description="RTSP/HTTP URL, USB device index (e.g. '0') or a video file path",
        examples=["rtsp://10.0.0.20:554/stream1", "0", "/var/lib/appliance/entrance.mp4"],
    ),
]


class Camera(msgspec.Struct):
    id: uuid.UUID
    tenant_id: uuid.UUID
    site_id: uuid.UUID
    name: str
    source: str
    enabled: bool
    created_at: datetime
    updated_at: datetime


class CameraCreate(msgspec.Struct, forbid_unknown_fields=True):
    site_id: uuid.UUID
    name: Name
    source: Source
    enabled: bool = True


class CameraUpdate(msgspec.Struct, forbid_unknown_fields=True):
    name: Name | msgspec.UnsetType = msgspec.UNSET
    source: Source | msgspec.UnsetType = msgspec.UNSET
    enabled: bool | msgspec.UnsetType = msgspec.UNSET
