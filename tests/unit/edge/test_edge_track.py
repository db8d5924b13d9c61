"""Tracker logic on synthetic detections: one person → one report with the best frame."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from appliance.edge.track import Observation, Tracker, TrackerConfig, iou
from appliance.vision.detect import Face

T0 = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)
LANDMARKS = ((0.0, 0.0),) * 5


def unit(seed: int, dim: int = 128) -> np.ndarray:
    v = np.random.default_rng(seed).standard_normal(dim).astype(np.float32)
    return v / np.linalg.norm(v)


def near(base: np.ndarray, cosine: float, seed: int) -> np.ndarray:
    noise = np.random.default_rng(seed).standard_normal(base.shape[0]).astype(np.float32)
    noise -= noise.dot(base) * base
    noise /= np.linalg.norm(noise)
    return (cosine * base + np.sqrt(1 - cosine**2) * noise).astype(np.float32)


def obs(
    at: float, x: float, vector: np.ndarray, quality: float = 0.5, y: float = 100.0, size: float = 80.0
) -> Observation:
    return Observation(
        at=at,
        captured_at=T0 + timedelta(seconds=at),
        face=Face(bbox=(x, y, size, size), landmarks=LANDMARKS, score=0.9),
        embedding=vector,
        quality=quality,
    )


def run(tracker: Tracker, frames: list[tuple[float, list[Observation]]]) -> list:
    reports = []
    for at, observations in frames:
        reports += tracker.update(at, observations)
    return reports


def test_iou() -> None:
    assert iou((0, 0, 10, 10), (0, 0, 10, 10)) == 1.0
    assert iou((0, 0, 10, 10), (20, 20, 5, 5)) == 0.0
    assert iou((0, 0, 10, 10), (5, 0, 10, 10)) == pytest.approx(50 / 150)


def test_one_person_walking_past_is_one_report_with_the_best_frame() -> None:
    tracker = Tracker(TrackerConfig(timeout=1.0))
    alice = unit(1)
    qualities = [0.4, 0.6, 0.9, 0.7, 0.5]
    frames = [(i * 0.2, [obs(i * 0.2, 100 + 8 * i, near(alice, 0.9, i), q)]) for i, q in enumerate(qualities)]
    assert run(tracker, frames) == []
    assert len(tracker.tracks) == 1
    # still inside the timeout: open; beyond it: closed, once
    assert tracker.update(1.5, []) == []
    reports = tracker.update(1.9, [])
    assert len(reports) == 1
    report = reports[0]
    assert report.hits == 5 and report.best.quality == 0.9
    assert report.best.captured_at == T0 + timedelta(seconds=0.4)
    assert report.first_at == 0.0 and report.last_at == pytest.approx(0.8)
    assert tracker.tracks == [] and tracker.update(5.0, []) == []


def test_two_people_at_once_are_two_tracks() -> None:
    tracker = Tracker(TrackerConfig(timeout=1.0))
    a, b = unit(1), unit(2)
    frames = [
        (
            i * 0.2,
            [obs(i * 0.2, 100 + 5 * i, near(a, 0.9, i)), obs(i * 0.2, 400 - 5 * i, near(b, 0.9, 10 + i))],
        )
        for i in range(4)
    ]
    run(tracker, frames)
    reports = tracker.flush()
    assert len(reports) == 2 and {r.hits for r in reports} == {4}
    assert len({r.track_id for r in reports}) == 2


def test_crossing_paths_keep_identities_by_appearance() -> None:
    tracker = Tracker(TrackerConfig(timeout=1.0))
    a, b = unit(3), unit(4)
    # they swap sides between two frames: boxes overlap the wrong track, faces do not
    frames = [
        (0.0, [obs(0.0, 100, a, 0.5), obs(0.0, 160, b, 0.5)]),
        (0.2, [obs(0.2, 160, near(a, 0.9, 1), 0.6), obs(0.2, 100, near(b, 0.9, 2), 0.6)]),
    ]
    run(tracker, frames)
    reports = {r.track_id: r for r in tracker.flush()}
    assert len(reports) == 2
    for report in reports.values():
        assert report.hits == 2
    by_x = {round(r.best.face.bbox[0]): r for r in reports.values()}
    assert float(np.dot(by_x[160].best.embedding, a)) > 0.8  # a's track followed a to x=160


def test_leaving_and_coming_back_after_the_timeout_is_two_reports() -> None:
    tracker = Tracker(TrackerConfig(timeout=1.0))
    a = unit(5)
    reports = run(
        tracker,
        [
            (0.0, [obs(0.0, 100, a)]),
            (0.2, [obs(0.2, 105, a)]),
            (2.0, []),
            (3.0, [obs(3.0, 100, a)]),
            (3.2, [obs(3.2, 100, a)]),
        ],
    )
    assert len(reports) == 1
    assert len(tracker.flush()) == 1


def test_short_occlusion_with_a_jump_is_the_same_track() -> None:
    tracker = Tracker(TrackerConfig(timeout=2.0))
    a = unit(6)
    run(
        tracker,
        [(0.0, [obs(0.0, 100, a)]), (0.2, [obs(0.2, 105, a)]), (1.2, [obs(1.2, 600, near(a, 0.8, 3))])],
    )
    reports = tracker.flush()
    assert len(reports) == 1 and reports[0].hits == 3


def test_a_different_face_in_the_same_place_is_a_new_track() -> None:
    tracker = Tracker(TrackerConfig(timeout=2.0))
    a, b = unit(7), unit(8)
    run(
        tracker,
        [
            (0.0, [obs(0.0, 100, a)]),
            (0.2, [obs(0.2, 100, a)]),
            (0.4, [obs(0.4, 100, b)]),
            (0.6, [obs(0.6, 100, b)]),
        ],
    )
    assert len(tracker.tracks) == 2
    assert len(tracker.flush()) == 2


def test_single_frame_blips_never_become_events() -> None:
    tracker = Tracker(TrackerConfig(timeout=0.5, min_hits=2))
    reports = run(tracker, [(0.0, [obs(0.0, 100, unit(9))]), (1.0, []), (2.0, [])])
    assert reports == [] and tracker.tracks == []
    tracker.update(3.0, [obs(3.0, 100, unit(10))])
    assert tracker.flush() == []


def test_a_person_standing_in_view_reports_once_per_max_duration() -> None:
    tracker = Tracker(TrackerConfig(timeout=1.0, max_duration=10.0))
    a = unit(11)
    reports = run(
        tracker,
        [(t * 0.5, [obs(t * 0.5, 100, near(a, 0.95, t), quality=0.5 + (t % 7) / 100)]) for t in range(50)],
    )
    reports += tracker.flush()
    assert [r.segment for r in reports] == [0, 1, 2]
    assert len({r.track_id for r in reports}) == 1
    assert sum(r.hits for r in reports) == 50
    assert reports[0].first_at == 0.0 and reports[1].first_at == pytest.approx(10.0)


def test_flush_closes_everything_at_end_of_stream() -> None:
    tracker = Tracker(TrackerConfig(timeout=100.0))
    run(
        tracker,
        [
            (0.0, [obs(0.0, 100, unit(12)), obs(0.0, 500, unit(13))]),
            (0.2, [obs(0.2, 100, unit(12)), obs(0.2, 500, unit(13))]),
        ],
    )
    assert len(tracker.flush()) == 2 and tracker.tracks == []
