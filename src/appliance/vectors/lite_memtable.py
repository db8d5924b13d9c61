"""Milvus Lite's flush builds its data table with Arrow takes, not a Python value per cell
(installed in the sidecar).

Every flush turns the memtable's live rows into one Arrow table per partition
(``MemTable._build_data_table``). Lite 3.2.2 does it cell by cell: ``column[row].as_py()`` for
every column of every row, a 512-element Python list per vector, then ``Table.from_pydict`` back.
It runs inside ``execute_flush`` under the collection's maintenance lock, which every search takes:
flushing the ~650 rows a second of the ingest bench held that lock for tens of ms, once a second.

:func:`build_data_table` takes the same rows, in the same order, with ``RecordBatch.take`` over
each run of rows from one insert batch, and concatenates the columns. The values are the same
Arrow values (no round trip through Python), so the table is equal to the stock one
(``tests/unit/vectors/test_lite_memtable.py`` compares them on random histories). It handles the
column types of the appliance's collection (integers, strings, float vectors); any other type, an
empty row list or an unexpected error runs the stock code.
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


PATCH = AttributePatch(
    "the flush's data table by Arrow takes",
    "milvus_lite.storage.memtable:MemTable",
    "_build_data_table",
    build_data_table,
    "3.2.2",
    {"_build_data_table": "6a7d20cc7bdddb80d4cfb22873c77ead82e6b94c1ef6cbf04a3a2db477c70b76"},
)
install, uninstall, is_installed = PATCH.install, PATCH.uninstall, PATCH.is_installed
