"""The embedded index's matrix: its answers equal a brute-force reference after any history of
upserts, moves and deletes; the snapshot arithmetic of the change cursor."""

from __future__ import annotations

import functools
import time
import uuid
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from appliance.vectors import matrix as matrix_module
from appliance.vectors import scan
from appliance.vectors.changes import Snapshot, decode
from appliance.vectors.matrix import ALWAYS, ExemplarMatrix, unit_rows

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
    row: np.ndarray[Any, Any] = unit_rows(np.random.default_rng(seed).standard_normal(DIM), DIM)[0]
    return row


def random_rows(rng: np.random.Generator, count: int) -> tuple[list[uuid.UUID], np.ndarray[Any, Any]]:
    """``count`` new exemplar ids and their random unit rows."""
    return [uuid.uuid4() for _ in range(count)], unit_rows(rng.standard_normal((count, DIM)), DIM)


def brute_force(ids: list[uuid.UUID], vectors: Any, query: Any, top_k: int) -> list[uuid.UUID]:
    """The ids of the ``top_k`` rows most similar to ``query``, by every product."""
    return [ids[i] for i in np.argsort(-(vectors @ query))[:top_k]]


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
    # within float32 rounding: BLAS and a Python dot product may differ in the last bits
    assert [h.score for h in hits] == pytest.approx([s for s, _, _ in expected], abs=1e-5)
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


def test_blocked_product_answers_as_the_whole_product() -> None:
    """A batch of a few queries over a large matrix is multiplied block by block of rows."""
    rng = np.random.default_rng(5)
    dim, rows = 512, 3000
    matrix = ExemplarMatrix(dim)
    vectors = unit_rows(rng.standard_normal((rows, dim)), dim)
    ids = [uuid.uuid4() for _ in range(rows)]
    matrix.upsert(ids, [uuid.uuid4() for _ in ids], vectors)
    for count in (1, 3, 8, 17):
        queries = unit_rows(rng.standard_normal((count, dim)), dim)
        reference = queries @ vectors.T
        assert np.allclose(matrix.scores(queries), reference, atol=1e-5)
        for query, hits in zip(reference, matrix.search(queries, 5), strict=True):
            assert [h.id for h in hits] == [ids[i] for i in np.argsort(-query)[:5]]


@settings(max_examples=100, deadline=None)
@given(
    history=st.lists(operation, max_size=25), query_seed=st.integers(0, 2**32 - 1), top_k=st.integers(1, 30)
)
def test_int8_scan_answers_equal_brute_force(history: list[Any], query_seed: int, top_k: int) -> None:
    """The same history with the int8 scan in front of every search (``quantized_from=0``,
    ``batches=ALWAYS``)."""
    matrix = ExemplarMatrix(DIM, quantized_from=0, batches=ALWAYS)
    reference: dict[uuid.UUID, tuple[uuid.UUID, np.ndarray[Any, Any]]] = {}
    for op, arg in history:
        if op == "upsert":
            latest = {i: (c, vector(s)) for i, c, s in arg}
            ids = list(latest)
            matrix.upsert(ids, [latest[i][0] for i in ids], np.stack([latest[i][1] for i in ids]))
            reference.update(latest)
        elif op == "delete":
            matrix.delete(arg)
            for i in arg:
                reference.pop(i, None)
        else:
            matrix.delete([i for i, (c, _) in reference.items() if c == arg])
            reference = {i: v for i, v in reference.items() if v[0] != arg}
    query = vector(query_seed)
    hits = matrix.search(query[None, :], top_k)[0]
    expected = sorted(((float(v @ query), i, c) for i, (c, v) in reference.items()), reverse=True)[:top_k]
    assert [h.score for h in hits] == pytest.approx([s for s, _, _ in expected], abs=1e-5)
    for hit in hits:
        assert reference[hit.id][0] == hit.customer_id


