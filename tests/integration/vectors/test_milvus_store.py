"""MilvusStore against a real Milvus standalone server (see conftest.py)."""

from __future__ import annotations

import socket
import subprocess
import sys
import textwrap
import time
import uuid
from collections.abc import Iterator

import numpy as np
import pytest
from pymilvus import DataType, MilvusClient

from appliance.vectors.base import DimensionMismatchError, VectorIndexError
from appliance.vectors.milvus_store import MilvusStore, partition_name

DIM = 16
COLLECTION = f"test_store_{uuid.uuid4().hex[:8]}"


def unit(n: int, seed: int) -> np.ndarray:
    vectors = np.random.default_rng(seed).standard_normal((n, DIM)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


@pytest.fixture(scope="module")
def store(milvus_uri: str) -> Iterator[MilvusStore]:
    """One collection for the module: creating one costs about 3 s."""
    store = MilvusStore(milvus_uri, dim=DIM, collection=COLLECTION)
    store.ensure_collection()
    yield store
    store.drop_collection()
    store.close()


def fill(
    store: MilvusStore, n: int, seed: int, customers: int = 5
) -> tuple[uuid.UUID, list[uuid.UUID], list[uuid.UUID], np.ndarray]:
    """A new tenant with ``n`` vectors spread over ``customers`` customers."""
    tenant = uuid.uuid4()
    store.ensure_partition(tenant)
    ids = [uuid.uuid4() for _ in range(n)]
    people = [uuid.uuid4() for _ in range(customers)]
    owners = [people[i % customers] for i in range(n)]
    vectors = unit(n, seed)
    store.upsert(tenant, ids, owners, vectors)
    return tenant, ids, owners, vectors


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_search_finds_the_exact_vector_first(store: MilvusStore) -> None:
    tenant, ids, owners, vectors = fill(store, 50, seed=1)
    results = store.search(tenant, vectors[[3, 7]], top_k=4)
    assert [len(hits) for hits in results] == [4, 4]
    for hits, row in zip(results, (3, 7), strict=True):
        assert (hits[0].id, hits[0].customer_id) == (ids[row], owners[row])
        assert hits[0].score == pytest.approx(1.0, abs=1e-4)
        scores = [hit.score for hit in hits]
        assert scores == sorted(scores, reverse=True)


def test_upsert_replaces_a_vector_with_the_same_id(store: MilvusStore) -> None:
    tenant, ids, _, vectors = fill(store, 10, seed=2)
    newcomer, fresh = uuid.uuid4(), unit(1, seed=99)
    store.upsert(tenant, [ids[0]], [newcomer], fresh)
    assert store.count(tenant) == 10
    assert store.count_customer(tenant, newcomer) == 1
    [[hit, *_]] = store.search(tenant, fresh, top_k=2)
    assert (hit.id, hit.customer_id) == (ids[0], newcomer)
    [[old, *_]] = store.search(tenant, vectors[:1], top_k=2)
    assert old.score < 0.999  # the old vector is gone


def test_upsert_in_chunks(store: MilvusStore) -> None:
    tenant, *_ = fill(store, 2345, seed=3, customers=7)
    assert store.count(tenant) == 2345


def test_partitions_isolate_tenants(store: MilvusStore) -> None:
    tenant_a, ids_a, _, vectors = fill(store, 20, seed=4)
    tenant_b = uuid.uuid4()
    store.ensure_partition(tenant_b)
    ids_b = [uuid.uuid4() for _ in range(20)]
    store.upsert(tenant_b, ids_b, [uuid.uuid4()] * 20, vectors)  # the same vectors, another tenant
    hits_a = store.search(tenant_a, vectors[:3], top_k=20)
    assert {hit.id for hits in hits_a for hit in hits} <= set(ids_a)
    hits_b = store.search(tenant_b, vectors[:3], top_k=20)
    assert {hit.id for hits in hits_b for hit in hits} <= set(ids_b)
    assert store.count(tenant_a) == store.count(tenant_b) == 20
    assert {tenant_a, tenant_b} <= set(store.tenant_partitions())


def test_a_tenant_without_partition_has_nothing(store: MilvusStore) -> None:
    stranger = uuid.uuid4()
    assert store.search(stranger, unit(2, seed=5), top_k=3) == [[], []]
    assert store.count(stranger) == 0
    assert store.count_customer(stranger, uuid.uuid4()) == 0
    store.delete(stranger, [uuid.uuid4()])  # no-ops
    store.drop_partition(stranger)
    assert stranger not in store.tenant_partitions()


def test_delete_by_id(store: MilvusStore) -> None:
    tenant, ids, _, vectors = fill(store, 30, seed=6)
    store.delete(tenant, ids[:5])
    assert store.count(tenant) == 25
    found = {hit.id for hits in store.search(tenant, vectors[:5], top_k=10) for hit in hits}
    assert not found & set(ids[:5])


def test_count_customer(store: MilvusStore) -> None:
    tenant, ids, owners, vectors = fill(store, 30, seed=7, customers=3)
    gone = owners[0]
    assert store.count_customer(tenant, gone) == 10
    store.delete(tenant, [i for i, owner in zip(ids, owners, strict=True) if owner == gone])
    assert store.count_customer(tenant, gone) == 0
    assert store.count(tenant) == 20
    found = {hit.customer_id for hits in store.search(tenant, vectors, top_k=30) for hit in hits}
    assert gone not in found and found == set(owners) - {gone}


def test_drop_partition_removes_the_tenants_vectors(store: MilvusStore) -> None:
    tenant, _, _, vectors = fill(store, 20, seed=8)
    other, *_ = fill(store, 5, seed=9)
    store.drop_partition(tenant)
    assert tenant not in store.tenant_partitions()
    assert store.search(tenant, vectors[:1], top_k=5) == [[]]
    assert store.count(tenant) == 0
    store.ensure_partition(tenant)  # a recreated partition starts empty
    assert store.count(tenant) == 0
    assert store.count(other) == 5


def test_writes_of_another_process_are_visible_at_once(store: MilvusStore) -> None:
    """A search sees a write that another process completed just before (Strong consistency).

    The writer stays alive until we searched: its exit takes long enough for weaker levels to catch up.
    """
    tenant = uuid.uuid4()
    store.ensure_partition(tenant)
    vectors, ids, customer = unit(5, seed=10), [uuid.uuid4() for _ in range(5)], uuid.uuid4()
    writer = textwrap.dedent(f"""
        import sys, uuid, numpy as np
        from appliance.vectors.milvus_store import MilvusStore
        store = MilvusStore({store.uri!r}, dim={DIM}, collection={COLLECTION!r})
        for id_, vector in zip({[str(id_) for id_ in ids]!r}, {vectors.tolist()!r}):
            store.upsert(uuid.UUID({str(tenant)!r}), [uuid.UUID(id_)], [uuid.UUID({str(customer)!r})],
                         np.array([vector], dtype=np.float32))
            print("written", flush=True)
            sys.stdin.readline()
    """)
    with subprocess.Popen(
        [sys.executable, "-c", writer], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    ) as proc:
        assert proc.stdin is not None and proc.stdout is not None
        for row in range(5):
            assert proc.stdout.readline().strip() == "written"
            [[hit]] = store.search(tenant, vectors[row : row + 1], top_k=1)
            assert (hit.id, hit.customer_id) == (ids[row], customer)
            proc.stdin.write("next\n")
            proc.stdin.flush()
    assert proc.returncode == 0


def test_ensure_collection_is_idempotent(store: MilvusStore) -> None:
    tenant, *_ = fill(store, 5, seed=11)
    again = MilvusStore(store.uri, dim=DIM, collection=COLLECTION)
    again.ensure_collection()
    again.client.release_collection(COLLECTION)  # e.g. an operator released it
    again.ensure_collection()  # loads it again
    assert again.check_collection()
    assert again.built_index_type() == "IVF_FLAT"
    assert again.count(tenant) == 5
    again.close()


def test_another_dimension_is_refused(store: MilvusStore) -> None:
    other = MilvusStore(store.uri, dim=DIM * 2, collection=COLLECTION)
    with pytest.raises(DimensionMismatchError) as raised:
        other.ensure_collection()
    assert (raised.value.found, raised.value.expected) == (DIM, DIM * 2)
    other.close()


def test_missing_collection(milvus_uri: str) -> None:
    store = MilvusStore(milvus_uri, dim=DIM, collection=f"missing_{uuid.uuid4().hex[:8]}")
    assert not store.check_collection()
    assert store.built_index_type() is None
    store.drop_collection()  # no-op
    store.close()


def test_unexpected_schema_is_refused(milvus_uri: str) -> None:
    name = f"foreign_{uuid.uuid4().hex[:8]}"
    client = MilvusClient(uri=milvus_uri)
    schema = MilvusClient.create_schema(auto_id=True, enable_dynamic_field=False)
    schema.add_field("pk", DataType.INT64, is_primary=True)
    schema.add_field("vector", DataType.FLOAT_VECTOR, dim=DIM)
    client.create_collection(name, schema=schema)
    try:
        with pytest.raises(VectorIndexError, match="unexpected schema"):
            MilvusStore(milvus_uri, dim=DIM, collection=name).ensure_collection()
    finally:
        client.drop_collection(name)
        client.close()


@pytest.mark.parametrize("index_type", ["HNSW", "FLAT"])
def test_other_index_types(milvus_uri: str, index_type: str) -> None:
    store = MilvusStore(
        milvus_uri,
        dim=DIM,
        collection=f"test_{index_type.lower()}_{uuid.uuid4().hex[:8]}",
        index_type=index_type,
    )
    try:
        store.ensure_collection()
        assert store.built_index_type() == index_type
        tenant, ids, _, vectors = fill(store, 40, seed=12)
        [hits] = store.search(tenant, vectors[5:6], top_k=3)
        assert hits[0].id == ids[5] and hits[0].score == pytest.approx(1.0, abs=1e-4)
        # A store configured otherwise searches with the parameters of the index actually built.
        other = MilvusStore(milvus_uri, dim=DIM, collection=store.collection, index_type="IVF_FLAT")
        other.ensure_collection()
        assert other.index_type == index_type
        assert other.search(tenant, vectors[5:6], top_k=3)[0][0].id == ids[5]
        other.close()
    finally:
        store.drop_collection()
        store.close()


def test_reachable(store: MilvusStore) -> None:
    assert store.reachable()


def test_unreachable_server_fails_fast_and_clearly() -> None:
    uri = f"http://127.0.0.1:{free_port()}"
    store = MilvusStore(uri, dim=DIM)
    began = time.monotonic()
    assert not store.reachable()
    with pytest.raises(VectorIndexError, match=uri):
        store.ensure_collection()
    with pytest.raises(VectorIndexError, match=uri):
        store.search(uuid.uuid4(), unit(1, seed=13), top_k=1)
    assert time.monotonic() - began < 5
    store.close()


def test_partition_name() -> None:
    tenant = uuid.uuid4()
    assert partition_name(tenant) == f"t_{tenant.hex}"


def test_misshapen_writes_and_searches_are_refused_and_change_nothing(store: MilvusStore) -> None:
    tenant, ids, owners, vectors = fill(store, 4, seed=21)
    extra = [uuid.uuid4()]
    with pytest.raises(ValueError, match=r"n ids, n customer ids and an \[n, 16\] array"):
        store.upsert(tenant, ids[:3], owners, vectors)  # one id short
    with pytest.raises(ValueError, match=r"\[n, 16\]"):
        store.upsert(tenant, extra, extra, unit(1, seed=22)[:, :8])  # the wrong width
    with pytest.raises(ValueError, match=r"search needs a \[q, 16\] array"):
        store.search(tenant, unit(1, seed=23).reshape(DIM), top_k=1)  # not a matrix
    assert store.search(tenant, np.empty((0, DIM), dtype=np.float32), top_k=1) == []
    found = store.search(tenant, vectors, top_k=4, consistency="Strong")
    assert sorted(hit.id for hit in found[0]) == sorted(ids)  # nothing was written or lost
