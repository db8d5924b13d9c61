from __future__ import annotations

import uuid

import msgspec


class EdgeCamera(msgspec.Struct):
    id: uuid.UUID
    name: str
    source: str
    enabled: bool


class EdgeConfig(msgspec.Struct):
    """What an edge worker needs to start: its site, its cameras, the embedder to use."""

    tenant_id: uuid.UUID
    site_id: uuid.UUID
    camera_id: uuid.UUID | None
    """Set when the API key is bound to one camera."""
    cameras: list[EdgeCamera]
    embedding_dim: int | None
    embedder: str
    match_threshold: float
    staff_threshold: float


class StaffVector(msgspec.Struct):
    staff_id: uuid.UUID
    embedding: list[float]


class StaffGalleryView(msgspec.Struct):
    site_id: uuid.UUID
    version: str
    """Changes whenever the gallery changes: the edge reloads only then."""
    items: list[StaffVector]
