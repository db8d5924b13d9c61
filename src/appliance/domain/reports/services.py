"""Visitor reports, bucketed by the local wall-clock time of each visit's site.

Semantics (shared with the pure-Python reference in the tests): a visit belongs to the bucket
``date_trunc(granularity, first_seen AT TIME ZONE site.timezone)``; weeks start on Monday; on a
DST fall-back night both 01:00 hours share one local bucket and a spring-forward gap is an empty
bucket. The [from, to) window is absolute time. Buckets without visits are listed with zeros.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from appliance.db.models import Site
from appliance.domain.auth.principal import Principal
from appliance.domain.reports.schemas import (
    DistributionKind,
    DistributionReport,
    DistributionSlice,
    Granularity,
    VisitorBucket,
    VisitorReport,
)
from appliance.lib.errors import InvalidError, NotFoundError

MAX_BUCKETS = 5000
DOW_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
STEP = {"hour": "1 hour", "day": "1 day", "week": "7 days", "month": "1 month"}


class ReportWindow:
    def __init__(self, site_id: uuid.UUID | None, start: datetime, end: datetime, timezone: str) -> None:
        self.site_id, self.start, self.end, self.timezone = site_id, start, end, timezone


async def resolve_window(
    session: AsyncSession,
    principal: Principal,
    site_id: uuid.UUID | None,
    start: datetime | None,
    end: datetime | None,
) -> ReportWindow:
    """Default window: the last 7 days. Time zone: the site's; without a site, the zone all
    visible sites share, else UTC for labels (each visit still buckets in its site's zone)."""
    if site_id is not None:
        if not principal.can_see_site(site_id):
            raise NotFoundError(f"site {site_id} not found")
        zone = (await session.execute(select(Site.timezone).where(Site.id == site_id))).scalar()
        if zone is None:
            raise NotFoundError(f"site {site_id} not found")
    else:
        stmt = select(Site.timezone).distinct()
        if principal.site_scoped:
            stmt = stmt.where(Site.id.in_(principal.site_ids))
        zones = list((await session.execute(stmt)).scalars())
        zone = zones[0] if len(zones) == 1 else "UTC"
    end = end or datetime.now(UTC)
    start = start or end - timedelta(days=7)
    for name, value in (("from", start), ("to", end)):
        if value.tzinfo is None:
            raise InvalidError.field(name, "needs a UTC offset (RFC 3339)")
    if start >= end:
        raise InvalidError.field("to", "must be after from")
    return ReportWindow(site_id, start, end, zone)


def _scope_sql(principal: Principal, window: ReportWindow, params: dict[str, Any]) -> str:
    clauses = ["v.first_seen >= :start", "v.first_seen < :end"]
    params.update(start=window.start, end=window.end)
    if window.site_id is not None:
        clauses.append("v.site_id = :site_id")
        params["site_id"] = window.site_id
    if principal.site_scoped:
        clauses.append("v.site_id = ANY(:scoped_sites)")
        params["scoped_sites"] = list(principal.site_ids)
    return " AND ".join(clauses)


def _bucket_count(granularity: Granularity, window: ReportWindow) -> int:
    seconds = (window.end - window.start).total_seconds()
    per = {"hour": 3600, "day": 86400, "week": 7 * 86400, "month": 28 * 86400}[granularity]
    return int(seconds // per) + 2


async def visitors(
    session: AsyncSession, principal: Principal, granularity: Granularity, window: ReportWindow
) -> VisitorReport:
    if _bucket_count(granularity, window) > MAX_BUCKETS:
        raise InvalidError.field(
            "granularity", f"too many {granularity} buckets for this range (max {MAX_BUCKETS})"
        )
    params: dict[str, Any] = {"g": granularity, "tz": window.timezone, "step": STEP[granularity]}
    where = _scope_sql(principal, window, params)
    sql = text(
        f"""
        WITH series AS (
            SELECT generate_series(
                date_trunc(:g, CAST(:start AS timestamptz) AT TIME ZONE :tz),
                date_trunc(:g, (CAST(:end AS timestamptz) - interval '1 microsecond') AT TIME ZONE :tz),
                CAST(:step AS interval)
            ) AS bucket
        ), data AS (
            SELECT date_trunc(:g, v.first_seen AT TIME ZONE s.timezone) AS bucket,
                   count(*) AS visits,
                   count(DISTINCT v.customer_id) AS uniques,
                   count(DISTINCT v.customer_id) FILTER (WHERE v.is_new_customer) AS new_visitors
            FROM visits v JOIN sites s ON s.id = v.site_id
            WHERE {where}
            GROUP BY 1
        )
        SELECT coalesce(series.bucket, data.bucket) AS bucket,
               coalesce(data.visits, 0), coalesce(data.uniques, 0), coalesce(data.new_visitors, 0)
        FROM series FULL OUTER JOIN data ON data.bucket = series.bucket
        ORDER BY 1
        """
    )
    rows = (await session.execute(sql, params)).all()
    totals_sql = text(f"SELECT count(*), count(DISTINCT v.customer_id) FROM visits v WHERE {where}")
    total_visits, total_unique = (await session.execute(totals_sql, params)).one()
    zone = ZoneInfo(window.timezone)
    return VisitorReport(
        granularity=granularity,
        timezone=window.timezone,
        site_id=window.site_id,
        start=window.start,
        end=window.end,
        buckets=[
            VisitorBucket(start=_localize(bucket, zone), visits=v, unique_visitors=u, new_visitors=n)
            for bucket, v, u, n in rows
        ],
        total_visits=int(total_visits),
        total_unique_visitors=int(total_unique),
    )


def _localize(naive_local: datetime, zone: ZoneInfo) -> datetime:
    return naive_local.replace(tzinfo=zone)


async def distribution(
    session: AsyncSession, principal: Principal, kind: DistributionKind, window: ReportWindow
) -> DistributionReport:
    params: dict[str, Any] = {}
    where = _scope_sql(principal, window, params)
    if kind == "new_vs_repeat":
        key_sql, keys = "CASE WHEN v.is_new_customer THEN 'new' ELSE 'repeat' END", ["new", "repeat"]
    elif kind == "gender":
        key_sql, keys = "coalesce(v.gender, 'unknown')", ["female", "male", "unknown"]
    else:
        key_sql, keys = (
            "CAST(extract(isodow FROM v.first_seen AT TIME ZONE s.timezone) AS int)",
            list(DOW_NAMES),
        )
    sql = text(
        f"""
        SELECT {key_sql} AS key, count(*), count(DISTINCT v.customer_id)
        FROM visits v JOIN sites s ON s.id = v.site_id
        WHERE {where}
        GROUP BY 1
        """
    )
    found: dict[str, tuple[int, int]] = {}
    for key, visits_, uniques in (await session.execute(sql, params)).all():
        name = DOW_NAMES[int(key) - 1] if kind == "dow" else str(key)
        found[name] = (int(visits_), int(uniques))
    return DistributionReport(
        kind=kind,
        timezone=window.timezone,
        site_id=window.site_id,
        start=window.start,
        end=window.end,
        slices=[
            DistributionSlice(key=k, visits=found.get(k, (0, 0))[0], unique_visitors=found.get(k, (0, 0))[1])
            for k in keys
        ],
    )
