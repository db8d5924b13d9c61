"""Retention purge: delete raw snapshots older than the retention period, prove they are gone,
then forget them in the database.

Age is when the snapshot was *stored*, never the capture time the edge claims (a claimed
``captured_at`` in 2099 must not make a face immortal): a sighting's ``received_at`` (the
server's clock when the event arrived) and the object's own last-modified time in the store.

Per tenant, in that tenant's row-level-security context, batch by batch:

1. select sightings that still hold an ``image_path`` and were received before the cutoff;
2. delete each object from ``faces-raw`` and **verify** it is gone (``exists()`` is false);
3. null ``sightings.image_path`` (and ``visits.best_snapshot_key`` pointing at the same key)
   for verified objects only. A failed verification leaves the row as it was, so the next
   run retries it, and is counted in ``failed``;
4. one ``retention.purge`` audit row per tenant that had candidates.

Then a sweep of the bucket: every object in ``faces-raw`` last modified before the cutoff is
deleted and verified the same way — an orphan (an upload whose event never arrived, a deleted
tenant) as well as one a sighting still references (an event delivered long after its upload);
the references to the latter are then cleared in their tenant and audited.

On S3 the bucket lifecycle rule expires raw objects as well; on the local store this purge
is the only expiry. Object store calls are blocking, so they run in a worker thread and the
purge can share an event loop with the API.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime, timedelta
from typing import Any

import msgspec
from sqlalchemy import delete, func, select, tuple_, update
from sqlalchemy.ext.asyncio import AsyncSession

from appliance.db.base import utcnow
from appliance.db.engine import Database
from appliance.db.models import ExemplarTombstone, Sighting, Tenant, UserSession, Visit
from appliance.domain.audit.services import record_audit
from appliance.domain.auth.principal import Principal, Role
from appliance.jobs.purge_report import Outcome, PurgeAbortedError, PurgeReport, TenantPurge
from appliance.storage.base import (
    RAW_BUCKET,
    InvalidKeyError,
    ObjectInfo,
    ObjectStore,
    ObjectStoreError,
    validate_key,
)

BATCH_SIZE = 500
MAX_CONSECUTIVE_ERRORS = 25
MAX_ERROR_MESSAGES = 20
PURGE_PRINCIPAL = Principal(sub="system:purge", role=Role.SYSTEM_ADMIN, tenant_id=None)
AUDIT_ACTION = "retention.purge"
TOMBSTONE_DAYS = 1
"""Days a deleted exemplar's tombstone is kept: an API process that has not read a tenant for
half of that loads it afresh (``vectors/exact.py``)."""
log = logging.getLogger("appliance.purge")


class PurgeService:
    def __init__(
        self,
        db: Database,
        store: ObjectStore,
        clock: Callable[[], datetime] = utcnow,
        *,
        batch_size: int = BATCH_SIZE,
    ) -> None:
        self.db = db
        self.store = store
        self.clock = clock
        self.batch_size = batch_size
        self._consecutive_errors = 0

    async def run(
        self,
        older_than: timedelta,
        dry_run: bool = False,
        progress: Callable[[str], None] | None = None,
    ) -> PurgeReport:
        """Purge raw snapshots older than ``older_than``; ``dry_run`` only counts.

        Raises :class:`ObjectStoreError` when the raw bucket cannot be listed at all, and
        :class:`PurgeAbortedError` after too many consecutive store errors.
        """
        if older_than <= timedelta(0):
            raise ValueError("older_than must be positive")
        now = self.clock()
        if now.tzinfo is None:
            raise ValueError("the purge clock must return timezone-aware datetimes")
        report = PurgeReport(cutoff=now - older_than, dry_run=dry_run)
        say = progress or (lambda _msg: None)
        self._consecutive_errors = 0

        # Fail fast (one clear error) when the store is unreachable or the bucket is missing.
        await asyncio.to_thread(lambda: next(iter(self.store.list(RAW_BUCKET)), None))

        tenant_ids = await self._tenant_ids()
        report.tenants = len(tenant_ids)
        for index, tenant_id in enumerate(tenant_ids, 1):
            say(f"tenant {index}/{len(tenant_ids)} {tenant_id}")
            counts = await self._purge_tenant(tenant_id, report, say)
            if counts.candidates:
                report.per_tenant.append(counts)
            if not dry_run:
                report.tombstones_pruned += await self._prune_tombstones(tenant_id, now)
        say("sweeping unreferenced objects")
        await self._sweep_orphans(tenant_ids, report, say)
        report.sessions_expired = await self._expired_sessions(dry_run)
        log.info(
            "retention purge%s: cutoff %s, %d candidates, %d cleared, %d orphans, %d failed",
            " (dry run)" if dry_run else "",
            report.cutoff.isoformat(),
            report.candidates,
            report.verified,
            report.orphans,
            report.failed,
        )
        return report

    # -- sightings -------------------------------------------------------------------------------

    async def _prune_tombstones(self, tenant_id: uuid.UUID, now: datetime) -> int:
        async with self.db.transaction(tenant_id) as session:
            result = await session.execute(
                delete(ExemplarTombstone).where(
                    ExemplarTombstone.tenant_id == tenant_id,
                    ExemplarTombstone.deleted_at < now - timedelta(days=TOMBSTONE_DAYS),
                )
            )
        return int(getattr(result, "rowcount", 0) or 0)

    async def _expired_sessions(self, dry_run: bool) -> int:
        # Only a platform-admin transaction sees sessions it does not name, and only expired ones
        # (migration 0013); an expired session can no longer be refreshed, so nothing is lost.
        async with self.db.transaction(None, platform_admin=True) as session:
            expired = UserSession.expires_at < func.now()
            if dry_run:
                counted = await session.execute(select(func.count()).select_from(UserSession).where(expired))
                return int(counted.scalar_one())
            removed = await session.execute(
                delete(UserSession).where(expired).execution_options(synchronize_session=False)
            )
            return int(getattr(removed, "rowcount", 0) or 0)

    async def _tenant_ids(self) -> list[uuid.UUID]:
        async with self.db.transaction(None, platform_admin=True) as session:
            rows = await session.execute(select(Tenant.id).order_by(Tenant.created_at, Tenant.id))
            return list(rows.scalars())

    async def _purge_tenant(
        self, tenant_id: uuid.UUID, report: PurgeReport, say: Callable[[str], None]
    ) -> TenantPurge:
        counts = TenantPurge(tenant_id=tenant_id)
        after: tuple[datetime, uuid.UUID] | None = None
        while True:
            # One transaction per batch: objects are deleted before the rows are updated, so
            # an interrupted run leaves rows pointing at missing objects, which the next run
            # finds already missing, verifies and clears.
            async with self.db.transaction(tenant_id) as session:
                query = (
                    select(Sighting.id, Sighting.received_at, Sighting.image_path)
                    .where(
                        # Explicit as well as RLS: an owner/superuser connection bypasses policies.
                        Sighting.tenant_id == tenant_id,
                        Sighting.image_path.is_not(None),
                        Sighting.received_at < report.cutoff,
                    )
                    .order_by(Sighting.received_at, Sighting.id)
                    .limit(self.batch_size)
                )
                if after is not None:
                    # Keyset paging: rows whose verification failed stay behind us, not in a loop.
                    query = query.where(tuple_(Sighting.received_at, Sighting.id) > tuple_(*after))
                rows = (await session.execute(query)).all()
                if not rows:
                    break
                after = (rows[-1].received_at, rows[-1].id)
                keys = sorted({row.image_path for row in rows if row.image_path})
                outcomes = await self._remove(keys, report)
                cleared: list[uuid.UUID] = []
                for row in rows:
                    outcome = outcomes[row.image_path or ""]
                    counts.candidates += 1
                    if outcome == "failed":
                        counts.failed += 1
                    elif outcome == "missing":
                        counts.already_missing += 1
                    elif outcome == "deleted":
                        counts.deleted += 1
                    if outcome in ("deleted", "missing") and not report.dry_run:
                        cleared.append(row.id)
                gone = [key for key, outcome in outcomes.items() if outcome in ("deleted", "missing")]
                if cleared:
                    await session.execute(
                        update(Sighting)
                        .where(Sighting.tenant_id == tenant_id, Sighting.id.in_(cleared))
                        .values(image_path=None)
                        .execution_options(synchronize_session=False)
                    )
                    counts.verified += len(cleared)
                if gone and not report.dry_run:
                    result = await session.execute(
                        update(Visit)
                        .where(Visit.tenant_id == tenant_id, Visit.best_snapshot_key.in_(gone))
                        .values(best_snapshot_key=None)
                        .execution_options(synchronize_session=False)
                    )
                    counts.visits_cleared += int(getattr(result, "rowcount", 0) or 0)
            say(f"tenant {tenant_id}: {counts.candidates} checked, {counts.verified} cleared")
            if len(rows) < self.batch_size:
                break

        for name in ("candidates", "deleted", "verified", "already_missing", "failed", "visits_cleared"):
            setattr(report, name, getattr(report, name) + getattr(counts, name))
        if counts.candidates and not report.dry_run:
            async with self.db.transaction(tenant_id) as session:
                details = msgspec.to_builtins(counts)
                del details["tenant_id"]
                await _audit(session, tenant_id, report, details)
        return counts

    # -- orphans ---------------------------------------------------------------------------------

    async def _sweep_orphans(
        self, tenant_ids: Sequence[uuid.UUID], report: PurgeReport, say: Callable[[str], None]
    ) -> None:
        """Every raw object stored before the cutoff goes, referenced or not (by its own time)."""
        listing = self.store.list(RAW_BUCKET)
        checked = 0
        while True:
            batch = await asyncio.to_thread(_take, listing, self.batch_size)
            if not batch:
                return
            checked += len(batch)
            old: set[str] = set()
            for info in batch:
                if info.last_modified >= report.cutoff:
                    continue
                try:
                    old.add(validate_key(info.key))
                except InvalidKeyError:
                    # Never written by the appliance (and never referenced): leave it to a human.
                    log.warning("orphan sweep: skipping %s/%r, not a valid object key", RAW_BUCKET, info.key)
            if old:
                owners, candidates = await self._referenced(tenant_ids, old, report.cutoff)
                orphans = sorted(old - set(owners) - candidates)
                for key in candidates:  # the sightings pass owns these (and counted them)
                    owners.pop(key, None)
                report.orphans += len(orphans)
                if orphans and not report.dry_run:
                    outcomes = await self._remove(orphans, report)
                    report.orphans_deleted += sum(1 for o in outcomes.values() if o in ("deleted", "missing"))
                    report.failed += sum(1 for o in outcomes.values() if o == "failed")
                if owners:
                    await self._expire_referenced(owners, report)
            say(f"orphan sweep: {checked} objects checked, {report.orphans} unreferenced")

    async def _expire_referenced(self, owners: dict[str, set[uuid.UUID]], report: PurgeReport) -> None:
        """Objects stored before the cutoff that rows still reference (received later than they
        were stored): delete, verify, clear those references, one audit row per tenant."""
        report.stored_expired += len(owners)
        if report.dry_run:
            return
        outcomes = await self._remove(sorted(owners), report)
        report.failed += sum(1 for o in outcomes.values() if o == "failed")
        gone = [key for key, outcome in outcomes.items() if outcome in ("deleted", "missing")]
        report.deleted += sum(1 for o in outcomes.values() if o == "deleted")
        by_tenant: dict[uuid.UUID, list[str]] = {}
        for key in gone:
            for tenant_id in owners[key]:
                by_tenant.setdefault(tenant_id, []).append(key)
        for tenant_id, keys in by_tenant.items():
            async with self.db.transaction(tenant_id) as session:
                cleared = await session.execute(
                    update(Sighting)
                    .where(Sighting.tenant_id == tenant_id, Sighting.image_path.in_(keys))
                    .values(image_path=None)
                    .execution_options(synchronize_session=False)
                )
                visits = await session.execute(
                    update(Visit)
                    .where(Visit.tenant_id == tenant_id, Visit.best_snapshot_key.in_(keys))
                    .values(best_snapshot_key=None)
                    .execution_options(synchronize_session=False)
                )
                sightings_cleared = int(getattr(cleared, "rowcount", 0) or 0)
                visits_cleared = int(getattr(visits, "rowcount", 0) or 0)
                report.verified += sightings_cleared
                report.visits_cleared += visits_cleared
                await _audit(
                    session,
                    tenant_id,
                    report,
                    {
                        "by": "object stored before the cutoff",
                        "deleted": len(keys),
                        "verified": sightings_cleared,
                        "visits_cleared": visits_cleared,
                    },
                )

    async def _referenced(
        self, tenant_ids: Sequence[uuid.UUID], keys: set[str], cutoff: datetime
    ) -> tuple[dict[str, set[uuid.UUID]], set[str]]:
        """Of ``keys``: those some sighting or visit still points at, with the tenants that do;
        and those a sighting received before the cutoff points at (the sightings pass's)."""
        found: dict[str, set[uuid.UUID]] = {}
        candidates: set[str] = set()
        wanted = list(keys)
        for tenant_id in tenant_ids:
            async with self.db.transaction(tenant_id) as session:
                for column, tenant_column in (
                    (Sighting.image_path, Sighting.tenant_id),
                    (Visit.best_snapshot_key, Visit.tenant_id),
                ):
                    rows = await session.execute(
                        select(column).where(tenant_column == tenant_id, column.in_(wanted)).distinct()
                    )
                    for key in rows.scalars():
                        if key:
                            found.setdefault(key, set()).add(tenant_id)
                rows = await session.execute(
                    select(Sighting.image_path)
                    .where(
                        Sighting.tenant_id == tenant_id,
                        Sighting.image_path.in_(wanted),
                        Sighting.received_at < cutoff,
                    )
                    .distinct()
                )
                candidates.update(key for key in rows.scalars() if key)
        return found, candidates

    # -- the object store ------------------------------------------------------------------------

    async def _remove(self, keys: Sequence[str], report: PurgeReport) -> dict[str, Outcome]:
        return await asyncio.to_thread(self._remove_sync, keys, report)

    def _remove_sync(self, keys: Sequence[str], report: PurgeReport) -> dict[str, Outcome]:
        outcomes: dict[str, Outcome] = {}
        for key in keys:
            outcomes[key] = self._remove_one(key, report)
        return outcomes

    def _remove_one(self, key: str, report: PurgeReport) -> Outcome:
        try:
            present = self.store.exists(RAW_BUCKET, key)
            if report.dry_run:
                outcome: Outcome = "present" if present else "missing"
            elif not present:
                outcome = "missing"
            else:
                self.store.delete(RAW_BUCKET, key)
                if self.store.exists(RAW_BUCKET, key):
                    self._error(report, f"{RAW_BUCKET}/{key}: still present after the delete")
                    return "failed"
                outcome = "deleted"
        except InvalidKeyError as exc:
            # A bad reference in one row, not a sick store: count it, never abort for it.
            self._error(report, str(exc), store_failure=False)
            return "failed"
        except ObjectStoreError as exc:
            self._error(report, str(exc))
            if self._consecutive_errors >= MAX_CONSECUTIVE_ERRORS:
                raise PurgeAbortedError(
                    f"purge aborted after {MAX_CONSECUTIVE_ERRORS} consecutive object store errors;"
                    f" last: {exc}",
                    report,
                ) from exc
            return "failed"
        self._consecutive_errors = 0
        return outcome

    def _error(self, report: PurgeReport, message: str, *, store_failure: bool = True) -> None:
        if store_failure:
            self._consecutive_errors += 1
        if len(report.errors) < MAX_ERROR_MESSAGES:
            report.errors.append(message)


async def _audit(
    session: AsyncSession, tenant_id: uuid.UUID, report: PurgeReport, counts: dict[str, Any]
) -> None:
    """One ``retention.purge`` audit row in the tenant: the cutoff and what this pass did."""
    await record_audit(
        session,
        PURGE_PRINCIPAL,
        tenant_id=tenant_id,
        action=AUDIT_ACTION,
        target_type="sightings",
        target_id=None,
        details={"cutoff": report.cutoff.isoformat(), **counts},
    )


def _take(iterator: Iterator[ObjectInfo], n: int) -> list[ObjectInfo]:
    out: list[ObjectInfo] = []
    for item in iterator:
        out.append(item)
        if len(out) >= n:
            break
    return out
