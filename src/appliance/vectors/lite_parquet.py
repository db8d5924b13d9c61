"""Milvus Lite data files written without dictionary-encoding the vectors (installed in the sidecar).

Lite 3.2.2 writes every flush and every merge as a Parquet file with pyarrow's defaults
(``milvus_lite.storage.data_file.write_data_file``: ``pq.write_table(table, path)``), which
dictionary-encode every column. For float vectors that is wasted work: pyarrow builds a
dictionary of the values until it overflows and then falls back to plain encoding anyway. That
was 12.8 % of the sidecar's samples under ingest load, and a file of 5,000 512-D vectors took 130 ms to
write instead of 53 ms, at the same size (11.0 vs 10.4 MB).

:func:`install` gives ``data_file`` a stand-in for its ``pq`` module whose ``write_table``
dictionary-encodes only the columns that are not lists (primary keys, scalar fields, ``_seq``),
unless a caller asks otherwise. Encoding is invisible to readers: ``pq.read_table`` returns the
same table (``tests/unit/vectors/test_lite_parquet.py`` writes both ways and compares). Delete
files (``delta_file``) keep the stock writer: they hold no vectors.

Installed only on the milvus-lite version and stock source it was written against; otherwise the
stock writer keeps running.
"""

from __future__ import annotations

from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from appliance.vectors.lite_patch import AttributePatch


def dictionary_columns(schema: pa.Schema) -> list[str]:
    """The columns worth a dictionary: everything but list-typed ones (the vectors)."""
    listy = (pa.types.is_list, pa.types.is_large_list, pa.types.is_fixed_size_list)
    return [f.name for f in schema if not any(is_list(f.type) for is_list in listy)]


class ParquetWithoutVectorDictionaries:
    """``pyarrow.parquet`` as ``data_file`` uses it, with vectors written plain."""

    def __getattr__(self, name: str) -> Any:
        return getattr(pq, name)

    @staticmethod
    def write_table(table: pa.Table, where: Any, **kwargs: Any) -> None:
        kwargs.setdefault("use_dictionary", dictionary_columns(table.schema))
        pq.write_table(table, where, **kwargs)


PATCH = AttributePatch(
    "vectors written without Parquet dictionaries",
    "milvus_lite.storage.data_file",
    "pq",
    ParquetWithoutVectorDictionaries(),
    "3.2.2",
    # write_data_file's source, which calls ``pq.write_table(table, abs_path)``.
    {"write_data_file": "b8bb7f22e9b9ae26860d19d5fc950a5b55742d9cf856e69691a333655f22af24"},
)
install, uninstall, is_installed = PATCH.install, PATCH.uninstall, PATCH.is_installed
