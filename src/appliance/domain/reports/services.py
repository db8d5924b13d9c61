"""Visitor reports, bucketed by the local wall-clock time of each visit's site.

Semantics (shared with the pure-Python reference in the tests): a visit belongs to the bucket
``date_trunc(granularity, first_seen AT TIME ZONE site.timezone)``; weeks start on Monday; on a
DST fall-back night both 01:00 hours share one local bucket and a spring-forward gap is an empty
bucket. The [from, to) window is absolute time. Buckets without visits are listed with zeros.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any, TypedDict
from zoneinfo import ZoneInfo

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from appliance.db.models import Site
from appliance.domain.auth.principal import Principal
from appliance.domain.reports import rollups
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
# Reports are about shop visits: anything outside these years is a typo (and would overflow).
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(2200, 1, 1, tzinfo=UTC)
DOW_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
STEP = {"hour": "1 hour", "day": "1 day", "week": "7 days", "month": "1 month"}


class WindowFields(TypedDict):
    timezone: str
    site_id: uuid.UUID | None
    start: datetime
    end: datetime


class ReportWindow:
    def __init__(self, site_id: uuid.UUID | None, start: datetime, end: datetime, timezone: str) -> None:
        self.site_id, self.start, self.end, self.timezone = site_id, start, end, timezone

    def fields(self) -> WindowFields:
        """The window as every report states it."""
        return WindowFields(timezone=self.timezone, site_id=self.site_id, start=self.start, end=self.end)


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
    for name, value in (("from", start), ("to", end)):
        if value is not None and value.tzinfo is None:
            raise InvalidError.field(name, "needs a UTC offset (RFC 3339)")
        if value is not None and not EARLIEST <= value <= LATEST:
            raise InvalidError.field(name, f"must lie between {EARLIEST.year} and {LATEST.year}")
    end = end or datetime.now(UTC)
    start = start or end - timedelta(days=7)
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
    zone = ZoneInfo(window.timezone)
    if window.site_id is None:
        counts = await _live_counts(session, principal, granularity, window, None)
        total_unique = await _distinct_visitors(session, principal, window)
    else:
        counts, total_unique = await _site_counts(session, principal, granularity, window, zone)
    return VisitorReport(
        granularity=granularity,
        **window.fields(),
        buckets=[
            VisitorBucket(start=_localize(bucket, zone), visits=v, unique_visitors=u, new_visitors=n)
            for bucket, (v, u, n) in sorted(counts.items())
        ],
        total_visits=sum(v for v, _, _ in counts.values()),
        total_unique_visitors=total_unique,
    )


def _local(at: datetime, zone: ZoneInfo) -> datetime:
    return at.astimezone(zone).replace(tzinfo=None)


async def _site_counts(
    session: AsyncSession,
    principal: Principal,
    granularity: Granularity,
    window: ReportWindow,
    zone: ZoneInfo,
) -> tuple[dict[datetime, tuple[int, int, int]], int]:
    """One site: clean whole buckets come from the rollups, the rest (dirty or cut by the
    window's edges) is counted live. Both are exact, so the answer is the same either way."""
    assert window.site_id is not None
    local_start, local_end = _local(window.start, zone), _local(window.end, zone)
    first = rollups.bucket_start(local_start, granularity)
    last = rollups.bucket_start(local_end - timedelta(microseconds=1), granularity)
    buckets = rollups.buckets_between(first, last, granularity)
    dirty = await rollups.dirty_days(
        session, window.site_id, first.date(), rollups.next_bucket(last, "month").date()
    )
    dirty_sets = rollups.dirty_buckets(dirty)

    def whole_and_clean(bucket: datetime, g: str) -> bool:
        return (
            bucket >= local_start
            and rollups.next_bucket(bucket, g) <= local_end
            and bucket not in dirty_sets.get(g, set())
        )

    stored = [b for b in buckets if whole_and_clean(b, granularity)]
    counts = {b: (0, 0, 0) for b in buckets}
    counts.update(await rollups.rollup_rows(session, window.site_id, granularity, stored))
    live = [b for b in buckets if b not in set(stored)]
    if live:
        counts.update(await _live_counts(session, principal, granularity, window, live))
    # Distinct visitors over the whole window: exact from a rollup when the window is one
    # clean day/week/month, otherwise counted live.
    for g in ("day", "week", "month"):
        one_bucket = local_end == rollups.next_bucket(local_start, g)
        if (
            one_bucket
            and local_start == rollups.bucket_start(local_start, g)
            and whole_and_clean(local_start, g)
        ):
            row = await rollups.rollup_rows(session, window.site_id, g, [local_start])
            return counts, row.get(local_start, (0, 0, 0))[1]
    return counts, await _distinct_visitors(session, principal, window)


async def _distinct_visitors(session: AsyncSession, principal: Principal, window: ReportWindow) -> int:
    params: dict[str, Any] = {}
    sql = text(
        f"SELECT count(DISTINCT v.customer_id) FROM visits v WHERE {_scope_sql(principal, window, params)}"
    )
    return int((await session.execute(sql, params)).scalar_one())


async def _live_counts(
    session: AsyncSession,
    principal: Principal,
    granularity: Granularity,
    window: ReportWindow,
    only: list[datetime] | None,
) -> dict[datetime, tuple[int, int, int]]:
    """Counts straight from visits (each visit in its own site's local time), zero-filled over
    the window's buckets; ``only`` restricts the work to some buckets (a few, contiguous runs)."""
    params: dict[str, Any] = {"g": granularity, "tz": window.timezone, "step": STEP[granularity]}
    where = _scope_sql(principal, window, params)
    if only is not None:
        where += " AND date_trunc(:g, v.first_seen AT TIME ZONE s.timezone) = ANY(CAST(:only AS timestamp[]))"
        # A coarse absolute range around the wanted buckets keeps the index scan short.
        where += (
            " AND v.first_seen >= (CAST(:only_lo AS timestamp) AT TIME ZONE :tz) - interval '1 day'"
            " AND v.first_seen < (CAST(:only_hi AS timestamp) AT TIME ZONE :tz) + interval '1 day'"
        )
        params.update(only=only, only_lo=min(only), only_hi=rollups.next_bucket(max(only), granularity))
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
        """
    )
    rows = (await session.execute(sql, params)).all()
    wanted = set(only) if only is not None else None
    return {
        bucket: (int(v), int(u), int(n)) for bucket, v, u, n in rows if wanted is None or bucket in wanted
    }


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
        **window.fields(),
        slices=[
            DistributionSlice(key=k, visits=found.get(k, (0, 0))[0], unique_visitors=found.get(k, (0, 0))[1])
            for k in keys
        ],
    )
