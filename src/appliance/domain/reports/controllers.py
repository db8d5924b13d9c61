from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

import msgspec
from litestar import Controller, get, post
from litestar.params import Parameter
from sqlalchemy.ext.asyncio import AsyncSession

from appliance.domain.auth.principal import ADMINS, MANAGERS, Principal
from appliance.domain.reports import rollups, services
from appliance.domain.reports.schemas import DistributionKind, DistributionReport, Granularity, VisitorReport

From = Annotated[
    datetime | None, Parameter(query="from", description="window start (RFC 3339); default to - 7 days")
]
To = Annotated[
    datetime | None, Parameter(query="to", description="window end, exclusive (RFC 3339); default now")
]


class ReportController(Controller):
    path = "/v1/reports"
    tags = ["reports"]
    opt = {"roles": MANAGERS}

    @get("/visitors", operation_id="visitorReport")
    async def visitors(
        self,
        session: AsyncSession,
        principal: Principal,
        granularity: Granularity = "day",
        site_id: uuid.UUID | None = None,
        since: From = None,
        until: To = None,
    ) -> VisitorReport:
        """Visits and unique visitors per hour/day/week/month in the site's time zone, zero-filled."""
        window = await services.resolve_window(session, principal, site_id, since, until)
        return await services.visitors(session, principal, granularity, window)

    @get("/distribution", operation_id="distributionReport")
    async def distribution(
        self,
        session: AsyncSession,
        principal: Principal,
        kind: DistributionKind,
        site_id: uuid.UUID | None = None,
        since: From = None,
        until: To = None,
    ) -> DistributionReport:
        """Visits split by new vs repeat, gender, or local day of week."""
        window = await services.resolve_window(session, principal, site_id, since, until)
        return await services.distribution(session, principal, kind, window)

    @post("/refresh", operation_id="refreshReportRollups", opt={"roles": ADMINS}, status_code=200)
    async def refresh(self, session: AsyncSession) -> RefreshResult:
        """Recompute the report rollups of every site-day changed since the last refresh (on demand)."""
        return RefreshResult(days_refreshed=await rollups.refresh(session))


class RefreshResult(msgspec.Struct):
    days_refreshed: int
