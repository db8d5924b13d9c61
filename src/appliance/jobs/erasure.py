"""Durable erasure (ADR 0012): the steps customer erasure and tenant deletion share.

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
the scheduler at start and every ``RESUME_EVERY``, ``jobs/registry.py``) finishes it.
"""

from __future__ import annotations

import abc
import asyncio
import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Generic, TypeVar

import msgspec
from litestar.exceptions import HTTPException
from litestar.openapi.datastructures import ResponseSpec
from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from appliance.db.base import utcnow
from appliance.db.models import CustomerExemplar, ErasureJob, Tenant
from appliance.lib.audit import Actor, write_audit
from appliance.lib.context import request_id_var
from appliance.lib.errors import DomainError, NotFoundError
from appliance.storage.base import InvalidKeyError, ObjectStore, ObjectStoreError, validate_key

if TYPE_CHECKING:
    from appliance.db.engine import Database
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
    principal: Actor,
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
        requested_role=str(principal.role),
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


def add_count(job: ErasureJob, key: str, n: int) -> None:
    """Add ``n`` to the count ``key`` of the job's report (progress a later failure keeps)."""
    job.report = {**job.report, key: job.report.get(key, 0) + n}


async def locked_job(session: AsyncSession, job_id: uuid.UUID, label: str) -> ErasureJob:
    """The job's row, locked for its rows step."""
    job = await session.get(ErasureJob, job_id, with_for_update=True)
    if job is None:
        raise NotFoundError(f"{label} job {job_id} not found")
    return job


@dataclass(frozen=True)
class _Requester:
    """Who requested a job, as its record keeps it (the ``Actor`` of its audit row)."""

    sub: str
    role: str


async def audit_done(
    session: AsyncSession,
    job: ErasureJob,
    *,
    action: str,
    target_type: str,
    report: dict[str, Any],
    note: str | None = None,
) -> None:
    """Write the audit row of a finished job, in the name of whoever requested it: its report,
    when it was requested and how many attempts it took."""
    details = {
        **report,
        "job_id": str(job.id),
        "requested_at": job.created_at.isoformat(),
        "attempts": job.attempts + 1,
    }
    if note is not None:
        details["note"] = note
    await write_audit(
        session,
        _Requester(job.requested_by, job.requested_role),
        tenant_id=job.tenant_id,
        action=action,
        target_type=target_type,
        target_id=str(job.subject_id),
        details=details,
    )


async def mark_done(session: AsyncSession, job_id: uuid.UUID, report: dict[str, Any]) -> None:
    """End the job with its final report, in the transaction of its rows step."""
    await session.execute(
        update(ErasureJob)
        .where(ErasureJob.id == job_id)
        .values(
            status="done",
            step="done",
            report=report,
            completed_at=utcnow(),
            updated_at=utcnow(),
            last_error=None,
        )
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


R = TypeVar("R")


class DurableDeletion(abc.ABC, Generic[R]):
    """One customer erasure or tenant deletion: records its job under the subject's row lock and
    walks the steps. The vectors step is the same for both; a subclass says what its subject is
    and does the objects and rows steps."""

    kind: ClassVar[str]
    """``erasure_jobs.kind``, also what the subject is called in messages."""
    label: ClassVar[str]
    """What the job is called in messages and its 503."""
    subject_is_tenant: ClassVar[bool] = False
    """The subject is the tenant itself: its job is recorded and finished on the platform-admin
    connection (the tenant row is locked, then deleted), and every exemplar of the tenant goes."""

    def __init__(self, db: Database, recognition: RecognitionRuntime) -> None:
        self.db = db
        self.recognition = recognition

    @abc.abstractmethod
    async def _lock_subject(self, session: AsyncSession, subject_id: uuid.UUID) -> bool:
        """Lock the subject's row (two requests make one job); whether it exists."""

    @abc.abstractmethod
    def _result(self, report: dict[str, Any]) -> R:
        """What a request answers for a finished job's report."""

    @abc.abstractmethod
    async def _objects(self, tenant_id: uuid.UUID, job_id: uuid.UUID, subject_id: uuid.UUID) -> None: ...

    @abc.abstractmethod
    async def _rows(self, tenant_id: uuid.UUID, job_id: uuid.UUID, subject_id: uuid.UUID) -> R: ...

    async def _request(self, principal: Actor, tenant_id: uuid.UUID, subject_id: uuid.UUID) -> R:
        """Record the job (or find the one under way) and run it to the end."""
        async with self.db.transaction(tenant_id, platform_admin=self.subject_is_tenant) as session:
            exists = await self._lock_subject(session, subject_id)
            found = await find_or_open(
                session, principal, tenant_id, self.kind, subject_id, subject_exists=exists
            )
            if found is None:
                raise NotFoundError(f"{self.kind} {subject_id} not found")
        if isinstance(found, dict):
            return self._result(found)
        return await self.run(tenant_id, found)

    async def run(self, tenant_id: uuid.UUID, job_id: uuid.UUID) -> R:
        """Take the job from the step it reached to the end; 503 (``ErasurePendingError``) when a
        dependency fails on the way."""
        step = "objects"
        try:
            async with self.db.transaction(tenant_id) as session:
                job = await session.get(ErasureJob, job_id)
                if job is None:
                    raise NotFoundError(f"{self.label} job {job_id} not found")
                step, subject_id, report = job.step, job.subject_id, dict(job.report)
            if step == "done":
                return self._result(report)
            if step == "objects":
                await self._objects(tenant_id, job_id, subject_id)
                step = "vectors"
            if step == "vectors":
                await self._vectors(tenant_id, job_id, subject_id)
                step = "rows"
            return await self._rows(tenant_id, job_id, subject_id)
        except (DomainError, asyncio.CancelledError):
            raise
        except Exception as exc:
            log.warning("%s job %s pending at step %s: %s", self.label, job_id, step, exc, exc_info=True)
            await note_failure(self.db, tenant_id, job_id, exc)
            raise ErasurePendingError(self.label, job_id, step, reason_of(exc)) from exc

    async def _vectors(self, tenant_id: uuid.UUID, job_id: uuid.UUID, subject_id: uuid.UUID) -> None:
        """Delete the subject's exemplars, then verify the index holds none of them."""
        customer_id = None if self.subject_is_tenant else subject_id
        query = delete(CustomerExemplar).where(CustomerExemplar.tenant_id == tenant_id)
        if customer_id is not None:
            query = query.where(CustomerExemplar.customer_id == customer_id)
        async with self.db.transaction(tenant_id) as session:
            result = await session.execute(query)
            removed = int(getattr(result, "rowcount", 0) or 0)
            job = await session.get(ErasureJob, job_id, with_for_update=True)
            if job is not None:
                add_count(job, "exemplars", removed)
        remaining = await vectors_remaining(self.recognition, tenant_id, customer_id)
        if remaining:
            raise StepIncompleteError(
                f"{remaining} vector(s) of {self.kind} {subject_id} remain in the index"
            )
        async with self.db.transaction(tenant_id) as session:
            await advance(session, job_id, "vectors", {"vectors_remaining": 0})
