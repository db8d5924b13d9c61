from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from litestar import delete, get, post
from litestar.di import Provide
from litestar.params import Parameter
from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from appliance.db.base import utcnow
from appliance.db.models import Customer as CustomerRow
from appliance.db.models import MergeSuggestion, Sighting
from appliance.domain.auth.principal import ADMINS, MANAGERS, Principal
from appliance.domain.customers.erasure import ERASURE_DESCRIPTION, ERASURE_RESPONSES, CustomerErasure
from appliance.domain.customers.identity import IdentityService
from appliance.domain.customers.schemas import (
    Customer,
    CustomerCreate,
    CustomerUpdate,
    ErasureReport,
    Gender,
    MergeCandidate,
    MergeRequest,
    MergeSuggestionView,
    SplitRequest,
)
from appliance.domain.customers.services import (
    CustomerService,
    customer_faces,
    customer_view,
    dismiss_pair,
    merge_candidates,
)
from appliance.lib.crud import CrudService, Page, to_schema
from appliance.lib.crud_routes import Crud, CrudController, Filters, Op, Ops, scoped
from appliance.lib.di import Injected
from appliance.lib.http import Limit, Offset
from appliance.recognition.policy import Thresholds
from appliance.recognition.runtime import RecognitionRuntime


class SuggestionService(CrudService[MergeSuggestion]):
    model = MergeSuggestion
    target_type = "merge_suggestion"
    audit_writes = True
    order_desc = True

    def scope(self, stmt: Select[Any]) -> Select[Any]:
        # A site manager sees the doubts that arose at its own sites (the suggestion's sighting).
        if self.principal.site_scoped:
            at_sites = select(Sighting.id).where(Sighting.site_id.in_(self.principal.site_ids))
            return stmt.where(MergeSuggestion.sighting_id.in_(at_sites))
        return stmt


SUGGESTION = "/merge-suggestions/{suggestion_id:uuid}"
DECIDE: dict[str, Any] = {"opt": {"roles": ADMINS}, "status_code": 200}
"""A decision on a merge suggestion (admins)."""


def customer_filters(
    q: Annotated[str | None, Parameter(description="display name contains", max_length=200)] = None,
    gender: Gender | None = None,
    seen_since: datetime | None = None,
) -> Filters:
    filters: Filters = []
    if q:
        filters.append(CustomerRow.display_name.ilike(f"%{q}%"))
    if gender:
        filters.append(CustomerRow.gender == gender)
    if seen_since:
        filters.append(CustomerRow.last_seen >= seen_since)
    return filters


def identity(
    recognition: Injected[RecognitionRuntime], principal: Principal, tenant: uuid.UUID
) -> IdentityService:
    return IdentityService(recognition.db, recognition, principal, tenant)


