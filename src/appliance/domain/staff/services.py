from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

import msgspec
from sqlalchemy import Select, func, select
from sqlalchemy.dialects.postgresql import aggregate_order_by

from appliance.db.models import Staff, StaffEmbedding
from appliance.domain.sites.scope import SiteScopedService, sites_overlap
from appliance.domain.staff.schemas import StaffMember
from appliance.lib.crud import to_schema
from appliance.lib.errors import InvalidError, NotFoundError


class StaffService(SiteScopedService[Staff]):
    """Staff are kept out of the customer numbers; a site manager manages its own sites' staff."""

    model = Staff
    target_type = "staff"
    audit_writes = True

    def scope(self, stmt: Select[Any]) -> Select[Any]:
        if self.principal.site_scoped:
            return stmt.where(sites_overlap(Staff.site_ids, self.principal.site_ids))
        return stmt

    def visible(self, obj: Staff) -> bool:
        return not self.principal.site_scoped or bool(set(obj.site_ids) & set(self.principal.site_ids))

    async def validate(self, values: dict[str, Any], existing: Staff | None) -> None:
        site_ids = values.get("site_ids")
        if site_ids is not None:
            if len(set(site_ids)) != len(site_ids):
                raise InvalidError.field("site_ids", "lists a site twice")
            await self.require_sites(site_ids)
        elif existing is None and self.principal.site_scoped:
            raise InvalidError.field(
                "site_ids", "a site manager must assign staff to at least one of its sites"
            )

    async def with_photos(self, rows: Sequence[Staff]) -> list[StaffMember]:
        """The members with their photo count and newest stored photo: one query for the page."""
        ids = [row.id for row in rows]
        summary: dict[uuid.UUID, tuple[int, uuid.UUID | None]] = {}
        if ids:
            # Newest first, only photos whose image was kept (the thumbnail); a handful per person.
            stored = func.array_agg(
                aggregate_order_by(StaffEmbedding.id, StaffEmbedding.created_at.desc())
            ).filter(StaffEmbedding.photo_key.is_not(None))
            result = await self.session.execute(
                select(StaffEmbedding.staff_id, func.count(), stored)
                .where(StaffEmbedding.staff_id.in_(ids))
                .group_by(StaffEmbedding.staff_id)
            )
            summary = {
                staff_id: (int(count), kept[0] if kept else None) for staff_id, count, kept in result.all()
            }
        members = []
        for row in rows:
            count, newest = summary.get(row.id, (0, None))
            member = to_schema(row, StaffMember)
            members.append(msgspec.structs.replace(member, photo_count=count, latest_photo_id=newest))
        return members

    async def photo_key(self, staff_id: uuid.UUID, photo_id: uuid.UUID) -> str:
        """The stored image of one enrolled photo of a member the caller may see."""
        await self.get(staff_id)
        key = (
            await self.session.execute(
                select(StaffEmbedding.photo_key).where(
                    StaffEmbedding.id == photo_id, StaffEmbedding.staff_id == staff_id
                )
            )
        ).scalar_one_or_none()
        if key is None:
            raise NotFoundError(f"staff photo {photo_id} not found (or its image was not kept)")
        return key
