"""Visit queries: filters, keyset (cursor) pagination, CSV export."""

from __future__ import annotations

import base64
import csv
import io
import uuid
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime, tzinfo
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import ColumnElement, Select, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from appliance.db.engine import Database
from appliance.db.models import Site, Visit
from appliance.domain.auth.principal import Principal
from appliance.domain.visits.schemas import VisitPage, VisitView
from appliance.lib.errors import InvalidError

CSV_COLUMNS = (
    "visit_id",
    "site",
    "site_id",
    "customer_id",
    "first_seen",
    "last_seen",
    "stay_minutes",
    "sightings",
    "visitor",
    "gender",
    "age",
)
CSV_BOM = "\ufeff"
"""Spreadsheets (Excel) read a CSV as UTF-8 only when it starts with a byte-order mark: site
names with accents would be garbled without it."""


class VisitFilters:
    def __init__(
        self,
        site_id: uuid.UUID | None = None,
        customer_id: uuid.UUID | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        new: bool | None = None,
    ) -> None:
        if since and until and since >= until:
            raise InvalidError.field("to", "must be after from")
        self.site_id, self.customer_id, self.since, self.until, self.new = (
            site_id,
            customer_id,
            since,
            until,
            new,
        )

    def clauses(self, principal: Principal) -> list[ColumnElement[bool]]:
        where: list[ColumnElement[bool]] = []
        if principal.site_scoped:
            where.append(Visit.site_id.in_(principal.site_ids))
        if self.site_id:
            where.append(Visit.site_id == self.site_id)
        if self.customer_id:
            where.append(Visit.customer_id == self.customer_id)
        if self.since:
            where.append(Visit.first_seen >= self.since)
        if self.until:
            where.append(Visit.first_seen < self.until)
        if self.new is not None:
            where.append(Visit.is_new_customer.is_(self.new))
        return where


def encode_cursor(visit: Visit) -> str:
    raw = f"{visit.first_seen.isoformat()}|{visit.id}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, uuid.UUID]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        stamp, ident = raw.split("|", 1)
        return datetime.fromisoformat(stamp), uuid.UUID(ident)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidError.field("cursor", "not a cursor returned by this API") from exc


def view(visit: Visit) -> VisitView:
    """The row as the API shows it: its columns by the same names, and its id as ``visit_id``."""
    same_named = {name: getattr(visit, name) for name in VisitView.__struct_fields__ if name != "visit_id"}
    return VisitView(visit_id=visit.id, **same_named)


def _newest_first(where: Sequence[ColumnElement[bool]]) -> Select[Any]:
    return select(Visit).where(*where).order_by(Visit.first_seen.desc(), Visit.id.desc())


async def list_visits(
    session: AsyncSession, principal: Principal, filters: VisitFilters, limit: int, cursor: str | None
) -> VisitPage:
    where = filters.clauses(principal)
    if cursor:
        at, ident = decode_cursor(cursor)
        where.append(tuple_(Visit.first_seen, Visit.id) < tuple_(at, ident))
    rows = list((await session.execute(_newest_first(where).limit(limit + 1))).scalars())
    more = len(rows) > limit
    rows = rows[:limit]
    return VisitPage(
        items=[view(v) for v in rows], next_cursor=encode_cursor(rows[-1]) if more and rows else None
    )


async def stream_csv(
    db: Database, tenant_id: uuid.UUID, principal: Principal, filters: VisitFilters
) -> AsyncIterator[str]:
    """CSV rows straight from a server-side cursor: constant memory whatever the range. Times are
    ISO 8601 to the second in the site's zone, with its offset (what the dashboard shows)."""
    buffer = io.StringIO()
    buffer.write(CSV_BOM)
    writer = csv.writer(buffer)
    writer.writerow(CSV_COLUMNS)
    yield _drain(buffer)
    async with db.transaction(tenant_id) as session:
        sites = {
            row.id: (row.name, _zone(row.timezone))
            for row in await session.execute(select(Site.id, Site.name, Site.timezone))
        }
        result = await session.stream_scalars(
            _newest_first(filters.clauses(principal)).execution_options(yield_per=1000)
        )
        async for visit in result:
            site_name, zone = sites.get(visit.site_id, ("", UTC))
            stay = (visit.last_seen - visit.first_seen).total_seconds() / 60
            writer.writerow(
                [
                    visit.id,
                    site_name,
                    visit.site_id,
                    visit.customer_id,
                    _local(visit.first_seen, zone),
                    _local(visit.last_seen, zone),
                    round(stay, 1),
                    visit.sightings,
                    "new" if visit.is_new_customer else "returning",
                    visit.gender or "",
                    "" if visit.age is None else round(visit.age),
                ]
            )
            if buffer.tell() > 64_000:
                yield _drain(buffer)
    yield _drain(buffer)


def _zone(name: str) -> tzinfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return UTC


def _local(moment: datetime, zone: tzinfo) -> str:
    return moment.astimezone(zone).isoformat(timespec="seconds")


def _drain(buffer: io.StringIO) -> str:
    text = buffer.getvalue()
    buffer.seek(0)
    buffer.truncate()
    return text
