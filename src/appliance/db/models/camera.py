from __future__ import annotations

import uuid

from sqlalchemy import Boolean, String, UniqueConstraint, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from appliance.db.base import Base, IdMixin, TimestampMixin
from appliance.db.models.refs import tenant_column, tenant_ref


class Camera(IdMixin, TimestampMixin, Base):
    __tablename__ = "cameras"
    __table_args__ = (
        tenant_ref("site_id", "sites"),
        UniqueConstraint("tenant_id", "id"),
        UniqueConstraint("site_id", "name"),
    )

    tenant_id: Mapped[uuid.UUID] = tenant_column(index=True)
    site_id: Mapped[uuid.UUID] = mapped_column(Uuid, index=True)
    name: Mapped[str] = mapped_column(String(200))
    source: Mapped[str] = mapped_column(String(1024))
    enabled: Mapped[bool] = mapped_column(Boolean, default=True, server_default="true")
