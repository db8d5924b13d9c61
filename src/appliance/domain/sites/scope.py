"""Site scope shared by the areas whose rows hang off a site (cameras, keys …)."""

from __future__ import annotations

import uuid
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, Select, select

from appliance.db.base import Base
from appliance.db.models import Site
from appliance.lib.crud import CrudService
from appliance.lib.errors import InvalidError

M = TypeVar("M", bound=Base)


class SiteScopedService(CrudService[M]):
    def scope_by_site(self, stmt: Select[Any], column: Any) -> Select[Any]:
        if self.principal.site_scoped:
            return stmt.where(column.in_(self.principal.site_ids))
        return stmt

    def visible(self, obj: M) -> bool:
        return self.principal.can_see_site(obj.site_id)  # type: ignore[attr-defined]

    async def require_site(self, site_id: uuid.UUID, field: str = "site_id") -> None:
        """The site exists in this tenant (RLS) and the caller may act on it."""
        await self.require_sites([site_id], field)

    async def require_sites(self, site_ids: list[uuid.UUID], field: str = "site_ids") -> None:
        wanted = set(site_ids)
        if not self.principal.site_scoped:
            found = set((await self.session.execute(select(Site.id).where(Site.id.in_(wanted)))).scalars())
        else:
            found = wanted & set(self.principal.site_ids)
            found &= set((await self.session.execute(select(Site.id).where(Site.id.in_(found)))).scalars())
        missing = wanted - found
        if missing:
            raise InvalidError.field(field, f"unknown site(s): {', '.join(sorted(map(str, missing)))}")


def sites_overlap(column: Any, site_ids: tuple[uuid.UUID, ...]) -> ColumnElement[bool]:
    overlap: ColumnElement[bool] = column.overlap(list(site_ids))
    return overlap
