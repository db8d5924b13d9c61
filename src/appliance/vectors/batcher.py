"""Micro-batching of vector searches for async request handlers.

Concurrent ``await batcher.search(tenant, vector, k)`` calls for one tenant are grouped into one
``index.search`` call, run in a worker thread; each caller gets its own hits. At most
``max_inflight`` calls per tenant run at once; queries arriving meanwhile wait for a slot and
leave together, so batches grow with the load and shrink to one query when idle. A Milvus search
has a fixed per-call cost (an RPC, and on Lite a Python pass over the partition's keys) that a
batch pays once. An exception from the index reaches every caller of that batch.

Writes go through the same object (``upsert``, ``delete``, …) so handlers never block the event
loop on the index. Safe to share across the requests of one event loop (Litestar's); state is
kept per loop so a second loop (e.g. a test portal) does not mix with the first.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import anyio.to_thread

from appliance.lib.metrics import VECTOR_SEARCH_BATCH
from appliance.vectors.base import Query, SearchHit, VectorIndex, VectorItem

T = TypeVar("T")


@dataclass
class _Pending:
    vector: Query
    top_k: int
    future: asyncio.Future[list[SearchHit]]


@dataclass
class _Lane:
    """One tenant's searches on one event loop: queries waiting, index calls in flight."""

    tenant_id: uuid.UUID
    loop: asyncio.AbstractEventLoop
    waiting: list[_Pending] = field(default_factory=list)
    inflight: int = 0
    timer: asyncio.TimerHandle | None = None


class SearchBatcher:
    def __init__(
        self,
        index: VectorIndex,
        max_batch: int = 64,
        max_wait_ms: float = 1.0,
        max_inflight: int = 1,
    ) -> None:
        if max_batch < 1 or max_inflight < 1:
            raise ValueError("max_batch and max_inflight must be at least 1")
        self.index = index
        self.max_batch = max_batch
        self.max_wait = max(max_wait_ms, 0.0) / 1000.0
        self.max_inflight = max_inflight
        self._lanes: dict[tuple[int, uuid.UUID], _Lane] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self.calls = 0
        """Index search calls made (for metrics and tests)."""
        self.queries = 0
        """Query vectors searched."""

    # -- search ----------------------------------------------------------------------------

    async def search(self, tenant_id: uuid.UUID, vector: Query, top_k: int = 5) -> list[SearchHit]:
        """The best ``top_k`` hits for one vector in the tenant's partition, best first.

        Batches form by themselves under load: while ``max_inflight`` index calls of this
        tenant are running, new queries wait and leave together (up to ``max_batch``) as soon
        as one returns. When idle, a query waits at most ``max_wait_ms`` for company."""
        if len(vector) != self.index.dim:
            raise ValueError(f"expected a {self.index.dim}-D vector, got {len(vector)} values")
        loop = asyncio.get_running_loop()
        future: asyncio.Future[list[SearchHit]] = loop.create_future()
        key = (id(loop), tenant_id)
        lane = self._lanes.get(key)
        if lane is None or lane.loop is not loop:  # (a dead loop's id can be reused)
            lane = self._lanes[key] = _Lane(tenant_id, loop)
        lane.waiting.append(_Pending(vector, top_k, future))
        if lane.inflight < self.max_inflight:
            if len(lane.waiting) >= self.max_batch or self.max_batch == 1:
                self._dispatch(lane)
            elif lane.timer is None:
                lane.timer = loop.call_later(self.max_wait, self._on_timer, lane)
        return await future

    def _on_timer(self, lane: _Lane) -> None:
        lane.timer = None
        if lane.inflight < self.max_inflight:
            self._dispatch(lane)

    def _dispatch(self, lane: _Lane) -> None:
        if lane.timer is not None:
            lane.timer.cancel()
            lane.timer = None
        items = [item for item in lane.waiting[: self.max_batch] if not item.future.done()]
        del lane.waiting[: self.max_batch]
        if not items:
            return
        lane.inflight += 1
        task = lane.loop.create_task(self._run(lane, items))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _run(self, lane: _Lane, items: list[_Pending]) -> None:
        try:
            await self._search(lane.tenant_id, items)
        finally:
            lane.inflight -= 1
            if lane.waiting:  # they waited for this call already: go now
                self._dispatch(lane)

    async def _search(self, tenant_id: uuid.UUID, items: list[_Pending]) -> None:
        top_k = max(item.top_k for item in items)
        vectors = [item.vector for item in items]
        self.calls += 1
        self.queries += len(items)
        VECTOR_SEARCH_BATCH.observe(len(items))
        try:
            # An index class may search from the event loop itself (MilvusIndex: the search lane).
            search_async = getattr(type(self.index), "search_async", None)
            if search_async is not None:
                results = await search_async(self.index, tenant_id, vectors, top_k)
            else:
                results = await anyio.to_thread.run_sync(self.index.search, tenant_id, vectors, top_k)
            if len(results) != len(items):
                raise RuntimeError(f"the index answered {len(results)} queries for {len(items)}")
        except Exception as exc:  # every waiter of the batch sees the failure
            for item in items:
                if not item.future.done():
                    item.future.set_exception(exc)
            return
        except BaseException:  # cancelled (shutdown): so are the waiters
            for item in items:
                item.future.cancel()
            raise
        for item, hits in zip(items, results, strict=True):
            if not item.future.done():
                item.future.set_result(hits[: item.top_k])

    async def drain(self) -> None:
        """Send every waiting query now and wait until all in-flight searches finish."""
        loop = asyncio.get_running_loop()
        for lane in list(self._lanes.values()):
            if lane.loop is loop:
                while lane.waiting:
                    self._dispatch(lane)
        tasks = [task for task in self._tasks if task.get_loop() is loop]
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)

    # -- writes and other index calls, off the event loop ----------------------------------

    async def _call(self, func: Any, *args: Any) -> Any:
        return await anyio.to_thread.run_sync(func, *args)

    async def upsert(self, tenant_id: uuid.UUID, items: Sequence[VectorItem]) -> None:
        if items:
            await self._call(self.index.upsert, tenant_id, items)

    async def delete(self, tenant_id: uuid.UUID, ids: Sequence[uuid.UUID]) -> None:
        if ids:
            await self._call(self.index.delete, tenant_id, ids)

    async def delete_customer(self, tenant_id: uuid.UUID, customer_id: uuid.UUID) -> None:
        await self._call(self.index.delete_customer, tenant_id, customer_id)

    async def ensure_partition(self, tenant_id: uuid.UUID) -> None:
        await self._call(self.index.ensure_partition, tenant_id)

    async def drop_partition(self, tenant_id: uuid.UUID) -> None:
        await self._call(self.index.drop_partition, tenant_id)

    async def count(self, tenant_id: uuid.UUID) -> int:
        result: int = await self._call(self.index.count, tenant_id)
        return result

    async def count_customer(self, tenant_id: uuid.UUID, customer_id: uuid.UUID) -> int:
        result: int = await self._call(self.index.count_customer, tenant_id, customer_id)
        return result

    async def ids_of_customers(
        self, tenant_id: uuid.UUID, customer_ids: Sequence[uuid.UUID]
    ) -> dict[uuid.UUID, uuid.UUID]:
        result: dict[uuid.UUID, uuid.UUID] = await self._call(
            self.index.ids_of_customers, tenant_id, customer_ids
        )
        return result

    async def flush(self) -> None:
        await self._call(self.index.flush)
