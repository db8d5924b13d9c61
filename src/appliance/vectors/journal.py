"""How far each API process's index writes are known to be applied, kept on disk.

The write-behind (``pending.py``) applies index writes a second after their PostgreSQL commit.
A process that dies in between (killed, out of memory, power cut) takes those writes with it:
the rows are in PostgreSQL, the vectors are not in the index, and the next sighting of such a
face would make a second customer. Each process therefore keeps a small journal in
``<data_dir>/index-sync/``:

- ``<token>.lock``, locked (``flock``) for the process's whole life — the kernel drops the lock
  when the process dies, however it dies;
- ``<token>.json``, rewritten after every flush that succeeded: ``applied_before``, the time the
  flushed batch was taken, so every write that entered the write-behind before it is in the
  index.

A clean shutdown (after the last flush) removes both files. A process opening the index claims
the journals whose lock it can take — their owners are dead — and has ``catchup.py`` re-apply
the exemplars PostgreSQL wrote since (``applied_before`` minus :data:`MARGIN`: an exemplar's
``created_at`` is its transaction's start, which precedes the write-behind by the transaction's
length). Only after that succeeded are the dead journals removed; a failed catch-up leaves them
for the next process.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

log = logging.getLogger("appliance.vectors")

MARGIN = timedelta(minutes=2)
"""How much earlier than a journal's ``applied_before`` a catch-up starts: longer than any ingest
transaction lasts, so no exemplar committed after the flushed batch was taken is older."""

UNREADABLE_WINDOW = timedelta(hours=1)
"""A dead journal without a readable state (killed while writing its first one): catch up this
long before its lock file was last touched."""


@dataclass
class DeadJournal:
    """A journal whose process died; locked by this process until :meth:`release`."""

    lock_path: Path
    state_path: Path
    since: datetime
    """Catch up exemplars created at or after this."""
    _fd: int

    def release(self, caught_up: bool) -> None:
        """Remove the journal when its writes were caught up, else leave it for the next try."""
        try:
            if caught_up:
                self.state_path.unlink(missing_ok=True)
                self.lock_path.unlink(missing_ok=True)
        finally:
            os.close(self._fd)


class SyncJournal:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.token = f"{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self.lock_path = directory / f"{self.token}.lock"
        self.state_path = directory / f"{self.token}.json"
        self._fd: int | None = None

    def start(self, now: datetime | None = None) -> None:
        """Begin this process's journal: nothing of it is older than ``now``."""
        self.directory.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # a fresh name: nobody else holds it
        self._fd = fd
        self.applied(now or datetime.now(UTC))

    def applied(self, before: datetime) -> None:
        """Every write that entered the write-behind before ``before`` is in the index."""
        if self._fd is None:
            return
        temporary = self.state_path.with_suffix(".tmp")
        try:
            temporary.write_text(json.dumps({"pid": os.getpid(), "applied_before": before.isoformat()}))
            temporary.replace(self.state_path)  # atomic: a reader never sees half a file
        except OSError as exc:  # a full disk: an older state only widens a future catch-up
            log.warning("cannot update the index journal %s: %s", self.state_path, exc)

    def close(self) -> None:
        """A clean end, after the last flush: nothing of this process is left to catch up."""
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        try:
            self.state_path.unlink(missing_ok=True)
            self.lock_path.unlink(missing_ok=True)
        finally:
            os.close(fd)

    def dead_journals(self) -> list[DeadJournal]:
        """The journals of processes that died, each locked by this process now."""
        if not self.directory.is_dir():
            return []
        found = []
        for lock_path in sorted(self.directory.glob("*.lock")):
            if lock_path == self.lock_path:
                continue
            dead = _claim(lock_path)
            if dead is not None:
                found.append(dead)
        return found


def _claim(lock_path: Path) -> DeadJournal | None:
    try:
        fd = os.open(lock_path, os.O_RDWR)
    except FileNotFoundError:  # removed by its owner's clean exit, or claimed and done meanwhile
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:  # its process is alive (or another one is catching up for it)
        os.close(fd)
        return None
    if os.fstat(fd).st_nlink == 0:  # caught up and removed between our open and our lock
        os.close(fd)
        return None
    state_path = lock_path.with_suffix(".json")
    since: datetime | None = None
    with contextlib.suppress(OSError, ValueError, KeyError, TypeError):
        since = datetime.fromisoformat(json.loads(state_path.read_text())["applied_before"]) - MARGIN
    if since is None or since.tzinfo is None:
        touched = datetime.fromtimestamp(os.fstat(fd).st_mtime, UTC)
        log.warning("index journal %s has no readable state; catching up from %s", lock_path.name, touched)
        since = touched - UNREADABLE_WINDOW
    return DeadJournal(lock_path, state_path, since, fd)
