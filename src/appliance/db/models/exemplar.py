from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import numpy as np
from sqlalchemy import DateTime, Float, Index, String, Uuid, text
from sqlalchemy.orm import Mapped, mapped_column

from appliance.db.base import Base, IdMixin, utcnow
from appliance.db.models.refs import tenant_column, tenant_ref
from appliance.db.types import Embedding, TransactionId


class CustomerExemplar(IdMixin, Base):
    """A few diverse embeddings per customer; each is one vector in the index (same id)."""

    __tablename__ = "customer_exemplars"
    __table_args__ = (
        tenant_ref("customer_id", "customers"),
        # A customer's exemplars in age order, RLS's tenant included (migration 0014).
        Index("ix_customer_exemplars_customer_tenant", "customer_id", "tenant_id", "created_at", "id"),
        # The change cursor (vectors/changes.py): what changed in a tenant since a snapshot.
        Index("ix_customer_exemplars_tenant_change", "tenant_id", "change_xid"),
    )

    # No index of its own: the composite indexes above lead with tenant_id.
    tenant_id: Mapped[uuid.UUID] = tenant_column()
    customer_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    sighting_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, nullable=True)
    embedding: Mapped[np.ndarray[Any, Any]] = mapped_column(Embedding)
    quality: Mapped[float] = mapped_column(Float)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    change_xid: Mapped[int] = mapped_column(TransactionId, server_default=text("pg_current_xact_id()"))
    """The transaction that inserted or last updated the row (a trigger stamps updates)."""


class ExemplarTombstone(Base):
    """A deleted exemplar, so that vector indexes reading changes see the delete (migration 0007).

    Written by a trigger on ``customer_exemplars``; rows older than a day are pruned."""

    __tablename__ = "exemplar_tombstones"
    __table_args__ = (
        Index("ix_exemplar_tombstones_tenant_change", "tenant_id", "change_xid"),
        Index("ix_exemplar_tombstones_deleted_at", "deleted_at"),
    )
    __mapper_args__ = {"primary_key": ["tenant_id", "exemplar_id", "change_xid"]}

    tenant_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    exemplar_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    customer_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    change_xid: Mapped[int] = mapped_column(TransactionId, server_default=text("pg_current_xact_id()"))
    deleted_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=text("now()"))


class VectorWatermark(Base):
    """Up to which snapshot a Milvus collection holds every exemplar change of a tenant."""

    __tablename__ = "vector_watermarks"

    tenant_id: Mapped[uuid.UUID] = tenant_column(primary_key=True)
    collection: Mapped[str] = mapped_column(String(255), primary_key=True)
    snapshot: Mapped[str] = mapped_column(String)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=text("now()"))


class StaffEmbedding(IdMixin, Base):
    __tablename__ = "staff_embeddings"
    __table_args__ = (tenant_ref("staff_id", "staff"),)

    tenant_id: Mapped[uuid.UUID] = tenant_column(index=True)
    staff_id: Mapped[uuid.UUID] = mapped_column(Uuid, index=True)
    embedding: Mapped[np.ndarray[Any, Any]] = mapped_column(Embedding)
    photo_key: Mapped[str | None] = mapped_column(nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
