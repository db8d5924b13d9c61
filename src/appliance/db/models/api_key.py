from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import DateTime, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from appliance.db.base import Base, IdMixin, TimestampMixin
from appliance.db.models.refs import tenant_column, tenant_ref


class ApiKey(IdMixin, TimestampMixin, Base):
    """An edge worker's credential, scoped to one site (and optionally one camera).

    Only a SHA-256 of the random secret is kept: the secret has 256 bits of entropy,
    so a slow KDF buys nothing and would cap the token rate.
    """

    __tablename__ = "api_keys"
    __table_args__ = (
        tenant_ref("site_id", "sites"),
        tenant_ref("camera_id", "cameras"),
    )

    tenant_id: Mapped[uuid.UUID] = tenant_column(index=True)
    site_id: Mapped[uuid.UUID] = mapped_column(Uuid, index=True)
    camera_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, nullable=True)
    name: Mapped[str] = mapped_column(String(200))
    secret_hash: Mapped[str] = mapped_column(String(64))
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
