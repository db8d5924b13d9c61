from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

import msgspec

Gender = Literal["female", "male"]
Age = Annotated[float, msgspec.Meta(ge=0, le=120)]
DisplayName = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
Notes = Annotated[str, msgspec.Meta(max_length=2000)]
Tags = Annotated[list[Annotated[str, msgspec.Meta(min_length=1, max_length=64)]], msgspec.Meta(max_length=50)]


class Customer(msgspec.Struct):
    """The API shape of ``CustomerProfile.v1`` (``customer_id`` is the row id)."""

    customer_id: uuid.UUID
    tenant_id: uuid.UUID
    display_name: str | None
    gender: Gender | None
    age: float | None
    notes: str | None
    tags: list[str]
    first_seen: datetime | None
    last_seen: datetime | None
    visit_count: int
    exemplar_count: int
    created_at: datetime


class CustomerCreate(msgspec.Struct, forbid_unknown_fields=True):
    display_name: DisplayName | None = None
    gender: Gender | None = None
    age: Age | None = None
    notes: Notes | None = None
    tags: Tags = msgspec.field(default_factory=list)


class CustomerUpdate(msgspec.Struct, forbid_unknown_fields=True):
    display_name: DisplayName | msgspec.UnsetType | None = msgspec.UNSET
    gender: Gender | msgspec.UnsetType | None = msgspec.UNSET
    age: Age | msgspec.UnsetType | None = msgspec.UNSET
    notes: Notes | msgspec.UnsetType | None = msgspec.UNSET
    tags: Tags | msgspec.UnsetType = msgspec.UNSET


class MergeRequest(msgspec.Struct, forbid_unknown_fields=True):
    source_ids: Annotated[list[uuid.UUID], msgspec.Meta(min_length=1, max_length=100)]
    """Customers folded into this one (and then deleted)."""


class SplitRequest(msgspec.Struct, forbid_unknown_fields=True):
    sighting_ids: Annotated[list[uuid.UUID], msgspec.Meta(max_length=1000)] = msgspec.field(
        default_factory=list
    )
    """Sightings that belong to someone else: they become a new customer."""
    visit_ids: Annotated[list[uuid.UUID], msgspec.Meta(max_length=1000)] = msgspec.field(default_factory=list)
    """Whole visits that belong to someone else (every sighting of them): how the dashboard undoes
    a merge. Name sightings, visits or both."""


class CustomerFace(msgspec.Struct):
    """Enough of a customer to recognise them at a glance: name, visits and a face."""

    customer_id: uuid.UUID
    display_name: str | None
    visit_count: int
    last_seen: datetime | None
    snapshot_visit_id: uuid.UUID | None
    """The visit with this customer's best snapshot (``GET /v1/visits/{id}/snapshot``); None when
    no snapshot was uploaded or it was purged after retention."""


class MergeSuggestionView(msgspec.Struct):
    id: uuid.UUID
    customer_id: uuid.UUID
    """The customer created for the doubtful face (the newer one)."""
    candidate_id: uuid.UUID
    """The existing customer it resembled."""
    sighting_id: uuid.UUID | None
    similarity: float
    status: str
    created_at: datetime
    customer: CustomerFace | None = None
    candidate: CustomerFace | None = None


class MergeCandidate(msgspec.Struct):
    """Another customer and how alike the two are (best cosine over their exemplars)."""

    customer: CustomerFace
    similarity: float
    below_uncertain: bool
    """Less alike than the uncertain threshold: recognition would call them different people."""
    below_match: bool


class ErasureReport(msgspec.Struct):
    customer_id: uuid.UUID
    visits: int
    sightings: int
    exemplars: int
    objects_deleted: int
    vectors_remaining: int
    objects_remaining: int
