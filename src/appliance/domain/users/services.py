from __future__ import annotations

from typing import Any

from appliance.db.models import User
from appliance.domain.auth.passwords import hash_password
from appliance.domain.sites.scope import SiteScopedService
from appliance.lib.errors import InvalidError

REVOKING = frozenset({"password", "role", "site_ids", "disabled"})
"""Changes that end a user's existing tokens."""


class UserService(SiteScopedService[User]):
    model = User
    target_type = "user"
    audit_writes = True

    def visible(self, obj: User) -> bool:
        return True

    async def validate(self, values: dict[str, Any], existing: User | None) -> None:
        if existing is not None and REVOKING.intersection(values):
            # The user's existing tokens carry the old version: they stop working at once.
            values["token_version"] = existing.token_version + 1
        if "password" in values:
            values["password_hash"] = hash_password(values.pop("password"))
        role = values.get("role", existing.role if existing else None)
        site_ids = values.get("site_ids", existing.site_ids if existing else [])
        if role == "site_manager" and not site_ids:
            raise InvalidError.field("site_ids", "a site_manager needs at least one site")
        if "site_ids" in values:
            await self.require_sites(values["site_ids"])

    def audit_details(self, obj: User) -> dict[str, Any]:
        return {"username": obj.username, "role": obj.role}
