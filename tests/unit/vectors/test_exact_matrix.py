"""The embedded index's matrix: its answers equal a brute-force reference after any history of
upserts, moves and deletes; the snapshot arithmetic of the change cursor."""

from __future__ import annotations

import uuid
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from appliance.vectors.changes import Snapshot, decode
from appliance.vectors.matrix import ExemplarMatrix, unit_rows

DIM = 8
IDS = [uuid.UUID(int=i + 1) for i in range(24)]
CUSTOMERS = [uuid.UUID(int=1000 + i) for i in range(6)]

operation = st.one_of(
    st.tuples(
        st.just("upsert"),
        st.lists(
            st.tuples(st.sampled_from(IDS), st.sampled_from(CUSTOMERS), st.integers(0, 2**32 - 1)),
            min_size=1,
            max_size=6,
        ),
    ),
    st.tuples(st.just("delete"), st.lists(st.sampled_from(IDS), min_size=1, max_size=4)),
    st.tuples(st.just("delete_customer"), st.sampled_from(CUSTOMERS)),
)


def vector(seed: int) -> np.ndarray[Any, Any]:
    return unit_rows(np.random.default_rng(seed).standard_normal(DIM), DIM)[0]


@settings(max_examples=150, deadline=None)
@given(
    history=st.lists(operation, max_size=25), query_seed=st.integers(0, 2**32 - 1), top_k=st.integers(1, 30)
)
def test_answers_equal_brute_force(history: list[Any], query_seed: int, top_k: int) -> None:
    matrix = ExemplarMatrix(DIM)
    reference: dict[uuid.UUID, tuple[uuid.UUID, np.ndarray[Any, Any]]] = {}
    for op, arg in history:
        if op == "upsert":
            latest = {i: (c, vector(s)) for i, c, s in arg}  # one write per id and call, the last wins
            ids = list(latest)
            matrix.upsert(ids, [latest[i][0] for i in ids], np.stack([latest[i][1] for i in ids]))
            reference.update(latest)
        elif op == "delete":
            assert matrix.delete(arg) == len({i for i in arg if i in reference})
            for i in arg:
                reference.pop(i, None)
        else:  # a customer erased: all its exemplars at once
            matrix.delete([i for i, (c, _) in reference.items() if c == arg])
            reference = {i: v for i, v in reference.items() if v[0] != arg}
        assert len(matrix) == len(reference)
    query = vector(query_seed)
    hits = matrix.search(query[None, :], top_k)[0]
    expected = sorted(((float(v @ query), i, c) for i, (c, v) in reference.items()), reverse=True)[:top_k]
    assert [round(h.score, 5) for h in hits] == [round(s, 5) for s, _, _ in expected]
    assert {(h.id, h.customer_id) for h in hits} <= {(i, c) for i, (c, _) in reference.items()}
    for hit in hits:
        assert reference[hit.id][0] == hit.customer_id
        assert hit.score == pytest.approx(float(reference[hit.id][1] @ query), abs=1e-5)
    for customer in CUSTOMERS:
        assert matrix.count_customer(customer) == sum(1 for c, _ in reference.values() if c == customer)


def test_many_queries_at_once_answer_as_one_by_one() -> None:
    rng = np.random.default_rng(3)
    matrix = ExemplarMatrix(DIM)
    ids = [uuid.uuid4() for _ in range(500)]
    matrix.upsert(ids, [uuid.uuid4() for _ in ids], unit_rows(rng.standard_normal((500, DIM)), DIM))
    queries = unit_rows(rng.standard_normal((7, DIM)), DIM)
    together = matrix.search(queries, 5)
    alone = [matrix.search(q[None, :], 5)[0] for q in queries]
    assert [[h.id for h in hits] for hits in together] == [[h.id for h in hits] for hits in alone]
    for a, b in zip(together, alone, strict=True):  # a matrix product may round the last bit otherwise
        assert [h.score for h in a] == pytest.approx([h.score for h in b], abs=1e-6)


def test_bad_vectors_are_refused() -> None:
    with pytest.raises(ValueError, match="8-D"):
        unit_rows(np.ones(7), DIM)
    with pytest.raises(ValueError, match="non-zero"):
        unit_rows(np.zeros(DIM), DIM)
    with pytest.raises(ValueError, match="finite"):
        unit_rows(np.full(DIM, np.nan), DIM)


def test_stored_zero_vectors_never_match() -> None:
    raw = np.zeros(DIM, dtype=">f4").tobytes() + np.ones(DIM, dtype=">f4").tobytes()
    decoded = decode(raw, DIM)
    assert not decoded[0].any()
    assert np.linalg.norm(decoded[1]) == pytest.approx(1.0)


def test_snapshot_visibility_and_order() -> None:
    snapshot = Snapshot.parse("100:110:103,107")
    assert str(snapshot) == "100:110:103,107"
    assert snapshot.sees(99) and snapshot.sees(104)
    assert not snapshot.sees(103) and not snapshot.sees(110) and not snapshot.sees(200)
    later = Snapshot.parse("100:110:103")  # 107 committed since
    assert later.later_than(snapshot) and not snapshot.later_than(later)
    assert Snapshot.parse("103:111:").later_than(later)
    assert not snapshot.later_than(snapshot)
