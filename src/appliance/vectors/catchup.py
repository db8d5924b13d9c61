"""Re-apply to the index the exemplars PostgreSQL wrote since a time (after a process died).

``journal.py`` says from when. Per tenant, under its RLS context: read the exemplars created
since then, upsert them through the write-behind (searched at once, applied with the next
flush), flush; then ask PostgreSQL again about exactly those ids and undo what changed
meanwhile — an exemplar replaced or erased since the first read is deleted again, one moved to
another customer by a merge is written with its new customer. Without that second look a
catch-up running beside live ingest could bring back a vector that ingest had just deleted.

An upsert of a vector the index has already is harmless (same id, same values), so a window
wider than needed costs time, never correctness.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select

from appliance.db.engine import Database
from appliance.db.models import CustomerExemplar, Tenant
from appliance.vectors.base import VectorItem
from appliance.vectors.pending import WriteBehindIndex
from appliance.vectors.reindex import usable_items


@dataclass
class CatchUpReport:
    since: datetime
    tenants: int = 0
    upserted: int = 0
    """Exemplars written to the index again."""
    deleted: int = 0
    """Of those, gone from PostgreSQL by the second look (deleted from the index again)."""
    moved: int = 0
    """Of those, moved to another customer by the second look (written again with it)."""
    stale: int = 0
    """Vectors of the customers concerned that PostgreSQL no longer has (a delete the dead
    process lost: an exemplar it replaced), deleted from the index."""
    skipped: int = 0
    """Rows whose embedding is not a usable vector of the index's dimension (as ``reindex``)."""
    written: dict[uuid.UUID, dict[uuid.UUID, VectorItem]] = field(default_factory=dict, repr=False)


async def reapply(db: Database, vectors: WriteBehindIndex, since: datetime) -> CatchUpReport:
    """The first step: the exemplars created since ``since`` go into the write-behind, where
    searches find them at once."""
    report = CatchUpReport(since=since)
    tenants = await _tenant_ids(db)
    report.tenants = len(tenants)
    for tenant_id in tenants:
        items = await _exemplars_since(db, tenant_id, since, vectors.dim, report)
        if items:
            await vectors.upsert(tenant_id, items)
            report.written[tenant_id] = {item.id: item for item in items}
            report.upserted += len(items)
    return report


async def recheck(db: Database, vectors: WriteBehindIndex, report: CatchUpReport) -> None:
    """The second step: flush, then undo what changed in PostgreSQL since ``reapply`` read it."""
    if not report.written:
        return
    await vectors.flush()
    for tenant_id, by_id in report.written.items():
        owners = await _current_owners(db, tenant_id, list(by_id))
        gone = [item_id for item_id in by_id if item_id not in owners]
        moved = [
            VectorItem(id=item.id, customer_id=owners[item.id], vector=item.vector)
            for item in by_id.values()
            if item.id in owners and owners[item.id] != item.customer_id
        ]
        if gone:
            await vectors.delete(tenant_id, gone)
        if moved:
            await vectors.upsert(tenant_id, moved)
        report.deleted += len(gone)
        report.moved += len(moved)
        report.stale += await _drop_stale(db, vectors, tenant_id, {*owners.values(), *_customers_of(by_id)})
    await vectors.flush()


def _customers_of(by_id: dict[uuid.UUID, VectorItem]) -> set[uuid.UUID]:
    return {item.customer_id for item in by_id.values()}


async def _drop_stale(
    db: Database, vectors: WriteBehindIndex, tenant_id: uuid.UUID, customers: set[uuid.UUID]
) -> int:
    """Delete the index's vectors of these customers that PostgreSQL no longer has: the deletes a
    dead process lost (an exemplar it replaced). The index is read first, PostgreSQL second, so
    an exemplar committed meanwhile is never taken for a stale one (it reaches the index only
    after its commit, and is then in PostgreSQL when asked)."""
    indexed = await vectors.ids_of_customers(tenant_id, sorted(customers))
    present = await _current_owners(db, tenant_id, list(indexed))
    stale = [vector_id for vector_id in indexed if vector_id not in present]
    if stale:
        await vectors.delete(tenant_id, stale)
    return len(stale)


async def _tenant_ids(db: Database) -> list[uuid.UUID]:
    async with db.transaction(None, platform_admin=True) as session:
        return list((await session.scalars(select(Tenant.id).order_by(Tenant.id))).all())


async def _exemplars_since(
    db: Database, tenant_id: uuid.UUID, since: datetime, dim: int, report: CatchUpReport
) -> list[VectorItem]:
    async with db.transaction(tenant_id) as session:
        rows = (
            await session.execute(
                select(CustomerExemplar.id, CustomerExemplar.customer_id, CustomerExemplar.embedding).where(
                    CustomerExemplar.tenant_id == tenant_id, CustomerExemplar.created_at >= since
                )
            )
        ).all()
    items = usable_items(rows, dim)
    report.skipped += len(rows) - len(items)
    return items


async def _current_owners(
    db: Database, tenant_id: uuid.UUID, ids: list[uuid.UUID]
) -> dict[uuid.UUID, uuid.UUID]:
    async with db.transaction(tenant_id) as session:
        rows = await session.execute(
            select(CustomerExemplar.id, CustomerExemplar.customer_id).where(CustomerExemplar.id.in_(ids))
        )
        return {row.id: row.customer_id for row in rows}
