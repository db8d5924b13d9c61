"""The write-behind layer's in-memory view: newer writes win over older ones and over the index.

Pure logic: the index is never called here (nothing is flushed), so a dimension holder is enough;
the failed-flush test uses an index whose writes all fail.
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass

import numpy as np
import pytest

from appliance.vectors.base import SearchHit, VectorIndexError, VectorItem
from appliance.vectors.batcher import SearchBatcher
from appliance.vectors.pending import WriteBehindIndex, _TenantPending

DIM = 8


@dataclass
class Dimension:
    dim: int = DIM


def unit(rng: np.random.Generator) -> np.ndarray:
    v = rng.standard_normal(DIM).astype(np.float32)
    return v / np.linalg.norm(v)


def layer(*items: VectorItem, deleted: set[uuid.UUID] | None = None) -> _TenantPending:
    pending = _TenantPending(deleted_ids=deleted or set())
    for item in items:
        pending.put(item)
    return pending


def test_newer_layers_hide_what_they_rewrote_and_index_hits_they_replaced() -> None:
    rng = np.random.default_rng(8)
    tenant = uuid.uuid4()
    index = WriteBehindIndex(SearchBatcher(Dimension()))  # type: ignore[arg-type]
    query = unit(rng)
    a, b, c = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()  # customers
    old_a = VectorItem(id=uuid.uuid4(), customer_id=a, vector=query)  # a perfect match …
    moved = VectorItem(id=uuid.uuid4(), customer_id=b, vector=unit(rng))
    index._inflight[tenant] = layer(old_a, moved)  # being flushed
    # … rewritten in the newer layer with another vector, and customer c erased
    new_a = VectorItem(id=old_a.id, customer_id=a, vector=unit(rng))
    index._pending[tenant] = layer(new_a)
    index._pending[tenant].deleted_customers.add(c)
    from_index = [
        SearchHit(id=uuid.uuid4(), customer_id=c, score=0.99),  # erased customer: hidden
        SearchHit(id=moved.id, customer_id=b, score=0.98),  # stale copy of a pending item: hidden
        SearchHit(id=uuid.uuid4(), customer_id=b, score=0.10),
    ]
    hits = index._merge_pending(tenant, query, 5, from_index)
    by_id = {h.id: h for h in hits}
    assert old_a.id in by_id and abs(by_id[old_a.id].score - float(new_a.vector @ query)) < 1e-5
    assert all(h.customer_id != c for h in hits)
    assert (
        by_id[moved.id].score == float(np.float32(moved.vector @ query))
        or abs(by_id[moved.id].score - float(moved.vector @ query)) < 1e-5
    )
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)


def test_pending_writes_are_searchable_until_deleted() -> None:
    rng = np.random.default_rng(9)
    tenant, customer = uuid.uuid4(), uuid.uuid4()
    index = WriteBehindIndex(SearchBatcher(Dimension()), flush_every=3600)  # type: ignore[arg-type]
    vec = unit(rng)
    item = VectorItem(id=uuid.uuid4(), customer_id=customer, vector=vec)

    async def run() -> tuple[list[SearchHit], list[SearchHit], list[SearchHit]]:
        await index.upsert(tenant, [item])
        found = index.search_pending(tenant, vec, 3)
        await index.delete(tenant, [item.id])
        gone = index.search_pending(tenant, vec, 3)
        await index.upsert(tenant, [item])
        await index.delete_customer(tenant, customer)
        erased = index.search_pending(tenant, vec, 3)
        if index._task is not None:
            index._task.cancel()
        return found, gone, erased

    found, gone, erased = asyncio.run(run())
    assert [h.id for h in found] == [item.id] and abs(found[0].score - 1.0) < 1e-5
    assert gone == [] and erased == []


class UnreachableIndex:
    """An index whose every write fails, as a stopped Milvus does."""

    dim = DIM

    def delete_customer(self, tenant_id: uuid.UUID, customer_id: uuid.UUID) -> None:
        raise VectorIndexError("unreachable")

    def delete(self, tenant_id: uuid.UUID, ids: list[uuid.UUID]) -> None:
        raise VectorIndexError("unreachable")

    def upsert(self, tenant_id: uuid.UUID, items: list[VectorItem]) -> None:
        raise VectorIndexError("unreachable")

    def flush(self) -> None:
        raise VectorIndexError("unreachable")


def test_a_failed_flush_keeps_every_tenants_writes() -> None:
    rng = np.random.default_rng(10)
    index = WriteBehindIndex(SearchBatcher(UnreachableIndex()), flush_every=3600)  # type: ignore[arg-type]
    tenants = [uuid.uuid4(), uuid.uuid4(), uuid.uuid4()]
    items = {t: VectorItem(id=uuid.uuid4(), customer_id=uuid.uuid4(), vector=unit(rng)) for t in tenants}

    async def run() -> None:
        for tenant, item in items.items():
            await index.upsert(tenant, [item])
        with pytest.raises(VectorIndexError):
            await index.flush()

    asyncio.run(run())
    assert index.pending_count() == len(tenants)
    for tenant, item in items.items():  # still searched in memory, to be applied by the next flush
        hits = index.search_pending(tenant, item.vector, 1)
        assert [h.id for h in hits] == [item.id], tenant


def test_writes_made_during_a_failed_flush_win_over_its_writes() -> None:
    rng = np.random.default_rng(11)
    index = WriteBehindIndex(SearchBatcher(UnreachableIndex()), flush_every=3600)  # type: ignore[arg-type]
    tenant, customer, erased = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    kept = VectorItem(id=uuid.uuid4(), customer_id=customer, vector=unit(rng))
    deleted = VectorItem(id=uuid.uuid4(), customer_id=customer, vector=unit(rng))
    of_erased = VectorItem(id=uuid.uuid4(), customer_id=erased, vector=unit(rng))
    rewritten = VectorItem(id=uuid.uuid4(), customer_id=customer, vector=unit(rng))
    newer_copy = VectorItem(id=rewritten.id, customer_id=customer, vector=unit(rng))

    async def run() -> None:
        await index.upsert(tenant, [kept, deleted, of_erased, rewritten])
        flushing = asyncio.create_task(index.flush())
        await asyncio.sleep(0)  # the flush took the batch and waits for the (failing) index
        await index.delete(tenant, [deleted.id])
        await index.delete_customer(tenant, erased)
        await index.upsert(tenant, [newer_copy])
        with pytest.raises(VectorIndexError):
            await flushing

    asyncio.run(run())
    pending = index._pending[tenant]
    assert set(pending.upserts) == {kept.id, rewritten.id}
    assert pending.upserts[rewritten.id] is newer_copy
    assert deleted.id in pending.deleted_ids and erased in pending.deleted_customers
    assert [h.id for h in index.search_pending(tenant, deleted.vector, 3)] != [deleted.id]
    found = {h.id for h in index.search_pending(tenant, of_erased.vector, 3)}
    assert of_erased.id not in found
