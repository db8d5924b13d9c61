from __future__ import annotations

from sqlalchemy import Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from appliance.db.base import Base, IdMixin, TimestampMixin


class Tenant(IdMixin, TimestampMixin, Base):
    __tablename__ = "tenants"

    name: Mapped[str] = mapped_column(String(200), unique=True)
    visit_gap_minutes: Mapped[int] = mapped_column(Integer, default=30, server_default="30")
    embedder: Mapped[str | None] = mapped_column(String(200), nullable=True)
    """``name@version`` of the model whose vectors this tenant's index holds (set by its first face
    event); events of another model are refused."""