class CustomerController(CrudController):
    path = "/v1/customers"
    tags = ["customers"]
    dependencies = {
        "suggestions": scoped(SuggestionService),
        "identity": Provide(identity, sync_to_thread=False),
    }
    crud = Crud(
        CustomerService,
        Customer,
        CustomerCreate,
        CustomerUpdate,
        filters=customer_filters,
        row_view=customer_view,
    )
    ops = Ops(
        list=Op("List customers, oldest first; filter by name, gender or last sighting.", MANAGERS),
        get=Op("One customer profile (CustomerProfile.v1).", MANAGERS),
        create=Op("Create a customer profile by hand (recognition creates most of them).", ADMINS),
        update=Op("Edit a customer's name, notes, tags or demographics.", ADMINS),
    )

    @delete(
        "/{customer_id:uuid}",
        operation_id="eraseCustomer",
        opt={"roles": ADMINS},
        status_code=200,
        description=ERASURE_DESCRIPTION,
        responses=ERASURE_RESPONSES,
    )
    async def erase_customer(
        self,
        recognition: Injected[RecognitionRuntime],
        principal: Principal,
        tenant: uuid.UUID,
        customer_id: uuid.UUID,
    ) -> ErasureReport:
        """Erase a customer (GDPR): snapshots and vectors deleted and verified, then rows, audited."""
        return await CustomerErasure(recognition.db, recognition).request(principal, tenant, customer_id)

    @post("/{customer_id:uuid}/merge", operation_id="mergeCustomers", opt={"roles": ADMINS}, status_code=200)
    async def merge(
        self, identity: Injected[IdentityService], customer_id: uuid.UUID, data: MergeRequest
    ) -> Customer:
        """Fold other customers (same person) into this one: visits, sightings, exemplars move (audited)."""
        return customer_view(await identity.merge(customer_id, data.source_ids))

    @post("/{customer_id:uuid}/split", operation_id="splitCustomer", opt={"roles": ADMINS}, status_code=201)
    async def split(
        self, identity: Injected[IdentityService], customer_id: uuid.UUID, data: SplitRequest
    ) -> Customer:
        """Move selected sightings or visits to a new customer (audited; undoes a merge); returns it."""
        return customer_view(await identity.split(customer_id, data.sighting_ids, data.visit_ids))

    @get("/{customer_id:uuid}/merge-candidates", operation_id="listMergeCandidates", opt={"roles": MANAGERS})
    async def merge_candidates(
        self,
        session: AsyncSession,
        service: Injected[CustomerService],
        recognition: Injected[RecognitionRuntime],
        thresholds: Injected[Thresholds],
        tenant: uuid.UUID,
        customer_id: uuid.UUID,
        ids: Annotated[
            list[uuid.UUID] | None,
            Parameter(description="compare with these customers (default: the most alike)", max_items=100),
        ] = None,
        limit: Annotated[int, Parameter(ge=1, le=50)] = 10,
    ) -> list[MergeCandidate]:
        """Customers that may be the same person, with faces, visit counts and similarity."""
        await service.get(customer_id)
        vectors = await recognition.vectors()
        return await merge_candidates(
            session, vectors, tenant, customer_id, thresholds, ids=ids or (), limit=limit
        )

    @get("/merge-suggestions", operation_id="listMergeSuggestions", opt={"roles": MANAGERS})
    async def merge_suggestions(
        self,
        session: AsyncSession,
        suggestions: Injected[SuggestionService],
        status: Literal["open", "merged", "dismissed"] = "open",
        limit: Limit = 50,
        offset: Offset = 0,
    ) -> Page[MergeSuggestionView]:
        """Likely duplicates waiting for a decision, newest first, with both faces and visit counts."""
        rows, total = await suggestions.list([MergeSuggestion.status == status], limit, offset)
        faces = await customer_faces(session, [i for r in rows for i in (r.customer_id, r.candidate_id)])
        views = []
        for row in rows:
            view = to_schema(row, MergeSuggestionView)
            view.customer, view.candidate = faces.get(row.customer_id), faces.get(row.candidate_id)
            views.append(view)
        return Page(views, total, limit, offset)

    @post(f"{SUGGESTION}/accept", operation_id="acceptMergeSuggestion", **DECIDE)
    async def accept_suggestion(
        self, identity: Injected[IdentityService], suggestion_id: uuid.UUID
    ) -> Customer:
        """Same person: fold the newer customer into the older one (audited; undo with a split)."""
        return customer_view(await identity.accept_suggestion(suggestion_id))

    @post(f"{SUGGESTION}/dismiss", operation_id="dismissMergeSuggestion", **DECIDE)
    async def dismiss_suggestion(
        self, session: AsyncSession, suggestions: Injected[SuggestionService], suggestion_id: uuid.UUID
    ) -> MergeSuggestionView:
        """Not the same person: the pair is dismissed and never suggested again (audited)."""
        row = await suggestions.update(suggestion_id, {"status": "dismissed", "resolved_at": utcnow()})
        await dismiss_pair(session, row)
        return to_schema(row, MergeSuggestionView)
