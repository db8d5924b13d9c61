"""Customer erasure (GDPR) as a durable, resumable job (ADR 0012; the steps: ``jobs/erasure.py``).

``DELETE /v1/customers/{id}`` records the job, then runs it: the customer's snapshots are deleted
from the object store and verified gone (their references nulled as they go), its exemplars are
deleted and the vector index verified to hold none, and only then do the customer's rows go,
with the audit row, in one transaction. Any outage on the way leaves the job pending: the
request answers 503 + Retry-After and the rows are still there; a retry or the resumer finishes
it. A request for a customer whose erasure is done answers its report again.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from typing import TYPE_CHECKING, Any

import msgspec
from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from appliance.db.base import utcnow
from appliance.db.models import Customer, CustomerExemplar, ErasureJob, Sighting, Visit
from appliance.domain.audit.services import record_audit
from appliance.domain.auth.principal import Principal, Role
from appliance.domain.customers.schemas import ErasureReport
from appliance.jobs.erasure import (
    ErasurePendingError,
    StepIncompleteError,
    advance,
    find_or_open,
    note_failure,
    pending_response,
    reason_of,
    remove_objects,
    vectors_remaining,
)
from appliance.lib.errors import DomainError, NotFoundError
from appliance.storage.base import RAW_BUCKET

if TYPE_CHECKING:
    from appliance.db.engine import Database
    from appliance.recognition.runtime import RecognitionRuntime

log = logging.getLogger("appliance.erasure")
KIND = "customer"
BATCH = 500
AUDIT_ACTION = "customer.erase"
ERASURE_RESPONSES = pending_response("erasure")
ERASURE_DESCRIPTION = (
    "Erasure is a durable job: the customer's snapshots are deleted from the object store and"
    " verified gone, its face vectors are deleted and the index verified empty of them, and only"
    " then are its rows deleted and the audit row written. 200 with the report once complete;"
    " 503 + Retry-After while the job is pending (the rows are still there and the job finishes"
    " by itself or on a retry); a retry after completion answers the same report again."
)


class CustomerErasure:
    def __init__(self, db: Database, recognition: RecognitionRuntime) -> None:
        self.db = db
        self.recognition = recognition

    async def request(
        self, principal: Principal, tenant_id: uuid.UUID, customer_id: uuid.UUID
    ) -> ErasureReport:
        """Record the erasure (or find the one under way) and run it to the end."""
        found = await self._record(principal, tenant_id, customer_id)
        if isinstance(found, ErasureReport):
            return found
        return await self.run(tenant_id, found)

    async def _record(
        self, principal: Principal, tenant_id: uuid.UUID, customer_id: uuid.UUID
    ) -> uuid.UUID | ErasureReport:
        async with self.db.transaction(tenant_id) as session:
            # The customer's row lock serialises two requests for one customer.
            exists = await session.scalar(
                select(Customer.id).where(Customer.id == customer_id).with_for_update()
            )
            found = await find_or_open(
                session, principal, tenant_id, KIND, customer_id, subject_exists=exists is not None
            )
            if found is None:
                raise NotFoundError(f"customer {customer_id} not found")
            return msgspec.convert(found, ErasureReport) if isinstance(found, dict) else found

    async def run(self, tenant_id: uuid.UUID, job_id: uuid.UUID) -> ErasureReport:
        """Take the job from the step it reached to the end; 503 (``ErasurePendingError``) when a
        dependency fails on the way."""
        step = "objects"
        try:
            async with self.db.transaction(tenant_id) as session:
                job = await session.get(ErasureJob, job_id)
                if job is None:
                    raise NotFoundError(f"erasure job {job_id} not found")
                step, customer_id, report = job.step, job.subject_id, dict(job.report)
            if step == "done":
                return msgspec.convert(report, ErasureReport)
            if step == "objects":
                await self._objects(tenant_id, job_id, customer_id)
                step = "vectors"
            if step == "vectors":
                await self._vectors(tenant_id, job_id, customer_id)
                step = "rows"
            return await self._rows(tenant_id, job_id, customer_id)
        except (DomainError, asyncio.CancelledError):
            raise
        except Exception as exc:
            log.warning("erasure job %s pending at step %s: %s", job_id, step, exc, exc_info=True)
            await note_failure(self.db, tenant_id, job_id, exc)
            raise ErasurePendingError("erasure", job_id, step, reason_of(exc)) from exc

    # -- the steps ---------------------------------------------------------------------------

    async def _objects(self, tenant_id: uuid.UUID, job_id: uuid.UUID, customer_id: uuid.UUID) -> None:
        """Delete the customer's snapshots batch by batch, nulling the references to those
        verified gone; a failure keeps the rest for the next run."""
        store = await self.recognition.store()
        checked = deleted = 0
        while True:
            async with self.db.transaction(tenant_id) as session:
                keys = await _snapshot_keys(session, tenant_id, customer_id, BATCH)
            if not keys:
                break
            gone, removed = await asyncio.to_thread(remove_objects, store, RAW_BUCKET, keys)
            async with self.db.transaction(tenant_id) as session:
                await _forget_keys(session, tenant_id, customer_id, gone)
                job = await session.get(ErasureJob, job_id, with_for_update=True)
                if job is not None:  # progress survives a failure in a later batch
                    previous = job.report.get("objects_deleted", 0)
                    job.report = {**job.report, "objects_deleted": previous + removed}
            checked += len(gone)
            deleted += removed
        async with self.db.transaction(tenant_id) as session:
            await advance(session, job_id, "objects", {"objects_remaining": 0})
        log.info("erasure %s: %d snapshot(s) deleted of %d checked", job_id, deleted, checked)

    async def _vectors(self, tenant_id: uuid.UUID, job_id: uuid.UUID, customer_id: uuid.UUID) -> None:
        async with self.db.transaction(tenant_id) as session:
            result = await session.execute(
                delete(CustomerExemplar).where(
                    CustomerExemplar.tenant_id == tenant_id, CustomerExemplar.customer_id == customer_id
                )
            )
            removed = int(getattr(result, "rowcount", 0) or 0)
            job = await session.get(ErasureJob, job_id, with_for_update=True)
            if job is not None:
                job.report = {**job.report, "exemplars": job.report.get("exemplars", 0) + removed}
        remaining = await vectors_remaining(self.recognition, tenant_id, customer_id)
        if remaining:
            raise StepIncompleteError(f"{remaining} vector(s) of customer {customer_id} remain in the index")
        async with self.db.transaction(tenant_id) as session:
            await advance(session, job_id, "vectors", {"vectors_remaining": 0})

    async def _rows(self, tenant_id: uuid.UUID, job_id: uuid.UUID, customer_id: uuid.UUID) -> ErasureReport:
        late_exemplars = 0
        async with self.db.transaction(tenant_id) as session:
            job = await session.get(ErasureJob, job_id, with_for_update=True)
            if job is None:
                raise NotFoundError(f"erasure job {job_id} not found")
            if job.status == "done":
                return msgspec.convert(job.report, ErasureReport)
            counts = {"visits": 0, "sightings": 0}
            customer = await session.scalar(
                select(Customer.id).where(Customer.id == customer_id).with_for_update()
            )
            if customer is not None:
                # What arrived since the objects step (an event matched meanwhile) goes too.
                late = await _snapshot_keys(session, tenant_id, customer_id, None)
                if late:
                    store = await self.recognition.store()
                    _, removed = await asyncio.to_thread(remove_objects, store, RAW_BUCKET, late)
                    job.report = {
                        **job.report,
                        "objects_deleted": job.report.get("objects_deleted", 0) + removed,
                    }
                for name, table in (("visits", Visit), ("sightings", Sighting)):
                    counts[name] = (
                        await session.execute(select(func.count()).where(table.customer_id == customer_id))
                    ).scalar_one()
                late_exemplars = (
                    await session.execute(
                        select(func.count()).where(CustomerExemplar.customer_id == customer_id)
                    )
                ).scalar_one()
                await session.execute(delete(Customer).where(Customer.id == customer_id))  # cascades
            report = ErasureReport(
                customer_id=customer_id,
                visits=counts["visits"],
                sightings=counts["sightings"],
                exemplars=int(job.report.get("exemplars", 0)) + late_exemplars,
                objects_deleted=int(job.report.get("objects_deleted", 0)),
                vectors_remaining=0,
                objects_remaining=0,
            )
            details: dict[str, Any] = {
                **msgspec.to_builtins(report),
                "job_id": str(job_id),
                "requested_at": job.created_at.isoformat(),
                "attempts": job.attempts + 1,
            }
            if customer is None:
                details["note"] = "the customer was gone before its rows step (merged or deleted)"
            requester = Principal(sub=job.requested_by, role=Role(job.requested_role), tenant_id=tenant_id)
            await record_audit(
                session,
                requester,
                tenant_id=tenant_id,
                action=AUDIT_ACTION,
                target_type="customer",
                target_id=str(customer_id),
                details=details,
            )
            await session.execute(
                update(ErasureJob)
                .where(ErasureJob.id == job_id)
                .values(
                    status="done",
                    step="done",
                    report=msgspec.to_builtins(report),
                    completed_at=utcnow(),
                    updated_at=utcnow(),
                    last_error=None,
                )
                .execution_options(synchronize_session=False)
            )
        if late_exemplars:  # done and audited already: the index catches up at its next read if this fails
            try:
                await vectors_remaining(self.recognition, tenant_id, customer_id)
            except Exception:
                log.warning(
                    "erasure %s: refreshing the index after the late exemplars failed", job_id, exc_info=True
                )
        return report


async def _snapshot_keys(
    session: AsyncSession, tenant_id: uuid.UUID, customer_id: uuid.UUID, limit: int | None
) -> list[str]:
    """Object keys the customer's sightings and visits still reference."""
    sightings = (
        select(Sighting.image_path.label("key"))
        .where(
            Sighting.tenant_id == tenant_id,
            Sighting.customer_id == customer_id,
            Sighting.image_path.is_not(None),
        )
        .distinct()
    )
    visits = (
        select(Visit.best_snapshot_key.label("key"))
        .where(
            Visit.tenant_id == tenant_id,
            Visit.customer_id == customer_id,
            Visit.best_snapshot_key.is_not(None),
        )
        .distinct()
    )
    query = sightings.union(visits).order_by("key")
    if limit is not None:
        query = query.limit(limit)
    return [key for key in (await session.execute(query)).scalars() if key]


async def _forget_keys(
    session: AsyncSession, tenant_id: uuid.UUID, customer_id: uuid.UUID, keys: list[str]
) -> None:
    if not keys:
        return
    await session.execute(
        update(Sighting)
        .where(
            Sighting.tenant_id == tenant_id,
            Sighting.customer_id == customer_id,
            Sighting.image_path.in_(keys),
        )
        .values(image_path=None)
        .execution_options(synchronize_session=False)
    )
    await session.execute(
        update(Visit)
        .where(
            Visit.tenant_id == tenant_id, Visit.customer_id == customer_id, Visit.best_snapshot_key.in_(keys)
        )
        .values(best_snapshot_key=None)
        .execution_options(synchronize_session=False)
    )
