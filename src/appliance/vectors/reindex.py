"""Rebuild a Milvus collection from PostgreSQL (``customer_exemplars`` is the source of truth).

Per tenant: drop and recreate its partition, stream its exemplars under one snapshot, upsert
them, then set the tenant's watermark to that snapshot, so the next sync applies whatever was
written meanwhile. A full run (no tenant given) also recreates the collection when its
dimension, schema or index type differs from the settings, and drops partitions of tenants that
no longer exist. The embedded index needs none of this: it reads PostgreSQL itself.
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass, field
from typing import Protocol

from sqlalchemy import select, text

from appliance.db.engine import Database
from appliance.db.models import Tenant
from appliance.vectors.base import DimensionMismatchError, VectorIndexError
from appliance.vectors.changes import load_matrix
from appliance.vectors.milvus_store import MilvusStore

BATCH_SIZE = 1000


class ReindexError(VectorIndexError):
    pass


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
    """Rows whose embedding has another dimension than the index (not indexed)."""

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
    batch_size: int = BATCH_SIZE,
    recreate: bool = False,
) -> ReindexReport:
    """Rebuild one tenant's partition, or (``tenant_id=None``) every tenant's. ``db`` must be the
    owner connection. A full run recreates the collection when it has another dimension, schema
    or index type than configured, or when ``recreate`` asks (build parameters such as ``nlist``
    cannot be read back, so a change of those is applied only that way)."""
    tenants = await _tenants(db)
    if tenant_id is not None:
        tenants = [(tid, name) for tid, name in tenants if tid == tenant_id]
        if not tenants:
            raise ReindexError(f"no tenant with id {tenant_id}")
    report = ReindexReport(dim=store.dim, collection=store.collection)

    problem = await _collection_problem(store)
    if problem is None and recreate:
        problem = "asked to recreate the collection"
    if problem is not None:
        if tenant_id is not None:
            raise ReindexError(
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
        report.tenants.append(await _load_tenant(db, store, tid, name, progress, batch_size))
    for tenant in report.tenants:
        tenant.milvus = await asyncio.to_thread(store.count, tenant.tenant_id)
    return report


async def _collection_problem(store: MilvusStore) -> str | None:
    try:
        existing = await asyncio.to_thread(store.existing_dim)
    except VectorIndexError as exc:  # a collection of another schema
        return str(exc)
    if existing is not None and existing != store.dim:
        return str(DimensionMismatchError(store.collection, existing, store.dim))
    built = await asyncio.to_thread(store.built_index_type)
    if built is not None and built != store.index_type:
        return f"the collection has a {built} index, configured {store.index_type}"
    return None


async def _tenants(db: Database) -> list[tuple[uuid.UUID, str]]:
    async with db.transaction(None, platform_admin=True) as session:
        rows = await session.execute(select(Tenant.id, Tenant.name).order_by(Tenant.name))
        return [(row.id, row.name) for row in rows]


async def _load_tenant(
    db: Database,
    store: MilvusStore,
    tenant_id: uuid.UUID,
    name: str,
    progress: ReindexProgress | None,
    batch_size: int,
) -> TenantReport:
    report = TenantReport(tenant_id, name)
    await asyncio.to_thread(store.drop_partition, tenant_id)
    await asyncio.to_thread(store.ensure_partition, tenant_id)
    loaded = await load_matrix(db, tenant_id, store.dim)
    matrix, snapshot = loaded.matrix, loaded.snapshot
    report.postgres, report.skipped = len(matrix) + loaded.skipped, loaded.skipped
    if progress is not None:
        progress.tenant_started(tenant_id, name, report.postgres)
        progress.advanced(loaded.skipped)
    for start in range(0, len(matrix), batch_size):
        ids, customers, vectors = matrix.rows(start, start + batch_size)
        live = [i for i, row in enumerate(vectors) if row.any()]  # a zero vector never matches
        report.skipped += len(ids) - len(live)
        if live:
            picked = [ids[i] for i in live], [customers[i] for i in live], vectors[live]
            await asyncio.to_thread(store.upsert, tenant_id, *picked)
        if progress is not None:
            progress.advanced(len(ids))
    async with db.transaction(tenant_id) as session:  # the next sync goes on from what was read
        await session.execute(
            text(
                "INSERT INTO vector_watermarks (tenant_id, collection, snapshot) VALUES (:t, :c, :s)"
                " ON CONFLICT (tenant_id, collection) DO UPDATE SET snapshot = :s, updated_at = now()"
            ),
            {"t": tenant_id, "c": store.collection, "s": str(snapshot)},
        )
    return report
