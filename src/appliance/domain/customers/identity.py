"""Identity repair: merge customers, split sightings off (erasure: ``erasure.py``).

Each operation runs in one RLS transaction and is audited there; the vector index follows after
the commit.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from appliance.db.base import utcnow
from appliance.db.models import Customer, CustomerExemplar, ErasureJob, MergeSuggestion, Sighting, Visit
from appliance.domain.audit.services import record_audit
from appliance.domain.auth.principal import Principal
from appliance.lib.errors import ConflictError, InvalidError, NotFoundError

if TYPE_CHECKING:
    from appliance.db.engine import Database
    from appliance.recognition.runtime import RecognitionRuntime


async def _require_customers(session: AsyncSession, ids: list[uuid.UUID]) -> list[Customer]:
    rows = list(
        (await session.execute(select(Customer).where(Customer.id.in_(ids)).with_for_update())).scalars()
    )
    missing = set(ids) - {row.id for row in rows}
    if missing:
        raise NotFoundError(f"customer(s) not found: {', '.join(sorted(map(str, missing)))}")
    # A merge or split would carry an erasure's sightings to a customer that survives it.
    erasing = (
        (
            await session.execute(
                select(ErasureJob.subject_id).where(
                    ErasureJob.kind == "customer",
                    ErasureJob.status == "pending",
                    ErasureJob.subject_id.in_(ids),
                )
            )
        )
        .scalars()
        .all()
    )
    if erasing:
        raise ConflictError(
            f"customer(s) being erased: {', '.join(sorted(map(str, erasing)))}; retry the erasure to end it"
        )
    return rows


async def _mark_first_visit(session: AsyncSession, customer_id: uuid.UUID) -> None:
    """Exactly the earliest visit of a customer counts as its 'new customer' visit."""
    first = (
        await session.execute(
            select(Visit.id)
            .where(Visit.customer_id == customer_id)
            .order_by(Visit.first_seen, Visit.id)
            .limit(1)
        )
    ).scalar()
    await session.execute(
        update(Visit).where(Visit.customer_id == customer_id).values(is_new_customer=Visit.id == first)
    )


async def _settle(
    session: AsyncSession,
    principal: Principal,
    tenant_id: uuid.UUID,
    customers: list[uuid.UUID],
    action: str,
    details: dict[str, Any],
) -> None:
    """End a merge or split: each customer whose visits changed gets its first visit and stats
    derived again, and the change is audited on the first of them."""
    for customer_id in customers:
        await _mark_first_visit(session, customer_id)
        await touch_customer_stats(session, customer_id)
    await record_audit(
        session,
        principal,
        tenant_id=tenant_id,
        action=action,
        target_type="customer",
        target_id=str(customers[0]),
        details=details,
    )


async def merge_customers(
    session: AsyncSession,
    principal: Principal,
    tenant_id: uuid.UUID,
    target_id: uuid.UUID,
    source_ids: list[uuid.UUID],
) -> list[uuid.UUID]:
    """Fold ``source_ids`` into ``target_id`` (its exemplars move by UPDATE: the change cursor
    carries them to the vector index); returns the customers folded in."""
    sources = [s for s in dict.fromkeys(source_ids) if s != target_id]
    if not sources:
        raise InvalidError.field("source_ids", "name at least one other customer")
    await _require_customers(session, [target_id, *sources])
    for table in (Visit, Sighting, CustomerExemplar):
        await session.execute(
            update(table).where(table.customer_id.in_(sources)).values(customer_id=target_id)
        )
    await session.execute(
        update(MergeSuggestion)
        .where(
            MergeSuggestion.status == "open",
            or_(
                MergeSuggestion.customer_id.in_([target_id, *sources]),
                MergeSuggestion.candidate_id.in_(sources),
            ),
        )
        .values(status="merged", resolved_at=utcnow())
    )
    await session.execute(
        delete(MergeSuggestion).where(
            or_(MergeSuggestion.customer_id.in_(sources), MergeSuggestion.candidate_id.in_(sources))
        )
    )
    await session.execute(delete(Customer).where(Customer.id.in_(sources)))
    await _settle(
        session, principal, tenant_id, [target_id], "customer.merge", {"merged": [str(s) for s in sources]}
    )
    return sources


async def split_customer(
    session: AsyncSession,
    principal: Principal,
    tenant_id: uuid.UUID,
    customer_id: uuid.UUID,
    sighting_ids: list[uuid.UUID],
    visit_ids: list[uuid.UUID] | None = None,
) -> Customer:
    """Move the chosen sightings (and every sighting of the chosen visits) to a new customer;
    visits are rebuilt on both sides. Returns the new customer."""
    await _require_customers(session, [customer_id])
    wanted = list(
        dict.fromkeys([*sighting_ids, *await _sightings_of_visits(session, customer_id, visit_ids)])
    )
    if not wanted:
        raise InvalidError.field("sighting_ids", "name at least one sighting or visit to split off")
    moving = list(
        (
            await session.execute(
                select(Sighting).where(Sighting.id.in_(wanted), Sighting.customer_id == customer_id)
            )
        ).scalars()
    )
    if len(moving) != len(wanted):
        raise InvalidError.field("sighting_ids", "every sighting must belong to this customer")
    remaining = (
        await session.execute(
            select(func.count(Sighting.id)).where(
                Sighting.customer_id == customer_id, Sighting.id.notin_(wanted)
            )
        )
    ).scalar_one()
    if remaining == 0:
        raise ConflictError("splitting off every sighting would leave an empty customer: rename instead")
    new = Customer(id=uuid.uuid4(), tenant_id=tenant_id, visit_count=0, exemplar_count=0, tags=[])
    session.add(new)
    await session.flush()
    original_visit = {s.id: s.visit_id for s in moving}
    affected_visits = {v for v in original_visit.values() if v}
    for sighting in moving:
        sighting.customer_id = new.id
        sighting.visit_id = None
    await session.flush()
    # Rebuild: each old visit keeps its remaining sightings; moved sightings regroup per old visit.
    for visit_id in affected_visits:
        old = await session.get(Visit, visit_id)
        if old is None:
            continue
        group = [s for s in moving if original_visit[s.id] == visit_id]
        await _rebuild_visit(session, old)
        replacement = Visit(
            id=uuid.uuid4(),
            tenant_id=tenant_id,
            site_id=old.site_id,
            customer_id=new.id,
            first_seen=min(s.captured_at for s in group),
            last_seen=max(s.captured_at for s in group),
            sightings=len(group),
            is_new_customer=False,
            gender=old.gender,
            age=old.age,
        )
        session.add(replacement)
        await session.flush()
        for sighting in group:
            sighting.visit_id = replacement.id
    await session.flush()
    # Exemplars taken from moved sightings move along; a customer with none gets its best sighting.
    exemplar_rows = list(
        (
            await session.execute(
                select(CustomerExemplar).where(
                    CustomerExemplar.customer_id == customer_id, CustomerExemplar.sighting_id.in_(wanted)
                )
            )
        ).scalars()
    )
    for exemplar in exemplar_rows:
        exemplar.customer_id = new.id
    if not exemplar_rows:
        best = max(moving, key=lambda s: s.quality)
        session.add(
            CustomerExemplar(
                id=uuid.uuid4(),
                tenant_id=tenant_id,
                customer_id=new.id,
                sighting_id=best.id,
                embedding=list(best.embedding),
                quality=best.quality,
                created_at=utcnow(),
            )
        )
    await session.flush()
    await _settle(
        session,
        principal,
        tenant_id,
        [customer_id, new.id],
        "customer.split",
        {"new_customer": str(new.id), "sightings": [str(s) for s in wanted]},
    )
    await session.refresh(new)
    return new


async def _sightings_of_visits(
    session: AsyncSession, customer_id: uuid.UUID, visit_ids: list[uuid.UUID] | None
) -> list[uuid.UUID]:
    wanted = list(dict.fromkeys(visit_ids or []))
    if not wanted:
        return []
    found = (
        await session.execute(select(Visit.id).where(Visit.id.in_(wanted), Visit.customer_id == customer_id))
    ).scalars()
    if len(set(found)) != len(wanted):
        raise InvalidError.field("visit_ids", "every visit must belong to this customer")
    return list(
        (
            await session.execute(
                select(Sighting.id)
                .where(Sighting.visit_id.in_(wanted), Sighting.customer_id == customer_id)
                .order_by(Sighting.captured_at, Sighting.id)
            )
        ).scalars()
    )


async def _rebuild_visit(session: AsyncSession, visit: Visit) -> None:
    stats = (
        await session.execute(
            select(
                func.count(Sighting.id), func.min(Sighting.captured_at), func.max(Sighting.captured_at)
            ).where(Sighting.visit_id == visit.id)
        )
    ).one()
    if stats[0] == 0:
        await session.delete(visit)
    else:
        visit.sightings, visit.first_seen, visit.last_seen = stats[0], stats[1], stats[2]
    await session.flush()


class IdentityService:
    """Runs the operations above in their own transaction, then brings the vector index (it reads
    the committed changes) and the object store in line — after the commit, so a rollback never
    leaves them ahead."""

    def __init__(
        self, db: Database, recognition: RecognitionRuntime, principal: Principal, tenant_id: uuid.UUID
    ) -> None:
        self.db = db
        self.recognition = recognition
        self.principal = principal
        self.tenant_id = tenant_id

    async def merge(self, target_id: uuid.UUID, source_ids: list[uuid.UUID]) -> Customer:
        async with self.db.transaction(self.tenant_id) as session:
            await merge_customers(session, self.principal, self.tenant_id, target_id, source_ids)
            customer = await session.get(Customer, target_id)
        await (await self.recognition.vectors()).refresh(self.tenant_id)
        assert customer is not None
        return customer

    async def accept_suggestion(self, suggestion_id: uuid.UUID) -> Customer:
        """An open merge suggestion confirmed: the newer customer (the doubtful face's) folds into
        the existing one it resembled. Audited as a merge; a split undoes it."""
        async with self.db.transaction(self.tenant_id) as session:
            suggestion = (
                await session.execute(
                    select(MergeSuggestion).where(MergeSuggestion.id == suggestion_id).with_for_update()
                )
            ).scalar()
            if suggestion is None:
                raise NotFoundError(f"merge suggestion {suggestion_id} not found")
            if suggestion.status != "open":
                raise ConflictError(f"this suggestion is {suggestion.status} already")
            target, source = suggestion.candidate_id, suggestion.customer_id
            await merge_customers(session, self.principal, self.tenant_id, target, [source])
            customer = await session.get(Customer, target)
        await (await self.recognition.vectors()).refresh(self.tenant_id)
        assert customer is not None
        return customer

    async def split(
        self, customer_id: uuid.UUID, sighting_ids: list[uuid.UUID], visit_ids: list[uuid.UUID] | None = None
    ) -> Customer:
        async with self.db.transaction(self.tenant_id) as session:
            new = await split_customer(
                session, self.principal, self.tenant_id, customer_id, sighting_ids, visit_ids
            )
        await (await self.recognition.vectors()).refresh(self.tenant_id)
        return new


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
