from __future__ import annotations

import uuid
from datetime import date, datetime

from sqlalchemy import (
    Date,
    DateTime,
    Integer,
    String,
    UniqueConstraint,
    Uuid,
)
from sqlalchemy.orm import Mapped, mapped_column

from appliance.db.base import Base, IdMixin, utcnow
from appliance.db.models.refs import tenant_column, tenant_ref


class VisitRollup(IdMixin, Base):
    """Exact per-site counts for one local-time bucket (hour, day, week or month).

    Distinct counts do not add up across buckets, so each granularity keeps its own rows."""

    __tablename__ = "visit_rollups"
    __table_args__ = (
        UniqueConstraint("tenant_id", "site_id", "granularity", "bucket"),
        tenant_ref("site_id", "sites"),
    )

    tenant_id: Mapped[uuid.UUID] = tenant_column(index=True)
    site_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    granularity: Mapped[str] = mapped_column(String(8))
    bucket: Mapped[datetime] = mapped_column(DateTime(timezone=False))
    """Bucket start in the site's local wall-clock time."""
    visits: Mapped[int] = mapped_column(Integer)
    unique_visitors: Mapped[int] = mapped_column(Integer)
    new_visitors: Mapped[int] = mapped_column(Integer)
    refreshed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class RollupDirty(IdMixin, Base):
    """Local days whose visits changed since their rollups were computed (filled by a trigger)."""

    __tablename__ = "rollup_dirty"
    __table_args__ = (
        UniqueConstraint("tenant_id", "site_id", "day"),
        tenant_ref("site_id", "sites"),
    )

    tenant_id: Mapped[uuid.UUID] = tenant_column(index=True)
    site_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    day: Mapped[date] = mapped_column(Date)
