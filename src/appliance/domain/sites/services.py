from __future__ import annotations

from functools import cache
from typing import Any
from zoneinfo import available_timezones

from sqlalchemy import Select

from appliance.db.models import Site
from appliance.domain.auth.principal import Role
from appliance.lib.crud import CrudService
from appliance.lib.errors import InvalidError


@cache
def _zones() -> frozenset[str]:
    return frozenset(available_timezones())


def check_timezone(name: str) -> None:
    if name not in _zones():
        raise InvalidError.field("timezone", f"unknown IANA time zone {name!r} (e.g. 'Europe/Berlin')")


class SiteService(CrudService[Site]):
    model = Site
    target_type = "site"
    audit_writes = True

    def audit_details(self, obj: Site) -> dict[str, Any]:
        return {"name": obj.name, "timezone": obj.timezone}

    def scope(self, stmt: Select[Any]) -> Select[Any]:
        if self.principal.role is Role.SITE_MANAGER:
            return stmt.where(Site.id.in_(self.principal.site_ids))
        return stmt

    def visible(self, obj: Site) -> bool:
        return self.principal.can_see_site(obj.id)

    async def validate(self, values: dict[str, Any], existing: Site | None) -> None:
        if "timezone" in values:
            check_timezone(values["timezone"])
