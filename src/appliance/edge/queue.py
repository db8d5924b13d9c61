"""The durable outbox: every event and its snapshot JPEG are on disk before anything is sent.

SQLite in WAL mode with ``synchronous=FULL``: a row that ``put`` returned for survives kill -9
and power loss. States::

    pending ──claim──▶ inflight ──ack──▶ sent
       ▲                  │ retry (transient error, with a due time)
       └──────────────────┘
                          └──fail──▶ dead   (permanent 4xx, or the same event's 5xx repeated:
                                             kept for inspection, never retried; ``dead_letters``)

A row claimed but not acked when the process died is ``inflight`` on disk; :meth:`open`
turns every such row back into ``pending``, so it is retried — the server deduplicates on
``event_id``, so a retry of an event that did reach it creates nothing new.

Bound: at most ``max_rows`` undelivered (pending + inflight) events. Overflow policy: when a new
event arrives at the bound, the OLDEST pending event is deleted and counted (``dropped``):
the newest data is the most valuable, and a long outage must not fill the disk. Sent rows lose
their snapshot and payload at once; their ids (and dedupe keys) are kept ``keep_sent_seconds``
(default 7 days), then pruned.

One worker per queue file (an exclusive ``flock`` on ``<file>.lock``; :class:`QueueBusy` otherwise).

``dedupe_key`` (optional, unique) makes re-enqueueing idempotent: a file re-processed after a
crash produces the same keys and adds nothing.
"""

from __future__ import annotations

import fcntl
import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, Literal

import msgspec

State = Literal["pending", "inflight", "sent", "dead"]
SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id TEXT NOT NULL UNIQUE,
    dedupe_key TEXT UNIQUE,
    camera_id TEXT NOT NULL,
    state TEXT NOT NULL DEFAULT 'pending',
    attempts INTEGER NOT NULL DEFAULT 0,
    created_at REAL NOT NULL,
    next_attempt_at REAL NOT NULL,
    claimed_at REAL,
    sent_at REAL,
    payload BLOB NOT NULL,
    snapshot BLOB,
    snapshot_key TEXT,
    last_error TEXT,
    server_errors INTEGER NOT NULL DEFAULT 0,
    snapshot_attempts INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS events_due ON events (state, next_attempt_at, seq);
