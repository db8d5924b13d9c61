"""Declarative base and column helpers shared by every table."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from sqlalchemy import CheckConstraint, DateTime, MetaData, Uuid, func
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_N_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def time_in_range(column: str) -> CheckConstraint:
    """``column`` in [2000, 2200): an instant every reader can load (a year-1 time with a +14:00
    offset is BC in UTC, which the driver refuses, and broke every read of its tenant)."""
    sql = f"{column} >= '2000-01-01 00:00:00+00' AND {column} < '2200-01-01 00:00:00+00'"
    return CheckConstraint(sql, name=f"{column}_in_range")


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class IdMixin:
    id: Mapped[uuid.UUID] = mapped_column(
        Uuid, primary_key=True, default=uuid.uuid4, server_default=func.gen_random_uuid()
    )


class TimestampMixin:
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, server_default=func.now()
    )
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, server_default=func.now(), onupdate=utcnow
    )


# Tables whose rows belong to one tenant: each gets tenant_id NOT NULL + index,
# ENABLE + FORCE row level security and a USING / WITH CHECK policy (see the migrations).
TENANT_SCOPED_TABLES: tuple[str, ...] = (
    "sites",
    "cameras",
    "staff",
    "customers",
    "visits",
    "api_keys",
    "users",
    "audit_log",
    "sightings",
    "customer_exemplars",
    "staff_embeddings",
    "merge_suggestions",
    "visit_rollups",
    "rollup_dirty",
    "erasure_jobs",
)
