from __future__ import annotations

import uuid

from sqlalchemy import String, UniqueConstraint, Uuid
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Mapped, mapped_column

from appliance.db.base import Base, IdMixin, TimestampMixin
from appliance.db.models.refs import tenant_column


class Staff(IdMixin, TimestampMixin, Base):
    __tablename__ = "staff"
    __table_args__ = (UniqueConstraint("tenant_id", "id"),)

    tenant_id: Mapped[uuid.UUID] = tenant_column(index=True)
    name: Mapped[str] = mapped_column(String(200))
    site_ids: Mapped[list[uuid.UUID]] = mapped_column(ARRAY(Uuid), default=list, server_default="{}")
