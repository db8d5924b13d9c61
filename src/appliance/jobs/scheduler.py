"""APScheduler inside ``serve``, with one leader across every API process.

Leadership is a PostgreSQL session-level advisory lock held on a dedicated connection: the
process that holds it runs the jobs; the others retry every ``LEADER_RETRY`` seconds and take
over within that time if the leader dies (its connection closes, the lock is released).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
from apscheduler.schedulers.asyncio import AsyncIOScheduler

log = logging.getLogger("appliance.jobs")
LEADER_LOCK = 7254002
LEADER_RETRY = 15.0

Job = Callable[[], Awaitable[Any]]


class JobRunner:
    def __init__(
        self,
        database_url: str,
        jobs: dict[str, tuple[timedelta, Job]],
        run_at_start: frozenset[str] = frozenset(),
    ) -> None:
        self.database_url = database_url
        self.jobs = jobs
        self.run_at_start = run_at_start
        self.scheduler = AsyncIOScheduler(timezone="UTC")
        self.is_leader = False
        self._conn: psycopg.AsyncConnection[Any] | None = None
        self._task: asyncio.Task[None] | None = None
        self.last_results: dict[str, Any] = {}

    async def _try_lead(self) -> bool:
        try:
            conn = await psycopg.AsyncConnection.connect(self.database_url, autocommit=True)
            row = await (await conn.execute("SELECT pg_try_advisory_lock(%s)", (LEADER_LOCK,))).fetchone()
        except psycopg.Error:
            log.warning("scheduler cannot reach the database; will retry", exc_info=True)
            return False
        if row and row[0]:
            self._conn = conn
            return True
        await conn.close()
        return False

    async def _lead_loop(self) -> None:
        while not self.is_leader:
            if await self._try_lead():
                self.is_leader = True
                now = datetime.now(UTC)
                for name, (interval, job) in self.jobs.items():
                    first = now if name in self.run_at_start else now + interval
                    self.scheduler.add_job(
                        self._run,
                        "interval",
                        args=[name, job],
                        seconds=interval.total_seconds(),
                        id=name,
                        max_instances=1,
                        coalesce=True,
                        next_run_time=first,
                    )
                self.scheduler.start()
                log.info("this process is the job leader", extra={"jobs": sorted(self.jobs)})
                return
            await asyncio.sleep(LEADER_RETRY)

    async def _run(self, name: str, job: Job) -> None:
        try:
            self.last_results[name] = await job()
            log.info("job done", extra={"job": name, "result": str(self.last_results[name])})
        except Exception:
            log.exception("job failed", extra={"job": name})

    async def run_now(self, name: str) -> Any:
        _, job = self.jobs[name]
        await self._run(name, job)
        return self.last_results.get(name)

    def start(self) -> None:
        self._task = asyncio.create_task(self._lead_loop(), name="job-leader")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self.scheduler.running:
            self.scheduler.shutdown(wait=False)
        if self._conn is not None:
            await self._conn.close()
        self.is_leader = False