CREATE TABLE IF NOT EXISTS sources (
    fingerprint TEXT PRIMARY KEY,
    state TEXT NOT NULL,
    updated_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS counters (
    name TEXT PRIMARY KEY,
    value INTEGER NOT NULL
);
"""


class QueueBusy(RuntimeError):
    """Another process (a second edge worker) holds this queue file."""


def _lock_exclusively(path: Path) -> IO[str]:
    """One worker per queue file: a second one would re-send the first one's in-flight rows.
    The kernel drops the lock when the holder dies (kill -9 included)."""
    handle = path.open("w")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError as exc:
        handle.close()
        raise QueueBusy(f"{path.with_suffix('')} is used by another edge worker") from exc
    return handle


# Columns added after the first release: a queue file from then gets them on open.
ADDED_COLUMNS = {
    "server_errors": "INTEGER NOT NULL DEFAULT 0",
    "snapshot_attempts": "INTEGER NOT NULL DEFAULT 0",
}


class QueueItem(msgspec.Struct, frozen=True):
    seq: int
    event_id: str
    camera_id: str
    attempts: int
    payload: bytes
    """The event JSON (Event.FaceDetected.v1 without snapshot_key)."""
    snapshot: bytes | None
    snapshot_key: str | None
    server_errors: int = 0
    """5xx answers (other than an outage's 502/503/504) this event got so far."""
    snapshot_attempts: int = 0
    """Failed tries to store its snapshot so far."""


class DeadLetter(msgspec.Struct, frozen=True):
    event_id: str
    camera_id: str
    attempts: int
    created_at: float
    last_error: str | None


class QueueStats(msgspec.Struct, frozen=True):
    pending: int
    inflight: int
    sent: int
    dead: int
    dropped: int

    @property
    def depth(self) -> int:
        return self.pending + self.inflight


class EventQueue:
    def __init__(
        self,
        path: Path | str,
        max_rows: int = 10_000,
        keep_sent_seconds: float = 7 * 86400,
        clock: Callable[[], float] = time.time,
        on_drop: Callable[[int], None] | None = None,
    ) -> None:
        if max_rows < 1:
            raise ValueError("max_rows must be at least 1")
        self.path = Path(path)
        self.max_rows = max_rows
        self.keep_sent_seconds = keep_sent_seconds
        self._clock = clock
        self._on_drop = on_drop
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock_file = _lock_exclusively(Path(f"{self.path}.lock"))
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None, timeout=30)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(SCHEMA)
        self._add_columns()
        self.recovered = self._recover()

    def _add_columns(self) -> None:
        present = {row[1] for row in self._db.execute("PRAGMA table_info(events)")}
        for name, declaration in ADDED_COLUMNS.items():
            if name not in present:
                self._db.execute(f"ALTER TABLE events ADD COLUMN {name} {declaration}")

    # -- lifecycle --------------------------------------------------------------------------
    def _recover(self) -> int:
        """Rows claimed by a process that died are due again now."""
        with self._lock:
            cursor = self._db.execute(
                "UPDATE events SET state='pending', next_attempt_at=? WHERE state='inflight'",
                (self._clock(),),
            )
            return cursor.rowcount

    def close(self) -> None:
        with self._lock:
            self._db.close()
            self._lock_file.close()  # releases the flock

    # -- writing ----------------------------------------------------------------------------
    def put(
        self,
        event_id: str,
        camera_id: str,
        payload: bytes,
        snapshot: bytes | None = None,
        dedupe_key: str | None = None,
    ) -> bool:
        """Store one event durably; False when ``dedupe_key`` was already queued (nothing added)."""
        now = self._clock()
        with self._changed:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                if dedupe_key is not None:
                    row = self._db.execute(
                        "SELECT 1 FROM events WHERE dedupe_key=?", (dedupe_key,)
                    ).fetchone()
                    if row is not None:
                        self._db.execute("COMMIT")
                        return False
                dropped = self._make_room()
                self._db.execute(
                    "INSERT INTO events (event_id, dedupe_key, camera_id, created_at, next_attempt_at, "
                    "payload, snapshot) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (event_id, dedupe_key, camera_id, now, now, payload, snapshot),
                )
                self._db.execute("COMMIT")
            except BaseException:
                # SQLite may have rolled back already (a full disk does): a second ROLLBACK would
                # raise and hide the real error.
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
                raise
            self._changed.notify_all()
        if dropped and self._on_drop is not None:
            self._on_drop(dropped)
        return True

    def _make_room(self) -> int:
        (depth,) = self._db.execute(
            "SELECT count(*) FROM events WHERE state IN ('pending','inflight')"
        ).fetchone()
        excess = depth - self.max_rows + 1
        if excess <= 0:
            return 0
        cursor = self._db.execute(
            "DELETE FROM events WHERE seq IN "
            "(SELECT seq FROM events WHERE state='pending' ORDER BY seq LIMIT ?)",
            (excess,),
        )
        dropped = cursor.rowcount
        if dropped:
            self._db.execute(
                "INSERT INTO counters (name, value) VALUES ('dropped', ?) "
                "ON CONFLICT(name) DO UPDATE SET value = value + excluded.value",
                (dropped,),
            )
        return int(dropped)

    # -- the sender's side ------------------------------------------------------------------
    def claim(self) -> QueueItem | None:
        """The oldest due pending event, now ``inflight``; None when nothing is due."""
        now = self._clock()
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                row = self._db.execute(
                    "SELECT seq, event_id, camera_id, attempts, payload, snapshot, snapshot_key, "
                    "server_errors, snapshot_attempts FROM events "
                    "WHERE state='pending' AND next_attempt_at <= ? ORDER BY seq LIMIT 1",
                    (now,),
                ).fetchone()
                if row is not None:
                    self._db.execute(
                        "UPDATE events SET state='inflight', claimed_at=? WHERE seq=?", (now, row[0])
                    )
                self._db.execute("COMMIT")
            except BaseException:
                # SQLite may have rolled back already (a full disk does): a second ROLLBACK would
                # raise and hide the real error.
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
                raise
        if row is None:
            return None
        return QueueItem(
            seq=row[0],
            event_id=row[1],
            camera_id=row[2],
            attempts=row[3],
            payload=row[4],
            snapshot=row[5],
            snapshot_key=row[6],
            server_errors=row[7],
            snapshot_attempts=row[8],
        )

    def set_snapshot_key(self, event_id: str, key: str) -> None:
        """The snapshot is uploaded: remember its key (a retry will not upload it again)."""
        with self._lock:
            self._db.execute(
                "UPDATE events SET snapshot_key=?, snapshot=NULL WHERE event_id=?", (key, event_id)
            )

    def ack(self, event_id: str) -> None:
        with self._changed:
            self._db.execute(
                "UPDATE events SET state='sent', sent_at=?, snapshot=NULL, payload=x'', last_error=NULL "
                "WHERE event_id=?",
                (self._clock(), event_id),
            )
            self._prune_sent()
            self._changed.notify_all()

    def retry(
        self, event_id: str, delay: float, error: str, *, server_error: bool = False, snapshot: bool = False
    ) -> None:
        """Due again after ``delay``; ``server_error``/``snapshot`` count a 5xx / a failed snapshot."""
        with self._changed:
            self._db.execute(
                "UPDATE events SET state='pending', attempts=attempts+1, next_attempt_at=?, last_error=?, "
                "server_errors=server_errors+?, snapshot_attempts=snapshot_attempts+? WHERE event_id=?",
                (self._clock() + max(0.0, delay), error[:500], int(server_error), int(snapshot), event_id),
            )
            self._changed.notify_all()

    def drop_snapshot(self, event_id: str) -> None:
        """Its snapshot could not be stored in the tries allowed: the event goes without it."""
        with self._lock:
            self._db.execute(
                "UPDATE events SET snapshot=NULL, snapshot_attempts=snapshot_attempts+1 WHERE event_id=?",
                (event_id,),
            )

    def fail(self, event_id: str, error: str) -> None:
        """Permanent failure: the dead-letter state, kept for inspection and never retried."""
        with self._changed:
            self._db.execute(
                "UPDATE events SET state='dead', attempts=attempts+1, snapshot=NULL, last_error=? "
                "WHERE event_id=?",
                (error[:500], event_id),
            )
            self._changed.notify_all()

    def _prune_sent(self) -> None:
        self._db.execute(
            "DELETE FROM events WHERE state='sent' AND sent_at < ?", (self._clock() - self.keep_sent_seconds,)
        )

    # -- reading ----------------------------------------------------------------------------
    def stats(self) -> QueueStats:
        with self._lock:
            counts = dict(self._db.execute("SELECT state, count(*) FROM events GROUP BY state").fetchall())
            row = self._db.execute("SELECT value FROM counters WHERE name='dropped'").fetchone()
        return QueueStats(
            pending=counts.get("pending", 0),
            inflight=counts.get("inflight", 0),
            sent=counts.get("sent", 0),
            dead=counts.get("dead", 0),
            dropped=row[0] if row else 0,
        )

    def depth(self) -> int:
        return self.stats().depth

    def next_due_in(self) -> float | None:
        """Seconds until the next pending event is due (0 if one is due now); None if none pending."""
        with self._lock:
            row = self._db.execute("SELECT min(next_attempt_at) FROM events WHERE state='pending'").fetchone()
        if row is None or row[0] is None:
            return None
        return max(0.0, float(row[0]) - self._clock())

    def wake(self) -> None:
        """Wake every thread in :meth:`wait_for_change` (shutdown)."""
        with self._changed:
            self._changed.notify_all()

    def wait_for_change(self, timeout: float) -> None:
        with self._changed:
            self._changed.wait(timeout)

    def event_ids(self, state: State | None = None) -> list[str]:
        with self._lock:
            if state is None:
                rows = self._db.execute("SELECT event_id FROM events ORDER BY seq").fetchall()
            else:
                rows = self._db.execute(
                    "SELECT event_id FROM events WHERE state=? ORDER BY seq", (state,)
                ).fetchall()
        return [r[0] for r in rows]

    def dead_letters(self, limit: int = 1000) -> list[DeadLetter]:
        """Dead-lettered events, oldest first (``appliance edge --dead-letters``)."""
        with self._lock:
            rows = self._db.execute(
                "SELECT event_id, camera_id, attempts, created_at, last_error FROM events "
                "WHERE state='dead' ORDER BY seq LIMIT ?",
                (limit,),
            ).fetchall()
        return [DeadLetter(*row) for row in rows]

    # -- file sources -----------------------------------------------------------------------
    def source_done(self, fingerprint: str) -> bool:
        with self._lock:
            row = self._db.execute("SELECT state FROM sources WHERE fingerprint=?", (fingerprint,)).fetchone()
        return row is not None and row[0] == "done"

    def mark_source_done(self, fingerprint: str) -> None:
        """Every event of this file is queued: a restart does not read it again."""
        with self._lock:
            self._db.execute(
                "INSERT INTO sources (fingerprint, state, updated_at) VALUES (?, 'done', ?) "
                "ON CONFLICT(fingerprint) DO UPDATE SET state='done', updated_at=excluded.updated_at",
                (fingerprint, self._clock()),
            )


def read_dead_letters(path: Path | str, limit: int = 1000) -> list[DeadLetter]:
    """The dead letters of a queue file, read-only: works while its worker runs (no lock taken)."""
    file = Path(path)
    if not file.exists():
        return []
    db = sqlite3.connect(f"file:{file}?mode=ro", uri=True, timeout=30)
    try:
        columns = {row[1] for row in db.execute("PRAGMA table_info(events)")}
        if not columns:
            return []
        rows = db.execute(
            "SELECT event_id, camera_id, attempts, created_at, last_error FROM events "
            "WHERE state='dead' ORDER BY seq LIMIT ?",
            (limit,),
        ).fetchall()
    finally:
        db.close()
    return [DeadLetter(*row) for row in rows]
