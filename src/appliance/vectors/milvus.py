"""The Milvus backend (``APPLIANCE_MILVUS_URI``, ADR 0008): a sync writes each tenant's changes past
its watermark to Milvus; each process searches those changes itself beside Milvus until Milvus
surely sees them."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from dataclasses import dataclass, field
from typing import cast

from psycopg.errors import ForeignKeyViolation
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from appliance.config import Settings
from appliance.db.engine import Database
from appliance.lib.metrics import VECTOR_INDEX_SYNCED
from appliance.vectors.base import Searched, SearchHit, TenantGoneError
from appliance.vectors.changes import Changes, Snapshot, all_changes_sql
from appliance.vectors.exact import ExactIndex, TenantVectors
from appliance.vectors.matrix import Array, ExemplarMatrix, unit_rows
from appliance.vectors.milvus_store import MilvusStore

log = logging.getLogger(__name__)

EVERYTHING = Snapshot(1, 1, frozenset())  # the watermark of a tenant never synced
STALENESS = 10.0
"""Seconds after which a search with Milvus's Bounded consistency sees a write (its default
graceful time is 5 s)."""
EXTRA_HITS = 16  # hits asked of Milvus beyond top_k, for those the overlay replaces or deleted
WATERMARK = "SELECT snapshot FROM vector_watermarks WHERE tenant_id = :t AND collection = :c"
LOCKED_WATERMARK = (
    "INSERT INTO vector_watermarks (tenant_id, collection, snapshot) VALUES (:t, :c, '1:1:')"
    " ON CONFLICT (tenant_id, collection) DO UPDATE SET snapshot = vector_watermarks.snapshot"
    " RETURNING snapshot"
)
"""The watermark, its row locked until the transaction ends (created if missing)."""


async def set_watermark(
    session: AsyncSession, tenant_id: uuid.UUID, collection: str, snapshot: Snapshot
) -> None:
    await session.execute(
        text(
            "INSERT INTO vector_watermarks (tenant_id, collection, snapshot) VALUES (:t, :c, :s)"
            " ON CONFLICT (tenant_id, collection) DO UPDATE SET snapshot = :s, updated_at = now()"
        ),
        {"t": tenant_id, "c": collection, "s": str(snapshot)},
    )


@dataclass
class Overlay(TenantVectors):
    """A tenant's changes past its watermark, searched beside Milvus until Milvus surely sees them."""

    xids: dict[uuid.UUID, int] = field(default_factory=dict)
    """Exemplars written or deleted past the watermark → the transaction that did it."""
    watermarks: list[tuple[Snapshot, float]] = field(default_factory=list)
    """Watermarks seen, with when: entries they cover leave after ``STALENESS``."""


