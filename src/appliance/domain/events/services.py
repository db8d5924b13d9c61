"""Face ingest: from one embedding to a customer, a sighting and a visit — idempotent,
tenant-isolated, and safe under concurrency.

Concurrency rules:
- The search runs on what this process has read of the tenant's exemplars; the write
  transaction's first round trip reads what committed since (the change cursor) and the match is
  checked again with it, so no committed exemplar is missed (ADR 0008).
- A brand-new face goes to ``NewCustomerBatcher`` (``newcomers.py``): under a per-tenant lock it
  is checked again against every exemplar committed before the lock. Two simultaneous first
  events of one person therefore create ONE customer, with several API processes too.
- Everything about one customer (visit folding, exemplars, counters) happens under a row lock on
  that customer; the visit is read after the lock.
- The sighting's primary key is ``event_id``: a concurrent delivery of the same event fails its
  insert (unique violation), rolls its whole transaction back, and returns the winner's answer.

The SQL is in ``statements.py`` (two round trips per event, ADR 0008).
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass, field
from typing import Any

import msgspec
from psycopg.errors import UniqueViolation
from sqlalchemy import select

from appliance.config import Settings
from appliance.contracts import EventFaceDetectedV1
from appliance.db.engine import Database, FastTransaction, Statement
from appliance.db.models import Sighting
from appliance.db.types import embedding_bytes, embedding_matrix
from appliance.domain.auth.principal import Principal
from appliance.domain.events import statements
from appliance.domain.events.embedders import TenantEmbedders
from appliance.domain.events.newcomers import TOP_K, NewCustomerBatcher, camera_problem, customer_answer
from appliance.domain.events.notify import LiveNotifier
from appliance.domain.events.schemas import FaceMatch
from appliance.lib.errors import ConflictError, ForbiddenError, InvalidError
from appliance.lib.metrics import ingest_stage
from appliance.recognition.policy import (
    Decision,
    MatchKind,
    Thresholds,
    Vector,
    as_vector,
    choose_exemplar,
    decide,
    embedding_problem,
)
from appliance.recognition.staff import StaffGallery
from appliance.vectors.base import Searched, SearchHit, VectorIndex, VectorItem

log = logging.getLogger("appliance.ingest")

MAX_REMATCHES = 3


class _Rematch(Exception):
    """Exemplars committed since the search change which customer the face matches."""

    def __init__(self, hits: list[SearchHit], since: Any) -> None:
        self.hits, self.since = hits, since


def snapshot_prefix(tenant_id: uuid.UUID, site_id: uuid.UUID) -> str:
    return f"{tenant_id}/{site_id}/"


@dataclass(eq=False, repr=False)  # repr=False: the settings hold database passwords
class IngestService:
    db: Database
    vectors: VectorIndex
    staff: StaffGallery
    settings: Settings
    dim: int
    notifier: LiveNotifier = field(init=False)
    thresholds: Thresholds = field(init=False)
    newcomers: NewCustomerBatcher = field(init=False)
    embedders: TenantEmbedders = field(init=False)

    def __post_init__(self) -> None:
        self.notifier = LiveNotifier(self.db)
        self.thresholds = Thresholds(
            match=self.settings.match_threshold, uncertain=self.settings.uncertain_threshold
        )
        self.newcomers = NewCustomerBatcher(self.db, self.vectors, self.thresholds)
        self.embedders = TenantEmbedders(self.db)

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
        await self.embedders.check(tenant_id, event)  # one model's vectors per tenant
        vector = as_vector(event.embedding)

        staff_id = await self._claimed_staff(tenant_id, event)
        if not event.is_staff_local:
            staff_id = await self.staff.match(tenant_id, event.site_id, vector, self.settings.staff_threshold)
        if event.is_staff_local or staff_id is not None:
            return await self._record_staff(tenant_id, event, vector, staff_id)

        # A retry searches again before its stored answer is found (in the write transaction):
        # cheaper than a transaction of its own for every first delivery.
        params = self._event_params(tenant_id, event, vector)
        with ingest_stage("search"):
            searched = await self.vectors.search(tenant_id, vector, TOP_K)
        hits = searched.hits
        for _ in range(MAX_REMATCHES):
            decision = decide(hits, self.thresholds)
            if decision.customer_id is None:  # new, or uncertain (new + merge suggestion)
                with ingest_stage("new_customer"):
                    resolution = await self.newcomers.resolve(
                        tenant_id, event, vector, decision, params, searched
                    )
                if resolution.answer is not None:  # recorded with its new customer (or before)
                    if not resolution.replayed:
                        self.notifier.publish(self._live_payload(tenant_id, event, resolution.answer))
                    return resolution.answer
                decision, created = resolution.decision, resolution.created
                since = None  # decided under the new-customer lock, on fresh changes
            else:
                created, since = False, searched.since
            try:
                with ingest_stage("record"):
                    answer, added, removed = await self._record_customer(
                        tenant_id, event, params, vector, decision, hits, created, since
                    )
            except _Rematch as rematch:  # what committed meanwhile changed the match
                hits = rematch.hits
                searched = Searched(hits, rematch.since)
                continue
            # The index follows PostgreSQL only after the commit: a failed transaction leaves
            # it untouched.
            self.vectors.wrote(tenant_id, added, removed)
            return answer
        raise ConflictError("the face's match kept changing under concurrent writes; retry the event")

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

    @staticmethod
    def _check_camera(camera_site: uuid.UUID | None, event: EventFaceDetectedV1) -> None:
        problem = camera_problem(camera_site, event)
        if problem is not None:
            raise problem

    def _event_params(
        self, tenant_id: uuid.UUID, event: EventFaceDetectedV1, vector: Vector
    ) -> dict[str, Any]:
        snapshot = event.snapshot_key if isinstance(event.snapshot_key, str) else None
        return {
            "tenant_id": tenant_id,
            "event_id": event.event_id,
            "site_id": event.site_id,
            "camera_id": event.camera_id,
            "captured_at": event.captured_at,
            "embedding": embedding_bytes(vector),
            "det_score": event.det_score,
            "quality": event.quality,
            "gender": event.gender if isinstance(event.gender, str) else None,
            "age": float(event.age) if isinstance(event.age, float | int) else None,
            "snapshot_key": snapshot,
            "model": f"{event.model.name}@{event.model.version}",
        }

    async def _record_staff(
        self, tenant_id: uuid.UUID, event: EventFaceDetectedV1, vector: Vector, staff_id: uuid.UUID | None
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
        params = self._event_params(tenant_id, event, vector)
        try:
            async with self.db.fast_transaction(tenant_id, [(statements.PREFLIGHT, params)]) as tx:
                stored, camera_site = tx.opened[0][0]
                if stored is not None:
                    return msgspec.convert(stored, FaceMatch)
                self._check_camera(camera_site, event)
                write = statements.EventWrite(params)
                write.params.update(self._answer_params(answer))
                await tx.commit_with(write.statement(), write.params)
        except UniqueViolation:  # a concurrent delivery of this event won
            return await self._replay(tenant_id, event.event_id)
        return answer

    @staticmethod
    def _answer_params(answer: FaceMatch) -> dict[str, Any]:
        return {
            "sighting_customer_id": answer.customer_id,
            "sighting_visit_id": answer.visit_id,
            "staff_id": answer.staff_id,
            "similarity": answer.similarity,
            "uncertain": answer.uncertain,
            "is_staff": answer.is_staff,
            "is_new_customer": answer.is_new_customer,
            "response": msgspec.json.encode(answer).decode(),
        }

    async def _record_customer(
        self,
        tenant_id: uuid.UUID,
        event: EventFaceDetectedV1,
        params: dict[str, Any],
        vector: Vector,
        decision: Decision,
        hits: list[SearchHit],
        created: bool,
        since: Any,
    ) -> tuple[FaceMatch, list[VectorItem], list[uuid.UUID]]:
        """Fold the sighting into the customer's visit, keep its exemplars diverse, count it.
        ``params``: the event's values (``_event_params``).

        Two round trips: BEGIN with the preflight, the customer lock, the open visit and what
        changed in the tenant's exemplars since the search saw them; the write with the COMMIT.
        Raises ``_Rematch`` when those changes make another customer the match. ``since``: the
        snapshot the search saw (None: the match needs no re-check)."""
        opening: list[tuple[Statement, dict[str, Any]]]
        if decision.customer_id is None:
            opening = [(statements.PREFLIGHT, params)]
        else:
            matched = {**params, "customer_id": decision.customer_id}
            opening = [
                (statements.PREFLIGHT_AND_LOCK, matched),
                (statements.OPEN_VISIT_AND_EXEMPLARS, matched),
            ]
            if since is not None:
                opening.append(self.vectors.changes_statement(tenant_id, since))
        try:
            async with self.db.fast_transaction(tenant_id, opening) as tx:
                if len(tx.opened) == 3:
                    decision, hits = await self._recheck(tenant_id, tx.opened.pop(), vector, decision, hits)
                answer, added, removed, recorded = await self._record_customer_in(
                    tx, params, event, vector, decision, hits, created
                )
        except UniqueViolation:  # a concurrent delivery of this event won
            return await self._replay(tenant_id, event.event_id), [], []
        if recorded:  # committed now: announce it on the live stream
            self.notifier.publish(self._live_payload(tenant_id, event, answer))
        return answer, added, removed

    async def _recheck(
        self,
        tenant_id: uuid.UUID,
        rows: list[tuple[Any, ...]],
        vector: Vector,
        decision: Decision,
        hits: list[SearchHit],
    ) -> tuple[Decision, list[SearchHit]]:
        """The match, given every exemplar committed before this transaction's read of changes:
        the same customer (maybe with another similarity), or ``_Rematch``."""
        changes = await self.vectors.absorb(tenant_id, rows)
        revised, since = self.vectors.revise(hits, changes, vector, TOP_K), changes.snapshot
        if revised is None:  # search again: the index has read at least as far as this transaction
            searched = await self.vectors.search(tenant_id, vector, TOP_K)
            revised, since = searched.hits, searched.since
        again = decide(revised, self.thresholds)
        if again.customer_id != decision.customer_id:
            raise _Rematch(revised, since)
        return again, revised

    async def _record_customer_in(
        self,
        tx: FastTransaction,
        params: dict[str, Any],
        event: EventFaceDetectedV1,
        vector: Vector,
        decision: Decision,
        hits: list[SearchHit],
        created: bool,
    ) -> tuple[FaceMatch, list[VectorItem], list[uuid.UUID], bool]:
        """As ``_record_customer``; the last value says whether this call recorded the event."""
        locked, open_visit = None, None
        if decision.customer_id is not None:
            lock_rows, visit_rows = tx.opened
            locked, open_visit = (lock_rows[0] if lock_rows else None), visit_rows[0]
        if locked is not None:
            visit_count, stored, camera_site = locked
        else:  # nobody matched, or the match was erased since the search: a new customer
            if decision.customer_id is None:
                stored, camera_site = tx.opened[0][0]
            else:
                (stored, camera_site), *_ = await tx.execute(statements.PREFLIGHT, params)
                decision = Decision(kind=MatchKind.NEW, customer_id=None, similarity=decision.similarity)
            visit_count = 0
            created = False
        if stored is not None:
            return msgspec.convert(stored, FaceMatch), [], [], False
        self._check_camera(camera_site, event)

        customer_is_new = locked is None
        is_new = created or customer_is_new
        customer_id = decision.customer_id if decision.customer_id is not None else uuid.uuid4()
        write = statements.EventWrite({**params, "customer_id": customer_id})
        visit_id, kept_ids, kept = None, [], []
        # Read after the lock (a fresh snapshot): even a customer created for this very event may
        # have a visit by now, opened by a concurrent event of the same person.
        if open_visit is not None and not customer_is_new:
            visit_id, kept_ids, embeddings, qualities = open_visit
            vectors = embedding_matrix(embeddings or b"", self.dim)
            kept = list(zip(vectors, qualities, strict=True))
        new_visit = visit_id is None
        if new_visit:
            visit_id = uuid.uuid4()
            write.params["visit_is_new"] = is_new or visit_count == 0
            write.add(statements.INSERT_VISIT)
        else:
            write.add(statements.UPDATE_VISIT)
        write.params["visit_id"] = visit_id
        write.params["customer_visits"] = 1 if new_visit else 0

        added, removed = self._exemplar_writes(write, customer_id, event, vector, kept_ids, kept, created)
        write.parts.insert(0, statements.INSERT_CUSTOMER if customer_is_new else statements.UPDATE_CUSTOMER)

        answer = customer_answer(event, customer_id, visit_id, is_new=is_new, decision=decision)
        write.params.update(self._answer_params(answer))
        if answer.uncertain and decision.candidate_id is not None:
            self._suggest_merge(write, decision.candidate_id, decision.similarity)
        # A unique violation on the sighting (a concurrent delivery won) raises here.
        await tx.commit_with(write.statement(), write.params)
        return answer, added, removed, True

    def _exemplar_writes(
        self,
        write: statements.EventWrite,
        customer_id: uuid.UUID,
        event: EventFaceDetectedV1,
        vector: Vector,
        kept_ids: list[uuid.UUID],
        kept: list[tuple[Vector, float]],
        created: bool,
    ) -> tuple[list[VectorItem], list[uuid.UUID]]:
        """Keep a few diverse exemplars per customer; returns the index changes for after commit.

        A customer created by ``NewCustomerBatcher`` already has its first exemplar."""
        write.params["exemplar_count"] = None
        if created:
            return [], []
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
            removed.append(kept_ids[choice.replace_index])
            write.params["replaced_exemplar_id"] = removed[0]
            write.add(statements.DELETE_EXEMPLAR)
        exemplar_id = uuid.uuid4()
        write.params["exemplar_id"] = exemplar_id
        write.params["exemplar_count"] = len(kept) + (0 if removed else 1)
        write.add(statements.INSERT_EXEMPLAR)
        return [VectorItem(id=exemplar_id, customer_id=customer_id, vector=vector)], removed

    async def _replay(self, tenant_id: uuid.UUID, event_id: uuid.UUID) -> FaceMatch:
        stored = await self._stored_answer(tenant_id, event_id)
        if stored is None:  # pragma: no cover - the conflicting row must exist
            raise InvalidError.field("event_id", "conflicts with an event of another tenant")
        return stored

    def _suggest_merge(
        self, write: statements.EventWrite, candidate_id: uuid.UUID, similarity: float | None
    ) -> None:
        """The face became a new customer: suggest merging it with the candidate it resembled."""
        write.params.update(
            suggestion_id=uuid.uuid4(), candidate_id=candidate_id, suggestion_similarity=similarity or 0.0
        )
        write.add(statements.INSERT_SUGGESTION)

    @staticmethod
    def _live_payload(tenant_id: uuid.UUID, event: EventFaceDetectedV1, answer: FaceMatch) -> dict[str, Any]:
        """What every API process's live stream gets for a recorded sighting."""
        return {
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
