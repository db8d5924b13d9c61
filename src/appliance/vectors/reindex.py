"""``appliance reindex``: rebuild a Milvus collection from PostgreSQL, tenant by tenant from one
snapshot each, which becomes the tenant's watermark."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass, field
from typing import Protocol

from sqlalchemy import select

from appliance.db.engine import Database
from appliance.db.models import Tenant
from appliance.vectors.base import VectorIndexError
from appliance.vectors.changes import load_matrix
from appliance.vectors.milvus import set_watermark
from appliance.vectors.milvus_store import MilvusStore


class ReindexProgress(Protocol):
    def tenant_started(self, tenant_id: uuid.UUID, name: str, total: int) -> None: ...

    def advanced(self, rows: int) -> None: ...


@dataclass
class TenantReport:
    tenant_id: uuid.UUID
    name: str
    postgres: int = 0
    """Exemplar rows in PostgreSQL in the snapshot the rebuild read."""
    milvus: int = 0
    """Vectors in the tenant's partition after the rebuild."""
    skipped: int = 0
    """Rows not indexed: an embedding of another dimension, or a zero vector."""

    @property
    def ok(self) -> bool:
        return self.postgres == self.milvus and self.skipped == 0


@dataclass
class ReindexReport:
    dim: int
    collection: str
    recreated_collection: bool = False
    recreated_because: str | None = None
    dropped_partitions: list[uuid.UUID] = field(default_factory=list)
    tenants: list[TenantReport] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(tenant.ok for tenant in self.tenants)


async def reindex(
    db: Database,
    store: MilvusStore,
    tenant_id: uuid.UUID | None = None,
    progress: ReindexProgress | None = None,
    batch_size: int = 1000,
    recreate: bool = False,
) -> ReindexReport:
    """Rebuild one tenant's partition, or every tenant's; ``db`` on the owner connection.
    ``recreate``: rebuild the collection anyway (build parameters such as ``nlist`` cannot be
    read back)."""
    async with db.transaction(None, platform_admin=True) as session:
        rows = await session.execute(select(Tenant.id, Tenant.name).order_by(Tenant.name))
        tenants = [(row.id, row.name) for row in rows]
    if tenant_id is not None:
        tenants = [(tid, name) for tid, name in tenants if tid == tenant_id]
        if not tenants:
            raise VectorIndexError(f"no tenant with id {tenant_id}")
    report = ReindexReport(dim=store.dim, collection=store.collection)
    problem = await _collection_problem(store) or ("asked to recreate the collection" if recreate else None)
    if problem is not None:
        if tenant_id is not None:
            raise VectorIndexError(
                f"{problem}; the whole collection must be rebuilt: run `appliance reindex` without --tenant"
            )
        await asyncio.to_thread(store.drop_collection)
        report.recreated_collection, report.recreated_because = True, problem
    await asyncio.to_thread(store.ensure_collection)
    if tenant_id is None:
        known = {tid for tid, _ in tenants}
        for leftover in await asyncio.to_thread(store.tenant_partitions):
            if leftover not in known:
                await asyncio.to_thread(store.drop_partition, leftover)
                report.dropped_partitions.append(leftover)
    for tid, name in tenants:
        report.tenants.append(await _rebuild_tenant(db, store, tid, name, progress, batch_size))
    for tenant in report.tenants:
        tenant.milvus = await asyncio.to_thread(store.count, tenant.tenant_id)
    return report


async def _collection_problem(store: MilvusStore) -> str | None:
    try:
        await asyncio.to_thread(store.check_collection)
    except VectorIndexError as exc:  # another schema or dimension
        return str(exc)
    built = await asyncio.to_thread(store.built_index_type)
    if built is not None and built != store.index_type:
        return f"the collection has a {built} index, configured {store.index_type}"
    return None


async def _rebuild_tenant(
    db: Database,
    store: MilvusStore,
    tenant_id: uuid.UUID,
    name: str,
    progress: ReindexProgress | None,
    batch_size: int,
) -> TenantReport:
    await asyncio.to_thread(store.drop_partition, tenant_id)
    await asyncio.to_thread(store.ensure_partition, tenant_id)
    loaded = await load_matrix(db, tenant_id, store.dim)
    report = TenantReport(tenant_id, name, len(loaded.matrix) + loaded.skipped, skipped=loaded.skipped)
    if progress is not None:
        progress.tenant_started(tenant_id, name, report.postgres)
        progress.advanced(loaded.skipped)
    for start in range(0, len(loaded.matrix), batch_size):
        ids, customers, vectors = loaded.matrix.rows(start, start + batch_size)
        report.skipped += len(ids) - await asyncio.to_thread(store.upsert, tenant_id, ids, customers, vectors)
        if progress is not None:
            progress.advanced(len(ids))
    async with db.transaction(tenant_id) as session:  # the next sync goes on from what was read
        await set_watermark(session, tenant_id, store.collection, loaded.snapshot)
    return report
