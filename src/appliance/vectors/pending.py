"""Write-behind in front of the index: fresh vectors are searched in memory until flushed.

Milvus (Lite above all) searches slowly while rows sit unflushed — measured ~1.9 s instead of
~47 ms per search — and flushing after every write makes many tiny segments. So writes are
collected here and applied in batches followed by one flush (every ``flush_every`` seconds or
``max_pending`` writes); searches merge the index's hits with a brute-force search over the
pending vectors and drop ids deleted since. PostgreSQL remains the source of truth, and new-
customer creation re-checks recent exemplars there, so other API processes stay correct too.

Every second. Each flush is a new Lite segment and, every few flushes, a merge; while Lite
merged under its search lock that showed in the ingest tail, and flushes were spaced 5 s apart.
Since merges run off that lock (``lite_compaction``), smaller flushes are the better trade: a
smaller pending set to brute-force on every search, and shorter upserts holding the sidecar's
GIL. bench_ingest, 20 k customers, 16 clients: 5 s → 1 s gave p95 151-155 → 109-118 ms, p99
261-277 → 165-184 ms, 268-287 → 296-312 events/s. It must stay well below
``domain.events.recent.RECENT_WINDOW`` (15 s), the time another process looks at a new
customer in PostgreSQL before trusting the index.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

import anyio.to_thread

from appliance.vectors.base import Query, SearchHit, VectorItem
from appliance.vectors.batcher import SearchBatcher
from appliance.vectors.buffer import VectorBuffer

log = logging.getLogger("appliance.vectors")


@dataclass
class _TenantPending:
    upserts: dict[uuid.UUID, VectorItem] = field(default_factory=dict)
    deleted_ids: set[uuid.UUID] = field(default_factory=set)
    deleted_customers: set[uuid.UUID] = field(default_factory=set)
    vectors: VectorBuffer = field(default_factory=VectorBuffer)
    """The upserts' vectors, searchable without restacking (kept in step with ``upserts``)."""

    def put(self, item: VectorItem) -> None:
        self.upserts[item.id] = item
        self.vectors.add(item.id, item.customer_id, item.vector)

    def drop(self, item_id: uuid.UUID) -> None:
        self.upserts.pop(item_id, None)
        self.vectors.remove(item_id)

    def hides(self, item_id: uuid.UUID, customer_id: uuid.UUID) -> bool:
        """Whether this (newer) layer overrides an older copy of the item."""
        return item_id in self.upserts or item_id in self.deleted_ids or customer_id in self.deleted_customers


