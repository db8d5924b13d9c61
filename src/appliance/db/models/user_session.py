from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import DateTime, ForeignKey, Integer, String, Uuid, func
from sqlalchemy.orm import Mapped, mapped_column

from appliance.db.base import Base, IdMixin, TimestampMixin


class UserSession(IdMixin, TimestampMixin, Base):
    """A browser's sign-in, renewed through a refresh cookie (ADR 0003).

    Only SHA-256 hashes of the cookie's random secret are kept: the current one and the one it
    replaced (a concurrent refresh from a second tab presents it within a short grace). Under RLS
    a transaction sees exactly the row named by ``app.session_id`` (set from the cookie, the way
    the login lookup names one user), so no path reads other sessions."""

    __tablename__ = "user_sessions"

    user_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("users.id", ondelete="CASCADE"), index=True)
    tenant_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, nullable=True)
    """The user's tenant when signed in (NULL: system_admin); sets the RLS context to read the user."""
    username: Mapped[str] = mapped_column(String(150))
    token_version: Mapped[int] = mapped_column(Integer)
    """The user's ``token_version`` at sign-in: a later change (disabled, password, role, sites)
    ends the session."""
    secret_hash: Mapped[str] = mapped_column(String(64))
    previous_hash: Mapped[str | None] = mapped_column(String(64), nullable=True)
    rotated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    """Absolute end of the session, however often it is refreshed."""
