"""The Milvus Lite search fast path returns exactly what the stock executor returns.

A real in-process Milvus Lite engine is driven through random sequences of inserts, re-upserts
(same and other partitions), deletes by pk (cross-partition and partition-scoped) and by filter,
flushes (several segments, with and without background compaction), un-flushed memtable rows and
tombstones, and searches with and without a filter expression and partition names. Every search
goes through a wrapper that calls the stock function and the fast one on the same inputs and
compares their outputs (ids, distances, entities, order) and the per-source visibility masks.
"""

from __future__ import annotations

import collections
import contextlib
import hashlib
import logging
import tempfile
import types
from collections.abc import Callable, Iterator
from typing import Any
from unittest import mock

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from milvus_lite import CollectionSchema, DataType, FieldSchema, MilvusLite
from milvus_lite.engine import collection as collection_module
from milvus_lite.engine.compaction import CompactionManager
from milvus_lite.search import executor_indexed
from milvus_lite.storage.delta_index import DeltaIndex
from milvus_lite.storage.memtable import MemTable
from milvus_lite.storage.segment import Segment

from appliance.vectors import lite_fastpath

DIM = 8
PARTITIONS = ["_default", "p1", "p2"]
EXPRS = [None, "tag < 2", "tag in [0, 3]", "tag >= 1 and tag != 2"]
SCOPES = [None, ["_default"], ["p1"], ["p1", "p2"], ["_default", "p2"], PARTITIONS]
OUTPUTS: list[list[str] | None] = [None, ["tag"], ["tag", "vec"], []]

Executor = Callable[..., list[list[dict[str, Any]]]]


@pytest.fixture(autouse=True)
def _restore_install_state() -> Iterator[None]:
    was_installed = lite_fastpath.is_installed()
    yield
    if not was_installed:
        lite_fastpath.uninstall()


def stock_executor() -> Executor:
    stock = lite_fastpath._stock_function()
    assert stock is not lite_fastpath.fast_execute_search_with_index
    return stock


# ── reference: steps 1-2 of the stock function, verbatim semantics ────────────────────────────


def reference_masks(
    segments: tuple[Any, ...],
    mt_pks: list[Any],
    mt_seqs: np.ndarray[Any, Any],
    delta_index: Any,
    mt_deletes: dict[Any, Any],
    reasons: collections.Counter[str],
) -> list[np.ndarray[Any, Any]]:
    sources = [(list(s.pks), s.seqs) for s in segments]
    if mt_pks:
        sources.append((mt_pks, mt_seqs))
    global_max: dict[Any, int] = {}
    for pks, seqs in sources:
        for pk, seq in zip(pks, seqs.tolist(), strict=True):
            if pk not in global_max or int(seq) > global_max[pk]:
                global_max[pk] = int(seq)
    masks = []
    for pks, seqs in sources:
        mask = np.zeros(len(pks), dtype=bool)
        for i, pk in enumerate(pks):
            seq = int(seqs[i])
            if global_max.get(pk) != seq:
                reasons["shadowed by a newer copy"] += 1
                continue
            if delta_index.is_deleted(pk, seq):
                reasons["deleted (delete index)"] += 1
                continue
            entry = mt_deletes.get(pk)
            if entry is not None and entry[0] > seq:
                reasons["deleted (memtable tombstone)"] += 1
                continue
            mask[i] = True
        masks.append(mask)
    return masks


