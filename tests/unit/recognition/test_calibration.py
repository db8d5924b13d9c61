"""The offline replay of the matching policy used to calibrate it (bench_recognition --mode calibrate)."""

from __future__ import annotations

import numpy as np
import pytest

from appliance.recognition.calibration import (
    Face,
    pair_table,
    replay,
    score_agreement,
    score_max,
    score_quality_weighted,
    shuffled_streams,
    split_people,
    spread,
)
from appliance.recognition.policy import Thresholds

DIM = 32


def unit(v: np.ndarray) -> np.ndarray:
    return (v / np.linalg.norm(v)).astype(np.float32)


def near(base: np.ndarray, cosine: float, rng: np.random.Generator) -> np.ndarray:
    noise = rng.standard_normal(base.shape[0])
    noise -= noise.dot(base) * base
    noise /= np.linalg.norm(noise)
    return unit(cosine * base + np.sqrt(1 - cosine**2) * noise)


def test_pair_table_counts_false_accepts_and_rejects() -> None:
    rng = np.random.default_rng(1)
    a = unit(rng.standard_normal(DIM))
    b = near(a, 0.35, rng)  # another person, rather alike
    faces = [Face("a", a, 1.0), Face("a", near(a, 0.6, rng), 1.0), Face("b", b, 1.0)]
    stats = pair_table(faces, [0.3, 0.5, 0.7])
    assert stats.genuine == 1 and stats.impostor == 2
    assert stats.genuine_min == pytest.approx(0.6, abs=1e-5)
    assert stats.impostor_max == pytest.approx(0.35, abs=1e-5)
    at_03, at_05, at_07 = stats.rows
    assert at_03.false_accept == pytest.approx(0.5) and at_03.false_reject == 0.0
    assert at_05.false_accept == 0.0 and at_05.false_reject == 0.0
    assert at_07.false_reject == 1.0


def test_uncertain_band_gives_a_split_and_a_suggestion_never_a_merge() -> None:
    rng = np.random.default_rng(2)
    a = unit(rng.standard_normal(DIM))
    look_alike = near(a, 0.35, rng)  # in the band [0.30, 0.40)
    faces = [Face("a", a, 0.9), Face("b", look_alike, 0.9)]
    result = replay(faces, Thresholds(match=0.40, uncertain=0.30))
    assert result.customers == 2 and result.false_merge == 0.0 and result.split == 0.0
    assert result.suggestions == 1 and result.suggestions_right == 0
    # the old policy (assign at >= 0.30) merges the two people
    merged = replay(faces, Thresholds(match=0.30, uncertain=0.30))
    assert merged.customers == 1 and merged.false_merge == pytest.approx(0.5)


def test_a_doubtful_face_of_the_same_person_is_a_split_with_a_right_suggestion() -> None:
    rng = np.random.default_rng(3)
    a = unit(rng.standard_normal(DIM))
    faces = [Face("a", a, 0.9), Face("a", near(a, 0.9, rng), 0.9), Face("a", near(a, 0.35, rng), 0.9)]
    result = replay(faces, Thresholds(match=0.40, uncertain=0.30))
    assert result.customers == 2 and result.split == pytest.approx(1 / 3)
    assert result.suggestions == 1 and result.suggestions_right == 1


def test_scorers() -> None:
    sims, qualities = np.asarray([0.5, 0.3, 0.45]), np.asarray([0.2, 1.0, 1.0])
    assert score_max(sims, qualities) == pytest.approx(0.5)
    assert score_agreement(sims, qualities) == pytest.approx(0.45)
    assert score_agreement(np.asarray([0.5]), np.asarray([1.0])) == pytest.approx(0.5)
    assert score_quality_weighted(sims, qualities) == pytest.approx(0.45)


def test_streams_holdout_and_spread() -> None:
    faces = [Face(p, np.zeros(DIM, dtype=np.float32), 1.0) for p in "abcab"]
    streams = shuffled_streams(faces, [1, 2])
    assert all(sorted(f.person for f in s) == sorted("abcab") for s in streams)
    assert shuffled_streams(faces, [1]) == shuffled_streams(faces, [1])
    calib, held = split_people(["d", "a", "c", "b"])
    assert calib == ["a", "c"] and held == ["b", "d"]
    s = spread([0.0, 0.02])
    assert s.mean == pytest.approx(0.01) and s.sd == pytest.approx(0.01) and (s.low, s.high) == (0.0, 0.02)
