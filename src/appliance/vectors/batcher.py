"""Micro-batching of vector searches for async request handlers.

Concurrent ``await batcher.search(tenant, vector, k)`` calls for one tenant are grouped (up to
``max_batch`` queries, or whatever arrived within ``max_wait_ms`` of the first one) into one
``index.search`` call, run in a worker thread; each caller gets its own hits. A Milvus search
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

from appliance.vectors.base import SearchHit, VectorIndex, VectorItem

T = TypeVar("T")


@dataclass
class _Pending:
    vector: Sequence[float]
    top_k: int
    future: asyncio.Future[list[SearchHit]]


@dataclass
class _Batch:
    tenant_id: uuid.UUID
    loop: asyncio.AbstractEventLoop
    items: list[_Pending] = field(default_factory=list)
    timer: asyncio.TimerHandle | None = None


class SearchBatcher:
    def __init__(
        self,
        index: VectorIndex,
        max_batch: int = 16,
        max_wait_ms: float = 2.0,
    ) -> None:
        if max_batch < 1:
            raise ValueError("max_batch must be at least 1")
        self.index = index
        self.max_batch = max_batch
        self.max_wait = max(max_wait_ms, 0.0) / 1000.0
        self._batches: dict[tuple[int, uuid.UUID], _Batch] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self.calls = 0
        """Index search calls made (for metrics and tests)."""
        self.queries = 0
        """Query vectors searched."""

    # -- search ----------------------------------------------------------------------------

    async def search(self, tenant_id: uuid.UUID, vector: Sequence[float], top_k: int = 5) -> list[SearchHit]:
        """The best ``top_k`` hits for one vector in the tenant's partition, best first."""
        if len(vector) != self.index.dim:
            raise ValueError(f"expected a {self.index.dim}-D vector, got {len(vector)} values")
        loop = asyncio.get_running_loop()
        future: asyncio.Future[list[SearchHit]] = loop.create_future()
        key = (id(loop), tenant_id)
        batch = self._batches.get(key)
        if batch is None or batch.loop is not loop:  # (a dead loop's id can be reused)
            batch = self._batches[key] = _Batch(tenant_id, loop)
            if self.max_batch > 1:
                batch.timer = loop.call_later(self.max_wait, self._dispatch, key, batch)
        batch.items.append(_Pending(vector, top_k, future))
        if len(batch.items) >= self.max_batch:
            self._dispatch(key, batch)
        return await future

    def _dispatch(self, key: tuple[int, uuid.UUID], batch: _Batch) -> None:
        if self._batches.get(key) is batch:
            del self._batches[key]
        if batch.timer is not None:
            batch.timer.cancel()
            batch.timer = None
        if not batch.items:
            return
        task = asyncio.get_running_loop().create_task(self._run(batch))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _run(self, batch: _Batch) -> None:
        items = [item for item in batch.items if not item.future.done()]  # drop cancelled waiters
        if not items:
            return
        top_k = max(item.top_k for item in items)
        vectors = [item.vector for item in items]
        self.calls += 1
        self.queries += len(items)
        try:
            results = await anyio.to_thread.run_sync(self.index.search, batch.tenant_id, vectors, top_k)
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
        """Send every waiting batch now and wait until all in-flight searches finish."""
        loop = asyncio.get_running_loop()
        for key, batch in list(self._batches.items()):
            if batch.loop is loop:
                self._dispatch(key, batch)
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

    async def flush(self) -> None:
        await self._call(self.index.flush)
