"""Face ingest: from one embedding to a customer, a sighting and a visit — idempotent,
tenant-isolated, and safe under concurrency.

Concurrency rules:
- A brand-new face takes a per-tenant advisory lock, then re-checks the tenant's most recent
  exemplars in PostgreSQL (which may not be searchable in the index yet). Two simultaneous first
  events of one person therefore create ONE customer, with several API processes too.
- Everything about one customer (visit folding, exemplars, counters) happens under a row lock on
  that customer.
- The sighting insert is ``ON CONFLICT DO NOTHING`` on ``event_id``: a concurrent retry loses
  the race, rolls back, and returns the winner's stored answer.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import uuid
from collections import OrderedDict
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import msgspec
import numpy as np
from sqlalchemy import func, select, text, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from appliance.config import Settings
from appliance.contracts import EventFaceDetectedV1
from appliance.db.base import utcnow
from appliance.db.engine import Database
from appliance.db.models import Camera, Customer, CustomerExemplar, MergeSuggestion, Sighting, Tenant, Visit
from appliance.domain.auth.principal import Principal
from appliance.domain.events.schemas import FaceMatch
from appliance.lib.errors import ForbiddenError, InvalidError
from appliance.recognition.policy import (
    Decision,
    MatchKind,
    Thresholds,
    as_vector,
    best_match,
    choose_exemplar,
    decide,
    embedding_problem,
)
from appliance.recognition.staff import StaffGallery
from appliance.vectors.base import SearchHit, VectorItem

if TYPE_CHECKING:
    from appliance.vectors.pending import WriteBehindIndex

log = logging.getLogger("appliance.ingest")
EVENTS_CHANNEL = "appliance_events"
# Exemplars younger than this are re-checked in PostgreSQL before creating a customer: another
# API process may not have flushed them to the index yet (its write-behind flushes every
# second). This process's own pending vectors are searched in memory.
RECENT_WINDOW = timedelta(seconds=15)
RECENT_CACHE = 50_000
TOP_K = 5


def tenant_lock_key(tenant_id: uuid.UUID) -> int:
    """A stable signed 64-bit advisory-lock key for 'new customer in this tenant'."""
    digest = hashlib.blake2b(b"new-customer:" + tenant_id.bytes, digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def snapshot_prefix(tenant_id: uuid.UUID, site_id: uuid.UUID) -> str:
    return f"{tenant_id}/{site_id}/"


class IngestService:
    def __init__(
        self,
        db: Database,
        vectors: WriteBehindIndex,
        staff: StaffGallery,
        settings: Settings,
        dim: int,
    ) -> None:
        self.db = db
        self.vectors = vectors
        self.staff = staff
        self.settings = settings
        self.dim = dim
        self._tenant_locks: dict[uuid.UUID, asyncio.Lock] = {}
        # Recently created first exemplars (id → (customer, vector)), oldest first.
        self._created: OrderedDict[uuid.UUID, tuple[uuid.UUID, np.ndarray[Any, Any]]] = OrderedDict()
        self.thresholds = Thresholds(match=settings.match_threshold, uncertain=settings.uncertain_threshold)

    # -- validation ------------------------------------------------------------------------
    def check_event(self, principal: Principal, event: EventFaceDetectedV1) -> None:
        problem = embedding_problem(event.embedding, self.dim)
        if problem:
            raise InvalidError.field("embedding", problem)
        if event.site_id not in principal.site_ids:
            raise ForbiddenError("this API key may not post events for that site")
        if principal.camera_id is not None and event.camera_id != principal.camera_id:
            raise ForbiddenError("this API key is bound to another camera")
        snapshot_key = event.snapshot_key if isinstance(event.snapshot_key, str) else None
        assert principal.tenant_id is not None
        if snapshot_key and not snapshot_key.startswith(snapshot_prefix(principal.tenant_id, event.site_id)):
            raise InvalidError.field("snapshot_key", "not a snapshot key issued for this site")

    # -- the flow --------------------------------------------------------------------------
    async def ingest(self, principal: Principal, event: EventFaceDetectedV1) -> FaceMatch:
        assert principal.tenant_id is not None
        tenant_id = principal.tenant_id
        self.check_event(principal, event)
        vector = as_vector(event.embedding)

        stored = await self._stored_answer(tenant_id, event.event_id)
        if stored is not None:
            return stored

        staff_id = await self._claimed_staff(tenant_id, event)
        if not event.is_staff_local:
            staff_id = await self.staff.match(tenant_id, event.site_id, vector, self.settings.staff_threshold)
        if event.is_staff_local or staff_id is not None:
            return await self._record_staff(tenant_id, event, staff_id)

        hits = await self.vectors.search(tenant_id, event.embedding, TOP_K)
        decision = decide(hits, self.thresholds)
        created = False
        if decision.kind is MatchKind.NEW:
            decision, created = await self._resolve_new(tenant_id, event, vector, decision)
        answer, added, removed = await self._record_customer(
            tenant_id, event, vector, decision, hits, created
        )
        # The index follows PostgreSQL only after the commit: a failed transaction leaves it
        # untouched, and a crash in between is repaired by `appliance reindex`.
        if removed:
            await self.vectors.delete(tenant_id, removed)
        if added:
            await self.vectors.upsert(tenant_id, added)
        return answer

    async def _claimed_staff(self, tenant_id: uuid.UUID, event: EventFaceDetectedV1) -> uuid.UUID | None:
        """The staff member the edge matched, if it names one of this tenant's staff."""
        claimed = event.staff_id if isinstance(event.staff_id, uuid.UUID) else None
        if claimed is None or not event.is_staff_local:
            return None
        gallery = await self.staff.gallery(tenant_id)
        return claimed if any(entry[0] == claimed for entry in gallery.entries) else None

    async def _stored_answer(self, tenant_id: uuid.UUID, event_id: uuid.UUID) -> FaceMatch | None:
        async with self.db.transaction(tenant_id) as session:
            response = (
                await session.execute(select(Sighting.response).where(Sighting.id == event_id))
            ).scalar()
        return msgspec.convert(response, FaceMatch) if response is not None else None

    async def _check_camera(self, session: AsyncSession, event: EventFaceDetectedV1) -> None:
        camera_site = (
            await session.execute(select(Camera.site_id).where(Camera.id == event.camera_id))
        ).scalar()
        if camera_site is None:
            raise InvalidError.field("camera_id", "unknown camera")
        if camera_site != event.site_id:
            raise InvalidError.field("camera_id", "this camera belongs to another site")

    async def _record_staff(
        self, tenant_id: uuid.UUID, event: EventFaceDetectedV1, staff_id: uuid.UUID | None
    ) -> FaceMatch:
        answer = FaceMatch(
            event_id=event.event_id,
            customer_id=None,
            visit_id=None,
            is_new_customer=False,
            is_staff=True,
            staff_id=staff_id,
            similarity=None,
            uncertain=False,
        )
        async with self.db.transaction(tenant_id) as session:
            await self._check_camera(session, event)
            if not await self._insert_sighting(session, tenant_id, event, answer, None):
                return await self._replay(tenant_id, event.event_id)
        return answer

    async def _record_customer(
        self,
        tenant_id: uuid.UUID,
        event: EventFaceDetectedV1,
        vector: np.ndarray[Any, Any],
        decision: Decision,
        hits: list[SearchHit],
        created: bool,
    ) -> tuple[FaceMatch, list[VectorItem], list[uuid.UUID]]:
        async with self.db.transaction(tenant_id) as session:
            if not created:  # _resolve_new checked it before creating the customer
                await self._check_camera(session, event)
            is_new = created
            customer: Customer | None = None
            if decision.customer_id is not None:
                customer = await self._lock_customer(session, decision.customer_id)
                if customer is None:  # erased between search and now: treat as new
                    decision = Decision(kind=MatchKind.NEW, customer_id=None, similarity=decision.similarity)
            if customer is None:
                customer = Customer(
                    id=uuid.uuid4(), tenant_id=tenant_id, visit_count=0, exemplar_count=0, tags=[]
                )
                session.add(customer)
                await session.flush()
                is_new = True

            visit = await self._fold_visit(session, tenant_id, customer, event, is_new)
            uncertain = decision.kind is MatchKind.UNCERTAIN
            answer = FaceMatch(
                event_id=event.event_id,
                customer_id=customer.id,
                visit_id=visit.id,
                is_new_customer=is_new,
                is_staff=False,
                similarity=None if decision.similarity is None else round(decision.similarity, 6),
                uncertain=uncertain,
            )
            if not await self._insert_sighting(session, tenant_id, event, answer, customer.id):
                await session.rollback()
                return await self._replay(tenant_id, event.event_id), [], []
            added, removed = (
                ([], [])
                if created
                else await self._update_exemplars(session, tenant_id, customer, event, vector)
            )
            self._update_customer(customer, event, is_new)
            if uncertain:
                await self._suggest_merge(session, tenant_id, customer.id, event, hits)
            await self._notify(session, tenant_id, event, answer)
        return answer, added, removed

    async def _resolve_new(
        self, tenant_id: uuid.UUID, event: EventFaceDetectedV1, vector: np.ndarray[Any, Any], first: Decision
    ) -> tuple[Decision, bool]:
        """Create the customer for a face nobody matched — once, even when the same new person
        arrives in several concurrent requests or API processes.

        One short transaction under a per-tenant lock (an asyncio lock in this process, a
        PostgreSQL advisory lock across processes): re-check what committed while waiting (this
        process's pending vectors in memory, other processes' recent exemplars in PostgreSQL),
        then insert the customer with its first exemplar and put the vector in the pending
        index before the commit releases the lock. The visit and sighting follow in the main
        transaction; should that fail, a retry of the event finds this customer and completes it.
        """
        lock = self._tenant_locks.setdefault(tenant_id, asyncio.Lock())
        async with lock, self.db.transaction(tenant_id) as session:
            await self._check_camera(session, event)
            await session.execute(select(func.pg_advisory_xact_lock(tenant_lock_key(tenant_id))))
            again = decide(self.vectors.search_pending(tenant_id, event.embedding, TOP_K), self.thresholds)
            if again.kind is not MatchKind.NEW:
                return again, False
            recent_id, recent_score = await self._recent_match(session, vector)
            if recent_id is not None and recent_score >= self.thresholds.match:
                return Decision(
                    kind=MatchKind.RETURNING, customer_id=recent_id, similarity=recent_score
                ), False
            customer = Customer(
                id=uuid.uuid4(), tenant_id=tenant_id, visit_count=0, exemplar_count=1, tags=[]
            )
            session.add(customer)
            await session.flush()
            exemplar = CustomerExemplar(
                id=uuid.uuid4(),
                tenant_id=tenant_id,
                customer_id=customer.id,
                sighting_id=event.event_id,
                embedding=list(event.embedding),
                quality=event.quality,
                created_at=utcnow(),
            )
            session.add(exemplar)
            await session.flush()
            self._remember(exemplar.id, customer.id, vector)
            await self.vectors.upsert(
                tenant_id, [VectorItem(id=exemplar.id, customer_id=customer.id, vector=list(event.embedding))]
            )
        return Decision(kind=MatchKind.NEW, customer_id=customer.id, similarity=first.similarity), True

    async def _replay(self, tenant_id: uuid.UUID, event_id: uuid.UUID) -> FaceMatch:
        stored = await self._stored_answer(tenant_id, event_id)
        if stored is None:  # pragma: no cover - the conflicting row must exist
            raise InvalidError.field("event_id", "conflicts with an event of another tenant")
        return stored

    async def _recent_match(
        self, session: AsyncSession, vector: np.ndarray[Any, Any]
    ) -> tuple[uuid.UUID | None, float]:
        """Best match among exemplars of customers created in the last ``RECENT_WINDOW``.

        Only recently created customers can be missing from the index. Exemplars this process
        created are known in memory; only other processes' embeddings are read (parsing REAL[]
        arrays is the expensive part)."""
        since = utcnow() - RECENT_WINDOW
        rows = (
            await session.execute(
                select(CustomerExemplar.id, CustomerExemplar.customer_id)
                .join(Customer, Customer.id == CustomerExemplar.customer_id)
                .where(Customer.created_at >= since, CustomerExemplar.created_at >= since)
            )
        ).all()
        unknown = [exemplar_id for exemplar_id, _ in rows if exemplar_id not in self._created]
        if unknown:
            fetched = await session.execute(
                select(CustomerExemplar.id, CustomerExemplar.customer_id, CustomerExemplar.embedding).where(
                    CustomerExemplar.id.in_(unknown)
                )
            )
            for exemplar_id, customer_id, embedding in fetched:
                self._remember(exemplar_id, customer_id, as_vector(embedding))
        gallery = [self._created[exemplar_id] for exemplar_id, _ in rows if exemplar_id in self._created]
        return best_match(vector, gallery)

    def _remember(self, exemplar_id: uuid.UUID, customer_id: uuid.UUID, vector: np.ndarray[Any, Any]) -> None:
        self._created[exemplar_id] = (customer_id, vector)
        while len(self._created) > RECENT_CACHE:
            self._created.popitem(last=False)

    async def _lock_customer(self, session: AsyncSession, customer_id: uuid.UUID) -> Customer | None:
        result = await session.execute(select(Customer).where(Customer.id == customer_id).with_for_update())
        return result.scalar()

    async def _gap(self, session: AsyncSession, tenant_id: uuid.UUID) -> timedelta:
        minutes = (
            await session.execute(select(Tenant.visit_gap_minutes).where(Tenant.id == tenant_id))
        ).scalar()
        return timedelta(minutes=minutes or 30)

    async def _fold_visit(
        self,
        session: AsyncSession,
        tenant_id: uuid.UUID,
        customer: Customer,
        event: EventFaceDetectedV1,
        is_new: bool,
    ) -> Visit:
        """Sightings of one customer at one site within the gap window are one visit."""
        at = event.captured_at
        gap = await self._gap(session, tenant_id)
        visit = (
            await session.execute(
                select(Visit)
                .where(
                    Visit.customer_id == customer.id,
                    Visit.site_id == event.site_id,
                    Visit.last_seen >= at - gap,
                    Visit.first_seen <= at + gap,
                )
                .order_by(Visit.last_seen.desc())
                .limit(1)
                .with_for_update()
            )
        ).scalar()
        snapshot = event.snapshot_key if isinstance(event.snapshot_key, str) else None
        gender = event.gender if isinstance(event.gender, str) else None
        age = event.age if isinstance(event.age, float | int) else None
        if visit is None:
            visit = Visit(
                id=uuid.uuid4(),
                tenant_id=tenant_id,
                site_id=event.site_id,
                customer_id=customer.id,
                first_seen=at,
                last_seen=at,
                sightings=1,
                is_new_customer=is_new or customer.visit_count == 0,
                best_snapshot_key=snapshot,
                best_quality=event.quality if snapshot else 0.0,
                gender=gender,
                age=age,
            )
            session.add(visit)
            customer.visit_count += 1
        else:
            visit.first_seen = min(visit.first_seen, at)
            visit.last_seen = max(visit.last_seen, at)
            visit.sightings += 1
            if snapshot and event.quality > visit.best_quality:
                visit.best_snapshot_key, visit.best_quality = snapshot, event.quality
            if gender and visit.gender is None:
                visit.gender = gender
            if age is not None and visit.age is None:
                visit.age = age
        await session.flush()
        return visit

    async def _insert_sighting(
        self,
        session: AsyncSession,
        tenant_id: uuid.UUID,
        event: EventFaceDetectedV1,
        answer: FaceMatch,
        customer_id: uuid.UUID | None,
    ) -> bool:
        """False when the event id is already recorded (a concurrent retry won)."""
        values: dict[str, Any] = {
            "id": event.event_id,
            "tenant_id": tenant_id,
            "site_id": event.site_id,
            "camera_id": event.camera_id,
            "customer_id": customer_id,
            "staff_id": answer.staff_id,
            "visit_id": answer.visit_id,
            "captured_at": event.captured_at,
            "received_at": utcnow(),
            "embedding": list(event.embedding),
            "det_score": event.det_score,
            "quality": event.quality,
            "similarity": answer.similarity,
            "uncertain": answer.uncertain,
            "is_staff": answer.is_staff,
            "is_new_customer": answer.is_new_customer,
            "gender": event.gender if isinstance(event.gender, str) else None,
            "age": event.age if isinstance(event.age, float | int) else None,
            "image_path": event.snapshot_key if isinstance(event.snapshot_key, str) else None,
            "model": f"{event.model.name}@{event.model.version}",
            "response": msgspec.to_builtins(answer),
        }
        result = await session.execute(
            insert(Sighting)
            .values(**values)
            .on_conflict_do_nothing(index_elements=["id"])
            .returning(Sighting.id)
        )
        return result.scalar() is not None

    async def _update_exemplars(
        self,
        session: AsyncSession,
        tenant_id: uuid.UUID,
        customer: Customer,
        event: EventFaceDetectedV1,
        vector: np.ndarray[Any, Any],
    ) -> tuple[list[VectorItem], list[uuid.UUID]]:
        """Returns the vectors to add to and the ids to remove from the index after commit."""
        kept_rows = (
            (
                await session.execute(
                    select(CustomerExemplar)
                    .where(CustomerExemplar.customer_id == customer.id)
                    .order_by(CustomerExemplar.created_at)
                )
            )
            .scalars()
            .all()
        )
        kept = [(as_vector(row.embedding), row.quality) for row in kept_rows]
        choice = choose_exemplar(
            vector,
            event.quality,
            kept,
            max_exemplars=self.settings.max_exemplars,
            diversity=self.settings.exemplar_diversity,
        )
        if choice.action == "skip":
            return [], []
        removed: list[uuid.UUID] = []
        if choice.action == "replace" and choice.replace_index is not None:
            old = kept_rows[choice.replace_index]
            await session.delete(old)
            removed.append(old.id)
        exemplar = CustomerExemplar(
            id=uuid.uuid4(),
            tenant_id=tenant_id,
            customer_id=customer.id,
            sighting_id=event.event_id,
            embedding=list(event.embedding),
            quality=event.quality,
            created_at=utcnow(),
        )
        session.add(exemplar)
        await session.flush()
        customer.exemplar_count = len(kept) + (1 if choice.action == "add" else 0)
        return [VectorItem(id=exemplar.id, customer_id=customer.id, vector=list(event.embedding))], removed

    def _update_customer(self, customer: Customer, event: EventFaceDetectedV1, is_new: bool) -> None:
        at: datetime = event.captured_at
        customer.first_seen = at if customer.first_seen is None else min(customer.first_seen, at)
        customer.last_seen = at if customer.last_seen is None else max(customer.last_seen, at)
        if isinstance(event.gender, str) and customer.gender is None:
            customer.gender = event.gender
        if isinstance(event.age, float | int) and customer.age is None:
            customer.age = float(event.age)

    async def _suggest_merge(
        self,
        session: AsyncSession,
        tenant_id: uuid.UUID,
        customer_id: uuid.UUID,
        event: EventFaceDetectedV1,
        hits: list[SearchHit],
    ) -> None:
        from appliance.recognition.policy import best_per_customer

        ranked = best_per_customer(hits)
        similarity = ranked[0].score if ranked else 0.0
        # The sighting went to the best candidate; the runner-up (if any, and close) is the
        # other possibility. Without one, the suggestion records the doubt itself.
        runner_up = next((h for h in ranked[1:] if h.score >= self.thresholds.uncertain), None)
        session.add(
            MergeSuggestion(
                id=uuid.uuid4(),
                tenant_id=tenant_id,
                customer_id=customer_id,
                candidate_id=runner_up.customer_id if runner_up else customer_id,
                sighting_id=event.event_id,
                similarity=runner_up.score if runner_up else similarity,
                status="open",
                created_at=utcnow(),
            )
        )
        await session.flush()

    async def _notify(
        self, session: AsyncSession, tenant_id: uuid.UUID, event: EventFaceDetectedV1, answer: FaceMatch
    ) -> None:
        """Delivered at commit to every API process listening (the live stream)."""
        payload = {
            "type": "sighting",
            "tenant_id": str(tenant_id),
            "site_id": str(event.site_id),
            "camera_id": str(event.camera_id),
            "event_id": str(event.event_id),
            "customer_id": str(answer.customer_id),
            "visit_id": str(answer.visit_id),
            "is_new_customer": answer.is_new_customer,
            "captured_at": event.captured_at.isoformat(),
            "snapshot_key": event.snapshot_key if isinstance(event.snapshot_key, str) else None,
        }
        await session.execute(
            text("SELECT pg_notify(:channel, :payload)"),
            {"channel": EVENTS_CHANNEL, "payload": json.dumps(payload)},
        )


async def touch_customer_stats(session: AsyncSession, customer_id: uuid.UUID) -> None:
    """Recompute a customer's counters from its visits (after merge/split)."""
    stats = (
        await session.execute(
            select(func.count(Visit.id), func.min(Visit.first_seen), func.max(Visit.last_seen)).where(
                Visit.customer_id == customer_id
            )
        )
    ).one()
    exemplars = (
        await session.execute(
            select(func.count(CustomerExemplar.id)).where(CustomerExemplar.customer_id == customer_id)
        )
    ).scalar_one()
    await session.execute(
        update(Customer)
        .where(Customer.id == customer_id)
        .values(visit_count=stats[0], first_seen=stats[1], last_seen=stats[2], exemplar_count=exemplars)
    )
