"""The search lane (appliance.vectors.lite_lane): a real sidecar, real Lite engine, real sockets.

The lane must answer exactly what pymilvus answers, and every way it can fail must end in the
pymilvus answer, not in an error."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import struct
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import msgspec
import numpy as np
import pytest

from appliance.config import load_settings
from appliance.vectors.base import SearchHit, VectorItem
from appliance.vectors.batcher import SearchBatcher
from appliance.vectors.factory import vector_index_from_settings
from appliance.vectors.lite_lane import (
    LaneClient,
    LaneReply,
    LaneSearch,
    LaneUnavailable,
    LaneUpsert,
    lane_socket_path,
    probe,
)
from appliance.vectors.lite_server import LiteSidecar, SidecarSupervisor
from appliance.vectors.milvus import MilvusIndex, partition_name

DIM = 128


def unit_vectors(seed: int, n: int) -> np.ndarray:
    vectors = np.random.default_rng(seed).standard_normal((n, DIM)).astype(np.float32)
    normalised: np.ndarray = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    return normalised


def near(vectors: np.ndarray, seed: int, noise: float = 0.6) -> np.ndarray:
    jitter = (
        np.random.default_rng(seed).standard_normal(vectors.shape).astype(np.float32) * noise / np.sqrt(DIM)
    )
    out: np.ndarray = vectors + jitter
    return out / np.linalg.norm(out, axis=1, keepdims=True)


def same_hits(lane: list[list[SearchHit]], grpc: list[list[SearchHit]]) -> None:
    assert [[(h.id, h.customer_id) for h in q] for q in lane] == [
        [(h.id, h.customer_id) for h in q] for q in grpc
    ]
    # gRPC carries scores as float32; the lane as the engine's float
    for lane_hits, grpc_hits in zip(lane, grpc, strict=True):
        assert [h.score for h in lane_hits] == pytest.approx([h.score for h in grpc_hits], abs=1e-6)


def filled(index: MilvusIndex, seed: int, n: int) -> tuple[uuid.UUID, np.ndarray, list[VectorItem]]:
    """A new tenant with ``n`` flushed vectors, its partition known to ``index`` (a search made)."""
    tenant = uuid.uuid4()
    stored = unit_vectors(seed, n)
    items = [VectorItem(id=uuid.uuid4(), customer_id=uuid.uuid4(), vector=v) for v in stored]
    index.upsert(tenant, items)
    index.flush()
    index.search(tenant, [stored[0]])
    return tenant, stored, items


@pytest.fixture(scope="module")
def sidecar(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiteSidecar]:
    with LiteSidecar(tmp_path_factory.mktemp("lane_data")) as running:
        yield running


@pytest.fixture
def index(sidecar: LiteSidecar) -> Iterator[MilvusIndex]:
    assert sidecar.info is not None
    lane = LaneClient(sidecar.info.search_socket, rest_seconds=0.0)
    opened = MilvusIndex(sidecar.uri, DIM, collection=f"lane_{uuid.uuid4().hex[:8]}", search_lane=lane)
    opened.ensure_collection()
    yield opened
    opened.close()


def test_the_sidecar_serves_the_lane_and_names_it(sidecar: LiteSidecar) -> None:
    assert sidecar.info is not None
    assert sidecar.info.search_socket == str(lane_socket_path(sidecar.lite_dir))
    assert probe(sidecar.info.search_socket)
    assert os.stat(sidecar.info.search_socket).st_mode & 0o077 == 0  # this user only
    # CLI commands beside a running serve find it through the discovery file.
    found = vector_index_from_settings(load_settings(env={}, data_dir=str(sidecar.data_dir)), dim=DIM)
    try:
        assert found.search_lane is not None and found.search_lane.path == sidecar.info.search_socket
    finally:
        found.close()


def test_lane_and_pymilvus_answer_the_same(index: MilvusIndex) -> None:
    tenant, other = uuid.uuid4(), uuid.uuid4()
    stored = unit_vectors(1, 400)
    owners = [uuid.uuid4() for _ in range(100)]
    items = [VectorItem(id=uuid.uuid4(), customer_id=owners[i % 100], vector=v) for i, v in enumerate(stored)]
    index.upsert(tenant, items[:300])
    index.flush()
    index.upsert(
        other, [VectorItem(id=uuid.uuid4(), customer_id=uuid.uuid4(), vector=v) for v in stored[:50]]
    )
    index.upsert(tenant, items[300:])  # unflushed rows, re-upserted and deleted rows too
    index.upsert(tenant, [VectorItem(id=items[5].id, customer_id=items[5].customer_id, vector=stored[6])])
    index.delete(tenant, [items[7].id, items[301].id])
    index.flush()
    index.upsert(tenant, [VectorItem(id=uuid.uuid4(), customer_id=uuid.uuid4(), vector=stored[9])])

    queries = near(stored[:40], seed=2)
    expected = index.search(tenant, list(queries), top_k=5)
    assert index.search_lane is not None
    calls = index.search_lane.calls
    answered = asyncio.run(index.search_async(tenant, list(queries), top_k=5))
    same_hits(answered, expected)
    assert index.search_lane.calls == calls + 1 and index.search_lane.fallbacks == 0
    assert all(h.id != items[7].id for q in answered for h in q)  # a deleted row stays deleted
    # Another tenant's partition is not searched.
    other_ids = {h.id for q in asyncio.run(index.search_async(other, list(queries), top_k=5)) for h in q}
    assert other_ids.isdisjoint({item.id for item in items})


def test_lane_upserts_leave_what_pymilvus_upserts_leave(sidecar: LiteSidecar, index: MilvusIndex) -> None:
    plain = MilvusIndex(sidecar.uri, DIM, collection=f"plain_{uuid.uuid4().hex[:8]}")
    try:
        plain.ensure_collection()
        tenant, other = uuid.uuid4(), uuid.uuid4()
        stored = unit_vectors(11, 300)
        owners = [uuid.uuid4() for _ in range(60)]
        items = [
            VectorItem(id=uuid.uuid4(), customer_id=owners[i % 60], vector=v) for i, v in enumerate(stored)
        ]
        moved = [VectorItem(id=item.id, customer_id=owners[0], vector=item.vector) for item in items[:40]]
        lane = index.search_lane
        assert lane is not None
        calls = lane.calls
        for target in (index, plain):
            target.upsert(tenant, items[:200])
            target.flush()
            target.upsert(other, items[200:250])
            target.upsert(tenant, items[250:])  # unflushed
            target.upsert(tenant, moved)  # known ids, another customer (a merge moves exemplars)
        assert lane.calls == calls + 4 and lane.fallbacks == 0  # every upsert went over the lane
        queries = list(near(stored[:30], seed=12))
        for who in (tenant, other):
            assert index.count(who) == plain.count(who)
            same_hits(index.search(who, queries, top_k=5), plain.search(who, queries, top_k=5))
        assert {h.customer_id for h in index.search(tenant, [stored[3]], top_k=1)[0]} == {owners[0]}
    finally:
        plain.drop_collection()
        plain.close()


def test_a_lane_upsert_that_fails_writes_through_pymilvus(sidecar: LiteSidecar, tmp_path: Path) -> None:
    lane = LaneClient(tmp_path / "nobody-listens.sock", rest_seconds=60.0)
    index = MilvusIndex(sidecar.uri, DIM, collection=f"lane_{uuid.uuid4().hex[:8]}", search_lane=lane)
    try:
        index.ensure_collection()
        tenant = uuid.uuid4()
        stored = unit_vectors(13, 20)
        items = [VectorItem(id=uuid.uuid4(), customer_id=uuid.uuid4(), vector=v) for v in stored]
        index.upsert(tenant, items)
        assert lane.fallbacks == 1 and not lane.available()
        assert index.count(tenant) == 20
        assert index.search(tenant, [stored[4]], top_k=1)[0][0].id == items[4].id
    finally:
        index.close()


def test_a_lane_upsert_error_is_the_requests(sidecar: LiteSidecar, index: MilvusIndex) -> None:
    lane = index.search_lane
    assert lane is not None
    bad = LaneUpsert(
        collection=index.collection,
        partition="t_no_such_partition",
        dim=DIM,
        ids=["a"],
        customer_ids=["b"],
        vectors=unit_vectors(14, 1).tobytes(),
    )
    with pytest.raises(LaneUnavailable, match="PartitionNotFound"):
        lane.upsert(bad)
    assert lane.available()  # an error answer does not rest the lane


def test_batched_searches_of_the_api_take_the_lane(index: MilvusIndex) -> None:
    tenant, stored, items = filled(index, seed=6, n=50)
    lane = index.search_lane
    assert lane is not None
    calls = lane.calls

    async def concurrent() -> list[list[SearchHit]]:
        batcher = SearchBatcher(index)
        return await asyncio.gather(*(batcher.search(tenant, stored[i], top_k=1) for i in range(20)))

    found = asyncio.run(concurrent())
    assert [hits[0].id for hits in found] == [item.id for item in items[:20]]
    assert calls < lane.calls < calls + 20 and lane.fallbacks == 0  # batched, and over the lane


def test_an_error_answer_is_the_requests_and_the_call_falls_back(index: MilvusIndex) -> None:
    tenant = uuid.uuid4()
    stored = unit_vectors(3, 20)
    index.upsert(tenant, [VectorItem(id=uuid.uuid4(), customer_id=uuid.uuid4(), vector=v) for v in stored])
    index.flush()
    lane = index.search_lane
    assert lane is not None

    async def missing_collection() -> None:
        bad = LaneSearch(
            collection="no_such_collection",
            partition=partition_name(tenant),
            top_k=1,
            metric="COSINE",
            params={},
            anns_field="vector",
            output_field="customer_id",
            dim=DIM,
            vectors=stored[:1].tobytes(),
        )
        with pytest.raises(LaneUnavailable, match="no_such_collection"):
            await lane.search(bad)
        assert lane.available()  # the lane itself is fine
        # The same connection serves the next request.
        hits = await index.search_async(tenant, [stored[2]], top_k=1)
        assert hits[0][0].score == pytest.approx(1.0, abs=1e-5)

    asyncio.run(missing_collection())


def test_a_lane_that_cannot_connect_rests_and_pymilvus_answers(sidecar: LiteSidecar, tmp_path: Path) -> None:
    lane = LaneClient(tmp_path / "nobody-listens.sock", rest_seconds=60.0)
    index = MilvusIndex(sidecar.uri, DIM, collection=f"lane_{uuid.uuid4().hex[:8]}", search_lane=lane)
    try:
        index.ensure_collection()
        tenant, stored, items = filled(index, seed=4, n=30)

        first = asyncio.run(index.search_async(tenant, [stored[1]], top_k=1))
        assert first[0][0].id == items[1].id
        assert lane.fallbacks == 1 and not lane.available()
        second = asyncio.run(index.search_async(tenant, [stored[2]], top_k=1))
        assert second[0][0].id == items[2].id
        assert lane.calls == 1  # resting: not tried again
    finally:
        index.close()


def test_a_garbled_frame_gets_an_error_answer_not_a_dead_server(sidecar: LiteSidecar) -> None:
    assert sidecar.info is not None
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(10)
        sock.connect(sidecar.info.search_socket)
        garbage = b"\x93not msgpack at all"
        sock.sendall(struct.pack(">I", len(garbage)) + garbage)
        (size,) = struct.unpack(">I", sock.recv(4))
        body = b""
        while len(body) < size:
            body += sock.recv(size - len(body))
        reply = msgspec.msgpack.decode(body, type=LaneReply)
        assert reply.error.startswith("bad request") and reply.hits == []
        sock.sendall(struct.pack(">I", 1 << 30))  # an absurd size: the server drops the connection
        assert sock.recv(4) == b""
    assert probe(sidecar.info.search_socket)  # still serving others


def test_after_a_sidecar_restart_the_lane_comes_back(tmp_path: Path) -> None:
    sidecar = LiteSidecar(tmp_path)
    info = sidecar.start()
    supervisor = SidecarSupervisor(sidecar, interval=0.1)
    supervisor.start()
    lane = LaneClient(info.search_socket, rest_seconds=0.0)
    index = MilvusIndex(info.uri, DIM, collection="lane_restart", search_lane=lane)
    try:
        index.ensure_collection()
        tenant, stored, items = filled(index, seed=5, n=30)

        assert asyncio.run(index.search_async(tenant, [stored[1]], top_k=1))[0][0].id == items[1].id
        os.kill(info.pid, signal.SIGKILL)
        deadline = time.monotonic() + 30
        while supervisor.restarts == 0 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert supervisor.restarts == 1

        async def after_restart() -> None:
            # The kept connection is dead and the new sidecar starts with the collection
            # released: pymilvus answers (and loads it) ...
            assert (await index.search_async(tenant, [stored[2]], top_k=1))[0][0].id == items[2].id
            assert lane.fallbacks >= 1
            fallbacks = lane.fallbacks
            # ... and then the lane again.
            assert (await index.search_async(tenant, [stored[3]], top_k=1))[0][0].id == items[3].id
            assert lane.fallbacks == fallbacks

        asyncio.run(after_restart())
    finally:
        index.close()
        supervisor.stop()
        sidecar.stop()
    assert not Path(info.search_socket).exists()  # removed at a clean stop