@pytest.mark.parametrize("spread", [0.02, 0.3, 1.0])
def test_int8_scan_finds_the_exact_top_k_among_near_ties(spread: float) -> None:
    """Clustered rows (many within the scan's error of each other): still the exact top k."""
    rng = np.random.default_rng(11)
    dim, rows = 512, 6000
    centres = unit_rows(rng.standard_normal((20, dim)), dim)
    noise = rng.standard_normal((rows, dim)) * spread / np.sqrt(dim)
    vectors = unit_rows(centres[rng.integers(0, 20, rows)] + noise, dim)
    ids = [uuid.uuid4() for _ in range(rows)]
    matrix = ExemplarMatrix(dim, batches=ALWAYS)
    matrix.load(
        np.frombuffer(b"".join(i.bytes for i in ids), np.uint8).reshape(rows, 16),
        np.zeros((rows, 16), np.uint8),
        vectors,
    )
    assert matrix.quantized_from is not None and len(matrix) >= matrix.quantized_from
    queries = unit_rows(centres[:6] + rng.standard_normal((6, dim)) * spread / np.sqrt(dim), dim)
    for query, hits in zip(queries, matrix.search(queries, 5), strict=True):
        exact = vectors @ query
        best = np.sort(exact)[::-1][:5]
        assert [h.score for h in hits] == pytest.approx(best.tolist(), abs=1e-5)
        assert all(exact[ids.index(h.id)] == pytest.approx(h.score, abs=1e-5) for h in hits)


def test_an_empty_load_then_upserts_search_as_brute_force() -> None:
    rng = np.random.default_rng(2)
    matrix = ExemplarMatrix(DIM, quantized_from=0, batches=ALWAYS)
    matrix.load(np.empty((0, 16), np.uint8), np.empty((0, 16), np.uint8), np.empty((0, DIM), np.float32))
    assert matrix.search(unit_rows(rng.standard_normal(DIM), DIM), 3) == [[]]
    ids, vectors = random_rows(rng, 40)
    matrix.upsert(ids, ids, vectors)
    query = unit_rows(rng.standard_normal(DIM), DIM)
    assert [h.id for h in matrix.search(query, 3)[0]] == brute_force(ids, vectors, query[0], 3)


def test_a_loaded_matrix_gets_its_int8_copy_block_by_block() -> None:
    """Searches before, during and after the int8 copy of a loaded matrix answer alike, with
    deletes moving not yet copied rows into copied ones and upserts in between."""
    rng = np.random.default_rng(4)
    rows = 700
    vectors = unit_rows(rng.standard_normal((rows, DIM)), DIM)
    ids = [uuid.uuid4() for _ in range(rows)]
    matrix = ExemplarMatrix(DIM, quantized_from=0, batches=ALWAYS)
    matrix.load(
        np.frombuffer(b"".join(i.bytes for i in ids), np.uint8).reshape(rows, 16),
        np.zeros((rows, 16), np.uint8),
        vectors,
    )
    reference = dict(zip(ids, vectors, strict=True))
    queries = unit_rows(rng.standard_normal((5, DIM)), DIM)

    def check() -> None:
        keys = list(reference)
        stacked = np.stack([reference[k] for k in keys])
        for query, hits in zip(queries, matrix.search(queries, 4), strict=True):
            exact = stacked @ query
            assert [h.id for h in hits] == [keys[i] for i in np.argsort(-exact)[:4]]

    assert not matrix.quantized
    check()
    while not matrix.quantize_some(rows=100):
        doomed = ids[rng.integers(0, len(ids))]
        if doomed in reference:
            matrix.delete([doomed])
            del reference[doomed]
        new_id = uuid.uuid4()
        new_vector = unit_rows(rng.standard_normal(DIM), DIM)
        matrix.upsert([new_id], [uuid.uuid4()], new_vector)
        reference[new_id] = new_vector[0]
        check()
    assert matrix.quantized
    matrix.delete(ids[:50])
    for i in ids[:50]:
        reference.pop(i, None)
    check()


def saturating_product(codes: Any, query_codes: Any) -> Any:
    """An integer product that accumulates in saturating 16-bit integers (the way an int8 kernel
    can lose exactness; ADR 0013 met one)."""
    return np.clip(query_codes.astype(np.int32) @ codes.astype(np.int32).T, -32768, 32767)


def slow_exact_product(codes: Any, query_codes: Any) -> Any:
    """An exact integer product that takes longer than any float32 product of its rows."""
    time.sleep(0.05)
    return query_codes.astype(np.int32) @ codes.astype(np.int32).T


