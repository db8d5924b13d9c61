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
from typing import Any

import msgspec
from sqlalchemy import delete, func, select, union, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from appliance.db.models import Customer, CustomerExemplar, ErasureJob, Sighting, Visit
from appliance.domain.auth.principal import Principal
from appliance.domain.customers.schemas import ErasureReport
from appliance.jobs.erasure import (
    DurableDeletion,
    add_count,
    advance,
    audit_done,
    locked_job,
    mark_done,
    pending_response,
    remove_objects,
    vectors_remaining,
)
from appliance.storage.base import RAW_BUCKET

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
GONE_NOTE = "the customer was gone before its rows step (merged or deleted)"
SNAPSHOT_COLUMNS: tuple[tuple[type[Sighting] | type[Visit], InstrumentedAttribute[str | None]], ...] = (
    (Sighting, Sighting.image_path),
    (Visit, Visit.best_snapshot_key),
)
"""Where a customer's rows reference snapshots: the raw images of its sightings, the best
snapshot of its visits."""


class CustomerErasure(DurableDeletion[ErasureReport]):
    kind = KIND
    label = "erasure"

    async def request(
        self, principal: Principal, tenant_id: uuid.UUID, customer_id: uuid.UUID
    ) -> ErasureReport:
        """Record the erasure (or find the one under way) and run it to the end."""
        return await self._request(principal, tenant_id, customer_id)

    async def _lock_subject(self, session: AsyncSession, subject_id: uuid.UUID) -> bool:
        found = await session.scalar(select(Customer.id).where(Customer.id == subject_id).with_for_update())
        return found is not None

    def _result(self, report: dict[str, Any]) -> ErasureReport:
        return msgspec.convert(report, ErasureReport)

    # -- the steps (the vectors step is the shared one) ----------------------------------------

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
                    add_count(job, "objects_deleted", removed)
            checked += len(gone)
            deleted += removed
        async with self.db.transaction(tenant_id) as session:
            await advance(session, job_id, "objects", {"objects_remaining": 0})
        log.info("erasure %s: %d snapshot(s) deleted of %d checked", job_id, deleted, checked)

    async def _rows(self, tenant_id: uuid.UUID, job_id: uuid.UUID, customer_id: uuid.UUID) -> ErasureReport:
        late_exemplars = 0
        async with self.db.transaction(tenant_id) as session:
            job = await locked_job(session, job_id, self.label)
            if job.status == "done":
                return self._result(job.report)
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
                    add_count(job, "objects_deleted", removed)
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
            await audit_done(
                session,
                job,
                action=AUDIT_ACTION,
                target_type="customer",
                report=msgspec.to_builtins(report),
                note=None if customer is not None else GONE_NOTE,
            )
            await mark_done(session, job_id, msgspec.to_builtins(report))
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
    query = union(
        *(
            select(column.label("key"))
            .where(table.tenant_id == tenant_id, table.customer_id == customer_id, column.is_not(None))
            .distinct()
            for table, column in SNAPSHOT_COLUMNS
        )
    ).order_by("key")
    if limit is not None:
        query = query.limit(limit)
    return [key for key in (await session.execute(query)).scalars() if key]


async def _forget_keys(
    session: AsyncSession, tenant_id: uuid.UUID, customer_id: uuid.UUID, keys: list[str]
) -> None:
    if not keys:
        return
    for table, column in SNAPSHOT_COLUMNS:
        await session.execute(
            update(table)
            .where(table.tenant_id == tenant_id, table.customer_id == customer_id, column.in_(keys))
            .values({column: None})
            .execution_options(synchronize_session=False)
        )
