from __future__ import annotations

from typing import Annotated

from litestar.params import Parameter

from appliance.db.models import Site as SiteRow
from appliance.domain.auth.principal import ADMINS, MANAGERS
from appliance.domain.sites.schemas import Site, SiteCreate, SiteUpdate
from appliance.domain.sites.services import SiteService
from appliance.lib.crud_routes import Crud, CrudController, Filters, Op, Ops


def site_filters(
    q: Annotated[
        str | None, Parameter(description="name contains (case-insensitive)", max_length=200)
    ] = None,
) -> Filters:
    return [SiteRow.name.ilike(f"%{q}%")] if q else []


class SiteController(CrudController):
    path = "/v1/sites"
    tags = ["sites"]
    crud = Crud(SiteService, Site, SiteCreate, SiteUpdate, filters=site_filters)
    ops = Ops(
        list=Op("List the sites the caller may see, oldest first.", MANAGERS),
        get=Op("One site.", MANAGERS),
        create=Op("Create a site; its IANA time zone drives every report bucket.", ADMINS),
        update=Op("Change a site's name, time zone or address.", ADMINS),
        delete=Op("Delete a site with its cameras, keys and visits (audited).", ADMINS),
    )
