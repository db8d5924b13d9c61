from __future__ import annotations

from typing import Any

from sqlalchemy import Select

from appliance.db.models import Staff
from appliance.domain.sites.scope import SiteScopedService, sites_overlap
from appliance.lib.errors import InvalidError


class StaffService(SiteScopedService[Staff]):
    """Staff are kept out of the customer numbers; a site manager manages its own sites' staff."""

    model = Staff
    target_type = "staff"
    audit_writes = True

    def scope(self, stmt: Select[Any]) -> Select[Any]:
        if self.principal.site_scoped:
            return stmt.where(sites_overlap(Staff.site_ids, self.principal.site_ids))
        return stmt

    def visible(self, obj: Staff) -> bool:
        return not self.principal.site_scoped or bool(set(obj.site_ids) & set(self.principal.site_ids))

    async def validate(self, values: dict[str, Any], existing: Staff | None) -> None:
        site_ids = values.get("site_ids")
        if site_ids is not None:
            if len(set(site_ids)) != len(site_ids):
                raise InvalidError.field("site_ids", "lists a site twice")
            await self.require_sites(site_ids)
        elif existing is None and self.principal.site_scoped:
            raise InvalidError.field(
                "site_ids", "a site manager must assign staff to at least one of its sites"
            )
