from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import CheckConstraint, DateTime, Index, Integer, String, Text, Uuid, func, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from appliance.db.base import Base, IdMixin, utcnow


class ErasureJob(IdMixin, Base):
    """A customer erasure or a tenant deletion, recorded before anything is deleted (ADR 0012).

    ``step`` is how far it got: ``objects`` (snapshots to delete from the object store),
    ``vectors`` (exemplars to delete and the index to verify), ``rows`` (the database rows and the
    audit row, in one transaction), ``done``. No foreign key to ``tenants``: the record of a
    tenant's deletion outlives the tenant."""

    __tablename__ = "erasure_jobs"
    __table_args__ = (
        CheckConstraint("kind IN ('customer', 'tenant')", name="kind"),
        CheckConstraint("status IN ('pending', 'done')", name="status"),
        CheckConstraint("step IN ('objects', 'vectors', 'rows', 'done')", name="step"),
        Index("ix_erasure_jobs_tenant_subject", "tenant_id", "kind", "subject_id", "created_at"),
        Index(
            "uq_erasure_jobs_pending",
            "tenant_id",
            "kind",
            "subject_id",
            unique=True,
            postgresql_where=text("status = 'pending'"),
        ),
    )

    tenant_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    kind: Mapped[str] = mapped_column(String(16))
    subject_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    """The customer erased, or the tenant deleted (then equal to ``tenant_id``)."""
    status: Mapped[str] = mapped_column(String(16), default="pending", server_default="pending")
    step: Mapped[str] = mapped_column(String(16), default="objects", server_default="objects")
    requested_by: Mapped[str] = mapped_column(String(200))
    requested_role: Mapped[str] = mapped_column(String(32))
    request_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    report: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict, server_default=text("'{}'::jsonb"))
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, server_default=func.now()
    )
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, server_default=func.now(), onupdate=utcnow
    )
    completed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
