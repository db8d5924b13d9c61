"""The embedded vector index: exact search over each tenant's exemplars, held in this process and
kept current from PostgreSQL by the change cursor (``changes.py``).

- A tenant's matrix is loaded on first use and evicted least-recently-used past a memory budget.
- Whoever reads changes hands the rows to ``absorb``; a read whose snapshot is older than the
  one already applied is dropped (everything it saw is in already), so concurrent readers never
  put an old version back.
- This process's own writes are applied by ``wrote`` right after their commit, without waiting
  for a read.
- Every matrix access runs on one worker thread, in submission order: searches (numpy releases
  the GIL) leave the event loop free, and a search never sees a half-applied change. Queries that
  arrive while the worker is busy go together as one matrix product.
"""

from __future__ import annotations

import asyncio
import contextlib
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
from appliance.vectors import scan
from appliance.vectors.base import Searched, SearchHit, TenantGoneError, VectorItem
from appliance.vectors.changes import CHANGES_SINCE, Changes, Snapshot, changes_params, load_matrix
from appliance.vectors.matrix import Array, ExemplarMatrix, unit_rows

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
    read_at: float = field(default_factory=time.monotonic)
    """When changes were last read (``RELOAD_AFTER``)."""
    overlay: Any = None
    """The Milvus backend's bookkeeping (``milvus.Overlay``)."""


@dataclass
class _Pending:
    queries: list[Array] = field(default_factory=list)
    futures: list[asyncio.Future[list[SearchHit]]] = field(default_factory=list)
    top_k: int = 0