class WriteBehindIndex:
    def __init__(
        self,
        batcher: SearchBatcher,
        flush_every: float = 1.0,
        max_pending: int = 2000,
        on_applied: Callable[[datetime], None] | None = None,
    ) -> None:
        self.batcher = batcher
        self.on_applied = on_applied
        """Told after each flush that succeeded: every write recorded before this time is in the
        index (``journal.SyncJournal.applied``)."""
        self.index = batcher.index
        self.dim = batcher.index.dim
        self.flush_every = flush_every
        self.max_pending = max_pending
        self._pending: dict[uuid.UUID, _TenantPending] = {}
        # Being applied by a flush right now: still searched here until the index has them.
        self._inflight: dict[uuid.UUID, _TenantPending] = {}
        self._lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None
        self.flushes = 0

    def _tenant(self, tenant_id: uuid.UUID) -> _TenantPending:
        return self._pending.setdefault(tenant_id, _TenantPending())

    def pending_count(self) -> int:
        return sum(
            len(p.upserts) + len(p.deleted_ids) + len(p.deleted_customers) for p in self._pending.values()
        )

    # -- writes: recorded now, applied by the flusher ----------------------------------------
    async def upsert(self, tenant_id: uuid.UUID, items: Sequence[VectorItem]) -> None:
        pending = self._tenant(tenant_id)
        for item in items:
            pending.put(item)
            pending.deleted_ids.discard(item.id)
        self._after_write()

    async def delete(self, tenant_id: uuid.UUID, ids: Sequence[uuid.UUID]) -> None:
        pending = self._tenant(tenant_id)
        for item_id in ids:
            pending.drop(item_id)
            pending.deleted_ids.add(item_id)
        self._after_write()

    async def delete_customer(self, tenant_id: uuid.UUID, customer_id: uuid.UUID) -> None:
        pending = self._tenant(tenant_id)
        for item_id in pending.vectors.remove_owner(customer_id):
            del pending.upserts[item_id]
        pending.deleted_customers.add(customer_id)
        self._after_write()

    def _after_write(self) -> None:
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._flusher(), name="vector-flusher")
        if self.pending_count() >= self.max_pending:
            asyncio.get_running_loop().create_task(self.flush())

    async def _flusher(self) -> None:
        while self._pending:
            await asyncio.sleep(self.flush_every)
            try:
                await self.flush()
            except Exception:  # keep the writes and retry on the next tick
                log.exception("vector flush failed; will retry")

    async def flush(self) -> None:
        """Apply every pending write to the index, then seal it with one flush."""
        async with self._lock:
            if not self._pending:
                return
            batch, self._pending = self._pending, {}
            taken = datetime.now(UTC)
            self._inflight = batch
            try:
                await anyio.to_thread.run_sync(self._apply, batch)
            except BaseException:
                self._inflight = {}
                for tenant_id, pending in batch.items():
                    self._put_back(tenant_id, pending)
                raise
            self._inflight = {}
            self.flushes += 1
            if self.on_applied is not None:
                self.on_applied(taken)

    def _put_back(self, tenant_id: uuid.UUID, failed: _TenantPending) -> None:
        """Return a failed flush's writes to the pending layer; what was written since wins."""
        merged = self._tenant(tenant_id)
        newer = merged.upserts
        deleted_since, erased_since = set(merged.deleted_ids), set(merged.deleted_customers)
        merged.deleted_ids |= failed.deleted_ids - set(newer)
        merged.deleted_customers |= failed.deleted_customers
        merged.upserts, merged.vectors = {}, VectorBuffer()
        for item in failed.upserts.values():
            if item.id not in deleted_since and item.customer_id not in erased_since:
                merged.put(item)
        for item in newer.values():
            merged.put(item)

    def _apply(self, batch: dict[uuid.UUID, _TenantPending]) -> None:
        for tenant_id, pending in batch.items():
            for customer_id in pending.deleted_customers:
                self.index.delete_customer(tenant_id, customer_id)
            if pending.deleted_ids:
                self.index.delete(tenant_id, list(pending.deleted_ids))
            if pending.upserts:
                self.index.upsert(tenant_id, list(pending.upserts.values()))
        self.index.flush()

    # -- reads: the index plus what it does not know yet ---------------------------------------
    async def search(self, tenant_id: uuid.UUID, vector: Query, top_k: int = 5) -> list[SearchHit]:
        hits = await self.batcher.search(tenant_id, vector, top_k)
        return self._merge_pending(tenant_id, vector, top_k, hits)

    def search_pending(self, tenant_id: uuid.UUID, vector: Query, top_k: int = 5) -> list[SearchHit]:
        """Only the writes not yet in the index (cheap, no I/O)."""
        return self._merge_pending(tenant_id, vector, top_k, [])

    def _merge_pending(
        self, tenant_id: uuid.UUID, vector: Query, top_k: int, hits: list[SearchHit]
    ) -> list[SearchHit]:
        layers = [p for p in (self._inflight.get(tenant_id), self._pending.get(tenant_id)) if p is not None]
        if not layers:
            return hits
        kept = [h for h in hits if not any(layer.hides(h.id, h.customer_id) for layer in layers)]
        for age, layer in enumerate(layers):  # older first: a newer layer hides what it rewrote
            newer = layers[age + 1 :]
            found = 0
            for item_id, customer_id, score in layer.vectors.ranked(vector):
                if any(n.hides(item_id, customer_id) for n in newer):
                    continue
                kept.append(SearchHit(id=item_id, customer_id=customer_id, score=score))
                found += 1
                if found == top_k:
                    break
        return sorted(kept, key=lambda h: h.score, reverse=True)[:top_k]

    async def count_customer(self, tenant_id: uuid.UUID, customer_id: uuid.UUID) -> int:
        await self.flush()
        return await self.batcher.count_customer(tenant_id, customer_id)

    async def ids_of_customers(
        self, tenant_id: uuid.UUID, customer_ids: Sequence[uuid.UUID]
    ) -> dict[uuid.UUID, uuid.UUID]:
        await self.flush()
        return await self.batcher.ids_of_customers(tenant_id, customer_ids)

    async def count(self, tenant_id: uuid.UUID) -> int:
        await self.flush()
        return await self.batcher.count(tenant_id)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self.flush()
