"""MilvusIndex and SearchBatcher on a real Milvus Lite file (one per module: start-up costs)."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from appliance.vectors.base import DimensionMismatchError, SearchHit, VectorIndexError, VectorItem
from appliance.vectors.batcher import SearchBatcher
from appliance.vectors.milvus import MilvusIndex

DIMS = (128, 512)


def unit_vectors(rng: np.random.Generator, n: int, dim: int) -> np.ndarray[Any, Any]:
    vectors = rng.standard_normal((n, dim)).astype(np.float32)
    normalised: np.ndarray[Any, Any] = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    return normalised


class Tenant:
    """A tenant's exemplars as stored: ids, customers and vectors (3 exemplars per customer)."""

    def __init__(self, rng: np.random.Generator, n: int, dim: int) -> None:
        self.id = uuid.uuid4()
        self.vectors = unit_vectors(rng, n, dim)
        customers = [uuid.uuid4() for _ in range((n + 2) // 3)]
        self.items = [
            VectorItem(id=uuid.uuid4(), customer_id=customers[i // 3], vector=self.vectors[i].tolist())
            for i in range(n)
        ]
        self.ids = {item.id for item in self.items}


@pytest.fixture(scope="module")
def lite_uri(tmp_path_factory: pytest.TempPathFactory) -> str:
    return str(tmp_path_factory.mktemp("milvus") / "vectors.db")


@pytest.fixture(scope="module", params=DIMS, ids=[f"{d}d" for d in DIMS])
def index(request: pytest.FixtureRequest, lite_uri: str) -> Iterator[MilvusIndex]:
    dim: int = request.param
    idx = MilvusIndex(lite_uri, dim, collection=f"faces_{dim}")
    idx.ensure_collection()
    yield idx
    idx.close()


@pytest.fixture(scope="module")
def tenants(index: MilvusIndex) -> tuple[Tenant, Tenant]:
    return seed(index)


def seed(index: MilvusIndex) -> tuple[Tenant, Tenant]:
    """Two tenants of 300 and 200 vectors: the first half flushed (indexed), the rest in memory."""
    rng = np.random.default_rng(index.dim)
    a, b = Tenant(rng, 300, index.dim), Tenant(rng, 200, index.dim)
    for tenant in (a, b):
        half = len(tenant.items) // 2
        index.upsert(tenant.id, tenant.items[:half])
    index.flush()
    for tenant in (a, b):
        half = len(tenant.items) // 2
        index.upsert(tenant.id, tenant.items[half:])
    return a, b


def test_exact_vector_is_top1_with_score_one(index: MilvusIndex, tenants: tuple[Tenant, Tenant]) -> None:
    a, _ = tenants
    picks = [0, 1, 149, 150, 151, 299]  # flushed and unflushed rows
    results = index.search(a.id, [a.items[i].vector for i in picks], top_k=5)
    assert len(results) == len(picks)
    for i, hits in zip(picks, results, strict=True):
        assert hits[0].id == a.items[i].id
        assert hits[0].customer_id == a.items[i].customer_id
        assert hits[0].score == pytest.approx(1.0, abs=1e-4)


def test_hits_are_ordered_with_true_cosine_scores(index: MilvusIndex, tenants: tuple[Tenant, Tenant]) -> None:
    a, _ = tenants
    by_id = {item.id: np.asarray(item.vector) for item in a.items}
    rng = np.random.default_rng(7)
    queries = unit_vectors(rng, 4, index.dim)
    for top_k in (1, 3, 10):
        for query, hits in zip(queries, index.search(a.id, queries.tolist(), top_k=top_k), strict=True):
            assert len(hits) == top_k
            scores = [hit.score for hit in hits]
            assert scores == sorted(scores, reverse=True)
            for hit in hits:
                assert hit.score == pytest.approx(float(query @ by_id[hit.id]), abs=1e-4)


def test_unnormalised_queries_score_as_cosine(index: MilvusIndex, tenants: tuple[Tenant, Tenant]) -> None:
    a, _ = tenants
    [hits] = index.search(a.id, [(np.asarray(a.items[5].vector) * 7.5).tolist()], top_k=1)
    assert hits[0].id == a.items[5].id
    assert hits[0].score == pytest.approx(1.0, abs=1e-4)


def test_partitions_isolate_tenants(index: MilvusIndex, tenants: tuple[Tenant, Tenant]) -> None:
    a, b = tenants
    for hits in index.search(a.id, [item.vector for item in b.items[:20]], top_k=10):
        assert hits and all(hit.id in a.ids for hit in hits)
    for item, hits in zip(
        b.items[:20], index.search(b.id, [i.vector for i in b.items[:20]], 10), strict=True
    ):
        assert hits[0].id == item.id
        assert all(hit.id in b.ids for hit in hits)
    assert index.search(uuid.uuid4(), [a.items[0].vector], top_k=3) == [[]]


def test_count(index: MilvusIndex, tenants: tuple[Tenant, Tenant]) -> None:
    a, b = tenants
    assert index.count(a.id) == len(a.items)
    assert index.count(b.id) == len(b.items)
    assert index.count(uuid.uuid4()) == 0
    assert index.count_customer(a.id, a.items[0].customer_id) == 3
    assert index.count_customer(b.id, a.items[0].customer_id) == 0


def test_upsert_replaces_a_vector(index: MilvusIndex) -> None:
    rng = np.random.default_rng(11)
    t = Tenant(rng, 6, index.dim)
    index.upsert(t.id, t.items)
    first = t.items[0]
    moved = VectorItem(first.id, first.customer_id, unit_vectors(rng, 1, index.dim)[0].tolist())
    index.upsert(t.id, [moved])
    assert index.count(t.id) == 6
    [hits] = index.search(t.id, [moved.vector], top_k=1)
    assert hits[0].id == first.id and hits[0].score == pytest.approx(1.0, abs=1e-4)
    [hits] = index.search(t.id, [first.vector], top_k=6)
    assert all(hit.score < 0.5 for hit in hits if hit.id == first.id)
    index.drop_partition(t.id)


def test_delete_and_delete_customer(index: MilvusIndex) -> None:
    rng = np.random.default_rng(12)
    t = Tenant(rng, 30, index.dim)
    index.upsert(t.id, t.items)
    gone = [t.items[0].id, t.items[10].id]
    index.delete(t.id, gone)
    assert index.count(t.id) == 28
    for item in (t.items[0], t.items[10]):
        [hits] = index.search(t.id, [item.vector], top_k=5)
        assert item.id not in {hit.id for hit in hits}

    customer = t.items[21].customer_id  # items 21..23
    index.delete_customer(t.id, customer)
    assert index.count_customer(t.id, customer) == 0
    assert index.count(t.id) == 25
    [hits] = index.search(t.id, [t.items[22].vector], top_k=30)
    assert customer not in {hit.customer_id for hit in hits}

    index.flush()  # deletes survive the flush to segments
    assert index.count(t.id) == 25
    index.delete(t.id, [])
    index.delete(uuid.uuid4(), [uuid.uuid4()])  # unknown tenant: nothing to do
    index.delete_customer(uuid.uuid4(), uuid.uuid4())
    index.drop_partition(t.id)


def test_drop_partition(index: MilvusIndex) -> None:
    rng = np.random.default_rng(13)
    t = Tenant(rng, 10, index.dim)
    index.ensure_partition(t.id)
    index.ensure_partition(t.id)  # idempotent
    index.upsert(t.id, t.items)
    assert t.id in index.tenant_partitions()
    index.drop_partition(t.id)
    assert t.id not in index.tenant_partitions()
    assert index.count(t.id) == 0
    assert index.search(t.id, [t.items[0].vector], top_k=3) == [[]]
    index.drop_partition(t.id)  # idempotent
    index.upsert(t.id, t.items[:2])  # recreated on demand
    assert index.count(t.id) == 2
    index.drop_partition(t.id)


def test_dimension_mismatch_is_a_clear_error(index: MilvusIndex, lite_uri: str) -> None:
    other = MilvusIndex(lite_uri, index.dim // 2, collection=index.collection)
    try:
        assert other.existing_dim() == index.dim
        with pytest.raises(DimensionMismatchError, match="appliance reindex") as caught:
            other.ensure_collection()
        assert (caught.value.found, caught.value.expected) == (index.dim, index.dim // 2)
    finally:
        other.close()


def test_bad_vectors_are_rejected(index: MilvusIndex, tenants: tuple[Tenant, Tenant]) -> None:
    a, _ = tenants
    with pytest.raises(ValueError, match=f"{index.dim}-D"):
        index.search(a.id, [[0.1] * (index.dim - 1)])
    with pytest.raises(ValueError, match="non-zero"):
        index.upsert(a.id, [VectorItem(uuid.uuid4(), uuid.uuid4(), [0.0] * index.dim)])
    assert index.search(a.id, []) == []


def test_a_lite_file_serves_one_process(tmp_path: Path) -> None:
    uri = str(tmp_path / "vectors.db")
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys; from pymilvus import MilvusClient; MilvusClient(sys.argv[1]);"
            " print('ready', flush=True); sys.stdin.read()",
            uri,
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "ready"
        with pytest.raises(VectorIndexError, match="another process"):
            MilvusIndex(uri, 8)
    finally:
        assert holder.stdin is not None
        holder.stdin.close()
        holder.wait(timeout=30)


# -- batcher (dimension-agnostic: one 128-D collection) ----------------------------------------


@pytest.fixture(scope="module")
def batch_index(lite_uri: str) -> Iterator[MilvusIndex]:
    idx = MilvusIndex(lite_uri, 128, collection="batcher_128")
    idx.ensure_collection()
    yield idx
    idx.close()


@pytest.fixture(scope="module")
def batch_tenants(batch_index: MilvusIndex) -> tuple[Tenant, Tenant]:
    return seed(batch_index)


class CountingIndex:
    """The real index, with its search calls counted."""

    def __init__(self, inner: MilvusIndex, fail: bool = False) -> None:
        self.inner, self.fail = inner, fail
        self.dim = inner.dim
        self.calls: list[int] = []

    def search(
        self, tenant_id: uuid.UUID, vectors: Sequence[Sequence[float]], top_k: int = 5
    ) -> list[list[SearchHit]]:
        self.calls.append(len(vectors))
        if self.fail:
            raise RuntimeError("index down")
        return self.inner.search(tenant_id, vectors, top_k)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def test_batcher_groups_concurrent_searches(
    batch_index: MilvusIndex, batch_tenants: tuple[Tenant, Tenant]
) -> None:
    a, b = batch_tenants
    counting = CountingIndex(batch_index)
    batcher = SearchBatcher(counting, max_batch=16, max_wait_ms=5)  # type: ignore[arg-type]
    queries = [(a, i, 1 + i % 5) for i in range(30)] + [(b, i, 3) for i in range(20)]

    async def run() -> list[list[SearchHit]]:
        return await asyncio.gather(
            *(batcher.search(t.id, t.items[i].vector, top_k) for t, i, top_k in queries)
        )

    results = asyncio.run(run())
    for (t, i, top_k), hits in zip(queries, results, strict=True):
        assert len(hits) == top_k
        assert hits[0].id == t.items[i].id
        assert all(hit.id in t.ids for hit in hits)
    assert sum(counting.calls) == len(queries) == batcher.queries
    assert len(counting.calls) == batcher.calls < len(queries)
    assert max(counting.calls) <= 16


def test_batcher_single_query_waits_at_most_max_wait(
    batch_index: MilvusIndex, batch_tenants: tuple[Tenant, Tenant]
) -> None:
    a, _ = batch_tenants
    batcher = SearchBatcher(batch_index, max_batch=16, max_wait_ms=1)
    hits = asyncio.run(batcher.search(a.id, a.items[3].vector, 2))
    assert [hit.id for hit in hits][:1] == [a.items[3].id] and len(hits) == 2


def test_batcher_errors_reach_every_waiter(
    batch_index: MilvusIndex, batch_tenants: tuple[Tenant, Tenant]
) -> None:
    a, _ = batch_tenants
    failing = CountingIndex(batch_index, fail=True)
    batcher = SearchBatcher(failing, max_batch=8, max_wait_ms=5)  # type: ignore[arg-type]

    async def run() -> list[Any]:
        return await asyncio.gather(
            *(batcher.search(a.id, a.items[i].vector, 3) for i in range(8)), return_exceptions=True
        )

    outcomes = asyncio.run(run())
    assert len(failing.calls) == 1
    assert all(isinstance(o, RuntimeError) and str(o) == "index down" for o in outcomes)
    with pytest.raises(ValueError, match="D vector"):
        asyncio.run(batcher.search(a.id, [1.0, 2.0], 3))


def test_batcher_survives_a_cancelled_waiter(
    batch_index: MilvusIndex, batch_tenants: tuple[Tenant, Tenant]
) -> None:
    a, _ = batch_tenants
    batcher = SearchBatcher(batch_index, max_batch=16, max_wait_ms=20)

    async def run() -> list[SearchHit]:
        doomed = asyncio.create_task(batcher.search(a.id, a.items[0].vector, 1))
        kept = asyncio.create_task(batcher.search(a.id, a.items[1].vector, 1))
        await asyncio.sleep(0)
        doomed.cancel()
        hits = await kept
        await batcher.drain()
        return hits

    assert asyncio.run(run())[0].id == a.items[1].id


def test_batcher_write_wrappers(batch_index: MilvusIndex) -> None:
    rng = np.random.default_rng(21)
    t = Tenant(rng, 9, batch_index.dim)
    batcher = SearchBatcher(batch_index)

    async def run() -> tuple[int, int, int, int]:
        await batcher.ensure_partition(t.id)
        await batcher.upsert(t.id, t.items)
        await batcher.flush()
        full = await batcher.count(t.id)
        await batcher.delete(t.id, [t.items[0].id])
        await batcher.delete_customer(t.id, t.items[3].customer_id)
        customer_left = await batcher.count_customer(t.id, t.items[3].customer_id)
        left = await batcher.count(t.id)
        await batcher.drop_partition(t.id)
        return full, left, customer_left, await batcher.count(t.id)

    assert asyncio.run(run()) == (9, 5, 0, 0)


class SlowIndex(CountingIndex):
    def search(
        self, tenant_id: uuid.UUID, vectors: Sequence[Sequence[float]], top_k: int = 5
    ) -> list[list[SearchHit]]:
        time.sleep(0.05)
        return super().search(tenant_id, vectors, top_k)


def test_batcher_queues_behind_a_busy_index(
    batch_index: MilvusIndex, batch_tenants: tuple[Tenant, Tenant]
) -> None:
    """With every slot busy, queries wait and then leave as one batch (up to max_batch)."""
    a, _ = batch_tenants
    slow = SlowIndex(batch_index)
    batcher = SearchBatcher(slow, max_batch=8, max_wait_ms=1, max_inflight=1)  # type: ignore[arg-type]

    async def run() -> list[list[SearchHit]]:
        first = asyncio.create_task(batcher.search(a.id, a.items[0].vector, 1))
        await asyncio.sleep(0.01)  # the first call is running now
        rest = [asyncio.create_task(batcher.search(a.id, a.items[i].vector, 1)) for i in range(1, 11)]
        return await asyncio.gather(first, *rest)

    results = asyncio.run(run())
    assert [hits[0].id for hits in results] == [a.items[i].id for i in range(11)]
    assert slow.calls == [1, 8, 2]


def test_the_index_type_is_configurable_and_an_existing_index_keeps_its_type(tmp_path: Path) -> None:
    """HNSW when asked for (searched with ``ef``); a collection built earlier with IVF_FLAT is
    searched with IVF parameters whatever the settings say now."""
    rng = np.random.default_rng(5)
    tenant = Tenant(rng, 30, 128)
    fresh = MilvusIndex(str(tmp_path / "hnsw" / "vectors.db"), 128, index_type="HNSW", hnsw_ef=40)
    try:
        fresh.ensure_collection()
        assert fresh.index_type == "HNSW" and fresh._search_params(5) == {"ef": 40}
        fresh.upsert(tenant.id, tenant.items)
        fresh.flush()
        hits = fresh.search(tenant.id, [tenant.items[4].vector], 3)[0]
        assert hits[0].id == tenant.items[4].id and hits[0].score == pytest.approx(1.0, abs=1e-4)
    finally:
        fresh.close()
    path = str(tmp_path / "ivf" / "vectors.db")
    built = MilvusIndex(path, 128, index_type="IVF_FLAT")
    built.ensure_collection()
    built.close()
    reopened = MilvusIndex(path, 128, index_type="HNSW")
    try:
        reopened.ensure_collection()
        assert reopened.index_type == "IVF_FLAT"
        assert reopened._search_params(5) == {"nprobe": reopened.nprobe}
    finally:
        reopened.close()
