"""Milvus Lite data files with plain-encoded vectors (appliance.vectors.lite_parquet).

A real in-process Lite engine runs the same writes with the stock writer and with the patch; the
files must read back as the same tables and answer the same searches, and only the patched
files' vector column may skip the dictionary."""

from __future__ import annotations

import glob
import os
import tempfile
from collections.abc import Iterator

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from milvus_lite import CollectionSchema, DataType, FieldSchema, MilvusLite
from milvus_lite.storage import data_file

from appliance.vectors import lite_parquet

DIM = 32


@pytest.fixture(autouse=True)
def _restore_install_state() -> Iterator[None]:
    was_installed = lite_parquet.is_installed()
    yield
    if was_installed:
        lite_parquet.install()
    else:
        lite_parquet.uninstall()


def run_history(data_dir: str) -> tuple[list[str], list[list[tuple[str, float]]]]:
    """Writes in three flushes (inserts, a re-upsert, deletes; fewer than the four files a merge
    waits for, so no background merge removes one); the data files and some answers."""
    db = MilvusLite(data_dir)
    try:
        schema = CollectionSchema(
            fields=[
                FieldSchema("id", DataType.VARCHAR, is_primary=True, max_length=64),
                FieldSchema("customer_id", DataType.VARCHAR, max_length=64),
                FieldSchema("vector", DataType.FLOAT_VECTOR, dim=DIM),
            ]
        )
        col = db.create_collection("faces", schema)
        rng = np.random.default_rng(7)
        vectors = rng.standard_normal((300, DIM)).astype(np.float32)
        for start in (0, 150):
            col.insert(
                [
                    {"id": f"e{i}", "customer_id": f"c{i % 40}", "vector": vectors[i].tolist()}
                    for i in range(start, start + 150)
                ]
            )
            col.flush()
        col.upsert([{"id": "e5", "customer_id": "c5", "vector": vectors[6].tolist()}])
        col.delete(["e7", "e150"])
        col.flush()
        col.load()
        answers = col.search(
            query_vectors=vectors[:20].tolist(), top_k=5, metric_type="COSINE", output_fields=["customer_id"]
        )
        found = [[(str(hit["id"]), round(float(hit["distance"]), 6)) for hit in query] for query in answers]
    finally:
        db.close()
    files = sorted(glob.glob(os.path.join(data_dir, "**", "data", "*.parquet"), recursive=True))
    return [os.path.relpath(f, data_dir) for f in files], found


def encodings(path: str, column: str) -> set[str]:
    meta = pq.ParquetFile(path).metadata
    names = [meta.schema.column(i).path for i in range(meta.num_columns)]
    index = next(i for i, name in enumerate(names) if name.split(".")[0] == column)
    return {str(e) for g in range(meta.num_row_groups) for e in meta.row_group(g).column(index).encodings}


def test_patched_files_read_back_the_same_and_answer_the_same() -> None:
    lite_parquet.uninstall()
    with tempfile.TemporaryDirectory() as stock_dir, tempfile.TemporaryDirectory() as plain_dir:
        stock_files, stock_answers = run_history(stock_dir)
        assert lite_parquet.install() and lite_parquet.is_installed()
        plain_files, plain_answers = run_history(plain_dir)

        assert plain_files == stock_files and len(stock_files) == 3
        assert plain_answers == stock_answers
        for rel in stock_files:
            stock, plain = os.path.join(stock_dir, rel), os.path.join(plain_dir, rel)
            assert pq.read_table(plain).equals(pq.read_table(stock))
            assert any("DICTIONARY" in e for e in encodings(stock, "vector"))
            assert not any("DICTIONARY" in e for e in encodings(plain, "vector"))
            assert any("DICTIONARY" in e for e in encodings(plain, "id"))  # scalars keep it


def test_a_caller_that_asks_for_an_encoding_gets_it(tmp_path: object) -> None:
    assert lite_parquet.install()
    assert data_file.pq.read_table is pq.read_table  # the stand-in forwards everything else
    data = pa.table(
        {"id": ["a", "b"], "vector": pa.array([[1.0, 2.0], [3.0, 4.0]], type=pa.list_(pa.float32()))}
    )
    path = os.path.join(str(tmp_path), "x.parquet")
    data_file.pq.write_table(data, path, use_dictionary=True)
    assert any("DICTIONARY" in e for e in encodings(path, "vector"))


def test_it_is_not_installed_over_other_code(monkeypatch: pytest.MonkeyPatch) -> None:
    lite_parquet.uninstall()
    monkeypatch.setattr(lite_parquet.PATCH, "stock_sha256", {"write_data_file": "another"})
    assert not lite_parquet.install()
    assert not lite_parquet.is_installed() and data_file.pq is pq
