from __future__ import annotations

import uuid

from sqlalchemy import String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from appliance.db.base import Base, IdMixin, TimestampMixin
from appliance.db.models.refs import tenant_column


class Site(IdMixin, TimestampMixin, Base):
    __tablename__ = "sites"
    # (tenant_id, id) is the target of composite foreign keys, so a row can never
    # point at another tenant's site even though FK checks bypass RLS.
    __table_args__ = (
        UniqueConstraint("tenant_id", "id"),
        UniqueConstraint("tenant_id", "name"),
    )

    tenant_id: Mapped[uuid.UUID] = tenant_column(index=True)
    name: Mapped[str] = mapped_column(String(200))
    timezone: Mapped[str] = mapped_column(String(64))
    address: Mapped[str | None] = mapped_column(String(500), nullable=True)
