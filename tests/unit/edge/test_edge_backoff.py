"""Backoff schedules, Retry-After, error classification and frame sampling."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpx
import pytest

from appliance.edge.capture import Backoff, FrameSampler
from appliance.edge.uploader import backoff_delay, classify, retry_after_seconds


def test_backoff_doubles_up_to_the_cap_without_jitter() -> None:
    assert [backoff_delay(n, base=0.5, cap=10, jitter=0) for n in range(7)] == [0.5, 1, 2, 4, 8, 10, 10]
    assert backoff_delay(10_000, base=0.5, cap=60, jitter=0) == 60


def test_jitter_stays_in_the_upper_band_and_varies() -> None:
    rng = random.Random(7)
    draws = [backoff_delay(3, base=0.5, cap=60, jitter=0.5, rng=rng) for _ in range(200)]
    assert all(2.0 <= d <= 4.0 for d in draws)
    assert max(draws) - min(draws) > 1.0  # not a constant
    full = [backoff_delay(3, base=0.5, cap=60, jitter=1.0, rng=rng) for _ in range(200)]
    assert all(0.0 <= d <= 4.0 for d in full)


def test_reconnect_backoff_sequence_and_reset() -> None:
    backoff = Backoff(base=1.0, cap=30.0)
    assert [backoff.next() for _ in range(7)] == [1, 2, 4, 8, 16, 30, 30]
    backoff.reset()
    assert backoff.next() == 1


def test_retry_after_seconds_and_http_date() -> None:
    assert retry_after_seconds("7") == 7.0
    assert retry_after_seconds("100000") == 600.0  # capped
    now = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)
    later = format_datetime(now + timedelta(seconds=30), usegmt=True)
    assert retry_after_seconds(later, now=lambda: now.timestamp()) == pytest.approx(30.0)
    assert retry_after_seconds(None) is None
    assert retry_after_seconds("soon") is None


def response(status: int, headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.Response(status, headers=headers, request=httpx.Request("POST", "http://api/v1/events/face"))


@pytest.mark.parametrize(
    ("status", "permanent"),
    [
        (400, True),
        (403, True),
        (404, True),
        (413, True),
        (422, True),
        (408, False),
        (429, False),
        (500, False),
        (502, False),
        (503, False),
    ],
)
def test_classify(status: int, permanent: bool) -> None:
    error = classify(response(status))
    assert error is not None and error.permanent is permanent


def test_classify_success_and_retry_after() -> None:
    assert classify(response(200)) is None
    error = classify(response(429, {"Retry-After": "12"}))
    assert error is not None and error.retry_after == 12.0


def test_sampler_keeps_5_of_25_fps_by_timestamps() -> None:
    sampler = FrameSampler(5)
    kept = [i for i in range(100) if sampler.keep(i / 25)]
    assert kept == list(range(0, 100, 5))


def test_sampler_on_irregular_timestamps_and_gaps() -> None:
    sampler = FrameSampler(2)
    times = [0.0, 0.1, 0.45, 0.52, 0.9, 1.01, 5.0, 5.2, 5.49, 5.5]
    assert [t for t in times if sampler.keep(t)] == [0.0, 0.52, 1.01, 5.0, 5.5]


def test_sampler_rejects_bad_fps() -> None:
    with pytest.raises(ValueError):
        FrameSampler(0)
