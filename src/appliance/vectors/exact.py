"""The embedded index (ADR 0008): per tenant, the exemplars as a matrix in this process, loaded on
first use, evicted least-recently-used past a budget, kept current by the change cursor."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TypeVar

import numpy as np

from appliance.db.engine import Database
from appliance.db.prepared import Prepared
from appliance.lib.metrics import VECTOR_CACHE_BYTES, VECTOR_SEARCH_BATCH, VECTOR_TENANT_LOADS
from appliance.vectors.base import Searched, SearchHit, TenantGoneError, VectorItem
from appliance.vectors.changes import CHANGES_SINCE, Changes, Snapshot, changes_params, load_matrix
from appliance.vectors.matrix import Array, ExemplarMatrix, scan_batches, unit_rows

log = logging.getLogger(__name__)
T = TypeVar("T")

UNKNOWN_XID = 2**63 - 1
"""The transaction id of this process's own writes, until a read of changes brings the real one."""
RELOAD_AFTER = 12 * 3600.0
"""Seconds without a read after which a tenant is loaded afresh: tombstones are kept a day
(``jobs/purge.py``), so a cursor this old could miss deletes."""


@dataclass
class TenantVectors:
    matrix: ExemplarMatrix
    snapshot: Snapshot
    """What this process has read up to."""
    read_at: float = field(default_factory=time.monotonic)


