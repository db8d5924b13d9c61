"""Milvus Lite compaction without the search lock: same result as stock, searches run on meanwhile.

A real in-process Milvus Lite engine runs the same random history (inserts, re-upserts, deletes,
many flushes so that size-tiered compaction merges files) once with the stock compaction and once
with ``appliance.vectors.lite_compaction``; the manifests, the rows and the search answers must be
identical. A second test pauses a merge half-way (inside its file write) and shows that a search
completes while it is paused; the stock code holds the lock there and would block the search.
"""

from __future__ import annotations

import contextlib
import tempfile
import threading
from collections.abc import Iterator
from typing import Any
from unittest import mock

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from milvus_lite import CollectionSchema, DataType, FieldSchema, MilvusLite
from milvus_lite.engine import compaction as compaction_module
from milvus_lite.storage import data_file

from appliance.vectors import lite_compaction

DIM = 8
PARTITIONS = ["_default", "p1"]


@pytest.fixture(autouse=True)
def _restore_install_state() -> Iterator[None]:
    was_installed = lite_compaction.is_installed()
    yield
    if was_installed:
        lite_compaction.install()
    else:
        lite_compaction.uninstall()


def vector(pk: int, version: int) -> list[float]:
    """The same record for both engines: a function of the pk and how often it was written."""
    rng = np.random.default_rng(pk * 1000 + version)
    return rng.standard_normal(DIM).astype(np.float32).tolist()


class Engine:
    def __init__(self, data_dir: str) -> None:
        self.db = MilvusLite(data_dir)
        schema = CollectionSchema(
            fields=[
                FieldSchema("id", DataType.INT64, is_primary=True),
                FieldSchema("vec", DataType.FLOAT_VECTOR, dim=DIM),
                FieldSchema("tag", DataType.INT64),
            ]
        )
        self.col = self.db.create_collection("faces", schema)
        self.col.create_partition("p1")
        self.col.create_index("vec", {"index_type": "FLAT", "metric_type": "COSINE", "params": {}})
        self.col.load()
        self.versions: dict[int, int] = {}

    def write(self, kind: str, partition: str, pks: list[int]) -> None:
        records = []
        for pk in pks:
            self.versions[pk] = self.versions.get(pk, 0) + 1
            records.append({"id": pk, "vec": vector(pk, self.versions[pk]), "tag": pk % 3})
        getattr(self.col, kind)(records, partition_name=partition)

    def apply(self, op: tuple[Any, ...]) -> None:
        kind = op[0]
        if kind in ("insert", "upsert"):
            self.write(kind, op[1], op[2])
        elif kind == "delete":
            self.col.delete(op[1])
        else:  # flush, then let the background compaction finish: both engines see one order
            self.col.flush()
            self.col._wait_for_bg(timeout=60)

    def state(self) -> dict[str, Any]:
        self.col._wait_for_bg(timeout=60)
        rows = self.col.query(expr="tag >= 0", output_fields=["id", "tag", "vec"])
        queries = np.random.default_rng(7).standard_normal((4, DIM)).astype(np.float32).tolist()
        hits = self.col.search(queries, top_k=1000)
        return {
            "files": {p: sorted(self.col._manifest.get_data_files(p)) for p in PARTITIONS},
            "rows": sorted((r["id"], r["tag"], [round(x, 6) for x in r["vec"]]) for r in rows),
            "hits": [[(h["id"], round(h["distance"], 6)) for h in q] for q in hits],
        }

    def close(self) -> None:
        self.db.close()


def run(operations: list[tuple[Any, ...]]) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="lite-compaction-") as data_dir:
        engine = Engine(data_dir)
        try:
            for op in operations:
                engine.apply(op)
            return engine.state()
        finally:
            engine.close()


