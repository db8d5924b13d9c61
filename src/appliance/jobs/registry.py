"""The jobs `serve` schedules, built from the app's services."""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Any

from appliance.jobs.erasure import ErasurePendingError, pending_jobs
from appliance.jobs.scheduler import Job, JobRunner

if TYPE_CHECKING:
    from appliance.db.engine import Database
    from appliance.recognition.runtime import RecognitionRuntime
    from appliance.server.services import Services

PURGE_EVERY = timedelta(hours=6)
STAFF_REFRESH_EVERY = timedelta(minutes=1)
ROLLUP_REFRESH_EVERY = timedelta(minutes=1)
ERASURE_RESUME_EVERY = timedelta(seconds=30)
RUN_AT_START = frozenset({"erasure_resume"})
"""Jobs the leader also runs as soon as it leads: a pending erasure finishes after a restart."""


def build_jobs(services: Services) -> dict[str, tuple[timedelta, Job]]:
    settings = services.settings

    async def retention_purge() -> Any:
        from appliance.jobs.purge import PurgeService

        store = await services.recognition.store()
        return await PurgeService(services.db, store).run(timedelta(days=settings.raw_retention_days))

    async def staff_refresh() -> int:
        return await services.recognition.staff.refresh_all()

    async def rollup_refresh() -> int:
        from appliance.domain.reports.rollups import refresh_all_tenants

        return await refresh_all_tenants(services.db)

    async def erasure_resume() -> Any:
        return await resume_pending(services.db, services.recognition)

    return {
        "erasure_resume": (ERASURE_RESUME_EVERY, erasure_resume),
        "retention_purge": (PURGE_EVERY, retention_purge),
        "rollup_refresh": (ROLLUP_REFRESH_EVERY, rollup_refresh),
        "staff_refresh": (STAFF_REFRESH_EVERY, staff_refresh),
    }


def job_runner(services: Services) -> JobRunner:
    return JobRunner(services.settings.runtime_database_url, build_jobs(services), run_at_start=RUN_AT_START)


async def resume_pending(db: Database, recognition: RecognitionRuntime) -> dict[str, int]:
    """Finish every pending erasure and tenant deletion that can finish now."""
    from appliance.domain.customers.erasure import CustomerErasure
    from appliance.domain.tenants.deletion import TenantDeletion

    result = {"pending": 0, "done": 0, "still_pending": 0}
    for tenant_id, job_id, kind in await pending_jobs(db):
        result["pending"] += 1
        try:
            if kind == "customer":
                await CustomerErasure(db, recognition).run(tenant_id, job_id)
            else:
                await TenantDeletion(db, recognition).run(tenant_id, job_id)
            result["done"] += 1
        except ErasurePendingError:
            result["still_pending"] += 1
    return result
