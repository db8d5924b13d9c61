"""Milvus Lite's write path in the sidecar: column upserts (``lite_bulk``), the flush's data table
by Arrow takes and the search's memtable vectors by numpy (``lite_memtable``) must leave and read
exactly what the stock code leaves and reads.

A real in-process Milvus Lite engine with the appliance's schema runs the same random history
(upserts of new and known ids, in two partitions, deletes, flushes) once through the stock record
path and once through the column path with the memtable patches; the write-ahead-log batches, the
memtable's flush tables and search snapshots, the data files, the rows and the search answers must
be equal.
"""

from __future__ import annotations

import tempfile
import uuid
from collections.abc import Iterator
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from milvus_lite import CollectionSchema, DataType, FieldSchema, MilvusLite
from milvus_lite.exceptions import PartitionNotFoundError, SchemaValidationError

from appliance.vectors import lite_bulk, lite_memtable

DIM = 16
PARTITIONS = ["_default", "t_1"]


@pytest.fixture(autouse=True)
def _restore_install_state() -> Iterator[None]:
    was_installed = lite_memtable.is_installed()
    yield
    if was_installed:
        lite_memtable.install()
    else:
        lite_memtable.uninstall()


def appliance_schema(dim: int = DIM, **extra: Any) -> CollectionSchema:
    return CollectionSchema(
        fields=[
            FieldSchema("id", DataType.VARCHAR, is_primary=True, max_length=36),
            FieldSchema("customer_id", DataType.VARCHAR, max_length=36),
            FieldSchema("vector", DataType.FLOAT_VECTOR, dim=dim),
        ],
        **extra,
    )


def vector(pk: int, version: int) -> np.ndarray:
    """The same vector for both engines: a function of the pk and how often it was written."""
    return np.random.default_rng(pk * 1000 + version).standard_normal(DIM).astype(np.float32)


class Engine:
    def __init__(self, data_dir: str, columns: bool) -> None:
        self.db = MilvusLite(data_dir)
        self.col = self.db.create_collection("face_embeddings", appliance_schema())
        self.col.create_partition("t_1")
        self.col.create_index("vector", {"index_type": "FLAT", "metric_type": "IP", "params": {}})
        self.col.load()
        self.columns = columns
        self.versions: dict[int, int] = {}

    def upsert(self, partition: str, pks: list[int]) -> None:
        ids, customers, vectors = [], [], []
        for pk in pks:
            self.versions[pk] = version = self.versions.get(pk, 0) + 1
            ids.append(f"pk-{pk}")
            customers.append(f"customer-{pk % 7}-{version}")
            vectors.append(vector(pk, version))
        matrix = np.stack(vectors)
        if self.columns:
            assert lite_bulk.upsert_columns(self.col, partition, ids, customers, matrix) == len(pks)
        else:
            records = [
                {"id": i, "customer_id": c, "vector": v}
                for i, c, v in zip(ids, customers, matrix.tolist(), strict=True)
            ]
            self.col.upsert(records, partition_name=partition)

    def apply(self, op: tuple[Any, ...]) -> None:
        if op[0] == "upsert":
            self.upsert(op[1], op[2])
        elif op[0] == "delete":
            self.col.delete([f"pk-{pk}" for pk in op[1]])
        else:
            self.col.flush()
            self.col._wait_for_bg(timeout=60)

    def state(self) -> dict[str, Any]:
        self.col._wait_for_bg(timeout=60)
        memtable = {
            partition: tuple(table.to_pylist() if table is not None else None for table in tables)
            for partition, tables in self.col._memtable.flush(known_partitions=PARTITIONS).items()
        }
        searched = []
        for names in (None, ["t_1"], ["_default"], PARTITIONS):
            pks, seqs, vectors, refs, table = self.col._memtable.to_search_snapshot("vector", names)
            searched.append(
                (pks, seqs.tolist(), vectors.dtype, vectors.shape, vectors.tobytes(), refs, table)
            )
        files = {
            partition: [
                pq.read_table(f"{self.col.data_dir}/partitions/{partition}/{rel}").to_pylist()
                for rel in sorted(self.col._manifest.get_data_files(partition))
            ]
            for partition in PARTITIONS
        }
        rows = self.col.query(expr='id != ""', output_fields=["id", "customer_id", "vector"])
        queries = np.random.default_rng(7).standard_normal((3, DIM)).astype(np.float32).tolist()
        hits = self.col.search(queries, top_k=1000, output_fields=["customer_id"])
        return {
            "memtable": memtable,
            "searched": searched,
            "files": files,
            "rows": sorted((r["id"], r["customer_id"], list(r["vector"])) for r in rows),
            "hits": [[(h["id"], h["entity"]["customer_id"], h["distance"]) for h in q] for q in hits],
        }

    def close(self) -> None:
        self.db.close()


