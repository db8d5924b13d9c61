"""Who is calling: the verified claims of a JWT."""

from __future__ import annotations

import enum
import uuid

import msgspec


class Role(enum.StrEnum):
    SYSTEM_ADMIN = "system_admin"
    TENANT_ADMIN = "tenant_admin"
    SITE_MANAGER = "site_manager"
    WORKER = "worker"


ADMINS = frozenset({Role.SYSTEM_ADMIN, Role.TENANT_ADMIN})
MANAGERS = frozenset({Role.SYSTEM_ADMIN, Role.TENANT_ADMIN, Role.SITE_MANAGER})


class Principal(msgspec.Struct, frozen=True, kw_only=True):
    sub: str
    role: Role
    tenant_id: uuid.UUID | None
    site_ids: tuple[uuid.UUID, ...] = ()
    camera_id: uuid.UUID | None = None
    jti: str = ""
    name: str = ""
    """A user's username (its row is looked up by it, system_admin's included, see ADR 0002)."""
    version: int = 0
    """The user's ``token_version`` when the token was issued: a later change ends the token."""
    expires_at: float = 0.0
    """When the token expires (epoch seconds); a live stream ends then."""
    session_id: uuid.UUID | None = None
    """The browser session the token was issued for (``sid``): signing out ends the token too."""

    @property
    def user_id(self) -> uuid.UUID | None:
        if self.sub.startswith("user:"):
            return uuid.UUID(self.sub.removeprefix("user:"))
        return None

    @property
    def api_key_id(self) -> uuid.UUID | None:
        if self.sub.startswith("apikey:"):
            return uuid.UUID(self.sub.removeprefix("apikey:"))
        return None

    @property
    def site_scoped(self) -> bool:
        """site_manager and worker see only their sites; admins see the whole tenant."""
        return self.role in (Role.SITE_MANAGER, Role.WORKER)

    def can_see_site(self, site_id: uuid.UUID) -> bool:
        return not self.site_scoped or site_id in self.site_ids
