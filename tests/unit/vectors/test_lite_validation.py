"""Lite's record validation without the per-float loop (appliance.vectors.lite_validation).

The stock and the patched function get the same generated records (good ones, and every kind of
bad vector or field); they must agree: the same error, or the same record afterwards."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from milvus_lite import CollectionSchema, DataType, FieldSchema, MilvusLite
from milvus_lite.engine import collection as collection_module
from milvus_lite.schema import validation

from appliance.vectors import lite_validation

DIM = 8
SCHEMA = CollectionSchema(
    fields=[
        FieldSchema("id", DataType.VARCHAR, is_primary=True, max_length=16),
        FieldSchema("customer_id", DataType.VARCHAR, max_length=16),
        FieldSchema("vector", DataType.FLOAT_VECTOR, dim=DIM),
    ]
)


@pytest.fixture(autouse=True)
def _installed() -> Iterator[None]:
    was_installed = lite_validation.is_installed()
    assert lite_validation.install()
    yield
    if not was_installed:
        lite_validation.uninstall()


element = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(-5, 5),
    st.booleans(),
    st.none(),
    st.text(max_size=2),
    st.floats(-1, 1).map(np.float64),
    st.floats(-1, 1).map(np.float32),
)
plain = st.one_of(st.floats(-1, 1), st.integers(-5, 5))
vector = st.one_of(
    st.lists(plain, min_size=DIM, max_size=DIM),  # the common case
    st.lists(plain, min_size=DIM, max_size=DIM).map(tuple),
    st.lists(plain, min_size=0, max_size=DIM + 2),  # wrong lengths
    st.lists(element, min_size=DIM, max_size=DIM),  # odd elements
    st.lists(plain, min_size=DIM, max_size=DIM).map(np.array),
    st.none(),
    st.text(max_size=DIM),
)
text = st.one_of(st.text(max_size=20), st.none(), st.integers())


@st.composite
def records(draw: st.DrawFn) -> Any:
    record: dict[str, Any] = {}
    for name, values in (("id", text), ("customer_id", text), ("vector", vector)):
        if draw(st.booleans()) or (name == "vector" and draw(st.booleans())):
            record[name] = draw(values)
    if draw(st.integers(0, 9)) == 0:
        record["extra"] = 1
    return record if draw(st.integers(0, 19)) else [record]


def outcome(function: Any, record: Any) -> tuple[str, Any]:
    try:
        function(record, SCHEMA, None)
    except Exception as exc:
        return type(exc).__name__, str(exc)
    return "ok", record


def same(a: Any, b: Any) -> bool:
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return type(a) is type(b) and np.array_equal(a, b, equal_nan=True)
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list | tuple) and isinstance(b, list | tuple):
        return type(a) is type(b) and len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    return type(a) is type(b) and (a == b or (a != a and b != b))  # NaN equals NaN here


@settings(max_examples=400, deadline=None)
@given(records())
def test_the_patched_validation_agrees_with_the_stock_one(record: Any) -> None:
    stock_kind, stock_result = outcome(validation.validate_record, copy.deepcopy(record))
    fast_kind, fast_result = outcome(lite_validation.validate_record, record)
    assert fast_kind == stock_kind
    assert same(fast_result, stock_result) if fast_kind == "ok" else fast_result == stock_result
    if isinstance(record, dict) and "vector" in record:  # the caller's vector is handed back
        assert not isinstance(record["vector"], lite_validation._CheckedVector)


def test_the_engine_uses_it_and_stores_what_it_was_given(tmp_path: Any) -> None:
    assert collection_module.validate_record is lite_validation.validate_record
    db = MilvusLite(str(tmp_path))
    try:
        col = db.create_collection("faces", SCHEMA)
        rows = [
            {"id": f"e{i}", "customer_id": "c", "vector": [float(i + j) for j in range(DIM)]}
            for i in range(5)
        ]
        col.insert(rows)
        col.flush()
        col.load()
        stored = col.query(expr='id == "e3"', output_fields=["vector"])
        assert [float(x) for x in stored[0]["vector"]] == rows[3]["vector"]
        with pytest.raises(Exception, match="must be numeric"):
            col.insert([{"id": "bad", "customer_id": "c", "vector": [1.0] * (DIM - 1) + [True]}])
    finally:
        db.close()


def test_it_is_not_installed_over_other_code(monkeypatch: pytest.MonkeyPatch) -> None:
    lite_validation.uninstall()
    monkeypatch.setattr(lite_validation.PATCH, "stock_sha256", {"validate_record": "another"})
    assert not lite_validation.install()
    assert collection_module.validate_record is validation.validate_record
