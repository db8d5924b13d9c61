"""The Milvus backend (``APPLIANCE_MILVUS_URI``): a Milvus server holds the vectors, for
installations that outgrow one box.

The collection is derived from PostgreSQL by the same change cursor as the embedded index. Per
tenant, ``vector_watermarks`` names the snapshot up to which the collection holds every change;
a sync (on start, then every ``APPLIANCE_MILVUS_SYNC_SECONDS``, in whichever API process takes
the watermark's row lock) writes what changed past it and moves it. Nothing is written to Milvus
before its PostgreSQL commit, and a process killed anywhere loses nothing: the next sync applies
every change past the watermark.

Each process also holds, per tenant, an overlay: the exemplars written and deleted past the
watermark, searched exactly beside Milvus, so a search never waits for a sync. Overlay entries
leave once a watermark that covers them is older than Milvus's bounded staleness.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sqlalchemy import text

from appliance.config import Settings
from appliance.db.engine import Database
from appliance.lib.metrics import VECTOR_INDEX_SYNCED
from appliance.vectors.base import Searched, SearchHit, TenantGoneError
from appliance.vectors.changes import Changes, Snapshot, all_changes_sql
from appliance.vectors.exact import ExactIndex, TenantVectors
from appliance.vectors.matrix import Array, ExemplarMatrix, unit_rows
from appliance.vectors.milvus_store import MilvusStore

log = logging.getLogger(__name__)

EVERYTHING = Snapshot(1, 1, frozenset())
"""The watermark of a tenant never synced: every change is past it."""
STALENESS = 10.0
"""Seconds after which a search with Milvus's Bounded consistency sees a write (its default
graceful time is 5 s)."""
EXTRA_HITS = 16
"""Hits asked of Milvus beyond ``top_k``, for the ones the overlay replaces or deleted."""


@dataclass
class Overlay:
    xids: dict[uuid.UUID, int] = field(default_factory=dict)
    """Exemplars in the overlay's matrix → the transaction that wrote them."""
    deleted: dict[uuid.UUID, int] = field(default_factory=dict)
    """Exemplars deleted past the watermark → the deleting transaction."""
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

    @classmethod
    async def open(cls, settings: Settings, db: Database, dim: int) -> MilvusIndex:
        store = MilvusStore.from_settings(settings, dim)
        await asyncio.to_thread(store.ensure_collection)
        index = cls(db, dim, store, settings.vector_cache_mb << 20, settings.milvus_sync_seconds)
        index._sync_task = asyncio.get_running_loop().create_task(index._sync_forever(), name="milvus-sync")
        return index

    # -- the overlay -------------------------------------------------------------------------

    async def _initial(self, tenant_id: uuid.UUID) -> TenantVectors:
        """The overlay: the tenant's changes past its watermark."""
        watermark = await self._watermark(tenant_id)
        statement: tuple[str, dict[str, Any]] = (all_changes_sql(tenant_id, watermark), {})
        async with self.db.fast_transaction(tenant_id, [statement]) as tx:
            rows = tx.opened[0]
        changes = Changes.from_rows(rows, self.dim)
        if not changes.tenant_exists:  # checked first: never re-create a deleted tenant's partition
            raise TenantGoneError(tenant_id)
        await asyncio.to_thread(self.store.ensure_partition, tenant_id)  # searchable before its first sync
        held = TenantVectors(ExemplarMatrix(self.dim), changes.snapshot, overlay=Overlay())
        await self._submit(lambda: self._apply(held, changes))
        return held

    def _apply(self, held: TenantVectors, changes: Changes) -> None:
        super()._apply(held, changes)
        overlay: Overlay = held.overlay  # every tenant's vectors come from ``_initial``
        for exemplar_id, xid in zip(changes.deleted, changes.deleted_xids, strict=True):
            overlay.xids.pop(exemplar_id, None)
            overlay.deleted[exemplar_id] = xid
        for exemplar_id, xid in zip(changes.ids, changes.xids, strict=True):
            overlay.deleted.pop(exemplar_id, None)
            overlay.xids[exemplar_id] = xid

    def _trim(self, held: TenantVectors, watermark: Snapshot) -> None:
        """Forget overlay entries that Milvus searches surely see (on the worker)."""
        overlay: Overlay = held.overlay
        now = time.monotonic()
        if not overlay.watermarks or watermark.later_than(overlay.watermarks[-1][0]):
            overlay.watermarks.append((watermark, now))
        settled = [w for w, seen in overlay.watermarks if now - seen >= STALENESS]
        if not settled:
            return
        covering = settled[-1]
        overlay.watermarks = [(w, seen) for w, seen in overlay.watermarks if now - seen < STALENESS]
        overlay.watermarks.insert(0, (covering, now - STALENESS))
        gone = [i for i, xid in overlay.xids.items() if covering.sees(xid)]
        held.matrix.delete(gone)
        for exemplar_id in gone:
            del overlay.xids[exemplar_id]
        for exemplar_id in [i for i, xid in overlay.deleted.items() if covering.sees(xid)]:
            del overlay.deleted[exemplar_id]

    async def drop_tenant(self, tenant_id: uuid.UUID) -> None:
        await super().drop_tenant(tenant_id)
        await asyncio.to_thread(self.store.drop_partition, tenant_id)

    # -- search ------------------------------------------------------------------------------

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
            overlay: Overlay = held.overlay if held is not None else Overlay()
            fresh = [h for h in remote[0] if h.id not in overlay.xids and h.id not in overlay.deleted]
            return sorted([*local.hits, *fresh], key=lambda hit: -hit.score)[:top_k]

        return Searched(await self._submit(merged), local.since)

    # -- sync --------------------------------------------------------------------------------

    async def _watermark(self, tenant_id: uuid.UUID) -> Snapshot:
        async with self.db.transaction(tenant_id) as session:
            found = await session.scalar(
                text("SELECT snapshot FROM vector_watermarks WHERE tenant_id = :t AND collection = :c"),
                {"t": tenant_id, "c": self.store.collection},
            )
        return Snapshot.parse(found) if found else EVERYTHING

    async def sync_tenant(self, tenant_id: uuid.UUID) -> int:
        """Write the tenant's changes past its watermark to Milvus and move the watermark, under
        the watermark's row lock (one process at a time); how many changes."""
        async with self.db.transaction(tenant_id) as session:
            key = {"t": tenant_id, "c": self.store.collection}
            await session.execute(
                text(
                    "INSERT INTO vector_watermarks (tenant_id, collection, snapshot)"
                    " VALUES (:t, :c, '1:1:') ON CONFLICT DO NOTHING"
                ),
                key,
            )
            current = await session.scalar(
                text(
                    "SELECT snapshot FROM vector_watermarks"
                    " WHERE tenant_id = :t AND collection = :c FOR UPDATE"
                ),
                key,
            )
            watermark = Snapshot.parse(current) if current else EVERYTHING
            rows = (await session.execute(text(all_changes_sql(tenant_id, watermark)))).all()
            changes = Changes.from_rows([tuple(row) for row in rows], self.dim)
            if changes:
                await asyncio.to_thread(self._write, tenant_id, changes)
            await session.execute(
                text(
                    "UPDATE vector_watermarks SET snapshot = :s, updated_at = now()"
                    " WHERE tenant_id = :t AND collection = :c"
                ),
                {**key, "s": str(changes.snapshot)},
            )
        VECTOR_INDEX_SYNCED.inc(len(changes.ids) + len(changes.deleted))
        held = self._tenants.get(tenant_id)
        if held is not None:
            await self._submit(lambda: self._trim(held, changes.snapshot))
        return len(changes.ids) + len(changes.deleted)

    def _write(self, tenant_id: uuid.UUID, changes: Changes) -> None:
        self.store.ensure_partition(tenant_id)
        if changes.deleted:
            self.store.delete(tenant_id, changes.deleted)
        live = [i for i, row in enumerate(changes.vectors) if row.any()]  # a zero vector never matches
        if live:
            picked = np.asarray(live)
            self.store.upsert(
                tenant_id,
                [changes.ids[i] for i in live],
                [changes.customers[i] for i in live],
                changes.vectors[picked],
            )

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
            await asyncio.sleep(self.sync_every)

    async def refresh(self, tenant_id: uuid.UUID) -> None:
        await super().refresh(tenant_id)
        await self.sync_tenant(tenant_id)

    # -- verification ------------------------------------------------------------------------

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
