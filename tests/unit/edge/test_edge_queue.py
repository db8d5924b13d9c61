"""The durable queue: states, ordering, retries, dead letters, overflow, dedupe, crash recovery."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from appliance.edge.queue import EventQueue


class Clock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def q(tmp_path: Path, clock: Clock) -> EventQueue:
    queue = EventQueue(tmp_path / "q.sqlite3", max_rows=5, clock=clock)
    yield queue
    queue.close()


def put(q: EventQueue, n: int, **kwargs: object) -> list[str]:
    ids = []
    for i in range(n):
        event_id = f"e{len(q.event_ids()) + 1}"
        q.put(event_id, "cam", f'{{"n":{i}}}'.encode(), b"jpeg-bytes", **kwargs)  # type: ignore[arg-type]
        ids.append(event_id)
    return ids


def test_fifo_claim_ack(q: EventQueue) -> None:
    put(q, 3)
    first = q.claim()
    assert (
        first is not None
        and first.event_id == "e1"
        and first.snapshot == b"jpeg-bytes"
        and first.attempts == 0
    )
    second = q.claim()
    assert second is not None and second.event_id == "e2"
    assert q.stats().inflight == 2 and q.stats().pending == 1
    q.ack("e1")
    stats = q.stats()
    assert (stats.pending, stats.inflight, stats.sent, stats.depth) == (1, 1, 1, 2)


def test_sent_rows_lose_payload_and_snapshot(q: EventQueue, tmp_path: Path) -> None:
    put(q, 1)
    item = q.claim()
    assert item is not None
    q.ack(item.event_id)
    import sqlite3

    with sqlite3.connect(tmp_path / "q.sqlite3") as db:
        row = db.execute("SELECT state, payload, snapshot FROM events").fetchone()
    assert row == ("sent", b"", None)


def test_retry_is_due_after_its_delay(q: EventQueue, clock: Clock) -> None:
    put(q, 1)
    item = q.claim()
    assert item is not None
    q.retry(item.event_id, 4.0, "HTTP 503")
    assert q.claim() is None
    assert q.next_due_in() == pytest.approx(4.0)
    clock.now += 4.0
    again = q.claim()
    assert again is not None and again.event_id == item.event_id and again.attempts == 1


def test_snapshot_key_is_remembered_for_retries(q: EventQueue) -> None:
    put(q, 1)
    item = q.claim()
    assert item is not None
    q.set_snapshot_key(item.event_id, "tenant/site/2026/11/20/e1.jpg")
    q.retry(item.event_id, 0, "timeout")
    again = q.claim()
    assert (
        again is not None and again.snapshot_key == "tenant/site/2026/11/20/e1.jpg" and again.snapshot is None
    )


def test_permanent_failures_are_dead_lettered_never_retried(q: EventQueue, clock: Clock) -> None:
    put(q, 1)
    item = q.claim()
    assert item is not None
    q.fail(item.event_id, "HTTP 422 embedding length")
    clock.now += 10_000
    assert q.claim() is None
    stats = q.stats()
    assert stats.dead == 1 and stats.depth == 0
    assert q.event_ids("dead") == ["e1"]


def test_overflow_drops_the_oldest_pending_and_counts_it(tmp_path: Path, clock: Clock) -> None:
    dropped: list[int] = []
    q = EventQueue(tmp_path / "q.sqlite3", max_rows=3, clock=clock, on_drop=dropped.append)
    for i in range(1, 4):
        q.put(f"e{i}", "cam", b"{}")
    inflight = q.claim()
    assert inflight is not None and inflight.event_id == "e1"
    q.put("e4", "cam", b"{}")  # full: e2 (oldest PENDING, not the in-flight e1) goes
    q.put("e5", "cam", b"{}")  # then e3
    assert q.event_ids("pending") == ["e4", "e5"] and q.event_ids("inflight") == ["e1"]
    stats = q.stats()
    assert stats.depth == 3 and stats.dropped == 2 and dropped == [1, 1]
    q.close()
    # the drop counter is durable too
    reopened = EventQueue(tmp_path / "q.sqlite3", max_rows=3, clock=clock)
    assert reopened.stats().dropped == 2
    reopened.close()


def test_sent_and_dead_rows_do_not_count_against_the_bound(q: EventQueue) -> None:
    put(q, 5)
    for _ in range(5):
        item = q.claim()
        assert item is not None
        q.ack(item.event_id)
    put(q, 5)
    assert q.stats().dropped == 0 and q.stats().depth == 5


def test_sent_rows_are_pruned_after_the_retention(tmp_path: Path, clock: Clock) -> None:
    q = EventQueue(tmp_path / "q.sqlite3", keep_sent_seconds=60, clock=clock)
    q.put("old", "cam", b"{}")
    item = q.claim()
    assert item is not None
    q.ack("old")
    clock.now += 61
    q.put("new", "cam", b"{}")
    item = q.claim()
    assert item is not None
    q.ack("new")
    assert q.event_ids() == ["new"]
    q.close()


def test_dedupe_key_makes_enqueueing_idempotent(q: EventQueue) -> None:
    assert q.put("a", "cam", b"{}", dedupe_key="file|1.000|t1|0") is True
    assert q.put("b", "cam", b"{}", dedupe_key="file|1.000|t1|0") is False
    assert q.event_ids() == ["a"]


def test_source_done_marks(q: EventQueue) -> None:
    assert not q.source_done("cam|/v.mp4|10|1")
    q.mark_source_done("cam|/v.mp4|10|1")
    assert q.source_done("cam|/v.mp4|10|1") and not q.source_done("cam|/v.mp4|10|2")


CRASH = textwrap.dedent(
    """
    import os, signal, sys
    from appliance.edge.queue import EventQueue
    q = EventQueue(sys.argv[1])
    for i in range(3):
        q.put(f"e{i}", "cam", b'{"i": %d}' % i, b"jpeg")
    item = q.claim()
    assert item.event_id == "e0"
    q.set_snapshot_key("e0", "k/e0.jpg")
    print("claimed", flush=True)
    os.kill(os.getpid(), signal.SIGKILL)
    """
)


def test_kill_9_after_claim_retries_the_claimed_row_after_restart(tmp_path: Path) -> None:
    path = tmp_path / "q.sqlite3"
    result = subprocess.run(
        [sys.executable, "-c", CRASH, str(path)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == -signal.SIGKILL, result.stderr
    assert "claimed" in result.stdout
    q = EventQueue(path)
    assert q.recovered == 1
    stats = q.stats()
    assert (stats.pending, stats.inflight) == (3, 0)
    item = q.claim()
    assert item is not None and item.event_id == "e0" and item.snapshot_key == "k/e0.jpg"
    assert item.payload == b'{"i": 0}'
    assert [q.claim().event_id for _ in range(2)] == ["e1", "e2"]  # type: ignore[union-attr]
    q.close()
    assert os.path.exists(path)


def test_one_worker_per_queue_file(tmp_path: Path) -> None:
    from appliance.edge.queue import QueueBusy

    first = EventQueue(tmp_path / "q.sqlite3")
    with pytest.raises(QueueBusy, match="another edge worker"):
        EventQueue(tmp_path / "q.sqlite3")
    first.close()
    EventQueue(tmp_path / "q.sqlite3").close()