def histories() -> st.SearchStrategy[list[tuple[Any, ...]]]:
    pk_lists = st.lists(st.integers(0, 200), min_size=1, max_size=25, unique=True)
    op = st.one_of(
        st.tuples(st.just("insert"), st.sampled_from(PARTITIONS), pk_lists),
        st.tuples(st.just("upsert"), st.sampled_from(PARTITIONS), pk_lists),
        st.tuples(st.just("delete"), st.lists(st.integers(0, 200), min_size=1, max_size=8, unique=True)),
        st.tuples(st.just("flush")),
        st.tuples(st.just("flush")),
    )
    return st.lists(op, min_size=8, max_size=40)


COMPACTIONS = {"stock": 0}


@settings(max_examples=25, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(operations=histories())
def test_compaction_without_the_lock_gives_the_stock_result(operations: list[tuple[Any, ...]]) -> None:
    # Every history ends with enough flushes of fresh rows to make the small-file bucket merge.
    tail = [
        op for n in range(5) for op in (("insert", "p1", [1000 + 10 * n + i for i in range(3)]), ("flush",))
    ]
    history = [*operations, *tail]
    lite_compaction.uninstall()
    expected = run(history)
    assert lite_compaction.install()
    actual = run(history)
    assert actual == expected
    COMPACTIONS["stock"] += len(expected["files"]["p1"]) < 5  # fewer files than flushes: merged


def test_histories_did_merge_files() -> None:
    """The differential test above is only worth something if compactions happened in it."""
    if COMPACTIONS["stock"] == 0:
        pytest.skip("runs after the differential test (same session)")
    assert COMPACTIONS["stock"] > 0


def test_a_search_completes_while_a_merge_is_in_progress() -> None:
    assert lite_compaction.install()
    entered, release = threading.Event(), threading.Event()
    real_write = data_file.write_data_file

    def paused_write(*args: Any, **kwargs: Any) -> str:
        entered.set()
        assert release.wait(timeout=60), "the test never released the merge"
        return real_write(*args, **kwargs)

    with contextlib.ExitStack() as stack:
        data_dir = stack.enter_context(tempfile.TemporaryDirectory(prefix="lite-compaction-"))
        engine = Engine(data_dir)
        stack.callback(engine.close)
        stack.callback(release.set)  # never leave the worker paused, whatever fails below
        for n in range(3):
            engine.write("insert", "p1", [10 * n + i for i in range(5)])
            engine.col.flush()
            engine.col._wait_for_bg(timeout=60)
        engine.write("insert", "p1", [100 + i for i in range(5)])
        # The merge runs in Lite's background worker; only its file write is paused (wherever the
        # merge calls it from: the stock compaction module or ours).
        stack.enter_context(mock.patch.object(data_file, "write_data_file", paused_write))
        stack.enter_context(mock.patch.object(compaction_module, "write_data_file", paused_write))
        engine.col.flush()  # the 4th small file: a compaction starts
        assert entered.wait(timeout=30), "no compaction started"

        answers: list[Any] = []
        searcher = threading.Thread(
            target=lambda: answers.append(engine.col.search([vector(100, 1)], top_k=3))
        )
        searcher.start()
        searcher.join(timeout=10)
        assert not searcher.is_alive(), "the search waited for the merge"
        assert answers[0][0][0]["id"] == 100

        release.set()
        engine.col._wait_for_bg(timeout=60)
        assert len(engine.col._manifest.get_data_files("p1")) == 1  # merged
        rows = engine.col.query(expr="tag >= 0", output_fields=["id"])
        assert sorted(r["id"] for r in rows) == sorted(
            [10 * n + i for n in range(3) for i in range(5)] + [100 + i for i in range(5)]
        )


def test_not_installed_over_other_stock_code() -> None:
    lite_compaction.uninstall()
    changed = {name: "0" * 64 for name in lite_compaction.STOCK_SOURCE_SHA256}
    with mock.patch.object(lite_compaction, "STOCK_SOURCE_SHA256", changed):
        assert not lite_compaction.install()
    assert not lite_compaction.is_installed()
    assert lite_compaction.install()
