"""VectorBuffer: the in-memory matrix behind the write-behind layer and the recent gallery."""

from __future__ import annotations

import uuid

import numpy as np

from appliance.vectors.buffer import MIN_CAPACITY, VectorBuffer


def unit(rng: np.random.Generator, dim: int = 16) -> np.ndarray:
    v = rng.standard_normal(dim).astype(np.float32)
    return v / np.linalg.norm(v)


def brute(items: dict[uuid.UUID, tuple[uuid.UUID, np.ndarray]], query: np.ndarray) -> list[uuid.UUID]:
    return sorted(items, key=lambda i: -float(items[i][1] @ query))


def test_ranked_matches_a_brute_force_search_through_adds_replacements_and_removals() -> None:
    rng = np.random.default_rng(3)
    buffer = VectorBuffer()
    model: dict[uuid.UUID, tuple[uuid.UUID, np.ndarray]] = {}
    owners = [uuid.uuid4() for _ in range(20)]
    ids: list[uuid.UUID] = []
    for step in range(3000):  # enough to grow several times and compact several times
        roll = rng.random()
        if roll < 0.55 or not ids:
            item_id, owner, vec = uuid.uuid4(), owners[rng.integers(len(owners))], unit(rng)
            ids.append(item_id)
        elif roll < 0.7:
            item_id = ids[rng.integers(len(ids))]  # replace (or re-add) an existing id
            owner, vec = owners[rng.integers(len(owners))], unit(rng)
        elif roll < 0.97:
            item_id = ids[rng.integers(len(ids))]
            buffer.remove(item_id)
            model.pop(item_id, None)
            continue
        else:
            owner = owners[rng.integers(len(owners))]
            assert set(buffer.remove_owner(owner)) == {i for i, (o, _) in model.items() if o == owner}
            model = {i: v for i, v in model.items() if v[0] != owner}
            continue
        buffer.add(item_id, owner, vec)
        model[item_id] = (owner, vec)
        if step % 97 == 0:
            query = unit(rng)
            ranked = list(buffer.ranked(query))
            assert [i for i, _, _ in ranked] == brute(model, query)
            assert all(model[i][0] == o and abs(float(model[i][1] @ query) - s) < 1e-5 for i, o, s in ranked)
    assert len(buffer) == len(model)
    assert all(i in buffer for i in model)


def test_best_and_empty_buffer() -> None:
    rng = np.random.default_rng(4)
    buffer = VectorBuffer()
    assert buffer.best(unit(rng)) == (None, -1.0)
    owner, vec = uuid.uuid4(), unit(rng)
    buffer.add(uuid.uuid4(), owner, vec)
    best_owner, score = buffer.best(vec)
    assert best_owner == owner and abs(score - 1.0) < 1e-5


def test_dead_rows_are_compacted_away() -> None:
    rng = np.random.default_rng(5)
    buffer = VectorBuffer()
    ids = [uuid.uuid4() for _ in range(4 * MIN_CAPACITY)]
    for item_id in ids:
        buffer.add(item_id, uuid.uuid4(), unit(rng))
    for item_id in ids[: 3 * MIN_CAPACITY]:
        buffer.remove(item_id)
    assert len(buffer) == MIN_CAPACITY
    assert len(buffer._ids) < 2 * MIN_CAPACITY  # compacted, not just marked dead
    assert {i for i, _, _ in buffer.ranked(unit(rng))} == set(ids[3 * MIN_CAPACITY :])
