"""What a retention purge run reports, and its duration argument (``30d``, ``12h``, ``90m``)."""

from __future__ import annotations

import re
import uuid
from datetime import datetime, timedelta
from typing import Literal

import msgspec

from appliance.storage.base import ObjectStoreError

Outcome = Literal["deleted", "missing", "present", "failed"]
"""deleted: existed, deleted, verified gone. missing: absent before we came (verified gone).
present: exists (dry run only). failed: store error or still there after the delete."""

_DURATION = re.compile(r"(\d+)\s*([dhm])", re.IGNORECASE)
_UNITS = {"d": "days", "h": "hours", "m": "minutes"}


def parse_duration(text: str) -> timedelta:
    """``30d``, ``12h``, ``90m`` → timedelta; anything else (or zero) raises ValueError."""
    match = _DURATION.fullmatch(text.strip())
    if not match:
        raise ValueError(f"invalid duration {text!r}: use a whole number with d, h or m, e.g. 30d, 12h, 90m")
    amount, unit = int(match.group(1)), match.group(2).lower()
    if amount <= 0:
        raise ValueError(f"invalid duration {text!r}: must be greater than zero")
    try:
        return timedelta(**{_UNITS[unit]: amount})
    except OverflowError as exc:
        raise ValueError(f"invalid duration {text!r}: too large") from exc


class TenantPurge(msgspec.Struct, kw_only=True):
    tenant_id: uuid.UUID
    candidates: int = 0
    deleted: int = 0
    verified: int = 0
    already_missing: int = 0
    failed: int = 0
    visits_cleared: int = 0


class PurgeReport(msgspec.Struct, kw_only=True):
    cutoff: datetime
    dry_run: bool
    tenants: int = 0
    """Tenants scanned."""
    candidates: int = 0
    """Sightings received before the cutoff that still reference a raw object."""
    deleted: int = 0
    """Objects deleted by this run (and verified gone)."""
    verified: int = 0
    """Sightings whose object is verified gone and whose image_path was cleared."""
    already_missing: int = 0
    """Objects that were already gone (lifecycle expiry, an earlier interrupted run)."""
    failed: int = 0
    """Store errors or objects still present after the delete (sightings and orphans)."""
    orphans: int = 0
    """Unreferenced raw objects last modified before the cutoff."""
    orphans_deleted: int = 0
    stored_expired: int = 0
    """Referenced raw objects whose own last-modified time is before the cutoff, deleted by the
    sweep (their sightings were received later than the objects were stored)."""
    visits_cleared: int = 0
    tombstones_pruned: int = 0
    """Exemplar tombstones older than ``TOMBSTONE_DAYS`` removed (the vector index's change cursor
    needs them only until every process has read them)."""
    sessions_expired: int = 0
    """Browser sessions past their absolute end removed (counted only, on a dry run)."""
    errors: list[str] = msgspec.field(default_factory=list)
    """The first few error messages, for the operator."""
    per_tenant: list[TenantPurge] = msgspec.field(default_factory=list)
    """Tenants that had candidates."""


class PurgeAbortedError(ObjectStoreError):
    """The object store failed too many times in a row; ``report`` holds the progress so far."""

    def __init__(self, message: str, report: PurgeReport) -> None:
        super().__init__(message)
        self.report = report