class Differential:
    """Stands in for ``execute_search_with_index``: runs stock and fast, asserts equality."""

    def __init__(self, stock: Executor) -> None:
        self.stock = stock
        self.calls = 0
        self.hits = 0
        self.rows_checked = 0
        self.reasons: collections.Counter[str] = collections.Counter()

    def __call__(self, **kwargs: Any) -> list[list[dict[str, Any]]]:
        kwargs["segments"] = tuple(kwargs["segments"])
        expected = self.stock(**kwargs)
        fallbacks = lite_fastpath.fallback_count()
        actual = lite_fastpath.fast_execute_search_with_index(**kwargs)
        assert lite_fastpath.fallback_count() == fallbacks, "the fast path fell back to stock code"
        assert actual == expected
        for got, want in zip(actual, expected, strict=True):  # == on floats, but be explicit
            assert [h["id"] for h in got] == [h["id"] for h in want]
            assert [h["distance"] for h in got] == [h["distance"] for h in want]
        self._check_masks(kwargs)
        self.calls += 1
        self.hits += sum(len(hits) for hits in actual)
        return actual

    def _check_masks(self, kwargs: dict[str, Any]) -> None:
        names = kwargs["partition_names"]
        scope = set(names) if names else None
        segments = tuple(
            s for s in kwargs["segments"] if s.num_rows > 0 and (scope is None or s.partition in scope)
        )
        memtable = kwargs["memtable"]
        mt_pks, mt_seqs, *_ = memtable.to_search_snapshot(
            vector_field=kwargs["vector_field"], partition_names=names
        )
        mt_deletes = memtable.delete_index_snapshot()
        if not segments and not mt_pks:
            return
        want = reference_masks(segments, mt_pks, mt_seqs, kwargs["delta_index"], mt_deletes, self.reasons)
        self.reasons["searches over several segments"] += len(segments) > 1
        self.reasons["searches over segments + memtable"] += bool(segments) and bool(mt_pks)
        got = lite_fastpath._visibility_masks(
            segments, mt_pks, mt_seqs, kwargs["delta_index"]._map, mt_deletes
        )
        assert len(got) == len(want)
        for g, w in zip(got, want, strict=True):
            assert g.dtype == np.bool_
            np.testing.assert_array_equal(g, w)
            self.rows_checked += len(w)


# ── engine driver ─────────────────────────────────────────────────────────────────────────────


def make_schema(pk_type: str) -> CollectionSchema:
    pk = (
        FieldSchema("id", DataType.VARCHAR, is_primary=True, max_length=64)
        if pk_type == "str"
        else FieldSchema("id", DataType.INT64, is_primary=True)
    )
    return CollectionSchema(
        fields=[
            pk,
            FieldSchema("vec", DataType.FLOAT_VECTOR, dim=DIM, nullable=True),
            FieldSchema("tag", DataType.INT64),
        ]
    )


class Driver:
    def __init__(self, data_dir: str, pk_type: str, index: str | None, seed: int) -> None:
        self.db = MilvusLite(data_dir)
        self.col = self.db.create_collection("faces", make_schema(pk_type))
        for name in PARTITIONS[1:]:
            self.col.create_partition(name)
        if index is not None:
            params = {"M": 8, "efConstruction": 40} if index == "HNSW" else {}
            self.col.create_index("vec", {"index_type": index, "metric_type": "COSINE", "params": params})
            self.col.load()
        self.pk_type = pk_type
        self.rng = np.random.default_rng(seed)
        self.next_pk = 0
        self.known: list[Any] = []
        self.searches = 0

    def pk(self, n: int) -> Any:
        return f"face-{n:05d}" if self.pk_type == "str" else n

    def records(self, pks: list[Any], null_every: int = 9) -> list[dict[str, Any]]:
        out = []
        for pk in pks:
            vec = self.rng.standard_normal(DIM).astype(np.float32).tolist()
            number = int(pk[5:]) if isinstance(pk, str) else pk
            out.append({"id": pk, "vec": None if number % null_every == 4 else vec, "tag": int(number % 4)})
        return out

    def pick(self, picks: list[int]) -> list[Any]:
        if not self.known:
            return []
        return list(dict.fromkeys(self.known[i % len(self.known)] for i in picks))

    def apply(self, op: tuple[Any, ...]) -> None:
        kind = op[0]
        if kind == "insert":
            pks = [self.pk(self.next_pk + i) for i in range(op[2])]
            self.next_pk += op[2]
            self.known.extend(pks)
            self.col.insert(self.records(pks), partition_name=op[1])
        elif kind == "upsert":
            pks = self.pick(op[2])
            if pks:
                self.col.upsert(self.records(pks), partition_name=op[1])
        elif kind == "delete":
            pks = self.pick(op[2])
            if pks:
                self.col.delete(pks, partition_name=op[1])
        elif kind == "delete_filter":  # what pymilvus' delete(filter=...) does: query, then delete
            rows = self.col.query(expr=f"tag == {op[1]}", output_fields=["id"])
            pks = [row["id"] for row in rows][: op[2]]
            if pks:
                self.col.delete(pks)
        elif kind == "flush":
            self.col.flush()
        elif kind == "search":
            self.search(*op[1:])
        else:  # pragma: no cover
            raise AssertionError(op)

    def search(self, nq: int, top_k: int, expr: str | None, scope: Any, output: Any) -> None:
        self.col._wait_for_bg(timeout=60)  # no index attach / compaction between the two calls
        queries = self.rng.standard_normal((nq, DIM)).astype(np.float32).tolist()
        self.col.search(queries, top_k=top_k, expr=expr, partition_names=scope, output_fields=output)
        self.searches += 1

    def close(self) -> None:
        self.db.close()


