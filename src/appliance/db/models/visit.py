from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import (
    Boolean,
    DateTime,
    Float,
    Index,
    Integer,
    String,
    UniqueConstraint,
    Uuid,
    func,
)
from sqlalchemy.orm import Mapped, mapped_column

from appliance.db.base import Base, IdMixin, time_in_range, utcnow
from appliance.db.models.refs import tenant_column, tenant_ref


class Visit(IdMixin, Base):
    __tablename__ = "visits"
    __table_args__ = (
        time_in_range("first_seen"),
        time_in_range("last_seen"),
        tenant_ref("site_id", "sites"),
        tenant_ref("customer_id", "customers"),
        UniqueConstraint("tenant_id", "id"),
        Index("ix_visits_tenant_site_first_seen", "tenant_id", "site_id", "first_seen"),
        # Every equality of ingest's visit read, RLS's tenant included: its path without statistics too.
        Index("ix_visits_customer_tenant_site_last_seen", "customer_id", "tenant_id", "site_id", "last_seen"),
    )

    # No index of its own: the composite indexes above lead with tenant_id.
    tenant_id: Mapped[uuid.UUID] = tenant_column()
    site_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    customer_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    first_seen: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    last_seen: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    sightings: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    is_new_customer: Mapped[bool] = mapped_column(Boolean, default=False, server_default="false")
    best_snapshot_key: Mapped[str | None] = mapped_column(String(512), nullable=True)
    best_quality: Mapped[float] = mapped_column(Float, default=0.0, server_default="0")
    gender: Mapped[str | None] = mapped_column(String(16), nullable=True)
    age: Mapped[float | None] = mapped_column(Float, nullable=True)
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, server_default=func.now()
    )
