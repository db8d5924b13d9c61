"""Tenant deletion as a durable, resumable job (ADR 0012; the steps: ``jobs/erasure.py``).

``DELETE /v1/tenants/{id}`` records the job in the tenant itself (the record has no foreign key:
it outlives the tenant, as the audit rows do), then: every object under ``<tenant>/`` in both
buckets is deleted and the listing verified empty; the tenant's exemplars are deleted and the
vector index (embedded or Milvus) verified to hold none; then, in one transaction, the tenant row
goes (cascading to every tenant-scoped table) with an audit row saying who, when and how much.
An outage on the way leaves the job pending (503 + Retry-After, the tenant intact); a retry or the
resumer finishes it.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, select, text, update

from appliance.db.base import utcnow
from appliance.db.models import CustomerExemplar, ErasureJob, ExemplarTombstone, Tenant
from appliance.domain.audit.services import record_audit
from appliance.domain.auth.principal import Principal, Role
from appliance.jobs.erasure import (
    ErasurePendingError,
    StepIncompleteError,
    advance,
    find_or_open,
    note_failure,
    pending_response,
    reason_of,
    remove_prefix,
    vectors_remaining,
)
from appliance.lib.errors import DomainError, NotFoundError
from appliance.storage.base import BUCKETS

if TYPE_CHECKING:
    from appliance.db.engine import Database
    from appliance.recognition.runtime import RecognitionRuntime

log = logging.getLogger("appliance.erasure")
KIND = "tenant"
AUDIT_ACTION = "tenant.delete"
COUNTED = ("sites", "cameras", "staff", "users", "api_keys", "customers", "visits", "sightings")
"""Rows the audit record counts (each table is tenant-scoped; the names are ours, not input)."""
DELETION_RESPONSES = pending_response("tenant deletion")
DELETION_DESCRIPTION = (
    "Tenant deletion is a durable job: every object of the tenant is deleted from the object store"
    " and the listing verified empty, its face vectors are deleted and the index verified empty,"
    " then the tenant's rows go with an audit row (who, when, counts) that outlives it. 204 once"
    " complete (also for a repeated request); 503 + Retry-After while the job is pending (the"
    " tenant is intact and the job finishes by itself or on a retry)."
)


def prefix_of(tenant_id: uuid.UUID) -> str:
    """Every object key of a tenant starts so (snapshots ``<tenant>/<site>/…``, staff photos
    ``<tenant>/staff/…``)."""
    return f"{tenant_id}/"


class TenantDeletion:
    def __init__(self, db: Database, recognition: RecognitionRuntime) -> None:
        self.db = db
        self.recognition = recognition

    async def request(self, principal: Principal, tenant_id: uuid.UUID) -> dict[str, Any]:
        """Record the deletion (or find the one under way) and run it to the end; the report."""
        found = await self._record(principal, tenant_id)
        if isinstance(found, dict):
            return found
        return await self.run(tenant_id, found)

    async def _record(self, principal: Principal, tenant_id: uuid.UUID) -> uuid.UUID | dict[str, Any]:
        async with self.db.transaction(tenant_id, platform_admin=True) as session:
            exists = await session.scalar(select(Tenant.id).where(Tenant.id == tenant_id).with_for_update())
            found = await find_or_open(
                session, principal, tenant_id, KIND, tenant_id, subject_exists=exists is not None
            )
            if found is None:
                raise NotFoundError(f"tenant {tenant_id} not found")
            return found

    async def run(self, tenant_id: uuid.UUID, job_id: uuid.UUID) -> dict[str, Any]:
        step = "objects"
        try:
            async with self.db.transaction(tenant_id) as session:
                job = await session.get(ErasureJob, job_id)
                if job is None:
                    raise NotFoundError(f"tenant deletion job {job_id} not found")
                step, report = job.step, dict(job.report)
            if step == "done":
                return report
            if step == "objects":
                await self._objects(tenant_id, job_id)
                step = "vectors"
            if step == "vectors":
                await self._vectors(tenant_id, job_id)
                step = "rows"
            return await self._rows(tenant_id, job_id)
        except (DomainError, asyncio.CancelledError):
            raise
        except Exception as exc:
            log.warning("tenant deletion %s pending at step %s: %s", job_id, step, exc, exc_info=True)
            await note_failure(self.db, tenant_id, job_id, exc)
            raise ErasurePendingError("tenant deletion", job_id, step, reason_of(exc)) from exc

    async def _objects(self, tenant_id: uuid.UUID, job_id: uuid.UUID) -> None:
        store = await self.recognition.store()
        deleted: dict[str, int] = {}
        for bucket in BUCKETS:
            deleted[bucket] = await asyncio.to_thread(remove_prefix, store, bucket, prefix_of(tenant_id))
        async with self.db.transaction(tenant_id) as session:
            await advance(session, job_id, "objects", {"objects_deleted": deleted, "objects_remaining": 0})

    async def _vectors(self, tenant_id: uuid.UUID, job_id: uuid.UUID) -> None:
        async with self.db.transaction(tenant_id) as session:
            result = await session.execute(
                delete(CustomerExemplar).where(CustomerExemplar.tenant_id == tenant_id)
            )
            removed = int(getattr(result, "rowcount", 0) or 0)
            job = await session.get(ErasureJob, job_id, with_for_update=True)
            if job is not None:
                job.report = {**job.report, "exemplars": job.report.get("exemplars", 0) + removed}
        remaining = await vectors_remaining(self.recognition, tenant_id, None)
        if remaining:
            raise StepIncompleteError(f"{remaining} vector(s) of tenant {tenant_id} remain in the index")
        async with self.db.transaction(tenant_id) as session:
            await advance(session, job_id, "vectors", {"vectors_remaining": 0})

    async def _rows(self, tenant_id: uuid.UUID, job_id: uuid.UUID) -> dict[str, Any]:
        async with self.db.transaction(tenant_id, platform_admin=True) as session:
            job = await session.get(ErasureJob, job_id, with_for_update=True)
            if job is None:
                raise NotFoundError(f"tenant deletion job {job_id} not found")
            if job.status == "done":
                return dict(job.report)
            report = dict(job.report)
            name = await session.scalar(select(Tenant.name).where(Tenant.id == tenant_id).with_for_update())
            if name is not None:
                # Uploads that landed since the objects step (a worker still running) go too.
                store = await self.recognition.store()
                late = 0
                for bucket in BUCKETS:
                    late += await asyncio.to_thread(remove_prefix, store, bucket, prefix_of(tenant_id))
                report["late_objects_deleted"] = late
                report["rows"] = {
                    table: (
                        await session.execute(
                            text(f"SELECT count(*) FROM {table} WHERE tenant_id = :t"), {"t": tenant_id}
                        )
                    ).scalar_one()
                    for table in COUNTED
                }
                report["name"] = name
            else:
                report["note"] = "the tenant row was gone before its rows step"
            requester = Principal(sub=job.requested_by, role=Role(job.requested_role), tenant_id=None)
            await record_audit(
                session,
                requester,
                tenant_id=tenant_id,
                action=AUDIT_ACTION,
                target_type="tenant",
                target_id=str(tenant_id),
                details={
                    **report,
                    "job_id": str(job_id),
                    "requested_at": job.created_at.isoformat(),
                    "attempts": job.attempts + 1,
                },
            )
            # Tombstones carry no foreign key (migration 0007): no index needs them after this.
            await session.execute(delete(ExemplarTombstone).where(ExemplarTombstone.tenant_id == tenant_id))
            await session.execute(delete(Tenant).where(Tenant.id == tenant_id))  # cascades
            report["completed_at"] = utcnow().isoformat()
            await session.execute(
                update(ErasureJob)
                .where(ErasureJob.id == job_id)
                .values(status="done", step="done", report=report, completed_at=utcnow(), last_error=None)
                .execution_options(synchronize_session=False)
            )
        # This process forgets the tenant (and the Milvus partition goes); others do at their next
        # read of changes, which says the tenant is gone.
        try:
            await self.recognition.tenant_deleted(tenant_id)
        except Exception:
            log.warning("tenant %s deleted; dropping its index partition failed", tenant_id, exc_info=True)
        return report
