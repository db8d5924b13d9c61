from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import numpy as np
from sqlalchemy import (
    Boolean,
    DateTime,
    Float,
    Index,
    String,
    Uuid,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from appliance.db.base import Base, time_in_range, utcnow
from appliance.db.models.refs import tenant_column, tenant_ref
from appliance.db.types import Embedding


class Sighting(Base):
    """One accepted face event. The primary key is the tenant and the edge's ``event_id`` (the
    idempotency key, per tenant: another tenant's event with the same id is another event);
    ``response`` is the first answer, returned again for any retry. The embedding is kept here
    as the source of truth for the vector index."""

    __tablename__ = "sightings"
    __table_args__ = (
        time_in_range("captured_at"),  # ingest bounds it closer; this binds every path
        tenant_ref("site_id", "sites"),
        tenant_ref("customer_id", "customers"),
        # A deleted camera, visit or staff member leaves its sightings in the history.
        tenant_ref("camera_id", "cameras", set_null=True),
        tenant_ref("visit_id", "visits", set_null=True),
        tenant_ref("staff_id", "staff", set_null=True),
        Index("ix_sightings_tenant_captured", "tenant_id", "captured_at"),
        Index("ix_sightings_customer", "customer_id", "captured_at"),
        Index("ix_sightings_visit", "visit_id"),
        # The purge scans only rows that still hold a raw image.
        Index(
            "ix_sightings_image_captured",
            "captured_at",
            postgresql_where=text("image_path IS NOT NULL"),
        ),
        # …by when the server stored the event, not by the edge-claimed capture time.
        Index(
            "ix_sightings_image_received",
            "tenant_id",
            "received_at",
            postgresql_where=text("image_path IS NOT NULL"),
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    # No index of its own: the primary key and the composite indexes above lead with tenant_id.
    tenant_id: Mapped[uuid.UUID] = tenant_column(primary_key=True)
    site_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    camera_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, nullable=True)
    """NULL once the camera is deleted: its sightings stay in the history."""
    customer_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, nullable=True)
    staff_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, nullable=True)
    visit_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, nullable=True)
    captured_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    embedding: Mapped[np.ndarray[Any, Any]] = mapped_column(Embedding)
    det_score: Mapped[float] = mapped_column(Float)
    quality: Mapped[float] = mapped_column(Float)
    similarity: Mapped[float | None] = mapped_column(Float, nullable=True)
    uncertain: Mapped[bool] = mapped_column(Boolean, default=False)
    is_staff: Mapped[bool] = mapped_column(Boolean, default=False)
    is_new_customer: Mapped[bool] = mapped_column(Boolean, default=False)
    gender: Mapped[str | None] = mapped_column(String(16), nullable=True)
    age: Mapped[float | None] = mapped_column(Float, nullable=True)
    image_path: Mapped[str | None] = mapped_column(String(512), nullable=True)
    """Object key of the raw snapshot in faces-raw; NULL once purged."""
    model: Mapped[str] = mapped_column(String(128))
    response: Mapped[dict[str, Any]] = mapped_column(JSONB)