ops = st.one_of(
    st.tuples(st.just("insert"), st.sampled_from(PARTITIONS), st.integers(1, 30)),
    st.tuples(
        st.just("upsert"), st.sampled_from(PARTITIONS), st.lists(st.integers(0, 999), min_size=1, max_size=6)
    ),
    st.tuples(
        st.just("delete"),
        st.sampled_from([None, *PARTITIONS]),
        st.lists(st.integers(0, 999), min_size=1, max_size=5),
    ),
    st.tuples(st.just("delete_filter"), st.integers(0, 3), st.integers(1, 4)),
    st.tuples(st.just("flush")),
    st.tuples(st.just("flush")),
    st.tuples(
        st.just("search"),
        st.integers(1, 4),
        st.sampled_from([1, 3, 10, 1000]),
        st.sampled_from(EXPRS),
        st.sampled_from(SCOPES),
        st.sampled_from(OUTPUTS),
    ),
)


def run_scenario(
    stock: Executor,
    operations: list[tuple[Any, ...]],
    pk_type: str,
    index: str | None,
    compaction: bool,
    seed: int,
) -> Differential:
    diff = Differential(stock)
    with contextlib.ExitStack() as stack:
        data_dir = stack.enter_context(tempfile.TemporaryDirectory(prefix="lite-fastpath-"))
        stack.enter_context(mock.patch.object(collection_module, "execute_search_with_index", diff))
        if not compaction:
            stack.enter_context(mock.patch.object(CompactionManager, "maybe_compact", return_value=False))
        driver = Driver(data_dir, pk_type, index, seed)
        try:
            for op in operations:
                driver.apply(op)
            # always end with a sweep that sees every visible row of every scope
            for scope in SCOPES:
                for expr in (None, "tag < 2"):
                    driver.search(3, 1000, expr, scope, None)
        finally:
            driver.close()
    assert diff.calls == driver.searches
    return diff


TOTALS = {"examples": 0, "calls": 0, "hits": 0, "rows": 0}
REASONS: collections.Counter[str] = collections.Counter()
RULES = [
    "shadowed by a newer copy",
    "deleted (delete index)",
    "deleted (memtable tombstone)",
    "searches over several segments",
    "searches over segments + memtable",
]