class ExactIndex:
    def __init__(self, db: Database, dim: int, budget_bytes: int) -> None:
        self.db, self.dim, self.budget_bytes = db, dim, budget_bytes
        self._tenants: OrderedDict[uuid.UUID, TenantVectors] = OrderedDict()
        self._loading: dict[uuid.UUID, asyncio.Future[TenantVectors]] = {}
        self._pending: dict[uuid.UUID, _Pending] = {}
        self._searching: set[uuid.UUID] = set()
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="vectors")
        self._worker.submit(scan.prepare)  # the int8 scan's runtime, before the first search

    # -- the worker --------------------------------------------------------------------------

    def _submit(self, call: Callable[[], T]) -> asyncio.Future[T]:
        return asyncio.wrap_future(self._worker.submit(call))

    # -- tenants -----------------------------------------------------------------------------

    async def tenant(self, tenant_id: uuid.UUID) -> TenantVectors:
        """The tenant's vectors, loaded from PostgreSQL if this process does not hold them."""
        held = self._tenants.get(tenant_id)
        if held is not None and time.monotonic() - held.read_at < RELOAD_AFTER:
            self._tenants.move_to_end(tenant_id)
            return held
        loading = self._loading.get(tenant_id)
        if loading is None:
            loading = self._loading[tenant_id] = asyncio.get_running_loop().create_future()
            try:
                loaded = await self._load(tenant_id)
            except BaseException as exc:
                loading.set_exception(exc)
                loading.exception()  # retrieved: waiters (if any) get it too
                raise
            finally:
                self._loading.pop(tenant_id, None)
            loading.set_result(loaded)
            return loaded
        return await asyncio.shield(loading)

    async def _initial(self, tenant_id: uuid.UUID) -> TenantVectors:
        """What a tenant's vectors start from: all its exemplars."""
        loaded = await load_matrix(self.db, tenant_id, self.dim)
        if not loaded.tenant_exists:
            raise TenantGoneError(tenant_id)
        return TenantVectors(loaded.matrix, loaded.snapshot)

    async def _load(self, tenant_id: uuid.UUID) -> TenantVectors:
        started = time.perf_counter()
        loaded = await self._initial(tenant_id)
        matrix = loaded.matrix
        self._tenants[tenant_id] = loaded
        self._evict(keep=tenant_id)
        self._quantize_later(tenant_id, loaded)
        VECTOR_TENANT_LOADS.inc()
        log.info(
            "loaded %d exemplars of tenant %s in %.0f ms",
            len(matrix),
            tenant_id,
            1000 * (time.perf_counter() - started),
        )
        return loaded

    def _quantize_later(self, tenant_id: uuid.UUID, held: TenantVectors) -> None:
        """The int8 copy of a loaded matrix, a block of rows per turn of the worker: searches
        run between the blocks (on the float product until the copy is complete)."""

        def step() -> None:
            if self._tenants.get(tenant_id) is not held or held.matrix.quantize_some():
                return  # evicted or reloaded meanwhile, or done
            with contextlib.suppress(RuntimeError):  # the index was closed
                self._worker.submit(step)

        with contextlib.suppress(RuntimeError):
            self._worker.submit(step)

    def _evict(self, keep: uuid.UUID) -> None:
        total = sum(t.matrix.nbytes for t in self._tenants.values())
        for tenant_id in list(self._tenants):
            if total <= self.budget_bytes:
                break
            if tenant_id == keep:
                continue
            total -= self._tenants.pop(tenant_id).matrix.nbytes
            log.info(
                "evicted tenant %s from the vector cache (budget %d MB)", tenant_id, self.budget_bytes >> 20
            )
        if total > self.budget_bytes:
            log.warning(
                "the vector cache holds %d MB, over its budget of %d MB: raise APPLIANCE_VECTOR_CACHE_MB",
                total >> 20,
                self.budget_bytes >> 20,
            )
        VECTOR_CACHE_BYTES.set(total)

    def _forget(self, tenant_id: uuid.UUID) -> None:
        """Drop this process's copy (loaded again at the tenant's next search)."""
        self._tenants.pop(tenant_id, None)

    async def drop_tenant(self, tenant_id: uuid.UUID) -> None:
        self._forget(tenant_id)

    # -- keeping current ---------------------------------------------------------------------

    def changes_statement(
        self, tenant_id: uuid.UUID, since: Snapshot | None = None
    ) -> tuple[Prepared, dict[str, Any]]:
        """The read of what changed since ``since`` (default: the snapshot this process has read
        up to), to run in a transaction (the ingest's own); give its rows to ``absorb``."""
        if since is None:
            since = self._tenants[tenant_id].snapshot
        return CHANGES_SINCE, changes_params(tenant_id, since)

    async def absorb(self, tenant_id: uuid.UUID, rows: Sequence[tuple[Any, ...]]) -> Changes:
        """Apply a read of ``changes_statement``, unless this process had read past it already;
        the changes it read either way."""
        changes = Changes.from_rows(rows, self.dim)
        if not changes.tenant_exists:
            await self.drop_tenant(tenant_id)
            raise TenantGoneError(tenant_id)
        held = self._tenants.get(tenant_id)
        if held is None or not changes.snapshot.later_than(held.snapshot):
            return changes
        if not changes.complete:  # too much to read this way: loaded afresh at its next search
            self._forget(tenant_id)
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
        """Read and apply what changed (after a merge, split or erasure committed)."""
        if tenant_id not in self._tenants:
            return  # loaded current at its next use
        async with self.db.fast_transaction(tenant_id, [self.changes_statement(tenant_id)]) as tx:
            rows = tx.opened[0]
        await self.absorb(tenant_id, rows)

    def wrote(self, tenant_id: uuid.UUID, added: Sequence[VectorItem], removed: Sequence[uuid.UUID]) -> None:
        """This process committed these exemplar writes: searchable from the next search on (the
        worker runs in submission order), before a read of changes brings them."""
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

    # -- search ------------------------------------------------------------------------------

    async def search(self, tenant_id: uuid.UUID, vector: Array, top_k: int) -> Searched:
        """Exact top ``top_k`` of the tenant's exemplars, as far as this process has read: at
        least its snapshot now (the worker applies every change read so far before this search)."""
        held = await self.tenant(tenant_id)
        since = held.snapshot
        loop = asyncio.get_running_loop()
        future: asyncio.Future[list[SearchHit]] = loop.create_future()
        pending = self._pending.get(tenant_id)
        if pending is None:
            pending = self._pending[tenant_id] = _Pending()
            if tenant_id not in self._searching:  # else it goes when the running search ends
                self._searching.add(tenant_id)
                loop.call_soon(self._run_batch, tenant_id)
        pending.queries.append(unit_rows(vector, self.dim)[0])
        pending.futures.append(future)
        pending.top_k = max(pending.top_k, top_k)
        hits = await future
        return Searched(hits[:top_k], since)

    def _run_batch(self, tenant_id: uuid.UUID) -> None:
        """One matrix product for the tenant's waiting queries; the queries that arrive meanwhile
        wait for it and go together next (under load, batches grow instead of queueing)."""
        pending = self._pending.pop(tenant_id, None)
        if pending is None:
            self._searching.discard(tenant_id)
            return
        held = self._tenants.get(tenant_id)
        queries = np.stack(pending.queries)
        VECTOR_SEARCH_BATCH.observe(len(queries))

        def search() -> list[list[SearchHit]]:
            if held is None:
                return [[] for _ in pending.futures]
            return held.matrix.search(queries, pending.top_k)

        done = self._submit(search)

        def deliver(result: asyncio.Future[list[list[SearchHit]]]) -> None:
            for index, future in enumerate(pending.futures):
                if future.done():
                    continue
                if result.exception() is not None:
                    future.set_exception(result.exception())  # type: ignore[arg-type]
                else:
                    future.set_result(result.result()[index])
            self._run_batch(tenant_id)

        done.add_done_callback(deliver)

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

    # -- verification ------------------------------------------------------------------------

    async def count(self, tenant_id: uuid.UUID) -> int:
        held = await self.tenant(tenant_id)
        return len(held.matrix)

    async def count_customer(self, tenant_id: uuid.UUID, customer_id: uuid.UUID) -> int:
        held = await self.tenant(tenant_id)
        return await self._submit(lambda: held.matrix.count_customer(customer_id))

    def reachable(self) -> bool:
        return True

    async def close(self) -> None:
        self._tenants.clear()
        self._worker.shutdown(wait=True)
