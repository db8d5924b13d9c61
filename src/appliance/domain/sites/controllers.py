from __future__ import annotations

from typing import Annotated

from litestar.params import Parameter

from appliance.db.models import Site as SiteRow
from appliance.domain.auth.principal import ADMINS, MANAGERS
from appliance.domain.sites.schemas import Site, SiteCreate, SiteUpdate
from appliance.domain.sites.services import SiteService
from appliance.lib.crud_routes import Crud, CrudController, Filters, Op


def site_filters(
    q: Annotated[
        str | None, Parameter(description="name contains (case-insensitive)", max_length=200)
    ] = None,
) -> Filters:
    return [SiteRow.name.ilike(f"%{q}%")] if q else []


class SiteController(CrudController):
    path = "/v1/sites"
    tags = ["sites"]
    crud = Crud(
        key="site_id",
        read=Site,
        service=SiteService,
        filters=site_filters,
        write=(SiteCreate, SiteUpdate),
        list_op=Op("listSites", "List the sites the caller may see, oldest first.", MANAGERS),
        get_op=Op("getSite", "One site.", MANAGERS),
        create_op=Op("createSite", "Create a site; its IANA time zone drives every report bucket.", ADMINS),
        update_op=Op("updateSite", "Change a site's name, time zone or address.", ADMINS),
        delete_op=Op("deleteSite", "Delete a site with its cameras, keys and visits (audited).", ADMINS),
    )