class MilvusIndex(ExactIndex):
    def __init__(
        self, db: Database, dim: int, store: MilvusStore, budget_bytes: int, sync_every: float
    ) -> None:
        super().__init__(db, dim, budget_bytes)
        self.store = store
        self.sync_every = sync_every
        self._sync_task: asyncio.Task[None] | None = None
        self.rounds = 0
        """Timed syncs finished, the one on start included (tests wait for it)."""

    @classmethod
    async def open(cls, settings: Settings, db: Database, dim: int) -> MilvusIndex:
        store = MilvusStore.from_settings(settings, dim)
        await asyncio.to_thread(store.ensure_collection)
        index = cls(db, dim, store, settings.vector_cache_mb << 20, settings.milvus_sync_seconds)
        index._sync_task = asyncio.get_running_loop().create_task(index._sync_forever(), name="milvus-sync")
        return index

    async def _past_watermark(self, session: AsyncSession, tenant_id: uuid.UUID, lock: bool) -> Changes:
        key = {"t": tenant_id, "c": self.store.collection}
        found = await session.scalar(text(LOCKED_WATERMARK if lock else WATERMARK), key)
        since = Snapshot.parse(found) if found else EVERYTHING
        rows = (await session.execute(text(all_changes_sql(tenant_id, since)))).all()
        return Changes.from_rows([tuple(row) for row in rows], self.dim)

    async def _initial(self, tenant_id: uuid.UUID) -> TenantVectors:
        """The overlay: the tenant's changes past its watermark."""
        async with self.db.transaction(tenant_id) as session:
            changes = await self._past_watermark(session, tenant_id, lock=False)
        if not changes.tenant_exists:  # checked first: never re-create a deleted tenant's partition
            raise TenantGoneError(tenant_id)
        await asyncio.to_thread(self.store.ensure_partition, tenant_id)  # searchable before its first sync
        # Only the changes past the watermark: small, so no int8 copy.
        held = Overlay(ExemplarMatrix(self.dim, quantized_from=None), changes.snapshot)
        await self._submit(lambda: self._apply(held, changes))
        return held

    def _apply(self, held: TenantVectors, changes: Changes) -> None:
        super()._apply(held, changes)
        overlay = cast(Overlay, held)  # every tenant's vectors come from ``_initial``
        overlay.xids.update(zip(changes.deleted, changes.deleted_xids, strict=True))
        overlay.xids.update(zip(changes.ids, changes.xids, strict=True))

    def _trim(self, held: TenantVectors, watermark: Snapshot) -> None:
        """Forget overlay entries that Milvus searches surely see (on the worker)."""
        overlay = cast(Overlay, held)
        now = time.monotonic()
        if not overlay.watermarks or watermark.later_than(overlay.watermarks[-1][0]):
            overlay.watermarks.append((watermark, now))
        settled = [w for w, seen in overlay.watermarks if now - seen >= STALENESS]
        if not settled:
            return
        covering = settled[-1]
        recent = [(w, seen) for w, seen in overlay.watermarks if now - seen < STALENESS]
        overlay.watermarks = [(covering, now - STALENESS), *recent]
        held.matrix.delete([i for i, xid in overlay.xids.items() if covering.sees(xid)])
        overlay.xids = {i: xid for i, xid in overlay.xids.items() if not covering.sees(xid)}

    async def drop_tenant(self, tenant_id: uuid.UUID) -> None:
        await super().drop_tenant(tenant_id)
        await asyncio.to_thread(self.store.drop_partition, tenant_id)

    async def search(self, tenant_id: uuid.UUID, vector: Array, top_k: int) -> Searched:
        query = unit_rows(vector, self.dim)
        local, remote = await asyncio.gather(
            super().search(tenant_id, query[0], top_k),
            asyncio.to_thread(self.store.search, tenant_id, query, top_k + EXTRA_HITS, "Bounded"),
        )
        held = self._tenants.get(tenant_id)

        def merged() -> list[SearchHit]:
            """On the worker, which alone changes the overlay: Milvus's hits but those the overlay
            holds a newer state of, with the overlay's own."""
            newer = cast(Overlay, held).xids if held is not None else {}
            fresh = [hit for hit in remote[0] if hit.id not in newer]
            return sorted([*local.hits, *fresh], key=lambda hit: -hit.score)[:top_k]

        return Searched(await self._submit(merged), local.since)

    async def sync_tenant(self, tenant_id: uuid.UUID) -> int:
        """Write the tenant's changes past its watermark to Milvus and move the watermark, under
        its row lock; how many changes. A deleted tenant has none, and keeps no partition."""
        try:
            async with self.db.transaction(tenant_id) as session:
                changes = await self._past_watermark(session, tenant_id, lock=True)
                if not changes.tenant_exists:
                    return 0
                if changes:
                    await asyncio.to_thread(self._write, tenant_id, changes)
                await set_watermark(session, tenant_id, self.store.collection, changes.snapshot)
        except IntegrityError as exc:
            if not isinstance(exc.orig, ForeignKeyViolation):
                raise
            # Deleted while this ran: its deletion dropped the partition, which the write may
            # have made again.
            await asyncio.to_thread(self.store.drop_partition, tenant_id)
            return 0
        VECTOR_INDEX_SYNCED.inc(len(changes.ids) + len(changes.deleted))
        held = self._tenants.get(tenant_id)
        if held is not None:
            await self._submit(lambda: self._trim(held, changes.snapshot))
        return len(changes.ids) + len(changes.deleted)

    def _write(self, tenant_id: uuid.UUID, changes: Changes) -> None:
        self.store.ensure_partition(tenant_id)
        if changes.deleted:
            self.store.delete(tenant_id, changes.deleted)
        self.store.upsert(tenant_id, changes.ids, changes.customers, changes.vectors)

    async def sync(self) -> int:
        """Every tenant's changes; how many."""
        async with self.db.transaction(None, platform_admin=True) as session:
            tenants = list((await session.execute(text("SELECT id FROM tenants"))).scalars())
        return sum([await self.sync_tenant(tenant_id) for tenant_id in tenants])

    async def _sync_forever(self) -> None:
        while True:
            try:
                await self.sync()
            except asyncio.CancelledError:
                raise
            except Exception:  # Milvus or PostgreSQL away: the next round applies it all
                log.warning("Milvus sync failed; retrying in %.0f s", self.sync_every, exc_info=True)
            self.rounds += 1
            await asyncio.sleep(self.sync_every)

    async def refresh(self, tenant_id: uuid.UUID) -> None:
        await super().refresh(tenant_id)
        await self.sync_tenant(tenant_id)

    async def count(self, tenant_id: uuid.UUID) -> int:
        """Vectors in the tenant's partition (after a sync)."""
        return await asyncio.to_thread(self.store.count, tenant_id)

    async def count_customer(self, tenant_id: uuid.UUID, customer_id: uuid.UUID) -> int:
        remote = await asyncio.to_thread(self.store.count_customer, tenant_id, customer_id)
        return remote + await super().count_customer(tenant_id, customer_id)

    def reachable(self) -> bool:
        return self.store.reachable()

    async def close(self) -> None:
        if self._sync_task is not None:
            self._sync_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sync_task
        await super().close()
        await asyncio.to_thread(self.store.close)