def test_the_integer_product_is_numpys_where_it_is_exact() -> None:
    rng = np.random.default_rng(9)
    codes, query_codes = (rng.integers(-127, 128, (n, 512), dtype=np.int8) for n in (300, 4))
    assert scan.available() is scan.exact_on_this_machine()
    if scan.available():
        expected = query_codes.astype(np.int32) @ codes.astype(np.int32).T
        assert np.array_equal(scan.product(codes, query_codes), expected)


def test_a_saturating_kernel_is_found_out() -> None:
    assert not scan.exact_on_this_machine(dim=64, multiply=saturating_product)


def test_a_scan_slower_than_float32_is_not_used(monkeypatch: pytest.MonkeyPatch) -> None:
    """With an exact but slow integer product the scan never pays off: default matrices keep no
    int8 copy and score every row."""
    monkeypatch.setattr(scan, "product", slow_exact_product)
    monkeypatch.setattr(matrix_module, "GATE_ROWS", 512)
    decide_afresh = functools.cache(matrix_module._scan_batches.__wrapped__)
    monkeypatch.setattr(matrix_module, "_scan_batches", decide_afresh)
    assert matrix_module.scan_batches(DIM) is None
    matrix = ExemplarMatrix(DIM, quantized_from=0)
    assert matrix.quantized_from is None
    rng = np.random.default_rng(8)
    ids, vectors = random_rows(rng, 300)
    matrix.upsert(ids, ids, vectors)
    query = unit_rows(rng.standard_normal(DIM), DIM)
    assert [h.id for h in matrix.search(query, 3)[0]] == brute_force(ids, vectors, query[0], 3)


@pytest.mark.parametrize(
    ("costs", "expected"),
    [
        (((1.0, 2.0), (2.0, 9.0)), matrix_module.ALWAYS),  # cheaper from one query on
        (((2.0, 2.0), (4.0, 9.0)), range(2, matrix_module.ALWAYS.stop)),  # pays from 2 queries on
        (((0.5, 2.0), (9.0, 9.0)), range(1, 6)),  # grows per query faster than float32: up to 5
        (((2.0, 2.0), (8.5, 9.0)), None),  # never clearly cheaper
    ],
)
def test_the_scan_runs_for_the_batch_sizes_where_it_pays_off(costs: Any, expected: range | None) -> None:
    assert matrix_module.paying_batches(costs) == expected


def test_the_scan_is_decided_once_and_a_matrix_keeps_its_int8_copy_only_where_it_runs() -> None:
    chosen = matrix_module.scan_batches(512)
    assert chosen is None or (chosen.step == 1 and 1 <= chosen.start < chosen.stop)
    assert matrix_module.scan_batches(512) is chosen  # decided once
    matrix = ExemplarMatrix(512)
    assert (matrix.quantized_from is None) is (chosen is None or not scan.available())


def test_without_a_scan_a_matrix_keeps_no_int8_copy(monkeypatch: pytest.MonkeyPatch) -> None:
    ids, vectors = random_rows(np.random.default_rng(6), 300)
    sizes = {}
    for scanning in (True, False):
        if not scanning:
            monkeypatch.setattr(scan, "available", lambda: False)
        matrix = ExemplarMatrix(DIM, quantized_from=0, batches=ALWAYS)
        matrix.upsert(ids, ids, vectors)
        matrix.delete(ids[:10])
        assert matrix.quantized
        sizes[scanning] = matrix.nbytes
    assert sizes[True] - sizes[False] >= 300 * DIM  # the codes alone


def test_without_an_exact_kernel_searches_score_every_row(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(scan, "available", lambda: False)
    rng = np.random.default_rng(5)
    ids, vectors = random_rows(rng, 300)
    matrix = ExemplarMatrix(DIM, quantized_from=0, batches=ALWAYS)
    matrix.upsert(ids, [uuid.uuid4() for _ in ids], vectors)
    queries = unit_rows(rng.standard_normal((3, DIM)), DIM)
    for query, hits in zip(queries, matrix.search(queries, 5), strict=True):
        assert [h.id for h in hits] == brute_force(ids, vectors, query, 5)
