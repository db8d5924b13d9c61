"""Durable erasure (ADR 0012): what customer erasure and tenant deletion share, and the resumer.

A job is recorded in ``erasure_jobs`` before anything is deleted, then walks its steps in order:

1. ``objects``: the snapshots are deleted from the object store and verified gone;
2. ``vectors``: the exemplars (the vector index's source) are deleted and the index is verified
   to hold none of them;
3. ``rows``: the remaining rows go and the audit row is written, in one transaction that also
   marks the job done.

A step moves the job on only when it is verified complete, and only forward (``UPDATE … WHERE
step = <the step it finished>``), so a request and the resumer working on one job at once never
undo each other. An outage (object store, index, database) leaves the job pending at the step it
reached: the request answers 503 with Retry-After, and a retried request or the resumer (run by
the scheduler at start and every ``RESUME_EVERY``) finishes it.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import msgspec
from litestar.exceptions import HTTPException
from litestar.openapi.datastructures import ResponseSpec
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from appliance.db.base import utcnow
from appliance.db.models import ErasureJob, Tenant
from appliance.lib.context import request_id_var
from appliance.storage.base import InvalidKeyError, ObjectStore, ObjectStoreError, validate_key

if TYPE_CHECKING:
    from appliance.db.engine import Database
    from appliance.domain.auth.principal import Principal
    from appliance.recognition.runtime import RecognitionRuntime

log = logging.getLogger("appliance.erasure")

RETRY_AFTER_SECONDS = 10
"""What a 503 for a pending job tells the client; a retried request resumes the job itself."""
STEPS = ("objects", "vectors", "rows", "done")


class ErasurePendingError(HTTPException):
    """The job is recorded and pending: a dependency failed on the way. 503 + Retry-After."""

    status_code = 503

    def __init__(self, kind: str, job_id: uuid.UUID, step: str, reason: str) -> None:
        super().__init__(
            detail=(
                f"{kind} {job_id} is recorded and pending at step {step!r} ({reason}); nothing is lost:"
                " it completes by itself once the dependency is back, or retry this request"
            ),
            headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
        )
        self.job_id = job_id
        self.step = step


class PendingProblem(msgspec.Struct):
    """The RFC 9457 body of a 503 for a pending job (``Retry-After`` says when to ask again)."""

    type: str
    title: str
    status: int
    detail: str
    instance: str
    request_id: str | None = None


def pending_response(what: str) -> dict[int, ResponseSpec]:
    """The OpenAPI entry of the 503 a deletion endpoint answers while its job is pending."""
    return {
        503: ResponseSpec(
            data_container=PendingProblem,
            generate_examples=False,
            media_type="application/problem+json",
            description=(
                f"The {what} is recorded but could not finish now (object store, vector index or"
                " database unavailable); nothing is lost and no row is deleted before the face data"
                " is verified gone. It completes by itself (the server resumes pending jobs), or"
                " repeat the request after Retry-After seconds to finish it and get the result."
            ),
        )
    }


class StepIncompleteError(RuntimeError):
    """A step's verification failed (an object or a vector survived its deletion)."""


def remove_objects(store: ObjectStore, bucket: str, keys: Sequence[str]) -> tuple[list[str], int]:
    """Delete ``keys`` from ``bucket`` and verify each is gone (blocking: run it in a thread).

    Returns the keys verified gone and how many existed before. Raises on the first store error
    or surviving object, so a caller records exactly what is known to be gone; a key the store
    would refuse (never written by the appliance) cannot exist there and counts as gone."""
    gone: list[str] = []
    deleted = 0
    for key in keys:
        try:
            validate_key(key)
        except InvalidKeyError:
            gone.append(key)
            continue
        if store.exists(bucket, key):
            store.delete(bucket, key)
            if store.exists(bucket, key):
                raise StepIncompleteError(f"{bucket}/{key} is still present after its deletion")
            deleted += 1
        gone.append(key)
    return gone, deleted


def remove_prefix(store: ObjectStore, bucket: str, prefix: str, batch: int = 500) -> int:
    """Delete every object under ``prefix``, then verify the listing is empty; how many."""
    deleted = 0
    while True:
        keys = []
        for info in store.list(bucket, prefix):
            keys.append(info.key)
            if len(keys) >= batch:
                break
        if not keys:
            return deleted
        for key in keys:
            store.delete(bucket, key)
        deleted += len(keys)
        survivors = [k for k in keys if store.exists(bucket, k)]
        if survivors:
            raise StepIncompleteError(f"{len(survivors)} object(s) under {bucket}/{prefix} survived deletion")