@settings(
    max_examples=60,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(
    prologue=st.tuples(*(st.integers(0, 40) for _ in PARTITIONS)),
    operations=st.lists(ops, min_size=4, max_size=30),
    pk_type=st.sampled_from(["int", "str"]),
    index=st.sampled_from([None, None, "FLAT", "HNSW"]),
    compaction=st.booleans(),
    seed=st.integers(0, 2**16),
)
def test_fast_path_matches_stock_on_random_histories(
    prologue: tuple[int, ...],
    operations: list[tuple[Any, ...]],
    pk_type: str,
    index: str | None,
    compaction: bool,
    seed: int,
) -> None:
    start = [("insert", name, count) for name, count in zip(PARTITIONS, prologue, strict=True) if count]
    operations = [*start, ("flush",), *operations]
    diff = run_scenario(stock_executor(), operations, pk_type, index, compaction, seed)
    TOTALS["examples"] += 1
    TOTALS["calls"] += diff.calls
    TOTALS["hits"] += diff.hits
    TOTALS["rows"] += diff.rows_checked
    REASONS.update(diff.reasons)


def test_random_histories_did_compare_something() -> None:
    # runs after the property test in file order; guards against a vacuous differential
    if TOTALS["examples"] == 0:
        pytest.skip("property test not run in this session")
    assert TOTALS["calls"] >= 60 * len(SCOPES) * 2
    assert TOTALS["hits"] > 10_000
    assert TOTALS["rows"] > 10_000
    for rule in RULES:
        assert REASONS[rule] > 10, (rule, REASONS)
    print(f"\ndifferential: {TOTALS} {dict(REASONS)}")


def test_targeted_history_with_shadowed_copies_everywhere() -> None:
    """Each visibility rule at least once, over several segments kept apart (no compaction)."""
    P = PARTITIONS
    operations: list[tuple[Any, ...]] = [
        ("insert", P[0], 12),  # pks 0-11
        ("flush",),
        ("insert", P[1], 12),  # pks 12-23
        ("upsert", P[0], [0, 1, 2]),  # newer copy, same partition
        ("flush",),
        ("upsert", P[1], [3, 4]),  # newer copy in another partition
        ("upsert", P[2], [12]),
        ("flush",),
        ("delete", None, [5, 13]),  # delta-index tombstones after the flush
        ("delete", P[1], [6]),
        ("flush",),
        ("upsert", P[0], [5]),  # re-inserted after its delete: visible again
        ("upsert", P[0], [0, 14]),  # memtable copy shadowing two segment copies
        ("delete", None, [7, 15]),  # memtable-only tombstones for flushed pks
        ("insert", P[2], 5),  # memtable-only rows
        ("delete", None, [24 + 0]),  # a tombstone on a memtable row
        ("delete_filter", 3, 2),
        ("search", 4, 1000, None, None, None),
    ]
    diff = run_scenario(stock_executor(), operations, "str", None, False, seed=7)
    assert diff.calls == 1 + 2 * len(SCOPES)
    assert diff.rows_checked > 100
    for rule in RULES:
        assert diff.reasons[rule] > 0, (rule, diff.reasons)


# ── units ─────────────────────────────────────────────────────────────────────────────────────


@given(
    st.lists(st.sets(st.integers(0, 60), max_size=40), min_size=2, max_size=14),
)
@settings(max_examples=200, deadline=None, derandomize=True)
def test_multi_source_keys(sets: list[set[int]]) -> None:
    # up to 7 sources: pairwise intersections; more than 7 of similar size: one pass with a set
    views = [dict.fromkeys(s).keys() for s in sets]
    want = {k for k in set().union(*sets) if sum(k in s for s in sets) > 1}
    assert lite_fastpath._multi_source_keys(views) == want


def test_scope_cache_reuses_entries_and_stays_bounded() -> None:
    def fake_segment(pks: list[int], seqs: list[int]) -> Any:
        return types.SimpleNamespace(
            pks=pks, seqs=np.array(seqs, dtype=np.uint64), pk_to_row={pk: i for i, pk in enumerate(pks)}
        )

    a, b = fake_segment([1, 2, 3], [1, 2, 3]), fake_segment([3, 4], [7, 8])
    entry = lite_fastpath._segment_scope([a, b])
    assert lite_fastpath._segment_scope([a, b]) is entry
    assert entry.losers[0] is not None and entry.losers[0].tolist() == [2]  # pk 3: seq 3 < 7
    assert entry.losers[1] is None
    b2 = fake_segment([3, 4], [7, 8])  # equal content, other object: its own entry
    assert lite_fastpath._segment_scope([a, b2]) is not entry
    for i in range(lite_fastpath._SCOPE_CACHE_SIZE + 5):
        lite_fastpath._segment_scope([a, fake_segment([i], [i])])
    assert len(lite_fastpath._scope_cache) == lite_fastpath._SCOPE_CACHE_SIZE


def test_duplicate_pk_inside_a_segment_falls_back_to_stock() -> None:
    import pyarrow as pa

    schema = make_schema("int")
    rng = np.random.default_rng(3)
    vectors = rng.standard_normal((4, DIM)).astype(np.float32)
    pks, seqs = [1, 2, 1, 3], np.array([5, 3, 5, 9], dtype=np.uint64)
    table = pa.table(
        {
            "id": pa.array(pks, pa.int64()),
            "vec": pa.FixedSizeListArray.from_arrays(pa.array(vectors.ravel()), DIM),
            "tag": pa.array([0, 1, 2, 3], pa.int64()),
            "_seq": pa.array(seqs, pa.uint64()),
        }
    )
    segment = Segment("/nonexistent.parquet", "_default", "id", "vec", pks, seqs, vectors, table)
    delta = DeltaIndex("id")
    delta._map[3] = 10
    kwargs: dict[str, Any] = {
        "query_vectors": rng.standard_normal((2, DIM)).astype(np.float32),
        "segments": [segment],
        "memtable": MemTable(schema),
        "delta_index": delta,
        "top_k": 10,
        "metric_type": "L2",
        "pk_field": "id",
        "vector_field": "vec",
    }
    before = lite_fastpath.fallback_count()
    got = lite_fastpath.fast_execute_search_with_index(**kwargs)
    assert lite_fastpath.fallback_count() == before + 1
    assert got == stock_executor()(**kwargs)
    assert sorted(h["id"] for h in got[0]) == [1, 1, 2]


def test_unexpected_delete_index_falls_back_to_stock() -> None:
    class OtherDeltaIndex(DeltaIndex):
        pass

    schema = make_schema("int")
    kwargs: dict[str, Any] = {
        "query_vectors": np.ones((1, DIM), dtype=np.float32),
        "segments": [],
        "delta_index": OtherDeltaIndex("id"),
        "top_k": 3,
        "metric_type": "L2",
        "pk_field": "id",
        "vector_field": "vec",
    }
    with tempfile.TemporaryDirectory() as data_dir:
        db = MilvusLite(data_dir)
        try:
            col = db.create_collection("c", schema)
            col.insert([{"id": 1, "vec": [0.5] * DIM, "tag": 0}])
            kwargs["memtable"] = col._memtable
            before = lite_fastpath.fallback_count()
            got = lite_fastpath.fast_execute_search_with_index(**kwargs)
            assert lite_fastpath.fallback_count() == before + 1
            assert got == stock_executor()(**kwargs)
            assert [h["id"] for h in got[0]] == [1]
        finally:
            db.close()


# ── install ───────────────────────────────────────────────────────────────────────────────────


def test_recorded_hash_is_that_of_the_installed_stock_function() -> None:
    import inspect

    source = inspect.getsource(stock_executor())
    assert hashlib.sha256(source.encode()).hexdigest() == lite_fastpath.STOCK_SOURCE_SHA256


def test_install_is_idempotent_and_uninstall_restores() -> None:
    lite_fastpath.uninstall()
    stock = executor_indexed.execute_search_with_index
    assert collection_module.execute_search_with_index is stock
    assert lite_fastpath.install() is True
    assert collection_module.execute_search_with_index is lite_fastpath.fast_execute_search_with_index
    assert executor_indexed.execute_search_with_index is lite_fastpath.fast_execute_search_with_index
    assert lite_fastpath.install() is True  # second call: no double patching
    assert collection_module.execute_search_with_index is lite_fastpath.fast_execute_search_with_index
    assert lite_fastpath._stock_function() is stock
    lite_fastpath.uninstall()
    assert collection_module.execute_search_with_index is stock
    assert executor_indexed.execute_search_with_index is stock
    lite_fastpath.uninstall()  # idempotent too


@pytest.mark.parametrize("what", ["hash", "version"])
def test_install_refuses_unknown_stock_code(
    what: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    lite_fastpath.uninstall()
    stock = collection_module.execute_search_with_index
    if what == "hash":
        monkeypatch.setattr(lite_fastpath, "STOCK_SOURCE_SHA256", "0" * 64)
    else:
        monkeypatch.setattr(lite_fastpath, "milvus_lite_version", lambda: "3.2.3")
    with caplog.at_level(logging.WARNING, logger="appliance.vectors"):
        assert lite_fastpath.install() is False
    assert "search fast path not installed, running stock code" in caplog.text
    assert collection_module.execute_search_with_index is stock
    assert not lite_fastpath.is_installed()


def test_pymilvus_lite_client_goes_through_the_fast_path(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pymilvus import DataType as PmDataType
    from pymilvus import MilvusClient

    assert lite_fastpath.install() is True
    calls: list[int] = []
    real = lite_fastpath._visibility_masks

    def counting(*args: Any) -> Any:
        calls.append(1)
        return real(*args)

    monkeypatch.setattr(lite_fastpath, "_visibility_masks", counting)
    client = MilvusClient(uri=str(tmp_path / "x.db"))
    try:
        schema = MilvusClient.create_schema(auto_id=False, enable_dynamic_field=False)
        schema.add_field("id", PmDataType.VARCHAR, is_primary=True, max_length=36)
        schema.add_field("vector", PmDataType.FLOAT_VECTOR, dim=DIM)
        index = client.prepare_index_params()
        index.add_index("vector", index_type="FLAT", metric_type="IP")
        client.create_collection("faces", schema=schema, index_params=index)
        client.create_partition("faces", "t_a")
        rng = np.random.default_rng(1)
        vectors = rng.standard_normal((20, DIM)).astype(np.float32)
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        rows = [{"id": f"r{i}", "vector": vectors[i].tolist()} for i in range(20)]
        client.upsert("faces", rows, partition_name="t_a")
        client.flush("faces")
        client.delete("faces", filter='id in ["r0", "r1"]', partition_name="t_a")
        hits = client.search(
            "faces", data=[vectors[0].tolist(), vectors[5].tolist()], limit=3, partition_names=["t_a"]
        )
        assert calls
        assert hits[1][0]["id"] == "r5"
        assert "r0" not in {h["id"] for h in hits[0]}
    finally:
        client.close()
