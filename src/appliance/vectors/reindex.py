"""Rebuild the vector index from PostgreSQL (``customer_exemplars`` is the source of truth).

Per tenant, inside that tenant's RLS transaction on the owner connection: drop and recreate the
tenant's partition, stream the exemplars in batches, upsert them, flush, then compare the
partition's count with PostgreSQL's. A full run (no tenant given) also drops the whole collection
when its dimension differs from the embedder's, and drops partitions of tenants that no longer
exist.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
from sqlalchemy import func, select

from appliance.db.engine import Database
from appliance.db.models import CustomerExemplar, Tenant
from appliance.vectors.base import DimensionMismatchError, VectorIndexError, VectorItem
from appliance.vectors.milvus import MilvusIndex

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
    """Exemplar rows in PostgreSQL at verification time."""
    milvus: int = 0
    """Vectors in the tenant's partition after the flush."""
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
    index: MilvusIndex,
    tenant_id: uuid.UUID | None = None,
    progress: ReindexProgress | None = None,
    batch_size: int = BATCH_SIZE,
    recreate: bool = False,
) -> ReindexReport:
    """Rebuild one tenant's partition, or (``tenant_id=None``) every tenant's. ``db`` must be the
    owner connection; ``index`` is opened but its collection need not exist.

    A full run drops and recreates the collection when it has another dimension, schema or index
    type than configured, or when ``recreate`` asks for it (the index's build parameters,
    ``nlist`` or HNSW ``M``, cannot be read back from every Milvus, so a change of those is
    applied only that way)."""
    tenants = await _tenants(db)
    if tenant_id is not None:
        tenants = [(tid, name) for tid, name in tenants if tid == tenant_id]
        if not tenants:
            raise ReindexError(f"no tenant with id {tenant_id}")
    report = ReindexReport(dim=index.dim, collection=index.collection)

    try:
        existing = await asyncio.to_thread(index.existing_dim)
        problem = (
            str(DimensionMismatchError(index.collection, existing, index.dim))
            if existing is not None and existing != index.dim
            else None
        )
    except VectorIndexError as exc:  # a collection of another schema
        problem = str(exc)
    if problem is None:
        built = await asyncio.to_thread(index.built_index_type)
        if built is not None and built != index.configured_index_type:
            problem = f"the collection has a {built} index, configured {index.configured_index_type}"
    if problem is None and recreate:
        problem = "asked to recreate the collection"
    if problem is not None:
        if tenant_id is not None:
            raise ReindexError(
                f"{problem}; the whole collection must be rebuilt: run `appliance reindex` without --tenant"
            )
        await asyncio.to_thread(index.drop_collection)
        report.recreated_collection = True
        report.recreated_because = problem
    await asyncio.to_thread(index.ensure_collection)

    if tenant_id is None:
        known = {tid for tid, _ in tenants}
        for leftover in await asyncio.to_thread(index.tenant_partitions):
            if leftover not in known:
                await asyncio.to_thread(index.drop_partition, leftover)
                report.dropped_partitions.append(leftover)

    auto_flush, index.auto_flush_rows = index.auto_flush_rows, 0  # one flush at the end: big segments
    try:
        for tid, name in tenants:
            report.tenants.append(await _load_tenant(db, index, tid, name, progress, batch_size))
    finally:
        index.auto_flush_rows = auto_flush
    await asyncio.to_thread(index.flush)

    for tenant in report.tenants:
        tenant.milvus = await asyncio.to_thread(index.count, tenant.tenant_id)
        tenant.postgres = await _pg_count(db, tenant.tenant_id)
    return report


async def _tenants(db: Database) -> list[tuple[uuid.UUID, str]]:
    async with db.transaction(None, platform_admin=True) as session:
        rows = await session.execute(select(Tenant.id, Tenant.name).order_by(Tenant.name))
        return [(row.id, row.name) for row in rows]


async def _pg_count(db: Database, tenant_id: uuid.UUID) -> int:
    async with db.transaction(tenant_id) as session:
        count = await session.scalar(
            select(func.count()).select_from(CustomerExemplar).where(CustomerExemplar.tenant_id == tenant_id)
        )
        return int(count or 0)


async def _load_tenant(
    db: Database,
    index: MilvusIndex,
    tenant_id: uuid.UUID,
    name: str,
    progress: ReindexProgress | None,
    batch_size: int,
) -> TenantReport:
    report = TenantReport(tenant_id, name)
    async with db.transaction(tenant_id) as session:
        total = await session.scalar(
            select(func.count()).select_from(CustomerExemplar).where(CustomerExemplar.tenant_id == tenant_id)
        )
        if progress is not None:
            progress.tenant_started(tenant_id, name, int(total or 0))
        await asyncio.to_thread(index.drop_partition, tenant_id)
        await asyncio.to_thread(index.ensure_partition, tenant_id)
        result = await session.stream(
            select(CustomerExemplar.id, CustomerExemplar.customer_id, CustomerExemplar.embedding)
            .where(CustomerExemplar.tenant_id == tenant_id)
            .order_by(CustomerExemplar.id)
            .execution_options(yield_per=batch_size)
        )
        async for rows in result.partitions(batch_size):
            items = usable_items(rows, index.dim)
            report.skipped += len(rows) - len(items)
            await asyncio.to_thread(index.upsert, tenant_id, items)
            if progress is not None:
                progress.advanced(len(rows))
    return report


def usable_items(rows: Sequence[Any], dim: int) -> list[VectorItem]:
    """Rows whose embedding is a finite, non-zero ``dim``-vector, as index items."""
    sized = [row for row in rows if row.embedding is not None and len(row.embedding) == dim]
    if not sized:
        return []
    norms = np.linalg.norm(np.asarray([row.embedding for row in sized], dtype=np.float64), axis=1)
    good = np.isfinite(norms) & (norms > 0)
    return [
        VectorItem(id=row.id, customer_id=row.customer_id, vector=list(row.embedding))
        for row, keep in zip(sized, good.tolist(), strict=True)
        if keep
    ]
