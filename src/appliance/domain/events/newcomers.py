"""Creating customers for faces nobody matched: once per person, in batches.

Two simultaneous first events of one new person must create ONE customer, in one API process or
several. So creation is serialised per tenant: an asyncio lane in this process, a PostgreSQL
advisory lock across processes. Under that lock the transaction reads every exemplar change
committed since the oldest of the faces' searches (the change cursor), the index applies them,
and each face's search is brought up to date with them (searched again where a hit of it was
deleted): it then reflects everything committed before the lock was granted. Only then is a
customer created. Its vector joins the index right after the commit.

Serialised one face at a time, this capped ingest: with 30 % new faces, each waited a quarter
of a second for the lock (bench_ingest). So the faces that arrive while one creation runs wait
together and go as the next batch: one transaction, one lock, one multi-row insert, however
many faces. Inside a batch the faces are checked in arrival order, each also against those
created before it in the batch, so the same person twice in one batch is still one customer.
"""

from __future__ import annotations

import asyncio
import hashlib
import uuid
from dataclasses import dataclass, field
from typing import Any

import msgspec
from psycopg.errors import UniqueViolation

from appliance.contracts import EventFaceDetectedV1
from appliance.db.engine import Database, FastTransaction, Statement
from appliance.domain.events import statements
from appliance.domain.events.schemas import FaceMatch
from appliance.lib.errors import InvalidError
from appliance.lib.metrics import NEW_CUSTOMER_BATCH
from appliance.recognition.policy import Decision, MatchKind, Thresholds, Vector, decide
from appliance.vectors.base import Searched, VectorIndex, VectorItem
from appliance.vectors.changes import oldest
from appliance.vectors.matrix import ExemplarMatrix, unit_rows

TOP_K = 5
MAX_BATCH = 64


