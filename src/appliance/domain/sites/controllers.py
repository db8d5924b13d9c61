from __future__ import annotations

import uuid
from typing import Annotated

from litestar import Controller, delete, get, patch, post
from litestar.params import Parameter
from sqlalchemy.ext.asyncio import AsyncSession

from appliance.db.models import Site as SiteRow
from appliance.domain.auth.principal import ADMINS, MANAGERS, Principal
from appliance.domain.sites.schemas import Site, SiteCreate, SiteUpdate
from appliance.domain.sites.services import SiteService
from appliance.lib.crud import Page, changes_of, to_schema
from appliance.lib.http import Limit, Offset


class SiteController(Controller):
    path = "/v1/sites"
    tags = ["sites"]

    @get(operation_id="listSites", opt={"roles": MANAGERS})
    async def list_sites(
        self,
        session: AsyncSession,
        principal: Principal,
        tenant: uuid.UUID,
        limit: Limit = 50,
        offset: Offset = 0,
        q: Annotated[
            str | None, Parameter(description="name contains (case-insensitive)", max_length=200)
        ] = None,
    ) -> Page[Site]:
        """List the sites the caller may see, oldest first."""
        filters = [SiteRow.name.ilike(f"%{q}%")] if q else []
        rows, total = await SiteService(session, principal, tenant).list(filters, limit, offset)
        return Page([to_schema(r, Site) for r in rows], total, limit, offset)

    @get("/{site_id:uuid}", operation_id="getSite", opt={"roles": MANAGERS})
    async def get_site(
        self, session: AsyncSession, principal: Principal, tenant: uuid.UUID, site_id: uuid.UUID
    ) -> Site:
        """One site."""
        return to_schema(await SiteService(session, principal, tenant).get(site_id), Site)

    @post(operation_id="createSite", opt={"roles": ADMINS})
    async def create_site(
        self, session: AsyncSession, principal: Principal, tenant: uuid.UUID, data: SiteCreate
    ) -> Site:
        """Create a site; its IANA time zone drives every report bucket."""
        row = await SiteService(session, principal, tenant).create(changes_of(data))
        return to_schema(row, Site)

    @patch("/{site_id:uuid}", operation_id="updateSite", opt={"roles": ADMINS})
    async def update_site(
        self,
        session: AsyncSession,
        principal: Principal,
        tenant: uuid.UUID,
        site_id: uuid.UUID,
        data: SiteUpdate,
    ) -> Site:
        """Change a site's name, time zone or address."""
        row = await SiteService(session, principal, tenant).update(site_id, changes_of(data))
        return to_schema(row, Site)

    @delete("/{site_id:uuid}", operation_id="deleteSite", opt={"roles": ADMINS})
    async def delete_site(
        self, session: AsyncSession, principal: Principal, tenant: uuid.UUID, site_id: uuid.UUID
    ) -> None:
        """Delete a site with its cameras, keys and visits (audited)."""
        await SiteService(session, principal, tenant).delete(site_id)
