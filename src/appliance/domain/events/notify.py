"""Live-stream announcements of committed sightings, batched into few PostgreSQL NOTIFYs.

Every API process listens on ``EVENTS_CHANNEL`` (``server/live.py``), so a NOTIFY reaches all
of them. A NOTIFY inside the ingest transaction would serialise every commit behind
PostgreSQL's notification-queue lock (held until the commit is on disk). So ingest hands the
event to this notifier after its commit, and it sends what gathered in the last
``every`` seconds as one JSON array per NOTIFY (payloads stay under PostgreSQL's 8,000 bytes).
A fifth of a second is quick for a person watching the dashboard and keeps the flushes (a
pooled transaction each) to five a second per process under load (ADR 0013). Only committed
work is announced; a process that dies loses at most that fraction of a second of
live announcements (the sightings themselves are committed).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from typing import Any

from sqlalchemy import text

from appliance.db.engine import Database

log = logging.getLogger("appliance.live")
EVENTS_CHANNEL = "appliance_events"
PAYLOAD_LIMIT = 7_500
NOTIFY = text("SELECT pg_notify(:channel, :payload)")


def batches(encoded: list[str], limit: int = PAYLOAD_LIMIT) -> list[str]:
    """JSON arrays of the encoded events, each under ``limit`` bytes (a bigger single event
    goes alone)."""
    out: list[str] = []
    current: list[str] = []
    size = 2
    for item in encoded:
        if current and size + len(item) + 1 > limit:
            out.append("[" + ",".join(current) + "]")
            current, size = [], 2
        current.append(item)
        size += len(item) + 1
    if current:
        out.append("[" + ",".join(current) + "]")
    return out


class LiveNotifier:
    def __init__(self, db: Database, every: float = 0.2) -> None:
        self.db = db
        self.every = every
        self._queue: list[str] = []
        self._task: asyncio.Task[None] | None = None
        self.sent = 0
        """NOTIFY statements sent (for tests and metrics)."""

    def publish(self, event: dict[str, Any]) -> None:
        """Queue one committed event; it goes out within ``every`` seconds."""
        self._queue.append(json.dumps(event, separators=(",", ":")))
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run(), name="live-notifier")

    async def _run(self) -> None:
        while self._queue:
            await asyncio.sleep(self.every)
            await self.flush()

    async def flush(self) -> None:
        queued, self._queue = self._queue, []
        if not queued:
            return
        try:
            async with self.db.engine.begin() as conn:
                for payload in batches(queued):
                    await conn.execute(NOTIFY, {"channel": EVENTS_CHANNEL, "payload": payload})
                    self.sent += 1
        except Exception:  # the live view misses these; the data is committed
            log.warning("could not announce %d live events", len(queued), exc_info=True)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self.flush()
