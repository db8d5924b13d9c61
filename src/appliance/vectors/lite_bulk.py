"""Column upserts into Milvus Lite 3.2.2: one Arrow batch from numpy, no record per row.

The write-behind sends a second's new exemplars to the sidecar in one upsert (~600 rows of
512-D under the ingest bench). Through gRPC and Lite's record path that cost the API protobuf
packing of every float, and the sidecar, holding its GIL while searches waited, a protobuf
decode into one Python list per vector (``fields_data_to_records``), a point read per row for
upsert's partial-update merge (``Collection._get_raw``), ``validate_record`` per row and a
column-by-column rebuild of the rows into Arrow (``Collection._build_wal_data_batch``): ~30 ms
per call, plus ~25 ms of API time, once a second. Requests that overlapped it had a p95 of
~87 ms against ~34 ms for the others (ADR 0006).

:func:`upsert_columns` takes the rows as columns (ids, customer ids, a float32 matrix), builds the
same write-ahead-log batch with pyarrow from the buffers, and hands it to the collection exactly as
``Collection.insert`` does (``_next_seq`` allocation, ``_apply``, ``_should_flush``).

Why an insert is the upsert here: every row carries every field of our schema, so the merge in
``Collection.upsert`` (old record, then the new record's fields over it) yields the new record,
and ``Collection.upsert`` then calls ``insert``; visibility is by the largest ``_seq`` per primary
key, so a row inserted again supersedes the old one in the memtable and in the segments.

Guarded like the other Lite patches: only milvus-lite 3.2.2 with the stock sources this copies,
and only a collection with exactly the appliance's schema (VARCHAR ``id`` primary key, VARCHAR
``customer_id``, non-nullable FLOAT_VECTOR ``vector``; no dynamic fields, functions, auto id or
partition key). Anything else, and any row the stock validation could reject (a string too long,
a vector of another length), goes through the stock ``Collection.upsert`` with records, which
raises Lite's own errors. ``tests/unit/vectors/test_lite_bulk.py`` requires the batch to equal
the stock one and both paths to leave equal collections.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from appliance.vectors.lite_fastpath import stock_matches

SUPPORTED_VERSION = "3.2.2"
STOCK_SOURCE_SHA256 = {
    "Collection.insert": "2687ec546f4530a203187bbe6092b171678dd94144f91c3bccd4b25ae8ffd43a",
    "Collection.upsert": "3cea7e04acd70780151ee384436e7808c811598fa54d9bdcb0db6dacf2b40c0a",
    "Collection._build_wal_data_batch": "650df5170cc26dc444fc9acf6ba3ea692bedb29549d840e963561540d3265842",
}
"""The stock code :func:`upsert_columns` stands for: its steps for our schema are copied from it."""

_guard_lock = threading.Lock()
_stock_ok: bool | None = None
_FIELDS = ("id", "customer_id", "vector")
"""The appliance's collection: ``milvus.ID_FIELD``, ``CUSTOMER_FIELD``, ``VECTOR_FIELD`` (not imported:
``milvus`` pulls the pymilvus client into the sidecar, which does not need it)."""


def stock_sources() -> dict[str, Callable[..., Any] | None]:
    from milvus_lite.engine.collection import Collection

    return {
        "Collection.insert": Collection.insert,
        "Collection.upsert": Collection.upsert,
        "Collection._build_wal_data_batch": Collection._build_wal_data_batch,
    }


def _stock_is_known() -> bool:
    global _stock_ok
    with _guard_lock:
        if _stock_ok is None:
            try:
                sources = stock_sources()
            except ImportError:
                _stock_ok = False
            else:
                _stock_ok = stock_matches("column upserts", SUPPORTED_VERSION, sources, STOCK_SOURCE_SHA256)
        return _stock_ok


def schema_problem(collection: Any) -> str | None:
    """Why ``collection`` cannot take column upserts (None when it can)."""
    from milvus_lite.schema.types import DataType

    schema = collection._schema
    fields = {field.name: field for field in schema.fields}
    if tuple(fields) != _FIELDS:
        return f"fields {sorted(fields)}"
    pk, customer, vector = (fields[name] for name in _FIELDS)
    if not (pk.is_primary and pk.dtype == DataType.VARCHAR and customer.dtype == DataType.VARCHAR):
        return "id and customer_id must be VARCHAR, id the primary key"
    if vector.dtype != DataType.FLOAT_VECTOR or not vector.dim or vector.nullable:
        return "vector must be a non-nullable FLOAT_VECTOR with a dimension"
    if any(field.default_value is not None or field.nullable for field in (pk, customer)):
        return "id and customer_id must have no default and not be nullable"
    if schema.enable_dynamic_field or getattr(schema, "functions", None):
        return "dynamic fields and functions are not supported"
    if collection._auto_id or collection._ingestion_chain or collection._bm25_analyzers:
        return "auto id, ingestion functions and BM25 are not supported"
    if collection._partition_key_field is not None:
        return "a partition key field is not supported"
    return None


def _fits(values: Sequence[str], max_length: int | None) -> bool:
    return all(type(value) is str for value in values) and (
        max_length is None or max(map(len, values), default=0) <= max_length
    )


def upsert_columns(
    collection: Any,
    partition: str,
    ids: Sequence[str],
    customer_ids: Sequence[str],
    vectors: np.ndarray[Any, Any],
) -> int:
    """Upsert rows given as columns into a Lite ``Collection``; returns the row count.

    The caller serialises writes to the collection (the sidecar's write lock), as Lite's gRPC
    servicer callers do: seq allocation is not locked inside Lite either.
    """
    rows = len(ids)
    if rows != len(customer_ids) or vectors.ndim != 2 or vectors.shape[0] != rows:
        raise ValueError(f"{rows} ids, {len(customer_ids)} customer ids and {vectors.shape[0]} vectors")
    if not rows:
        return 0
    fields = {field.name: field for field in collection._schema.fields}
    if (
        not _stock_is_known()
        or schema_problem(collection) is not None
        or vectors.shape[1] != fields["vector"].dim
        or not _fits(ids, fields["id"].max_length)
        or not _fits(customer_ids, fields["customer_id"].max_length)
    ):
        # Lite's record path, with its own validation and errors.
        records = [
            {"id": pk, "customer_id": customer, "vector": vector}
            for pk, customer, vector in zip(
                ids, customer_ids, vectors.astype(np.float32).tolist(), strict=True
            )
        ]
        return len(collection.upsert(records, partition_name=partition))

    import pyarrow as pa
    from milvus_lite.engine.operation import InsertOp
    from milvus_lite.exceptions import PartitionNotFoundError

    if not collection._manifest.has_partition(partition):
        raise PartitionNotFoundError(partition)
    flat = np.ascontiguousarray(vectors, dtype=np.float32).reshape(-1)
    seq_start = collection._next_seq
    collection._next_seq += rows
    schema = collection._wal_data_schema
    batch = pa.RecordBatch.from_arrays(
        [
            pa.array(np.arange(seq_start, seq_start + rows, dtype=np.uint64)),
            pa.array([partition] * rows, type=pa.string()),
            pa.array(ids, type=pa.string()),
            pa.array(customer_ids, type=pa.string()),
            pa.FixedSizeListArray.from_arrays(pa.array(flat), int(vectors.shape[1])),
        ],
        schema=schema,
    )
    collection._apply(InsertOp(partition=partition, batch=batch))
    if collection._should_flush():
        collection._trigger_flush()
    return rows
