"""The index journal: a live process's journal is left alone, a dead one's is claimed once, with
the time its catch-up starts from; a clean close leaves nothing behind."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from appliance.vectors.journal import MARGIN, UNREADABLE_WINDOW, SyncJournal

APPLIED = datetime(2026, 11, 26, 8, 0, tzinfo=UTC)

OTHER_PROCESS = """
import sys
from datetime import datetime
from pathlib import Path
from appliance.vectors.journal import SyncJournal
journal = SyncJournal(Path(sys.argv[1]))
journal.start(datetime.fromisoformat(sys.argv[2]))
print("started", flush=True)
sys.stdin.read()  # alive until the test kills it
"""


def other_process(directory: Path) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, "-c", OTHER_PROCESS, str(directory), APPLIED.isoformat()],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == "started"
    return proc


def kill(proc: subprocess.Popen[str]) -> None:
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)


def test_a_live_process_journal_is_left_alone_and_a_dead_one_is_claimed_once(tmp_path: Path) -> None:
    proc = other_process(tmp_path)
    try:
        assert SyncJournal(tmp_path).dead_journals() == []
    finally:
        kill(proc)
    first, second = SyncJournal(tmp_path), SyncJournal(tmp_path)
    [dead] = first.dead_journals()
    assert dead.since == APPLIED - MARGIN
    assert second.dead_journals() == []  # claimed by the first one: not twice
    dead.release(caught_up=True)
    assert list(tmp_path.iterdir()) == []
    assert second.dead_journals() == []


def test_a_failed_catch_up_leaves_the_journal_for_the_next_process(tmp_path: Path) -> None:
    kill(other_process(tmp_path))
    [dead] = SyncJournal(tmp_path).dead_journals()
    dead.release(caught_up=False)
    [again] = SyncJournal(tmp_path).dead_journals()
    assert again.since == APPLIED - MARGIN
    again.release(caught_up=True)


def test_applied_moves_the_start_of_a_catch_up(tmp_path: Path) -> None:
    journal = SyncJournal(tmp_path)
    journal.start(APPLIED)
    journal.applied(APPLIED + timedelta(seconds=30))
    assert journal._fd is not None
    os.close(journal._fd)  # its owner "dies": the lock goes with the descriptor
    journal._fd = None
    [dead] = SyncJournal(tmp_path).dead_journals()
    assert dead.since == APPLIED + timedelta(seconds=30) - MARGIN
    dead.release(caught_up=True)


def test_a_clean_close_leaves_nothing_to_catch_up(tmp_path: Path) -> None:
    journal = SyncJournal(tmp_path)
    journal.start(APPLIED)
    assert sorted(p.suffix for p in tmp_path.iterdir()) == [".json", ".lock"]
    journal.close()
    journal.close()  # idempotent
    assert list(tmp_path.iterdir()) == []
    assert SyncJournal(tmp_path).dead_journals() == []


def test_a_journal_without_a_readable_state_catches_up_an_hour_before_its_start(tmp_path: Path) -> None:
    kill(other_process(tmp_path))
    [state] = tmp_path.glob("*.json")
    state.write_text("{not json")
    [lock] = tmp_path.glob("*.lock")
    started = datetime.fromtimestamp(lock.stat().st_mtime, UTC)
    [dead] = SyncJournal(tmp_path).dead_journals()
    assert dead.since == started - UNREADABLE_WINDOW
    dead.release(caught_up=True)


def test_a_journal_that_cannot_write_its_state_keeps_the_last_one(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    journal = SyncJournal(tmp_path / "journal")
    journal.start(APPLIED)
    journal.state_path.with_suffix(".tmp").mkdir()  # the write fails as on a full disk
    journal.applied(APPLIED + timedelta(minutes=5))
    assert "cannot update the index journal" in caplog.text
    assert APPLIED.isoformat() in journal.state_path.read_text()
    journal.close()