class ExactIndex:
    def __init__(self, db: Database, dim: int, budget_bytes: int) -> None:
        self.db, self.dim, self.budget_bytes = db, dim, budget_bytes
        self._tenants: OrderedDict[uuid.UUID, TenantVectors] = OrderedDict()
        self._loading: dict[uuid.UUID, asyncio.Future[TenantVectors]] = {}
        self._queued: dict[uuid.UUID, list[tuple[Array, int, asyncio.Future[list[SearchHit]]]]] = {}
        """Per tenant, the queries waiting for the worker: (unit query, top k, its answer)."""
        self._drains: set[asyncio.Task[None]] = set()
        # Every matrix access, in submission order: the event loop stays free, and a search never
        # sees a half-applied change.
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="vectors")
        # the int8 scan's runtime and whether it pays off here, before the first search
        self._worker.submit(scan_batches, dim)

    def _submit(self, call: Callable[[], T]) -> asyncio.Future[T]:
        return asyncio.wrap_future(self._worker.submit(call))

    async def tenant(self, tenant_id: uuid.UUID) -> TenantVectors:
        """The tenant's vectors, loaded from PostgreSQL if this process does not hold them."""
        held = self._tenants.get(tenant_id)
        if held is not None and time.monotonic() - held.read_at < RELOAD_AFTER:
            self._tenants.move_to_end(tenant_id)
            return held
        loading = self._loading.get(tenant_id)
        if loading is None:  # one load per tenant, whoever else waits for it
            loading = self._loading[tenant_id] = asyncio.ensure_future(self._load(tenant_id))
            loading.add_done_callback(lambda _: self._loading.pop(tenant_id, None))
        return await asyncio.shield(loading)

    async def _initial(self, tenant_id: uuid.UUID) -> TenantVectors:
        """What a tenant's vectors start from: all its exemplars."""
        # The scan's decision is timed on the worker (submitted at start): the load's matrix would
        # otherwise wait for it on the event loop.
        await self._submit(functools.partial(scan_batches, self.dim))
        loaded = await load_matrix(self.db, tenant_id, self.dim)
        if not loaded.tenant_exists:
            raise TenantGoneError(tenant_id)
        return TenantVectors(loaded.matrix, loaded.snapshot)

    async def _load(self, tenant_id: uuid.UUID) -> TenantVectors:
        started = time.perf_counter()
        held = self._tenants[tenant_id] = await self._initial(tenant_id)
        self._evict(keep=tenant_id)
        with contextlib.suppress(RuntimeError):  # the index was closed
            self._worker.submit(self._quantize_step, tenant_id, held)
        VECTOR_TENANT_LOADS.inc()
        elapsed = 1000 * (time.perf_counter() - started)
        log.info("loaded %d exemplars of tenant %s in %.0f ms", len(held.matrix), tenant_id, elapsed)
        return held

    def _quantize_step(self, tenant_id: uuid.UUID, held: TenantVectors) -> None:
        """The int8 copy of a loaded matrix, a block of rows per turn of the worker: searches run
        between the blocks (on the float product until the copy is complete)."""
        if self._tenants.get(tenant_id) is not held or held.matrix.quantize_some():
            return  # evicted or reloaded meanwhile, or done
        with contextlib.suppress(RuntimeError):  # the index was closed
            self._worker.submit(self._quantize_step, tenant_id, held)

    def _evict(self, keep: uuid.UUID) -> None:
        total = sum(t.matrix.nbytes for t in self._tenants.values())
        for tenant_id in list(self._tenants):
            if total <= self.budget_bytes:
                break
            if tenant_id != keep:
                total -= self._tenants.pop(tenant_id).matrix.nbytes
                log.info(
                    "evicted tenant %s from the vector cache (budget %d MB)",
                    tenant_id,
                    self.budget_bytes >> 20,
                )
        if total > self.budget_bytes:
            log.warning(
                "the vector cache holds %d MB, over its budget of %d MB: raise APPLIANCE_VECTOR_CACHE_MB",
                total >> 20,
                self.budget_bytes >> 20,
            )
        VECTOR_CACHE_BYTES.set(total)

    async def drop_tenant(self, tenant_id: uuid.UUID) -> None:
        self._tenants.pop(tenant_id, None)

    def changes_statement(
        self, tenant_id: uuid.UUID, since: Snapshot | None = None
    ) -> tuple[Prepared, dict[str, Any]]:
        """The read of what changed since ``since`` (default: what this process has read), to run
        in a transaction (the ingest's own); its rows go to ``absorb``."""
        return CHANGES_SINCE, changes_params(tenant_id, since or self._tenants[tenant_id].snapshot)

    async def absorb(self, tenant_id: uuid.UUID, rows: Sequence[tuple[Any, ...]]) -> Changes:
        """Apply a read of ``changes_statement``, unless this process had read past it already (a
        concurrent reader never puts an old version back); the changes it read either way."""
        changes = Changes.from_rows(rows, self.dim)
        if not changes.tenant_exists:
            await self.drop_tenant(tenant_id)
            raise TenantGoneError(tenant_id)
        held = self._tenants.get(tenant_id)
        if held is None or not changes.snapshot.later_than(held.snapshot):
            return changes
        if not changes.complete:  # too much to read this way: loaded afresh at its next search
            self._tenants.pop(tenant_id, None)
            return changes
        held.snapshot, held.read_at = changes.snapshot, time.monotonic()
        if changes:
            await self._submit(lambda: self._apply(held, changes))
        return changes

    def _apply(self, held: TenantVectors, changes: Changes) -> None:
        """On the worker."""
        held.matrix.delete(changes.deleted)
        held.matrix.upsert(changes.ids, changes.customers, changes.vectors)

    async def refresh(self, tenant_id: uuid.UUID) -> None:
        """Read and apply what changed now (after a merge, split or erasure committed)."""
        if tenant_id not in self._tenants:
            return  # loaded current at its next use
        async with self.db.fast_transaction(tenant_id, [self.changes_statement(tenant_id)]) as tx:
            rows = tx.opened[0]
        await self.absorb(tenant_id, rows)

    def wrote(self, tenant_id: uuid.UUID, added: Sequence[VectorItem], removed: Sequence[uuid.UUID]) -> None:
        """This process committed these exemplar writes: searchable from the next search on,
        before a read of changes brings them."""
        held = self._tenants.get(tenant_id)
        if held is None or not (added or removed):
            return
        changes = Changes(
            held.snapshot,
            ids=[item.id for item in added],
            customers=[item.customer_id for item in added],
            vectors=unit_rows([item.vector for item in added], self.dim)
            if added
            else np.empty((0, self.dim)),
            xids=[UNKNOWN_XID] * len(added),
            deleted=list(removed),
            deleted_xids=[UNKNOWN_XID] * len(removed),
        )
        self._worker.submit(self._apply, held, changes)

    async def search(self, tenant_id: uuid.UUID, vector: Array, top_k: int) -> Searched:
        """Exact top ``top_k`` of the tenant's exemplars, as far as this process has read: at
        least its snapshot now (the worker applies every change read so far before this search)."""
        since = (await self.tenant(tenant_id)).snapshot
        answer: asyncio.Future[list[SearchHit]] = asyncio.get_running_loop().create_future()
        queued = self._queued.get(tenant_id)
        if queued is None:  # else the tenant's running drain takes this query with its next batch
            queued = self._queued[tenant_id] = []
            drain = asyncio.ensure_future(self._drain(tenant_id))
            self._drains.add(drain)
            drain.add_done_callback(self._drains.discard)
        queued.append((unit_rows(vector, self.dim)[0], top_k, answer))
        return Searched((await answer)[:top_k], since)

    async def _drain(self, tenant_id: uuid.UUID) -> None:
        """One matrix product per batch of the tenant's waiting queries, until none wait: under
        load, batches grow instead of queueing."""
        batch: list[tuple[Array, int, asyncio.Future[list[SearchHit]]]] = []
        try:
            while batch := self._queued.get(tenant_id, []):
                self._queued[tenant_id] = []
                VECTOR_SEARCH_BATCH.observe(len(batch))
                held = self._tenants.get(tenant_id)
                try:
                    if held is None:  # evicted meanwhile
                        found: list[list[SearchHit]] = [[] for _ in batch]
                    else:
                        queries = np.stack([query for query, _, _ in batch])
                        top_k = max(k for _, k, _ in batch)
                        found = await self._submit(functools.partial(held.matrix.search, queries, top_k))
                except Exception as exc:
                    for _, _, answer in batch:
                        if not answer.done():
                            answer.set_exception(exc)
                else:
                    for (_, _, answer), hits in zip(batch, found, strict=True):
                        if not answer.done():
                            answer.set_result(hits)
        finally:  # cancelled (shutdown): no query waits for a drain that is gone
            for _, _, answer in [*batch, *self._queued.pop(tenant_id, [])]:
                answer.cancel()

    def revise(
        self, hits: list[SearchHit], changes: Changes, vector: Array, top_k: int
    ) -> list[SearchHit] | None:
        """``hits`` of a search made before ``changes`` were applied, brought up to date: written
        exemplars scored afresh, deleted ones dropped. None when a hit was deleted (the row that
        would have taken its place is unknown) or the read was incomplete: search again."""
        if not changes.complete:
            return None
        if not changes:
            return hits
        written = set(changes.ids)
        deleted = set(changes.deleted) - written  # a live row is the current state
        if any(hit.id in deleted for hit in hits):
            return None
        kept = [hit for hit in hits if hit.id not in written]
        if changes.ids:
            scores = changes.vectors @ unit_rows(vector, self.dim)[0]
            kept += [
                SearchHit(id=i, customer_id=c, score=float(s))
                for i, c, s in zip(changes.ids, changes.customers, scores.tolist(), strict=True)
            ]
        kept.sort(key=lambda hit: -hit.score)
        return kept[:top_k]

    async def count(self, tenant_id: uuid.UUID) -> int:
        return len((await self.tenant(tenant_id)).matrix)

    async def count_customer(self, tenant_id: uuid.UUID, customer_id: uuid.UUID) -> int:
        held = await self.tenant(tenant_id)
        return await self._submit(lambda: held.matrix.count_customer(customer_id))

    def reachable(self) -> bool:
        return True

    async def close(self) -> None:
        self._tenants.clear()
        self._worker.shutdown(wait=True)
