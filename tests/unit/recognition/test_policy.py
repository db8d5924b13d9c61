"""The matching policy and exemplar rules, as pure functions."""

from __future__ import annotations

import math
import uuid

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from appliance.recognition.policy import (
    MatchKind,
    Thresholds,
    best_match,
    best_per_customer,
    choose_exemplar,
    decide,
    embedding_problem,
)
from appliance.vectors.base import SearchHit

A, B = uuid.uuid4(), uuid.uuid4()


def hit(customer: uuid.UUID, score: float) -> SearchHit:
    return SearchHit(id=uuid.uuid4(), customer_id=customer, score=score)


def test_decide_bands() -> None:
    t = Thresholds(match=0.4, uncertain=0.3)
    assert decide([], t).kind is MatchKind.NEW
    assert decide([hit(A, 0.41)], t).kind is MatchKind.RETURNING
    assert decide([hit(A, 0.40)], t).customer_id == A
    uncertain = decide([hit(A, 0.35), hit(B, 0.2)], t)
    # below the match threshold a face never joins a customer: new, with A as the candidate
    assert uncertain.kind is MatchKind.UNCERTAIN and uncertain.customer_id is None
    assert uncertain.candidate_id == A and uncertain.similarity == pytest.approx(0.35)
    new = decide([hit(A, 0.29)], t)
    assert new.kind is MatchKind.NEW and new.customer_id is None and new.similarity == pytest.approx(0.29)


def test_best_per_customer_keeps_each_customers_best_exemplar() -> None:
    ranked = best_per_customer([hit(A, 0.5), hit(B, 0.6), hit(A, 0.7)])
    assert [(h.customer_id, h.score) for h in ranked] == [(A, 0.7), (B, 0.6)]


def test_thresholds_must_be_ordered() -> None:
    with pytest.raises(ValueError):
        Thresholds(match=0.3, uncertain=0.4)


@given(st.lists(st.floats(-1, 1), min_size=1, max_size=10), st.floats(0, 1), st.floats(0, 1))
def test_decision_is_consistent_with_thresholds(scores: list[float], a: float, b: float) -> None:
    t = Thresholds(match=max(a, b), uncertain=min(a, b))
    decision = decide([hit(uuid.uuid4(), s) for s in scores], t)
    top = max(scores)
    expected = (
        MatchKind.RETURNING
        if top >= t.match
        else MatchKind.UNCERTAIN
        if top >= t.uncertain
        else MatchKind.NEW
    )
    assert decision.kind is expected
    # only a match at or above the threshold names an existing customer
    assert (decision.customer_id is not None) == (expected is MatchKind.RETURNING)


def test_embedding_problems() -> None:
    v = [1.0] + [0.0] * 127
    assert embedding_problem(v, 128) is None
    assert "512" in (embedding_problem(v, 512) or "")
    assert "NaN" in (embedding_problem([math.nan, *v[1:]], 128) or "")
    assert "normalised" in (embedding_problem([2.0, *v[1:]], 128) or "")


def unit(rng: np.random.Generator) -> np.ndarray:
    v = rng.standard_normal(16).astype(np.float32)
    return v / np.linalg.norm(v)


def test_exemplars_stay_few_and_diverse() -> None:
    rng = np.random.default_rng(0)
    base = unit(rng)
    assert choose_exemplar(base, 0.1, [], max_exemplars=3, diversity=0.85).action == "add"
    kept = [(base, 0.6)]
    assert choose_exemplar(base, 0.9, kept, max_exemplars=3, diversity=0.85).action == "skip"  # a duplicate
    other = unit(rng)
    assert choose_exemplar(other, 0.9, kept, max_exemplars=3, diversity=0.85).action == "add"
    assert choose_exemplar(other, 0.3, kept, max_exemplars=3, diversity=0.85).action == "skip"  # poor quality
    full = [(unit(rng), q) for q in (0.6, 0.55, 0.7)]
    replace = choose_exemplar(unit(rng), 0.9, full, max_exemplars=3, diversity=0.99)
    assert replace.action == "replace" and replace.replace_index == 1
    assert choose_exemplar(unit(rng), 0.5, full, max_exemplars=3, diversity=0.99).action == "skip"


def test_best_match_in_a_small_gallery() -> None:
    rng = np.random.default_rng(1)
    a, b = unit(rng), unit(rng)
    owner, score = best_match(a, [(A, a), (B, b)])
    assert owner == A and score == pytest.approx(1.0, abs=1e-5)
    assert best_match(a, []) == (None, -1.0)
