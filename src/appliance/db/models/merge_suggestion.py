from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import DateTime, Float, Index, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from appliance.db.base import Base, IdMixin, utcnow
from appliance.db.models.refs import tenant_column, tenant_ref


class MergeSuggestion(IdMixin, Base):
    """An uncertain match: the sighting went to ``customer_id``; ``candidate_id`` might be the
    same person (or the reverse). A manager merges or dismisses it."""

    __tablename__ = "merge_suggestions"
    __table_args__ = (
        tenant_ref("customer_id", "customers"),
        tenant_ref("candidate_id", "customers"),
        Index("ix_merge_suggestions_tenant_status", "tenant_id", "status", "created_at"),
        Index("ix_merge_suggestions_pair", "tenant_id", "customer_id", "candidate_id"),
    )

    tenant_id: Mapped[uuid.UUID] = tenant_column(index=True)
    customer_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    candidate_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    sighting_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, nullable=True)
    similarity: Mapped[float] = mapped_column(Float)
    status: Mapped[str] = mapped_column(String(16), default="open")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    resolved_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
