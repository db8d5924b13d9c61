"""Report rollups: exact per-site counts per local bucket, recomputed only where visits changed.

A trigger on ``visits`` records each changed site-local day in ``rollup_dirty``. ``refresh``
recomputes the hour and day buckets of those days and the week and month buckets containing
them, then clears the marks. Reports read clean buckets from the rollups and compute dirty or
partial buckets live, so an answer is always exact, whether or not the job has run yet.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterable
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

GRANULARITIES = ("hour", "day", "week", "month")


def bucket_start(local: datetime, granularity: str) -> datetime:
    """``date_trunc`` on a naive local timestamp (weeks start on Monday)."""
    if granularity == "hour":
        return local.replace(minute=0, second=0, microsecond=0)
    day = local.replace(hour=0, minute=0, second=0, microsecond=0)
    if granularity == "day":
        return day
    if granularity == "week":
        return day - timedelta(days=day.weekday())
    return day.replace(day=1)


def next_bucket(start: datetime, granularity: str) -> datetime:
    if granularity == "hour":
        return start + timedelta(hours=1)
    if granularity == "day":
        return start + timedelta(days=1)
    if granularity == "week":
        return start + timedelta(days=7)
    return (start.replace(day=28) + timedelta(days=4)).replace(day=1)


def buckets_between(first: datetime, last: datetime, granularity: str) -> list[datetime]:
    """Bucket starts from ``first`` to ``last`` inclusive, stepping in local wall-clock time."""
    out = []
    cursor = first
    while cursor <= last:
        out.append(cursor)
        cursor = next_bucket(cursor, granularity)
    return out


def days_of(start: datetime, granularity: str) -> tuple[date, date]:
    """The local days [first, last) a bucket covers."""
    end = next_bucket(start, granularity)
    last = end.date() if end.time() == datetime.min.time() else end.date() + timedelta(days=1)
    return start.date(), last


def dirty_buckets(days: Iterable[date]) -> dict[str, set[datetime]]:
    """Every bucket of every granularity that contains one of the dirty local days."""
    out: dict[str, set[datetime]] = defaultdict(set)
    for day in days:
        midnight = datetime(day.year, day.month, day.day)
        out["hour"].update(midnight + timedelta(hours=h) for h in range(24))
        for granularity in ("day", "week", "month"):
            out[granularity].add(bucket_start(midnight, granularity))
    return out


RECOMPUTE = text(
    """
    INSERT INTO visit_rollups (tenant_id, site_id, granularity, bucket, visits, unique_visitors, new_visitors,
                               refreshed_at)
    SELECT v.tenant_id, v.site_id, CAST(:g AS varchar),
           date_trunc(CAST(:g AS text), v.first_seen AT TIME ZONE :tz) AS b,
           count(*), count(DISTINCT v.customer_id),
           count(DISTINCT v.customer_id) FILTER (WHERE v.is_new_customer), now()
    FROM visits v
    WHERE v.site_id = :site
      AND v.first_seen >= (CAST(:lo AS timestamp) AT TIME ZONE :tz) - interval '1 day'
      AND v.first_seen < (CAST(:hi AS timestamp) AT TIME ZONE :tz) + interval '1 day'
      AND date_trunc(CAST(:g AS text), v.first_seen AT TIME ZONE :tz) = ANY(CAST(:buckets AS timestamp[]))
    GROUP BY v.tenant_id, v.site_id, b
    """
)


async def refresh(session: AsyncSession) -> int:
    """Recompute every dirty bucket of the current tenant; returns how many days were clean-ed."""
    marks = (
        await session.execute(
            text(
                "DELETE FROM rollup_dirty d USING sites s WHERE s.id = d.site_id"
                " RETURNING d.site_id, d.day, s.timezone"
            )
        )
    ).all()
    by_site: dict[uuid.UUID, tuple[str, set[date]]] = {}
    for site_id, day, zone in marks:
        by_site.setdefault(site_id, (zone, set()))[1].add(day)
    for site_id, (zone, days) in by_site.items():
        for granularity, buckets in dirty_buckets(days).items():
            await _recompute(session, site_id, zone, granularity, sorted(buckets))
    return len(marks)


async def _recompute(
    session: AsyncSession, site_id: uuid.UUID, zone: str, granularity: str, buckets: list[datetime]
) -> None:
    await session.execute(
        text(
            "DELETE FROM visit_rollups WHERE site_id = :site AND granularity = :g"
            " AND bucket = ANY(CAST(:buckets AS timestamp[]))"
        ),
        {"site": site_id, "g": granularity, "buckets": buckets},
    )
    # Contiguous runs keep each scan to the span of its buckets.
    for run in _runs(buckets, granularity):
        params: dict[str, Any] = {
            "site": site_id,
            "g": granularity,
            "tz": zone,
            "buckets": run,
            "lo": run[0],
            "hi": next_bucket(run[-1], granularity),
        }
        await session.execute(RECOMPUTE, params)


def _runs(buckets: list[datetime], granularity: str) -> list[list[datetime]]:
    runs: list[list[datetime]] = []
    for bucket in buckets:
        if runs and next_bucket(runs[-1][-1], granularity) == bucket:
            runs[-1].append(bucket)
        else:
            runs.append([bucket])
    return runs


async def dirty_days(session: AsyncSession, site_id: uuid.UUID, first: date, last: date) -> set[date]:
    rows = await session.execute(
        text("SELECT day FROM rollup_dirty WHERE site_id = :site AND day BETWEEN :first AND :last"),
        {"site": site_id, "first": first, "last": last},
    )
    return set(rows.scalars())


async def rollup_rows(
    session: AsyncSession, site_id: uuid.UUID, granularity: str, buckets: list[datetime]
) -> dict[datetime, tuple[int, int, int]]:
    if not buckets:
        return {}
    rows = await session.execute(
        text(
            "SELECT bucket, visits, unique_visitors, new_visitors FROM visit_rollups"
            " WHERE site_id = :site AND granularity = :g AND bucket = ANY(CAST(:buckets AS timestamp[]))"
        ),
        {"site": site_id, "g": granularity, "buckets": buckets},
    )
    return {bucket: (v, u, n) for bucket, v, u, n in rows}


async def refresh_all_tenants(db: Any) -> int:
    """The scheduler's job: every tenant, each in its own RLS transaction."""
    from sqlalchemy import select

    from appliance.db.models import Tenant

    async with db.transaction(None, platform_admin=True) as session:
        tenant_ids = list((await session.execute(select(Tenant.id))).scalars())
    total = 0
    for tenant_id in tenant_ids:
        async with db.transaction(tenant_id) as session:
            total += await refresh(session)
    return total
