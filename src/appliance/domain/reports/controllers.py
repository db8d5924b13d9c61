from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

import msgspec
from litestar import Controller, get, post
from litestar.di import Provide
from litestar.params import Parameter
from sqlalchemy.ext.asyncio import AsyncSession

from appliance.domain.auth.principal import ADMINS, MANAGERS, Principal
from appliance.domain.reports import rollups, services
from appliance.domain.reports.schemas import DistributionKind, DistributionReport, Granularity, VisitorReport
from appliance.lib.di import Injected

From = Annotated[
    datetime | None, Parameter(query="from", description="window start (RFC 3339); default to - 7 days")
]
To = Annotated[
    datetime | None, Parameter(query="to", description="window end, exclusive (RFC 3339); default now")
]


async def report_window(
    session: AsyncSession,
    principal: Principal,
    site_id: uuid.UUID | None = None,
    since: From = None,
    until: To = None,
) -> services.ReportWindow:
    """The report's site (or the caller's sites) and window, checked."""
    return await services.resolve_window(session, principal, site_id, since, until)


class ReportController(Controller):
    path = "/v1/reports"
    tags = ["reports"]
    opt = {"roles": MANAGERS}
    dependencies = {"window": Provide(report_window)}

    @get("/visitors", operation_id="visitorReport")
    async def visitors(
        self,
        session: AsyncSession,
        principal: Principal,
        granularity: Granularity = "day",
        *,
        window: Injected[services.ReportWindow],
    ) -> VisitorReport:
        """Visits and unique visitors per hour/day/week/month in the site's time zone, zero-filled."""
        return await services.visitors(session, principal, granularity, window)

    @get("/distribution", operation_id="distributionReport")
    async def distribution(
        self,
        session: AsyncSession,
        principal: Principal,
        kind: DistributionKind,
        window: Injected[services.ReportWindow],
    ) -> DistributionReport:
        """Visits split by new vs repeat, gender, or local day of week."""
        return await services.distribution(session, principal, kind, window)

    @post("/refresh", operation_id="refreshReportRollups", opt={"roles": ADMINS}, status_code=200)
    async def refresh(self, session: AsyncSession) -> RefreshResult:
        """Recompute the report rollups of every site-day changed since the last refresh (on demand)."""
        return RefreshResult(days_refreshed=await rollups.refresh(session))


class RefreshResult(msgspec.Struct):
    days_refreshed: int