def tenant_lock_key(tenant_id: uuid.UUID) -> int:
    """A stable signed 64-bit advisory-lock key for 'new customer in this tenant'."""
    digest = hashlib.blake2b(b"new-customer:" + tenant_id.bytes, digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def camera_problem(camera_site: uuid.UUID | None, event: EventFaceDetectedV1) -> InvalidError | None:
    """Why the event's camera cannot report it (unknown, or another site's), if it cannot."""
    if camera_site is None:
        return InvalidError.field("camera_id", "unknown camera")
    if camera_site != event.site_id:
        return InvalidError.field("camera_id", "this camera belongs to another site")
    return None


@dataclass(frozen=True)
class Resolution:
    """What became of a face nobody matched."""

    decision: Decision
    created: bool
    """A new customer (else one created meanwhile that the face matches after all)."""
    answer: FaceMatch | None = None
    """The event's answer when it was recorded with its new customer, in the same transaction
    (then there is nothing left to write for it)."""
    replayed: bool = False
    """The answer is the one stored for an earlier delivery of the event (nothing new happened)."""


@dataclass
class Newcomer:
    """One face that matched nobody, waiting for its customer."""

    event: EventFaceDetectedV1
    vector: Vector
    first: Decision
    searched: Searched
    """The search that found no match (its hits, and the snapshot it saw at least)."""
    params: dict[str, Any]
    """The event's values as its own write would record them (``IngestService._event_params``)."""
    future: asyncio.Future[Resolution]


@dataclass
class _Lane:
    """One tenant's creations on one event loop."""

    tenant_id: uuid.UUID
    waiting: list[Newcomer] = field(default_factory=list)
    running: bool = False


@dataclass
class _Created:
    newcomer: Newcomer
    customer_id: uuid.UUID
    exemplar_id: uuid.UUID
    answer: FaceMatch | None
    candidate_id: uuid.UUID | None = None
    """Uncertain: the existing customer this one may be (a merge suggestion)."""


def customer_answer(
    event: EventFaceDetectedV1,
    customer_id: uuid.UUID,
    visit_id: uuid.UUID | None,
    *,
    is_new: bool,
    decision: Decision,
) -> FaceMatch:
    """The answer to an event of a customer: the visit it joined, and how sure the match was."""
    return FaceMatch(
        event_id=event.event_id,
        customer_id=customer_id,
        visit_id=visit_id,
        is_new_customer=is_new,
        is_staff=False,
        similarity=None if decision.similarity is None else round(decision.similarity, 6),
        uncertain=decision.kind is MatchKind.UNCERTAIN,
    )


class NewCustomerBatcher:
    def __init__(
        self, db: Database, vectors: VectorIndex, thresholds: Thresholds, max_batch: int = MAX_BATCH
    ) -> None:
        self.db = db
        self.vectors = vectors
        self.thresholds = thresholds
        self.max_batch = max_batch
        self._lanes: dict[tuple[int, uuid.UUID], _Lane] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self.batches = 0
        """Creation transactions run (for tests and metrics)."""

    async def resolve(
        self,
        tenant_id: uuid.UUID,
        event: EventFaceDetectedV1,
        vector: Vector,
        first: Decision,
        params: dict[str, Any],
        searched: Searched,
    ) -> Resolution:
        """The customer for a face the index did not match: a new one — usually with the event
        recorded too — or one created meanwhile that it matches after all. Raises
        ``InvalidError`` for an unknown camera or one of another site."""
        loop = asyncio.get_running_loop()
        key = (id(loop), tenant_id)
        lane = self._lanes.setdefault(key, _Lane(tenant_id))
        future: asyncio.Future[Resolution] = loop.create_future()
        lane.waiting.append(Newcomer(event, vector, first, searched, params, future))
        if not lane.running:
            lane.running = True
            task = loop.create_task(self._drain(lane), name="new-customers")
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return await future

    async def _drain(self, lane: _Lane) -> None:
        try:
            while lane.waiting:
                batch = [n for n in lane.waiting[: self.max_batch] if not n.future.done()]
                del lane.waiting[: self.max_batch]
                if batch:
                    NEW_CUSTOMER_BATCH.observe(len(batch))
                    await self._run(lane, batch)
        finally:
            lane.running = False

    async def _run(self, lane: _Lane, batch: list[Newcomer]) -> None:
        tenant_id = lane.tenant_id
        try:
            try:
                created, outcomes = await self._transaction(lane, batch, record=True)
            except UniqueViolation:  # a concurrent delivery recorded one of these events: create
                # only, and let each event's own write find the stored answer (IngestService)
                created, outcomes = await self._transaction(lane, batch, record=False)
            self.batches += 1
        except BaseException as exc:
            failure = exc if isinstance(exc, Exception) else asyncio.CancelledError()
            for newcomer in batch:
                if not newcomer.future.done():
                    newcomer.future.set_exception(failure)
            if not isinstance(exc, Exception):
                raise
            return
        # Committed: searchable from the next search on.
        items = [VectorItem(c.exemplar_id, c.customer_id, c.newcomer.vector) for c in created]
        self.vectors.wrote(tenant_id, items, [])
        for index, newcomer in enumerate(batch):
            if newcomer.future.done():  # its request went away meanwhile
                continue
            outcome = outcomes[index]
            if isinstance(outcome, Exception):
                newcomer.future.set_exception(outcome)
            else:
                newcomer.future.set_result(outcome)

    async def _transaction(
        self, lane: _Lane, batch: list[Newcomer], record: bool
    ) -> tuple[list[_Created], dict[int, Resolution | Exception]]:
        created: list[_Created] = []
        outcomes: dict[int, Resolution | Exception] = {}
        opening: list[tuple[Statement, dict[str, Any]]] = [
            (statements.LOCK_FOR_NEW_CUSTOMERS, {"lock_key": tenant_lock_key(lane.tenant_id)}),
            (statements.CAMERA_SITES, {"camera_ids": list({n.event.camera_id for n in batch})}),
            # what committed since the oldest of these searches: every face is checked against it
            self.vectors.changes_statement(lane.tenant_id, oldest(n.searched.since for n in batch)),
        ]
        async with self.db.fast_transaction(lane.tenant_id, opening) as tx:
            await self._create(tx, lane, batch, created, outcomes, record)
        return created, outcomes

    async def _create(
        self,
        tx: FastTransaction,
        lane: _Lane,
        batch: list[Newcomer],
        created: list[_Created],
        outcomes: dict[int, Resolution | Exception],
        record: bool,
    ) -> None:
        """Under the tenant's lock: check each face again (in arrival order, so also against the
        ones created before it in this batch), then insert the new customers in one statement —
        with ``record``, each with its event's first visit and sighting."""
        _, camera_rows, change_rows = tx.opened
        camera_sites: dict[uuid.UUID, uuid.UUID] = dict(camera_rows)
        changes = await self.vectors.absorb(lane.tenant_id, change_rows)
        # Each face's search brought up to date with what committed before the lock was granted;
        # searched again where that cannot be done (a hit of it was deleted).
        revised = [
            self.vectors.revise(n.searched.hits, changes.past(n.searched.since), n.vector, TOP_K)
            for n in batch
        ]
        stale = [n for n, hits in zip(batch, revised, strict=True) if hits is None]
        redone = iter(
            await asyncio.gather(*(self.vectors.search(lane.tenant_id, n.vector, TOP_K) for n in stale))
        )
        searched = [r if r is not None else next(redone).hits for r in revised]
        fresh = ExemplarMatrix(len(batch[0].vector), quantized_from=None)  # created earlier in this batch
        # After a unique violation: an event recorded already gets its stored answer and creates no
        # customer (a concurrent retry, or its id reused with another face).
        stored_answers: dict[uuid.UUID, Any] = (
            {}
            if record
            else dict(
                await tx.execute(statements.RECORDED_EVENTS, {"event_ids": [n.event.event_id for n in batch]})
            )
        )
        for index, newcomer in enumerate(batch):
            event = newcomer.event
            if event.event_id in stored_answers:
                stored = msgspec.convert(stored_answers[event.event_id], FaceMatch)
                outcomes[index] = Resolution(
                    decide([], self.thresholds), created=False, answer=stored, replayed=True
                )
                continue
            problem = camera_problem(camera_sites.get(event.camera_id), event)
            if problem is not None:
                outcomes[index] = problem
                continue
            query = unit_rows(newcomer.vector, fresh.dim)
            hits = sorted([*searched[index], *fresh.search(query, 1)[0]], key=lambda hit: -hit.score)
            again = decide(hits, self.thresholds)
            if again.customer_id is not None:  # matches a customer created meanwhile
                outcomes[index] = Resolution(again, created=False)
                continue
            customer_id, exemplar_id = uuid.uuid4(), uuid.uuid4()
            fresh.upsert([exemplar_id], [customer_id], query)
            # new, or uncertain: new too, with a merge suggestion for its best candidate
            decision = Decision(
                kind=again.kind,
                customer_id=customer_id,
                similarity=again.similarity,
                candidate_id=again.candidate_id,
            )
            answer = (
                customer_answer(event, customer_id, uuid.uuid4(), is_new=True, decision=decision)
                if record
                else None
            )
            created.append(_Created(newcomer, customer_id, exemplar_id, answer, again.candidate_id))
            outcomes[index] = Resolution(decision, created=True, answer=answer)
        if not created:
            return
        values: dict[str, Any] = {
            "tenant_id": lane.tenant_id,
            "customer_ids": [c.customer_id for c in created],
            "exemplar_ids": [c.exemplar_id for c in created],
            "event_ids": [c.newcomer.event.event_id for c in created],
            "embeddings": [c.newcomer.params["embedding"] for c in created],
            "qualities": [c.newcomer.event.quality for c in created],
        }
        if not record:  # each event's own write counts its visit and sets first/last seen
            await tx.commit_with(statements.INSERT_FIRST_EXEMPLARS, values)
            return
        # every created face has its answer here (``record``): one list feeds every column
        recorded = [(c.newcomer.params, c.answer) for c in created if c.answer is not None]
        values.update(
            visit_ids=[answer.visit_id for _, answer in recorded],
            site_ids=[params["site_id"] for params, _ in recorded],
            camera_ids=[params["camera_id"] for params, _ in recorded],
            captured_ats=[params["captured_at"] for params, _ in recorded],
            genders=[params["gender"] for params, _ in recorded],
            ages=[params["age"] for params, _ in recorded],
            snapshot_keys=[params["snapshot_key"] for params, _ in recorded],
            det_scores=[params["det_score"] for params, _ in recorded],
            similarities=[answer.similarity for _, answer in recorded],
            models=[params["model"] for params, _ in recorded],
            responses=[msgspec.json.encode(answer).decode() for _, answer in recorded],
            # an uncertain face: a merge suggestion with its candidate, in the same statement
            candidate_ids=[c.candidate_id for c in created],
            suggestion_ids=[uuid.uuid4() for _ in created],
        )
        await tx.commit_with(statements.INSERT_NEW_CUSTOMERS_WITH_VISITS, values)

    async def drain(self) -> None:
        """Wait for the creations in flight on this loop (shutdown, tests)."""
        loop = asyncio.get_running_loop()
        tasks = [task for task in self._tasks if task.get_loop() is loop]
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