def run(operations: list[tuple[Any, ...]], columns: bool) -> dict[str, Any]:
    if columns:
        assert lite_memtable.install()
    else:
        lite_memtable.uninstall()
    with tempfile.TemporaryDirectory(prefix="lite-writes-") as data_dir:
        engine = Engine(data_dir, columns)
        try:
            for op in operations:
                engine.apply(op)
            return engine.state()
        finally:
            engine.close()


def histories() -> st.SearchStrategy[list[tuple[Any, ...]]]:
    pk_lists = st.lists(st.integers(0, 120), min_size=1, max_size=30, unique=True)
    op = st.one_of(
        st.tuples(st.just("upsert"), st.sampled_from(PARTITIONS), pk_lists),
        st.tuples(st.just("upsert"), st.sampled_from(PARTITIONS), pk_lists),
        st.tuples(st.just("delete"), st.lists(st.integers(0, 120), min_size=1, max_size=8, unique=True)),
        st.tuples(st.just("flush")),
    )
    return st.lists(op, min_size=4, max_size=30)


@settings(max_examples=30, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(operations=histories())
def test_column_upserts_and_take_tables_leave_what_the_stock_code_leaves(
    operations: list[tuple[Any, ...]],
) -> None:
    # End with rows in the memtable too, re-written ones among them, so its flush tables compare.
    history = [*operations, ("upsert", "t_1", [1, 2, 3]), ("upsert", "_default", [2, 200])]
    assert run(history, columns=True) == run(history, columns=False)


@pytest.fixture
def collection(tmp_path: Any) -> Iterator[Any]:
    db = MilvusLite(str(tmp_path))
    col = db.create_collection("face_embeddings", appliance_schema())
    col.create_partition("t_1")
    yield col
    db.close()


def test_the_wal_batch_equals_the_stock_one(collection: Any) -> None:
    n = 50
    ids = [str(uuid.uuid4()) for _ in range(n)]
    customers = [str(uuid.uuid4()) for _ in range(n)]
    vectors = np.random.default_rng(1).standard_normal((n, DIM)).astype(np.float32)
    records = [
        {"id": i, "customer_id": c, "vector": v}
        for i, c, v in zip(ids, customers, vectors.tolist(), strict=True)
    ]
    start = collection._next_seq
    stock = collection._build_wal_data_batch(records, "t_1", list(range(start, start + n)))
    applied: list[pa.RecordBatch] = []
    collection._apply = lambda op: applied.append(op.batch)
    lite_bulk.upsert_columns(collection, "t_1", ids, customers, vectors)
    assert applied[0].equals(stock) and applied[0].schema == stock.schema
    assert collection._next_seq == start + n


def test_rows_the_stock_validation_rejects_get_its_error(collection: Any) -> None:
    vectors = np.ones((1, DIM), dtype=np.float32)
    with pytest.raises(SchemaValidationError, match="max_length"):
        lite_bulk.upsert_columns(collection, "t_1", ["x" * 37], ["c"], vectors)
    with pytest.raises(SchemaValidationError, match="dim"):
        lite_bulk.upsert_columns(collection, "t_1", ["a"], ["c"], np.ones((1, DIM + 1), dtype=np.float32))
    with pytest.raises(PartitionNotFoundError):
        lite_bulk.upsert_columns(collection, "no_such_partition", ["a"], ["c"], vectors)
    with pytest.raises(ValueError, match="2 ids, 1 customer ids"):
        lite_bulk.upsert_columns(collection, "t_1", ["a", "b"], ["c"], vectors)
    assert collection._memtable.size() == 0  # nothing half-written


def test_another_schema_takes_the_stock_path(tmp_path: Any) -> None:
    db = MilvusLite(str(tmp_path))
    try:
        col = db.create_collection("dynamic", appliance_schema(enable_dynamic_field=True))
        assert lite_bulk.schema_problem(col) is not None
        lite_bulk.upsert_columns(col, "_default", ["a"], ["c"], np.ones((1, DIM), dtype=np.float32))
        assert col._memtable.get("a")["customer_id"] == "c"
    finally:
        db.close()


def test_the_flush_patch_is_guarded_by_the_stock_source(monkeypatch: pytest.MonkeyPatch) -> None:
    lite_memtable.uninstall()
    monkeypatch.setattr(lite_memtable.PATCH, "stock_sha256", {"_build_data_table": "another"})
    assert not lite_memtable.install()
    from milvus_lite.storage.memtable import MemTable

    assert MemTable._build_data_table is not lite_memtable.build_data_table
    monkeypatch.undo()
    assert lite_memtable.install()
    assert MemTable._build_data_table is lite_memtable.build_data_table
