"""Milvus Lite's memtable without a Python value per cell: the flush's table by Arrow takes, the
search's vectors by numpy (installed in the sidecar).

Every flush turns the memtable's live rows into one Arrow table per partition
(``MemTable._build_data_table``). Lite 3.2.2 does it cell by cell: ``column[row].as_py()`` for
every column of every row, a 512-element Python list per vector, then ``Table.from_pydict`` back.
It runs inside ``execute_flush`` under the collection's maintenance lock, which every search takes:
flushing the ~650 rows a second of the ingest bench held that lock for tens of ms, once a second.

:func:`build_data_table` takes the same rows, in the same order, with ``RecordBatch.take`` over
each run of rows from one insert batch, and concatenates the columns. The values are the same
Arrow values (no round trip through Python), so the table is equal to the stock one. It handles
the column types of the appliance's collection (integers, strings, float vectors); any other type,
an empty row list or an unexpected error runs the stock code.

Every search reads the memtable's live rows too (``MemTable.to_search_snapshot``), and Lite 3.2.2
turns each row's vector into a Python list there, on every search call: with the ~650 rows a
flush carries, a search took 14.8 ms instead of 1.3 ms (20 k rows flushed, 6 queries). That is what
searches pay between the write-behind's upsert and its flush. :func:`to_search_snapshot` reads the
same rows in the same order, and their vectors as numpy views of each insert batch's float32
values: the same numbers (a float32 to a Python float and back is exact). Vectors that can be
null, filter tables (``include_table``) and anything unexpected run the stock code.

``tests/unit/vectors/test_lite_writes.py`` compares both with the stock code on random histories.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa

from appliance.vectors.lite_patch import AttributePatch

PATCH: AttributePatch


def _plain(arrow_type: pa.DataType) -> bool:
    """A type whose values a take copies exactly as the stock round trip through Python does."""
    if pa.types.is_fixed_size_list(arrow_type):
        return bool(pa.types.is_floating(arrow_type.value_type))
    return any(
        bool(check(arrow_type)) for check in (pa.types.is_integer, pa.types.is_string, pa.types.is_floating)
    )


def build_data_table(memtable: Any, rows: list[tuple[int, int]]) -> pa.Table:
    """``MemTable._build_data_table`` of milvus-lite 3.2.2 with Arrow takes."""
    schema: pa.Schema = memtable._data_schema
    if not rows or not all(_plain(field.type) for field in schema):
        return PATCH.stock(memtable, rows)
    try:
        positions = np.array(rows, dtype=np.int64)
        batch_of, row_of = positions[:, 0], positions[:, 1]
        starts = [0, *(np.flatnonzero(np.diff(batch_of)) + 1).tolist()]
        ends = [*starts[1:], len(rows)]
        pieces = [
            memtable._insert_batches[int(batch_of[start])].take(pa.array(row_of[start:end]))
            for start, end in zip(starts, ends, strict=True)
        ]
        columns = [pa.concat_arrays([piece.column(name) for piece in pieces]) for name in schema.names]
        return pa.Table.from_arrays(columns, schema=schema)
    except (pa.ArrowException, KeyError, IndexError, TypeError, ValueError):  # not as expected
        return PATCH.stock(memtable, rows)


def _vector_matrix(batch: pa.RecordBatch, field: str) -> np.ndarray[Any, Any] | None:
    """A batch's vectors as an (n, dim) float32 view, or None when they are not plain float32."""
    column = batch.column(field)
    if not pa.types.is_fixed_size_list(column.type) or column.type.value_type != pa.float32():
        return None
    if column.null_count:
        return None
    values = column.flatten().to_numpy(zero_copy_only=False)
    matrix: np.ndarray[Any, Any] = values.reshape(len(column), column.type.list_size)
    return matrix


Snapshot = tuple[
    list[Any], np.ndarray[Any, Any], np.ndarray[Any, Any], list[tuple[int, int]], pa.Table | None
]


def to_search_snapshot(
    memtable: Any,
    vector_field: str | None,
    partition_names: list[str] | None = None,
    include_table: bool = False,
) -> Snapshot:
    """``MemTable.to_search_snapshot`` of milvus-lite 3.2.2 without a Python list per vector."""
    snapshot = None
    if not include_table and vector_field is not None:
        with memtable._lock:
            batches = list(memtable._insert_batches)
            entries = list(memtable._pk_index.items())
        try:
            snapshot = _snapshot(batches, entries, vector_field, partition_names)
        except (pa.ArrowException, KeyError, IndexError, TypeError, ValueError):  # not as expected
            snapshot = None
    if snapshot is None:
        stock: Snapshot = SEARCH_PATCH.stock(memtable, vector_field, partition_names, include_table)
        return stock
    return snapshot


def _snapshot(
    batches: list[pa.RecordBatch],
    entries: list[tuple[Any, tuple[int, int, int]]],
    vector_field: str,
    partition_names: list[str] | None,
) -> Snapshot | None:
    """The live rows of ``partition_names`` (all when None) in ``_pk_index`` order; None when the
    stock code must answer (no rows, or vectors that are not plain float32)."""
    wanted = set(partition_names) if partition_names is not None else None
    partitions: dict[int, list[str]] = {}
    pks: list[Any] = []
    seqs: list[int] = []
    row_refs: list[tuple[int, int]] = []
    for pk, (batch_idx, row_idx, seq) in entries:
        if wanted is not None:
            names = partitions.get(batch_idx)
            if names is None:
                names = partitions[batch_idx] = batches[batch_idx].column("_partition").to_pylist()
            if names[row_idx] not in wanted:
                continue
        pks.append(pk)
        seqs.append(seq)
        row_refs.append((batch_idx, row_idx))
    if not pks:
        return None
    refs = np.array(row_refs, dtype=np.int64)
    vectors: np.ndarray[Any, Any] | None = None
    for batch_idx in np.unique(refs[:, 0]).tolist():
        matrix = _vector_matrix(batches[batch_idx], vector_field)
        if matrix is None:
            return None
        if vectors is None:
            vectors = np.empty((len(pks), matrix.shape[1]), dtype=np.float32)
        rows = refs[:, 0] == batch_idx
        vectors[rows] = matrix[refs[rows, 1]]
    assert vectors is not None
    return pks, np.asarray(seqs, dtype=np.uint64), vectors, row_refs, None


PATCH = AttributePatch(
    "the flush's data table by Arrow takes",
    "milvus_lite.storage.memtable:MemTable",
    "_build_data_table",
    build_data_table,
    "3.2.2",
    {"_build_data_table": "6a7d20cc7bdddb80d4cfb22873c77ead82e6b94c1ef6cbf04a3a2db477c70b76"},
)
SEARCH_PATCH = AttributePatch(
    "the search's memtable vectors by numpy",
    "milvus_lite.storage.memtable:MemTable",
    "to_search_snapshot",
    to_search_snapshot,
    "3.2.2",
    {"to_search_snapshot": "8980f72ede285b7718b51b3f9ddfca28a773ec64aede54b7eafe151fc21eb415"},
)
PATCHES = (PATCH, SEARCH_PATCH)


def install() -> bool:
    """Both memtable patches; True when both are in place."""
    return all([patch.install() for patch in PATCHES])


def uninstall() -> None:
    for patch in PATCHES:
        patch.uninstall()


def is_installed() -> bool:
    return all(patch.is_installed() for patch in PATCHES)
