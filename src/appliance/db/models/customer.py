from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import DateTime, Float, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Mapped, mapped_column

from appliance.db.base import Base, IdMixin, TimestampMixin, time_in_range
from appliance.db.models.refs import tenant_column


class Customer(IdMixin, TimestampMixin, Base):
    __tablename__ = "customers"
    __table_args__ = (
        time_in_range("first_seen"),
        time_in_range("last_seen"),
        UniqueConstraint("tenant_id", "id"),
        # The list endpoint pages by (created_at, id) inside one tenant.
        Index("ix_customers_tenant_created", "tenant_id", "created_at", "id"),
    )

    # No index of its own: the composite indexes above lead with tenant_id.
    tenant_id: Mapped[uuid.UUID] = tenant_column()
    display_name: Mapped[str | None] = mapped_column(String(200), nullable=True)
    gender: Mapped[str | None] = mapped_column(String(16), nullable=True)
    age: Mapped[float | None] = mapped_column(Float, nullable=True)
    notes: Mapped[str | None] = mapped_column(Text, nullable=True)
    tags: Mapped[list[str]] = mapped_column(ARRAY(String(64)), default=list, server_default="{}")
    first_seen: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    last_seen: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    visit_count: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    exemplar_count: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
