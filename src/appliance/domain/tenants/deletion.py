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
from typing import Any

from sqlalchemy import delete, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from appliance.db.base import utcnow
from appliance.db.models import ExemplarTombstone, Tenant
from appliance.domain.auth.principal import Principal
from appliance.jobs.erasure import (
    DurableDeletion,
    advance,
    audit_done,
    locked_job,
    mark_done,
    pending_response,
    remove_prefix,
)
from appliance.storage.base import BUCKETS

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


class TenantDeletion(DurableDeletion[dict[str, Any]]):
    kind = KIND
    label = "tenant deletion"
    subject_is_tenant = True

    async def request(self, principal: Principal, tenant_id: uuid.UUID) -> dict[str, Any]:
        """Record the deletion (or find the one under way) and run it to the end; the report."""
        return await self._request(principal, tenant_id, tenant_id)

    async def _lock_subject(self, session: AsyncSession, subject_id: uuid.UUID) -> bool:
        found = await session.scalar(select(Tenant.id).where(Tenant.id == subject_id).with_for_update())
        return found is not None

    def _result(self, report: dict[str, Any]) -> dict[str, Any]:
        return dict(report)

    async def _objects(self, tenant_id: uuid.UUID, job_id: uuid.UUID, subject_id: uuid.UUID) -> None:
        deleted = await self._remove_objects(tenant_id)
        async with self.db.transaction(tenant_id) as session:
            await advance(session, job_id, "objects", {"objects_deleted": deleted, "objects_remaining": 0})

    async def _remove_objects(self, tenant_id: uuid.UUID) -> dict[str, int]:
        """Delete every object of the tenant, verified gone; how many, bucket by bucket."""
        store = await self.recognition.store()
        return {
            bucket: await asyncio.to_thread(remove_prefix, store, bucket, prefix_of(tenant_id))
            for bucket in BUCKETS
        }

    async def _rows(self, tenant_id: uuid.UUID, job_id: uuid.UUID, subject_id: uuid.UUID) -> dict[str, Any]:
        async with self.db.transaction(tenant_id, platform_admin=True) as session:
            job = await locked_job(session, job_id, self.label)
            if job.status == "done":
                return self._result(job.report)
            report = dict(job.report)
            name = await session.scalar(select(Tenant.name).where(Tenant.id == tenant_id).with_for_update())
            if name is not None:
                # Uploads that landed since the objects step (a worker still running) go too.
                report["late_objects_deleted"] = sum((await self._remove_objects(tenant_id)).values())
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
            await audit_done(session, job, action=AUDIT_ACTION, target_type="tenant", report=report)
            # Tombstones carry no foreign key (migration 0007): no index needs them after this.
            await session.execute(delete(ExemplarTombstone).where(ExemplarTombstone.tenant_id == tenant_id))
            await session.execute(delete(Tenant).where(Tenant.id == tenant_id))  # cascades
            report["completed_at"] = utcnow().isoformat()
            await mark_done(session, job_id, report)
        # This process forgets the tenant (and the Milvus partition goes); others do at their next
        # read of changes, which says the tenant is gone.
        try:
            await self.recognition.tenant_deleted(tenant_id)
        except Exception:
            log.warning("tenant %s deleted; dropping its index partition failed", tenant_id, exc_info=True)
        return report
