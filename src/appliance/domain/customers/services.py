from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
from sqlalchemy import Select, and_, exists, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from appliance.db.base import utcnow
from appliance.db.models import Customer, CustomerExemplar, MergeSuggestion, Visit
from appliance.domain.customers.schemas import Customer as CustomerSchema
from appliance.domain.customers.schemas import CustomerFace, MergeCandidate
from appliance.lib.crud import CrudService
from appliance.lib.errors import NotFoundError
from appliance.recognition.policy import Thresholds
from appliance.vectors.base import VectorIndex


class CustomerService(CrudService[Customer]):
    """Customers belong to the tenant; a site manager sees those who visited its sites."""

    model = Customer
    target_type = "customer"
    audit_writes = True

    def _visited_my_sites(self) -> Any:
        return exists(
            select(Visit.id).where(
                Visit.customer_id == Customer.id, Visit.site_id.in_(self.principal.site_ids)
            )
        )

    def scope(self, stmt: Select[Any]) -> Select[Any]:
        if self.principal.site_scoped:
            return stmt.where(self._visited_my_sites())
        return stmt

    async def get(self, obj_id: Any) -> Customer:
        if self.principal.site_scoped:
            # Visibility needs the visits table: check it in SQL rather than in Python.
            row = await self.session.execute(self.scope(select(Customer).where(Customer.id == obj_id)))
            if row.scalar() is None:
                raise NotFoundError(f"customer {obj_id} not found")
        return await super().get(obj_id)


def customer_view(row: Customer) -> CustomerSchema:
    return CustomerSchema(
        customer_id=row.id,
        tenant_id=row.tenant_id,
        display_name=row.display_name,
        gender=row.gender,  # type: ignore[arg-type]
        age=row.age,
        notes=row.notes,
        tags=list(row.tags or []),
        first_seen=row.first_seen,
        last_seen=row.last_seen,
        visit_count=row.visit_count,
        exemplar_count=row.exemplar_count,
        created_at=row.created_at,
    )


async def customer_faces(session: AsyncSession, ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, CustomerFace]:
    """Name, visit count and best-snapshot visit of each customer (those that still exist)."""
    wanted = list(dict.fromkeys(ids))
    if not wanted:
        return {}
    rows = (
        await session.execute(
            select(Customer.id, Customer.display_name, Customer.visit_count, Customer.last_seen).where(
                Customer.id.in_(wanted)
            )
        )
    ).all()
    best = dict(
        (
            await session.execute(
                select(Visit.customer_id, Visit.id)
                .where(Visit.customer_id.in_(wanted), Visit.best_snapshot_key.is_not(None))
                .order_by(Visit.customer_id, Visit.best_quality.desc(), Visit.last_seen.desc())
                .distinct(Visit.customer_id)
            )
        )
        .tuples()
        .all()
    )
    return {
        row.id: CustomerFace(
            customer_id=row.id,
            display_name=row.display_name,
            visit_count=row.visit_count,
            last_seen=row.last_seen,
            snapshot_visit_id=best.get(row.id),
        )
        for row in rows
    }


async def pair_similarities(
    session: AsyncSession, customer_id: uuid.UUID, others: Iterable[uuid.UUID]
) -> dict[uuid.UUID, float]:
    """Best cosine between ``customer_id``'s exemplars and each other customer's — the same
    measure recognition matches on."""
    wanted = [o for o in dict.fromkeys(others) if o != customer_id]
    if not wanted:
        return {}
    rows = (
        await session.execute(
            select(CustomerExemplar.customer_id, CustomerExemplar.embedding).where(
                CustomerExemplar.customer_id.in_([customer_id, *wanted])
            )
        )
    ).all()
    own = [np.asarray(e, dtype=np.float32) for cid, e in rows if cid == customer_id]
    if not own:
        return {}
    mine = np.stack(own)
    best: dict[uuid.UUID, float] = {}
    for cid, embedding in rows:
        if cid == customer_id:
            continue
        score = float(np.max(mine @ np.asarray(embedding, dtype=np.float32)))
        best[cid] = max(score, best.get(cid, -1.0))
    return best


async def merge_candidates(
    session: AsyncSession,
    vectors: VectorIndex,
    tenant_id: uuid.UUID,
    customer_id: uuid.UUID,
    thresholds: Thresholds,
    *,
    ids: Sequence[uuid.UUID] = (),
    limit: int = 10,
) -> list[MergeCandidate]:
    """The customers most like this one (or the named ones), most alike first, with faces."""
    wanted = list(ids)
    if not wanted:
        exemplars = (
            await session.execute(
                select(CustomerExemplar.embedding).where(CustomerExemplar.customer_id == customer_id)
            )
        ).scalars()
        found: dict[uuid.UUID, None] = {}
        for embedding in exemplars:
            searched = await vectors.search(tenant_id, np.asarray(embedding, dtype=np.float32), limit + 1)
            found.update((hit.customer_id, None) for hit in searched.hits if hit.customer_id != customer_id)
        wanted = list(found)
    similarity = await pair_similarities(session, customer_id, wanted)
    faces = await customer_faces(session, similarity)
    ranked = sorted(similarity.items(), key=lambda item: -item[1])
    return [
        MergeCandidate(
            customer=faces[cid],
            similarity=round(score, 6),
            below_uncertain=score < thresholds.uncertain,
            below_match=score < thresholds.match,
        )
        for cid, score in ranked[: max(limit, len(ids))]
        if cid in faces
    ]


async def dismiss_pair(session: AsyncSession, suggestion: MergeSuggestion) -> None:
    """ "Not the same person": every open suggestion of the pair (either way round) is dismissed,
    and ingest never suggests the pair again (``statements.INSERT_SUGGESTION``)."""
    pair = (suggestion.customer_id, suggestion.candidate_id)
    await session.execute(
        update(MergeSuggestion)
        .where(
            MergeSuggestion.status == "open",
            or_(
                and_(MergeSuggestion.customer_id == pair[0], MergeSuggestion.candidate_id == pair[1]),
                and_(MergeSuggestion.customer_id == pair[1], MergeSuggestion.candidate_id == pair[0]),
            ),
        )
        .values(status="dismissed", resolved_at=utcnow())
    )