async def find_or_open(
    session: AsyncSession,
    principal: Principal,
    tenant_id: uuid.UUID,
    kind: str,
    subject_id: uuid.UUID,
    *,
    subject_exists: bool,
) -> uuid.UUID | dict[str, Any] | None:
    """The pending job for the subject (its id), else the finished one's report when the subject
    is gone already (a repeated request answers the same), else a new job's id; None when there is
    neither subject nor job. Call it under the subject's row lock: two requests make one job."""
    latest = (
        await session.execute(
            select(ErasureJob)
            .where(
                ErasureJob.tenant_id == tenant_id,
                ErasureJob.kind == kind,
                ErasureJob.subject_id == subject_id,
            )
            .order_by(ErasureJob.created_at.desc())
            .limit(1)
        )
    ).scalar()
    if latest is not None and latest.status == "pending":
        return latest.id
    if not subject_exists:
        return dict(latest.report) if latest is not None else None
    job = ErasureJob(
        id=uuid.uuid4(),
        tenant_id=tenant_id,
        kind=kind,
        subject_id=subject_id,
        requested_by=principal.sub,
        requested_role=principal.role.value,
        request_id=request_id_var.get(),
        report={},
    )
    session.add(job)
    await session.flush()
    return job.id


async def advance(session: AsyncSession, job_id: uuid.UUID, done: str, report: dict[str, Any]) -> None:
    """Move the job past step ``done`` (only if it is still there) and merge ``report`` in."""
    following = STEPS[STEPS.index(done) + 1]
    job = await session.get(ErasureJob, job_id, with_for_update=True)
    if job is None or job.step != done:
        return  # another runner moved it on meanwhile
    await session.execute(
        update(ErasureJob)
        .where(ErasureJob.id == job_id, ErasureJob.step == done)
        .values(step=following, report={**job.report, **report}, updated_at=utcnow(), last_error=None)
        .execution_options(synchronize_session=False)
    )


async def vectors_remaining(
    recognition: RecognitionRuntime, tenant_id: uuid.UUID, customer_id: uuid.UUID | None
) -> int:
    """After the exemplars' deletion committed: how many of the customer's (or, with None, the
    tenant's) vectors the index still holds, once brought up to date.

    Without a Milvus server the index is the embedded one, read from ``customer_exemplars``: on a
    box whose embedder is not installed yet (no dimension, no index) nothing is held in memory,
    and the deleted rows are the whole truth — every process applies their tombstones at its
    next read of changes."""
    from appliance.config import ConfigError

    try:
        vectors = await recognition.vectors()
    except ConfigError as exc:
        if recognition.settings.milvus_uri:
            raise
        log.warning("no vector index can open (%s): the exemplar rows are gone, nothing else holds them", exc)
        return 0
    await vectors.refresh(tenant_id)
    if customer_id is None:
        return await vectors.count(tenant_id)
    return await vectors.count_customer(tenant_id, customer_id)


async def note_failure(db: Database, tenant_id: uuid.UUID, job_id: uuid.UUID, error: BaseException) -> None:
    """Count the attempt and keep its error for the operator; best effort (the database may be
    what failed)."""
    try:
        async with db.transaction(tenant_id) as session:
            await session.execute(
                update(ErasureJob)
                .where(ErasureJob.id == job_id)
                .values(
                    attempts=ErasureJob.attempts + 1,
                    last_error=f"{type(error).__name__}: {error}"[:2000],
                    updated_at=utcnow(),
                )
                .execution_options(synchronize_session=False)
            )
    except Exception:
        log.warning("cannot record the failure of erasure job %s", job_id, exc_info=True)


def reason_of(error: BaseException) -> str:
    if isinstance(error, ObjectStoreError):
        return "the object store is unavailable"
    if isinstance(error, StepIncompleteError):
        return "a deletion did not verify"
    import psycopg
    from sqlalchemy.exc import DBAPIError

    if isinstance(error, DBAPIError | psycopg.Error | OSError):
        return "the database is unavailable"
    return "the vector index is unavailable"


async def pending_jobs(db: Database) -> list[tuple[uuid.UUID, uuid.UUID, str]]:
    """(tenant, job, kind) of every pending job, oldest first, tenant by tenant under RLS."""
    async with db.transaction(None, platform_admin=True) as session:
        tenants = list((await session.execute(select(Tenant.id).order_by(Tenant.id))).scalars())
    found: list[tuple[uuid.UUID, uuid.UUID, str]] = []
    for tenant_id in tenants:
        async with db.transaction(tenant_id) as session:
            rows = await session.execute(
                select(ErasureJob.id, ErasureJob.kind)
                .where(ErasureJob.tenant_id == tenant_id, ErasureJob.status == "pending")
                .order_by(ErasureJob.created_at)
            )
            found.extend((tenant_id, job_id, kind) for job_id, kind in rows.all())
    return found


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
